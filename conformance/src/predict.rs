//! The answer `tokenrequest-types` predicts for a TokenRequest under a policy: the server's own evaluation
//! (`tokenrequest_types::evaluation::evaluate`, in kube-apiserver's order), given the objects the properties test
//! created. This module only knows which objects exist.

use tokenrequest_types::binding::BoundKind;
use tokenrequest_types::evaluation::{self, BoundTarget, Deviations, NamespaceState, Objects};
use tokenrequest_types::expiration::Lifetime;
use tokenrequest_types::policy::TokenPolicy;
use tokenrequest_types::status::StatusError;
use tokenrequest_types::{TokenRequest, TokenRequestSpec};

/// The namespace the predicted request is sent to (any: the prediction assumes it is active).
const NAMESPACE: &str = "default";

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

/// The target's objects as the properties test knows them: its namespace is active, the service account exists
/// (with no uid to compare, as the requests carry none), and exactly `existing` may be bound.
struct Known<'a>(&'a [Existing]);

impl Objects for Known<'_> {
    fn namespace(&self, _namespace: &str) -> NamespaceState {
        NamespaceState::Active
    }

    fn service_account_uid(&self, _namespace: &str, _name: &str) -> Option<String> {
        Some(String::new())
    }

    fn bound_target(&self, _namespace: &str, kind: BoundKind, name: &str) -> Option<BoundTarget> {
        self.0
            .iter()
            .find(|o| o.kind == kind && o.name == name)
            .map(|o| BoundTarget {
                uid: o.uid.clone(),
                pod_service_account: o.pod_service_account.clone(),
                pod_node_name: None,
            })
    }
}

fn issue(
    policy: &TokenPolicy,
    service_account: &str,
    spec: &TokenRequestSpec,
    existing: &[Existing],
) -> Result<Prediction, StatusError> {
    let request = TokenRequest {
        spec: Some(spec.clone()),
        ..TokenRequest::default()
    };
    let evaluated = evaluation::evaluate(
        policy,
        NAMESPACE,
        service_account,
        &request,
        &Known(existing),
        Deviations::default(),
    )?;
    Ok(Prediction::Issued {
        audiences: evaluated.audiences,
        lifetime: evaluated.lifetime,
        bound: evaluated.bound.map(|b| b.kind),
    })
}
