//! The order in which kube-apiserver evaluates a TokenRequest, as one pure function: [`evaluate`].
//!
//! The embedded server's handler and the conformance suite's prediction both call it, so the order cannot drift
//! between them. The order (docs/SPEC.md; verified against kube-apiserver 1.37.1 by the differential check):
//!
//! 1. the body's namespace must match the URL's (400; `rest.EnsureObjectNamespaceMatchesRequestNamespace` in
//!    staging/src/k8s.io/apiserver/pkg/registry/rest/create.go);
//! 2. NamespaceLifecycle admission: 404 for a missing namespace, 403 while it terminates
//!    (plugin/pkg/admission/namespace/lifecycle);
//! 3. `metadata.name` against the URL (R2), the service account's lookup (404) and its uid (R29, 409)
//!    (pkg/registry/core/serviceaccount/storage/token.go `TokenREST.Create`);
//! 4. audiences defaulted to the API audiences (R11), `expirationSeconds` defaulted (R4) and validated (R5, R6,
//!    422);
//! 5. the bound object: kind (400), name, lookup (404), a pod's service account (400), uid (409) (R12–R16), and
//!    a pod's node (R17);
//! 6. the lifetime: clamping and the extension (R8, R9).
//!
//! What the function needs to know about the cluster's objects comes through [`Objects`]; it reads no clock and
//! makes no token (the caller signs the claims it builds from [`Evaluated`]). The embedded server's fault
//! injection changes rules here and only here, through [`Deviations`].

use k8s_openapi::api::authentication::v1::TokenRequest;

use crate::admission;
use crate::binding::{self, BoundKind, BoundObject};
use crate::claims::ObjectRef;
use crate::defaults;
use crate::expiration::{EXTENDED_LIFETIME_SECONDS, ExpirationPolicy, Lifetime, MIN_EXPIRATION_SECONDS};
use crate::policy::TokenPolicy;
use crate::status::{self, StatusError};
use crate::validation;

/// Where a namespace stands, as NamespaceLifecycle admission sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceState {
    /// It does not exist.
    Missing,
    /// It exists and is not being deleted.
    Active,
    /// It has a deletion timestamp.
    Terminating,
}

/// An object a `boundObjectRef` names, as far as the evaluation needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoundTarget {
    /// Its uid.
    pub uid: String,
    /// For a pod: `spec.serviceAccountName`.
    pub pod_service_account: Option<String>,
    /// For a pod: `spec.nodeName`, if scheduled.
    pub pod_node_name: Option<String>,
}

/// The cluster's objects, as the evaluation looks them up.
pub trait Objects {
    /// The state of a namespace.
    fn namespace(&self, namespace: &str) -> NamespaceState;
    /// The uid of a service account, if it exists.
    fn service_account_uid(&self, namespace: &str, name: &str) -> Option<String>;
    /// The object of `kind` named `name` (in `namespace` for the namespaced kinds), if it exists.
    fn bound_target(&self, namespace: &str, kind: BoundKind, name: &str) -> Option<BoundTarget>;
}

/// Rules switched off or bent: the one seam through which the embedded server's fault injection (its
/// `--inject-fault`) changes what it issues, so that the suite can prove it catches each broken rule. The default
/// deviates from nothing; only the server's fault module sets a field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deviations {
    /// An empty `spec.audiences` becomes `["wrong-audience"]` (breaks R11).
    pub wrong_default_audiences: bool,
    /// Requests below the 600 s minimum are accepted (breaks R5).
    pub accept_short_expiration: bool,
    /// The bound object's uid is not compared (breaks R16).
    pub ignore_bound_uid: bool,
    /// A bound pod's node is left out of the claims (breaks R17).
    pub no_node_claim: bool,
    /// No clamping to the maximum (breaks R8).
    pub no_clamp: bool,
    /// No extension of pod-bound 3607 s tokens (breaks R9).
    pub no_extension: bool,
    /// Every token is extended to a year (breaks R9).
    pub always_extend: bool,
}

/// The audience every empty request gets under [`Deviations::wrong_default_audiences`].
pub const WRONG_DEFAULT_AUDIENCE: &str = "wrong-audience";

/// What a TokenRequest that passed every rule gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluated {
    /// The service account's uid (the `kubernetes.io.serviceaccount.uid` claim and the response's uid).
    pub service_account_uid: String,
    /// `spec.audiences` of the response and the `aud` claim.
    pub audiences: Vec<String>,
    /// The bound object, resolved.
    pub bound: Option<BoundObject>,
    /// The node of a bound, scheduled pod, with its uid only when the Node exists (R17).
    pub pod_node: Option<ObjectRef>,
    /// The token's times and the clamping warning.
    pub lifetime: Lifetime,
}

