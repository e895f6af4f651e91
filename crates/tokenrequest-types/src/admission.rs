//! Admission rules for the objects tokens bind to: what kube-apiserver's admission plugins decide about an object
//! before it is stored. A token bound to a pod names the pod's service account, so a pod must not exist without
//! one.
//!
//! Source: `plugin/pkg/admission/serviceaccount/admission.go` (`Plugin.Admit`, `getServiceAccount`). Mutating
//! admission runs before the storage defaults and validates the object
//! (`staging/src/k8s.io/apiserver/pkg/endpoints/handlers/create.go`), and NamespaceLifecycle runs before this
//! plugin, so a missing namespace is a 404 first.

use k8s_openapi::api::core::v1::PodSpec;

use crate::Status;
use crate::status;

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
    fn a_missing_service_account_is_forbidden_as_kube_apiserver_words_it() {
        // As kube-apiserver v1.37.1 answered (crates/tokenrequest-server/DIFFERENTIAL.md, D7).
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
