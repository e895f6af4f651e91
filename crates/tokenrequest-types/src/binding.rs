//! What a token may be bound to (R13–R17): a Pod, a Secret or a Node, judged by API group and kind only.
//!
//! Source: `pkg/registry/core/serviceaccount/storage/token.go` (`Create`, the `boundObjectRef` switch) and
//! `staging/src/k8s.io/apimachinery/pkg/runtime/schema/group_version.go` (`ParseGroupVersion`,
//! `FromAPIVersionAndKind`).

use std::fmt;

use k8s_openapi::api::authentication::v1::BoundObjectReference;

use crate::status::{self, StatusError};

/// The kinds of object a service-account token can be bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BoundKind {
    /// A Pod in the service account's namespace.
    Pod,
    /// A Secret in the service account's namespace.
    Secret,
    /// A Node (cluster-scoped; GA since 1.33).
    Node,
}

impl BoundKind {
    /// Every kind, in a fixed order.
    pub const ALL: [BoundKind; 3] = [BoundKind::Pod, BoundKind::Secret, BoundKind::Node];

    /// The `kind` string, case-sensitive as kube-apiserver compares it.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Pod => "Pod",
            Self::Secret => "Secret",
            Self::Node => "Node",
        }
    }

    /// The plural resource, used in `not found` errors.
    pub fn resource(self) -> &'static str {
        match self {
            Self::Pod => "pods",
            Self::Secret => "secrets",
            Self::Node => "nodes",
        }
    }

    /// The key under `kubernetes.io` in the claims, and the word in uid-mismatch review errors.
    pub fn claim_key(self) -> &'static str {
        match self {
            Self::Pod => "pod",
            Self::Secret => "secret",
            Self::Node => "node",
        }
    }

    /// Whether the object lives in the service account's namespace.
    pub fn is_namespaced(self) -> bool {
        !matches!(self, Self::Node)
    }

    /// Parses a kind exactly as spelled (`Pod`, `Secret`, `Node`).
    pub fn from_kind(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.kind() == kind)
    }

    /// Decides which object a reference binds to (R13), or the 400 kube-apiserver answers.
    ///
    /// Only the group is checked: any apiVersion that parses to the core group is accepted, and so is one that
    /// does not parse at all (`FromAPIVersionAndKind` drops an unparsable group-version).
    pub fn from_reference(reference: &BoundObjectReference) -> Result<Self, StatusError> {
        let api_version = reference.api_version.as_deref().unwrap_or("");
        let kind = reference.kind.as_deref().unwrap_or("");
        let (group, version) = parse_group_version(api_version);
        match Self::from_kind(kind) {
            Some(bound) if group.is_empty() => Ok(bound),
            _ => Err(status::bad_request(format!(
                "cannot bind token to object of type {group}/{version}, Kind={kind}"
            ))
            .into()),
        }
    }
}

impl std::str::FromStr for BoundKind {
    type Err = String;

    /// Case-sensitive, as kube-apiserver compares kinds.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_kind(s).ok_or_else(|| format!("unknown bound object kind {s:?}: expected Pod, Secret or Node"))
    }
}

impl serde::Serialize for BoundKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.kind())
    }
}

impl fmt::Display for BoundKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}

/// `schema.FromAPIVersionAndKind`'s view of an apiVersion: (group, version), empty when it does not parse.
fn parse_group_version(api_version: &str) -> (&str, &str) {
    if api_version.is_empty() || api_version == "/" {
        return ("", "");
    }
    match api_version.matches('/').count() {
        0 => ("", api_version),
        1 => api_version.split_once('/').unwrap_or(("", "")),
        _ => ("", ""),
    }
}

/// The name a reference must carry before the object is looked up (`Name parameter required.`, R13).
pub fn require_name(reference: &BoundObjectReference) -> Result<&str, StatusError> {
    match reference.name.as_deref() {
        Some(name) if !name.is_empty() => Ok(name),
        _ => Err(status::bad_request("Name parameter required.").into()),
    }
}

/// R15: a pod-bound token must be for the pod's own service account.
pub fn check_pod_service_account(service_account: &str, pod_service_account: &str) -> Result<(), StatusError> {
    if service_account == pod_service_account {
        return Ok(());
    }
    Err(status::bad_request(format!(
        "cannot bind token for serviceaccount {} to pod running with different serviceaccount name.",
        status::quote(service_account)
    ))
    .into())
}