/// Evaluates `request`, sent to `.../namespaces/{namespace}/serviceaccounts/{service_account}/token`, in
/// kube-apiserver's order; the first rule that fails gives the error `Status`.
pub fn evaluate(
    policy: &TokenPolicy,
    namespace: &str,
    service_account: &str,
    request: &TokenRequest,
    objects: &impl Objects,
    deviations: Deviations,
) -> Result<Evaluated, StatusError> {
    if request
        .metadata
        .namespace
        .as_deref()
        .is_some_and(|ns| !ns.is_empty() && ns != namespace)
    {
        return Err(status::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )
        .into());
    }
    match objects.namespace(namespace) {
        NamespaceState::Missing => return Err(status::not_found("", "namespaces", namespace).into()),
        NamespaceState::Terminating => {
            return Err(admission::namespace_terminating("serviceaccounts", service_account, namespace).into());
        }
        NamespaceState::Active => {}
    }
    validation::validate_name(request, service_account)?;
    let service_account_uid = objects
        .service_account_uid(namespace, service_account)
        .ok_or_else(|| StatusError::from(status::not_found("", "serviceaccounts", service_account)))?;
    validation::check_service_account_uid(request, service_account, &service_account_uid)?;

    let mut spec = request.spec.clone().unwrap_or_default();
    let requested_audiences = spec.audiences.take().unwrap_or_default();
    let audiences = if deviations.wrong_default_audiences && requested_audiences.is_empty() {
        vec![WRONG_DEFAULT_AUDIENCE.to_owned()]
    } else {
        policy.audiences.effective(&requested_audiences)
    };
    defaults::default_expiration(&mut spec);
    let requested = spec.expiration_seconds.unwrap_or_default();
    if !(deviations.accept_short_expiration && (1..MIN_EXPIRATION_SECONDS).contains(&requested)) {
        validation::validate_spec(requested)?;
    }

    let mut pod_node = None;
    let bound = match &spec.bound_object_ref {
        None => None,
        Some(reference) => {
            let kind = BoundKind::from_reference(reference)?;
            let name = binding::require_name(reference)?;
            let target = objects
                .bound_target(namespace, kind, name)
                .ok_or_else(|| StatusError::from(status::not_found("", kind.resource(), name)))?;
            if kind == BoundKind::Pod {
                binding::check_pod_service_account(
                    service_account,
                    target.pod_service_account.as_deref().unwrap_or_default(),
                )?;
                if let Some(node) = target.pod_node_name.filter(|n| !n.is_empty())
                    && !deviations.no_node_claim
                {
                    let uid = objects
                        .bound_target("", BoundKind::Node, &node)
                        .map(|n| n.uid)
                        .unwrap_or_default();
                    pod_node = Some(ObjectRef::new(node, uid));
                }
            }
            if !deviations.ignore_bound_uid {
                binding::check_uid(kind, name, reference.uid.as_deref(), &target.uid)?;
            }
            Some(BoundObject {
                kind,
                name: name.to_owned(),
                uid: target.uid,
            })
        }
    };

    let expiration = ExpirationPolicy {
        max_seconds: policy.expiration.max_seconds.filter(|_| !deviations.no_clamp),
        extend: policy.expiration.extend && !deviations.no_extension,
    };
    let mut lifetime = expiration.lifetime(
        requested,
        bound.as_ref().map(|b| b.kind),
        policy.audiences.all_api(&audiences),
    );
    if deviations.always_extend {
        lifetime.token_seconds = EXTENDED_LIFETIME_SECONDS;
        lifetime.warn_after_seconds = Some(lifetime.expiration_seconds);
    }
    Ok(Evaluated {
        service_account_uid,
        audiences,
        bound,
        pod_node,
        lifetime,
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequestSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use rstest::rstest;

    use super::*;

    /// A namespace `ns` with service account `sa` (uid `sa-uid`), pod `p` of `sa` on node `n`, and node `n`.
    struct World {
        namespace: NamespaceState,
    }

    impl Objects for World {
        fn namespace(&self, namespace: &str) -> NamespaceState {
            if namespace == "ns" {
                self.namespace
            } else {
                NamespaceState::Missing
            }
        }
        fn service_account_uid(&self, namespace: &str, name: &str) -> Option<String> {
            (namespace == "ns" && name == "sa").then(|| "sa-uid".to_owned())
        }
        fn bound_target(&self, namespace: &str, kind: BoundKind, name: &str) -> Option<BoundTarget> {
            match (kind, namespace, name) {
                (BoundKind::Pod, "ns", "p") => Some(BoundTarget {
                    uid: "pod-uid".to_owned(),
                    pod_service_account: Some("sa".to_owned()),
                    pod_node_name: Some("n".to_owned()),
                }),
                (BoundKind::Node, "", "n") => Some(BoundTarget {
                    uid: "node-uid".to_owned(),
                    ..BoundTarget::default()
                }),
                _ => None,
            }
        }
    }

    const ACTIVE: World = World {
        namespace: NamespaceState::Active,
    };

    fn policy() -> TokenPolicy {
        TokenPolicy::defaults_for_issuer("https://issuer.test")
    }

    fn request(expiration: Option<i64>, bound: Option<(&str, &str, Option<&str>)>) -> TokenRequest {
        TokenRequest {
            spec: Some(TokenRequestSpec {
                expiration_seconds: expiration,
                bound_object_ref: bound.map(|(kind, name, uid)| BoundObjectReference {
                    api_version: Some("v1".to_owned()),
                    kind: Some(kind.to_owned()),
                    name: Some(name.to_owned()),
                    uid: uid.map(str::to_owned),
                }),
                ..TokenRequestSpec::default()
            }),
            ..TokenRequest::default()
        }
    }

    fn code(result: Result<Evaluated, StatusError>) -> i32 {
        result.map_or_else(|e| e.code.unwrap_or_default(), |_| 201)
    }

    #[rstest]
    #[case::missing_namespace("other", "sa", request(None, None), 404)]
    #[case::missing_service_account("ns", "nobody", request(None, None), 404)]
    #[case::short_expiration("ns", "sa", request(Some(10), None), 422)]
    // The spec is validated before the bound object is looked up.
    #[case::short_expiration_before_lookup("ns", "sa", request(Some(10), Some(("Pod", "gone", None))), 422)]
    #[case::missing_bound_object("ns", "sa", request(None, Some(("Pod", "gone", None))), 404)]
    #[case::unsupported_kind("ns", "sa", request(None, Some(("ConfigMap", "p", None))), 400)]
    #[case::uid_mismatch("ns", "sa", request(None, Some(("Pod", "p", Some("other")))), 409)]
    #[case::bound_pod("ns", "sa", request(Some(3607), Some(("Pod", "p", Some("pod-uid")))), 201)]
    fn the_first_failing_rule_answers(
        #[case] namespace: &str,
        #[case] service_account: &str,
        #[case] request: TokenRequest,
        #[case] expected: i32,
    ) {
        let result = evaluate(
            &policy(),
            namespace,
            service_account,
            &request,
            &ACTIVE,
            Deviations::default(),
        );
        assert_eq!(code(result), expected);
    }

    #[test]
    fn a_terminating_namespace_is_forbidden_before_the_name_is_checked() {
        let mut request = request(None, None);
        request.metadata = ObjectMeta {
            name: Some("someone-else".to_owned()),
            ..ObjectMeta::default()
        };
        let terminating = World {
            namespace: NamespaceState::Terminating,
        };
        let result = evaluate(&policy(), "ns", "sa", &request, &terminating, Deviations::default());
        assert_eq!(code(result), 403);
    }

    #[test]
    fn a_bound_pod_records_its_node_and_is_extended() {
        let request = request(Some(3607), Some(("Pod", "p", None)));
        let evaluated = evaluate(&policy(), "ns", "sa", &request, &ACTIVE, Deviations::default()).unwrap();
        assert_eq!(evaluated.pod_node, Some(ObjectRef::new("n", "node-uid")));
        assert_eq!(evaluated.lifetime.token_seconds, EXTENDED_LIFETIME_SECONDS);
        assert_eq!(evaluated.service_account_uid, "sa-uid");
    }

    #[test]
    fn each_deviation_bends_its_rule() {
        let bound = request(Some(3607), Some(("Pod", "p", Some("other"))));
        let ignore_uid = Deviations {
            ignore_bound_uid: true,
            no_node_claim: true,
            no_extension: true,
            ..Deviations::default()
        };
        let evaluated = evaluate(&policy(), "ns", "sa", &bound, &ACTIVE, ignore_uid).unwrap();
        assert_eq!(evaluated.pod_node, None);
        assert_eq!(evaluated.lifetime.token_seconds, 3607);

        let short = Deviations {
            accept_short_expiration: true,
            wrong_default_audiences: true,
            always_extend: true,
            ..Deviations::default()
        };
        let evaluated = evaluate(&policy(), "ns", "sa", &request(Some(10), None), &ACTIVE, short).unwrap();
        assert_eq!(evaluated.audiences, [WRONG_DEFAULT_AUDIENCE]);
        assert_eq!(evaluated.lifetime.token_seconds, EXTENDED_LIFETIME_SECONDS);
    }
}
