//! What the probe learned about a target: kept apart from `probe` so that the target, which caches it, does not
//! depend on how it is learned.

use tokenrequest_types::policy::TokenPolicy;

/// What the probe learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probed {
    /// The effective policy.
    pub policy: TokenPolicy,
    /// The `iss` of issued tokens.
    pub issuer: String,
    /// The policy the target declares (`TOKENREQUEST_EXPECTED_POLICY` or the embedded server's), if any.
    pub declared: Option<TokenPolicy>,
}
