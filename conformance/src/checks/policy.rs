//! The target's policy: the probed policy must be the one the target declares (`TOKENREQUEST_EXPECTED_POLICY`, or the
//! embedded server's configuration), the "policy mismatch" verdict of a run. A server that silently ignores its
//! max or its extension switch looks like a server configured without them; only this comparison tells.

use tokenrequest_types::expiration::{EXTENDED_REQUEST_SECONDS, MAX_EXPIRATION_SECONDS};
use tokenrequest_types::policy::TokenPolicy;

use crate::ctx::Ctx;
use crate::failure::{CheckFailure, expect_eq};

checks!("policy" =>
    matches_declared ["R8", "R9", "R11", "R18"]
        "the token policy probed from the target (max, extension, API audiences, signing algorithm) is the one the \
         target declares, as far as it is observable",
);

/// The observable part of a policy: a max of 2^32 is no max, a max below 3607 s makes the extension switch
/// unobservable (R9), and the issuers accepted beside the issuing one are not visible through the API (the
/// `rotation` checks try them instead).
fn observable(policy: &TokenPolicy) -> TokenPolicy {
    let mut policy = policy.clone();
    policy.previous_issuers.clear();
    if policy.expiration.max_seconds == Some(MAX_EXPIRATION_SECONDS) {
        policy.expiration.max_seconds = None;
    }
    if policy
        .expiration
        .max_seconds
        .is_some_and(|max| max < EXTENDED_REQUEST_SECONDS)
    {
        policy.expiration.extend = true;
    }
    policy
}

async fn matches_declared(ctx: &Ctx) -> Result<(), CheckFailure> {
    let probed = ctx.probed();
    match &probed.declared {
        Some(declared) => expect_eq(
            "probed policy against the declared policy",
            observable(declared).to_string(),
            observable(&probed.policy).to_string(),
        ),
        // Nothing declared: the probed policy is what the run reports and uses.
        None => Ok(()),
    }
}
