//! The answer `tokenrequest-types` predicts for a TokenRequest under a policy, composed in kube-apiserver's order
//! of evaluation (SPEC.md: defaults → spec validation (422) → bound kind (400) → name → lookup (404) → pod's
//! service account (400) → uid (409) → clamp and extension). Every rule is a call into `tokenrequest-types`;
//! this module only knows the order and which objects exist.

use tokenrequest_types::TokenRequestSpec;
use tokenrequest_types::binding::{self, BoundKind};
use tokenrequest_types::expiration::{DEFAULT_EXPIRATION_SECONDS, Lifetime};
use tokenrequest_types::policy::TokenPolicy;
use tokenrequest_types::status::{self, StatusError};
use tokenrequest_types::validation;

/// An object that exists on the target, as a bound reference may name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    /// Its kind.
    pub kind: BoundKind,
    /// Its name.
    pub name: String,
    /// Its uid.
    pub uid: String,
    /// For a pod: its service account.
    pub pod_service_account: Option<String>,
}

/// The predicted answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Prediction {
    /// 201 with these values.
    Issued {
        /// `spec.audiences` and the `aud` claim.
        audiences: Vec<String>,
        /// The token's times and the warning.
        lifetime: Lifetime,
        /// The kind the token is bound to.
        bound: Option<BoundKind>,
    },
    /// This error `Status`.
    Rejected(StatusError),
}

/// Predicts the answer to `spec` for `service_account` when exactly `existing` objects exist.
pub fn token_request(
    policy: &TokenPolicy,
    service_account: &str,
    spec: &TokenRequestSpec,
    existing: &[Existing],
) -> Prediction {
    match issue(policy, service_account, spec, existing) {
        Ok(issued) => issued,
        Err(error) => Prediction::Rejected(error),
    }
}

fn issue(
    policy: &TokenPolicy,
    service_account: &str,
    spec: &TokenRequestSpec,
    existing: &[Existing],
) -> Result<Prediction, StatusError> {
    let mut spec = spec.clone();
    tokenrequest_types::defaults::default_expiration(&mut spec);
    let requested = spec.expiration_seconds.unwrap_or(DEFAULT_EXPIRATION_SECONDS);
    let audiences = policy
        .audiences
        .effective(spec.audiences.as_deref().unwrap_or_default());
    validation::validate_spec(requested)?;
    let bound = match &spec.bound_object_ref {
        None => None,
        Some(reference) => {
            let kind = BoundKind::from_reference(reference)?;
            let name = binding::require_name(reference)?;
            let object = existing
                .iter()
                .find(|o| o.kind == kind && o.name == name)
                .ok_or_else(|| StatusError::from(status::not_found("", kind.resource(), name)))?;
            if kind == BoundKind::Pod {
                binding::check_pod_service_account(
                    service_account,
                    object.pod_service_account.as_deref().unwrap_or_default(),
                )?;
            }
            binding::check_uid(kind, name, reference.uid.as_deref(), &object.uid)?;
            Some(kind)
        }
    };
    let lifetime = policy
        .expiration
        .lifetime(requested, bound, policy.audiences.all_api(&audiences));
    Ok(Prediction::Issued {
        audiences,
        lifetime,
        bound,
    })
}