/// R16: a uid in the reference must match the object's (409 Conflict naming the kind).
pub fn check_uid(
    kind: BoundKind,
    name: &str,
    reference_uid: Option<&str>,
    actual_uid: &str,
) -> Result<(), StatusError> {
    match reference_uid {
        Some(uid) if !uid.is_empty() && uid != actual_uid => Err(status::conflict(
            "",
            kind.kind(),
            name,
            &format!(
                "the UID in the bound object reference ({uid}) does not match the UID in record. The object might have been deleted and then recreated"
            ),
        ).into()),
        _ => Ok(()),
    }
}

/// A resolved binding: the object a token is bound to, as it is recorded in the claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundObject {
    /// Pod, Secret or Node.
    pub kind: BoundKind,
    /// The object's name.
    pub name: String,
    /// The object's uid at issue time.
    pub uid: String,
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn reference(api_version: &str, kind: &str) -> BoundObjectReference {
        BoundObjectReference {
            api_version: Some(api_version.to_owned()),
            kind: Some(kind.to_owned()),
            name: Some("x".to_owned()),
            uid: None,
        }
    }

    #[rstest]
    #[case::v1("v1", "Pod", BoundKind::Pod)]
    #[case::empty("", "Secret", BoundKind::Secret)]
    #[case::other_core_version("v2", "Node", BoundKind::Node)]
    #[case::slash_version("/v1", "Pod", BoundKind::Pod)]
    #[case::unparsable("a/b/c", "Pod", BoundKind::Pod)]
    fn r13_core_group_any_version(#[case] api_version: &str, #[case] kind: &str, #[case] expected: BoundKind) {
        assert_eq!(BoundKind::from_reference(&reference(api_version, kind)), Ok(expected));
    }

    #[rstest]
    #[case::configmap("v1", "ConfigMap", "cannot bind token to object of type /v1, Kind=ConfigMap")]
    #[case::lowercase("v1", "pod", "cannot bind token to object of type /v1, Kind=pod")]
    #[case::other_group("apps/v1", "Pod", "cannot bind token to object of type apps/v1, Kind=Pod")]
    #[case::no_kind("v1", "", "cannot bind token to object of type /v1, Kind=")]
    fn r13_other_kinds_are_bad_requests(#[case] api_version: &str, #[case] kind: &str, #[case] message: &str) {
        let err = BoundKind::from_reference(&reference(api_version, kind)).unwrap_err();
        assert_eq!(status::code(&err), 400);
        assert_eq!(err.message.as_deref(), Some(message));
    }

    #[test]
    fn kinds_parse_case_sensitively_and_serialize_as_kind() {
        assert_eq!("Node".parse::<BoundKind>(), Ok(BoundKind::Node));
        assert!("node".parse::<BoundKind>().is_err());
        assert_eq!(serde_json::to_string(&BoundKind::Pod).unwrap(), "\"Pod\"");
    }

    #[test]
    fn r13_empty_name() {
        let mut r = reference("v1", "Pod");
        r.name = Some(String::new());
        assert_eq!(
            require_name(&r).unwrap_err().message.as_deref(),
            Some("Name parameter required.")
        );
    }

    #[test]
    fn r15_pod_of_other_service_account() {
        let err = check_pod_service_account("robot", "other").unwrap_err();
        assert_eq!(
            err.message.as_deref(),
            Some("cannot bind token for serviceaccount \"robot\" to pod running with different serviceaccount name.")
        );
        assert!(check_pod_service_account("robot", "robot").is_ok());
    }

    #[test]
    fn r16_uid_mismatch_conflict() {
        let err = check_uid(BoundKind::Secret, "s", Some("u1"), "u2").unwrap_err();
        assert_eq!(status::code(&err), 409);
        assert_eq!(
            err.message.as_deref(),
            Some(
                "Operation cannot be fulfilled on Secret \"s\": the UID in the bound object reference (u1) does not \
                 match the UID in record. The object might have been deleted and then recreated"
            )
        );
        let details = err.into_status().details.unwrap();
        assert_eq!(
            (details.kind.as_deref(), details.name.as_deref()),
            (Some("Secret"), Some("s"))
        );
        assert!(check_uid(BoundKind::Pod, "p", Some("u"), "u").is_ok());
        assert!(check_uid(BoundKind::Pod, "p", None, "u").is_ok());
        assert!(check_uid(BoundKind::Pod, "p", Some(""), "u").is_ok());
    }
}
