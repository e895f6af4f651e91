//! Authorization: kube-apiserver's default RBAC, reduced to the callers this server knows.
//!
//! - the admin (`system:masters`) may do anything;
//! - everyone, anonymous included, may `get` the health and version paths (`system:public-info-viewer`);
//! - a service account (authenticated) may `get` discovery paths (`system:discovery`), create
//!   `selfsubjectreviews` (`system:basic-user`) and read OIDC discovery (`system:service-account-issuer-discovery`,
//!   bound to `system:serviceaccounts`);
//! - everything else is 403 with the message of
//!   staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go (`forbiddenMessage`).
//!
//! Anonymous callers may not read discovery or OIDC metadata: the default bootstrap policy binds those roles to
//! authenticated users and service accounts only (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go),
//! unless the server is told that `system:service-account-issuer-discovery` is also bound to
//! `system:unauthenticated` (`anonymous_issuer_discovery`), as external relying parties need.

use tokenrequest_types::status::{self, ResourceTarget};

use crate::authn::{User, UserKind};
use crate::error::ApiError;
use crate::request_info::RequestInfo;

const PUBLIC_INFO_PATHS: &[&str] = &["/healthz", "/livez", "/readyz", "/version", "/version/"];
const DISCOVERY_PATHS: &[&str] = &[
    "/api",
    "/apis",
    "/healthz",
    "/livez",
    "/readyz",
    "/version",
    "/version/",
    "/openapi",
];
const DISCOVERY_PREFIXES: &[&str] = &["/api/", "/apis/", "/openapi/"];
const ISSUER_DISCOVERY_PATHS: &[&str] = &[
    "/.well-known/openid-configuration",
    "/.well-known/openid-configuration/",
    "/openid/v1/jwks",
    "/openid/v1/jwks/",
];

/// Allows or denies a request; a denial is the 403 `Status` kube-apiserver sends.
pub fn authorize(user: &User, info: &RequestInfo, anonymous_issuer_discovery: bool) -> Result<(), ApiError> {
    let issuer_discovery = info.verb == "get" && ISSUER_DISCOVERY_PATHS.contains(&info.path.as_str());
    if allowed(user, info) || (anonymous_issuer_discovery && !info.is_resource_request && issuer_discovery) {
        return Ok(());
    }
    Err(denial(user, info))
}

/// The 403 `Status` denying `info` to `user`.
pub fn denial(user: &User, info: &RequestInfo) -> ApiError {
    if !info.is_resource_request {
        return status::forbidden_path(&user.username, &info.verb, &info.path).into();
    }
    let target = ResourceTarget {
        group: &info.api_group,
        resource: &info.resource,
        subresource: info.subresource.as_deref(),
        name: info.name.as_deref(),
        namespace: info.namespace.as_deref().filter(|ns| !ns.is_empty()),
    };
    status::forbidden(&user.username, &info.verb, &target).into()
}

fn allowed(user: &User, info: &RequestInfo) -> bool {
    match user.kind {
        UserKind::Admin => true,
        UserKind::Anonymous => {
            !info.is_resource_request && info.verb == "get" && PUBLIC_INFO_PATHS.contains(&info.path.as_str())
        }
        UserKind::ServiceAccount => {
            if info.is_resource_request {
                info.verb == "create"
                    && info.api_group == "authentication.k8s.io"
                    && info.resource == "selfsubjectreviews"
                    && info.subresource.is_none()
            } else {
                let path = info.path.as_str();
                info.verb == "get"
                    && (DISCOVERY_PATHS.contains(&path)
                        || DISCOVERY_PREFIXES.iter().any(|p| path.starts_with(p))
                        || ISSUER_DISCOVERY_PATHS.contains(&path))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;

    fn user(kind: UserKind, name: &str) -> User {
        User {
            username: name.to_owned(),
            uid: String::new(),
            groups: Vec::new(),
            extra: Default::default(),
            kind,
        }
    }

    #[test]
    fn r27_forbidden_message_for_token_create() {
        let sa = user(UserKind::ServiceAccount, "system:serviceaccount:ns:sa");
        let info = RequestInfo::parse(&Method::POST, "/api/v1/namespaces/ns/serviceaccounts/other/token", None);
        let err = authorize(&sa, &info, false).unwrap_err();
        assert_eq!(
            err.status().message.as_deref(),
            Some(
                "serviceaccounts \"other\" is forbidden: User \"system:serviceaccount:ns:sa\" cannot create resource \
                 \"serviceaccounts/token\" in API group \"\" in the namespace \"ns\""
            )
        );
    }

    #[test]
    fn anonymous_sees_only_public_info() {
        let anon = user(UserKind::Anonymous, "system:anonymous");
        assert!(authorize(&anon, &RequestInfo::parse(&Method::GET, "/version", None), false).is_ok());
        let err = authorize(&anon, &RequestInfo::parse(&Method::GET, "/api", None), false).unwrap_err();
        assert_eq!(
            err.status().message.as_deref(),
            Some("forbidden: User \"system:anonymous\" cannot get path \"/api\"")
        );
        let err = authorize(&anon, &RequestInfo::parse(&Method::GET, "/api/v1/nodes", None), false).unwrap_err();
        assert_eq!(
            err.status().message.as_deref(),
            Some(
                "nodes is forbidden: User \"system:anonymous\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"
            )
        );
    }

    #[test]
    fn anonymous_issuer_discovery_opens_only_discovery_and_the_jwks() {
        let anon = user(UserKind::Anonymous, "system:anonymous");
        for path in ["/.well-known/openid-configuration", "/openid/v1/jwks"] {
            let info = RequestInfo::parse(&Method::GET, path, None);
            assert!(authorize(&anon, &info, false).is_err(), "{path} closed by default");
            assert!(authorize(&anon, &info, true).is_ok(), "{path} open with the binding");
        }
        let api = RequestInfo::parse(&Method::GET, "/api", None);
        assert!(authorize(&anon, &api, true).is_err());
    }
}
