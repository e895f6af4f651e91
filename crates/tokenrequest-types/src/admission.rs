//! Admission rules for TokenRequests and the objects tokens bind to: what kube-apiserver's admission plugins decide
//! before anything is stored or issued. Nothing new goes into a namespace being deleted, a token included; and a
//! token bound to a pod names the pod's service account, so a pod must not exist without one.
//!
//! Sources: `staging/src/k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle/admission.go`
//! (`Lifecycle.Admit`), `plugin/pkg/admission/serviceaccount/admission.go` (`Plugin.Admit`, `getServiceAccount`). Mutating
//! admission runs before the storage defaults and validates the object
//! (`staging/src/k8s.io/apiserver/pkg/endpoints/handlers/create.go`), and NamespaceLifecycle runs before this
//! plugin, so a missing namespace is a 404 first.

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::StatusCause;

use crate::Status;
use crate::status;

/// The 403 for creating anything in a Terminating namespace, a TokenRequest included (`resource` is then
/// `serviceaccounts` and `name` the service account's):
/// `serviceaccounts "robot" is forbidden: unable to create new content in namespace team-a because it is being
/// terminated`, with a `NamespaceTerminating` cause on `metadata.namespace`.
pub fn namespace_terminating(resource: &str, name: &str, namespace: &str) -> Status {
    let reason = format!("unable to create new content in namespace {namespace} because it is being terminated");
    let mut status = status::forbidden_object("", resource, name, &reason);
    if let Some(details) = status.details.as_mut() {
        details.causes.get_or_insert_with(Vec::new).push(StatusCause {
            reason: Some("NamespaceTerminating".to_owned()),
            message: Some(format!("namespace {namespace} is being terminated")),
            field: Some("metadata.namespace".to_owned()),
        });
    }
    status
}

/// The service account of a pod whose spec names none (`DefaultServiceAccountName`).
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";

/// The service account a pod runs as, after the plugin defaulted it: the spec's own, or [`DEFAULT_SERVICE_ACCOUNT`]
/// written to `serviceAccountName` and its deprecated alias `serviceAccount`.
pub fn default_service_account(spec: &mut PodSpec) -> &str {
    if spec.service_account_name.as_deref().unwrap_or("").is_empty() {
        spec.service_account_name = Some(DEFAULT_SERVICE_ACCOUNT.to_owned());
        spec.service_account = Some(DEFAULT_SERVICE_ACCOUNT.to_owned());
    }
    spec.service_account_name.as_deref().unwrap_or(DEFAULT_SERVICE_ACCOUNT)
}

/// The 403 for a pod whose service account does not exist:
/// `pods "web" is forbidden: error looking up service account team-a/robot: serviceaccount "robot" not found`
/// (the lookup's NotFound names the singular `api.Resource("serviceaccount")`).
pub fn missing_service_account(namespace: &str, pod: &str, service_account: &str) -> Status {
    let reason = format!(
        "error looking up service account {namespace}/{service_account}: serviceaccount \"{service_account}\" not found"
    );
    status::forbidden_object("", "pods", pod, &reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_without_a_service_account_runs_as_default_under_both_names() {
        let mut spec = PodSpec::default();
        assert_eq!(default_service_account(&mut spec), "default");
        assert_eq!(spec.service_account.as_deref(), Some("default"));
        let mut named = PodSpec {
            service_account_name: Some("robot".to_owned()),
            ..PodSpec::default()
        };
        assert_eq!(default_service_account(&mut named), "robot");
        assert_eq!(named.service_account, None, "the alias is the storage's to mirror");
    }

    #[test]
    fn new_content_in_a_terminating_namespace_is_forbidden_with_its_cause() {
        // As kube-apiserver v1.37.1 answered a TokenRequest there (DIFFERENTIAL.md, D8).
        let status = namespace_terminating("serviceaccounts", "sa-1", "d1-c");
        assert_eq!((status.code, status.reason.as_deref()), (Some(403), Some("Forbidden")));
        assert_eq!(
            status.message.as_deref(),
            Some(
                r#"serviceaccounts "sa-1" is forbidden: unable to create new content in namespace d1-c because it is being terminated"#
            )
        );
        let details = status.details.unwrap();
        assert_eq!(
            (details.name.as_deref(), details.kind.as_deref()),
            (Some("sa-1"), Some("serviceaccounts"))
        );
        assert_eq!(
            details.causes.unwrap(),
            [StatusCause {
                reason: Some("NamespaceTerminating".to_owned()),
                message: Some("namespace d1-c is being terminated".to_owned()),
                field: Some("metadata.namespace".to_owned()),
            }]
        );
    }

    #[test]
    fn a_missing_service_account_is_forbidden_as_kube_apiserver_words_it() {
        // As kube-apiserver v1.37.1 answered (docs/DIFFERENTIAL.md, D7).
        let status = missing_service_account("d1-a", "pod-1", "sa-1");
        assert_eq!(status.code, Some(403));
        assert_eq!(status.reason.as_deref(), Some("Forbidden"));
        assert_eq!(
            status.message.as_deref(),
            Some(
                r#"pods "pod-1" is forbidden: error looking up service account d1-a/sa-1: serviceaccount "sa-1" not found"#
            )
        );
        let details = status.details.unwrap();
        assert_eq!(
            (details.name.as_deref(), details.kind.as_deref(), details.group),
            (Some("pod-1"), Some("pods"), None)
        );
    }
}
