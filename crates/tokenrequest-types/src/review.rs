//! How a service-account token is judged when it is presented (R21–R24): the checks, their order, their
//! messages, and the user a valid token authenticates as.
//!
//! Sources: `pkg/serviceaccount/jwt.go` (`AuthenticateToken`: issuer, then signature, then audiences),
//! `pkg/serviceaccount/claims.go` (`validator.Validate`: time with 60 s leeway, then the service account, the bound
//! secret, pod and node) and `pkg/serviceaccount/util.go` (`UserInfo`, the extra keys). The caller looks objects
//! up and verifies the signature; this module decides.

use std::collections::BTreeMap;

use crate::audience::AudiencePolicy;
use crate::binding::BoundKind;
use crate::claims::{Claims, ObjectRef, service_account_username};

/// go-jose's `DefaultLeeway`, applied to `nbf`, `exp`, `iat` and to deletion timestamps.
pub const LEEWAY_SECONDS: i64 = 60;

/// The group every service account is in.
pub const ALL_SERVICE_ACCOUNTS_GROUP: &str = "system:serviceaccounts";
/// The group every authenticated user is in.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// Extra key: the bound pod's name.
pub const EXTRA_POD_NAME: &str = "authentication.kubernetes.io/pod-name";
/// Extra key: the bound pod's uid.
pub const EXTRA_POD_UID: &str = "authentication.kubernetes.io/pod-uid";
/// Extra key: the node's name (node-bound, or the node of a bound pod).
pub const EXTRA_NODE_NAME: &str = "authentication.kubernetes.io/node-name";
/// Extra key: the node's uid.
pub const EXTRA_NODE_UID: &str = "authentication.kubernetes.io/node-uid";
/// Extra key: `JTI={jti}`.
pub const EXTRA_CREDENTIAL_ID: &str = "authentication.kubernetes.io/credential-id";

/// Why a token was not accepted. `Display` is kube-apiserver's message; none contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    /// Not a JWT, or one from a foreign issuer: no authenticator claims it.
    #[error("invalid bearer token")]
    NotClaimed,
    /// No key with the token's `kid` (or no key at all).
    #[error("invalid signature, no keys found")]
    NoKeys,
    /// The signature does not verify.
    #[error("go-jose/go-jose: error in cryptographic primitive")]
    BadSignature,
    /// None of the requested audiences is in the token.
    #[error(
        "token audiences {} is invalid for the target audiences {}",
        go_quote_list(token),
        go_quote_list(requested)
    )]
    Audience {
        /// The token's `aud`.
        token: Vec<String>,
        /// The audiences the review asked for (the API audiences when none).
        requested: Vec<String>,
    },
    /// `exp` more than the leeway in the past.
    #[error("service account token has expired")]
    Expired,
    /// `nbf` more than the leeway in the future.
    #[error("service account token is not valid yet")]
    NotValidYet,
    /// `iat` more than the leeway in the future.
    #[error("service account token is issued in the future")]
    IssuedInFuture,
    /// The claims lack the `kubernetes.io` part.
    #[error("service account token claims could not be validated due to unexpected private claim")]
    MissingPrivateClaims,
    /// The service account does not exist.
    #[error("serviceaccounts \"{0}\" not found")]
    ServiceAccountNotFound(String),
    /// The service account was recreated.
    #[error("service account UID ({actual}) does not match claim ({claim})")]
    ServiceAccountUid {
        /// The uid in the store.
        actual: String,
        /// The uid in the claims.
        claim: String,
    },
    /// The service account has been deleting for longer than the leeway.
    #[error("service account {namespace}/{name} has been deleted")]
    ServiceAccountDeleted {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// The bound object is gone or has been deleting for longer than the leeway.
    #[error("service account token has been invalidated")]
    Invalidated,
    /// The bound object was recreated.
    #[error("{} UID ({actual}) does not match service account {} ref claim ({claim})", kind.claim_key(), kind.claim_key())]
    BoundUid {
        /// Pod, Secret or Node.
        kind: BoundKind,
        /// The uid in the store.
        actual: String,
        /// The uid in the claims.
        claim: String,
    },
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
fn go_quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| crate::status::quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

/// The `status.error` of a TokenReview that did not authenticate, as a real kube-apiserver (v1.37.1) writes it:
/// a token nobody claims gives `invalid bearer token`; any other rejection is aggregated after it,
/// `[invalid bearer token, service account token has been invalidated]` (observed, see
/// `docs/observed/65-review-garbage.txt` and `69-review-after-pod-deleted.txt`).
pub fn review_error(rejection: &TokenRejection) -> String {
    match rejection {
        TokenRejection::NotClaimed => TokenRejection::NotClaimed.to_string(),
        other => format!("[{}, {other}]", TokenRejection::NotClaimed),
    }
}

/// Whether this authenticator claims the token at all: its `iss` is one of ours, read from the unverified payload
/// alone, before the header, the key and the signature are looked at; a token whose other claims are missing or
/// malformed is still claimed, and then refused for its key or signature (pkg/serviceaccount/jwt.go
/// `hasCorrectIssuer`: three parts, not JSON-looking, base64url payload with a string `iss`).
pub fn issuer_claimed(token: &str, issuers: &[String]) -> bool {
    #[derive(serde::Deserialize)]
    struct Issuer {
        #[serde(default)]
        iss: String,
    }
    if token.trim().starts_with('{') {
        return false;
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [_, payload, _] = parts[..] else {
        return false;
    };
    base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Issuer>(&bytes).ok())
        .is_some_and(|claims| issuers.contains(&claims.iss))
}

/// Audiences (R23) then times (R21), on claims whose signature and issuer the caller has checked.
/// Returns the audiences the review reports.
pub fn validate_claims(
    claims: &Claims,
    now: i64,
    audiences: &AudiencePolicy,
    requested: &[String],
) -> Result<Vec<String>, TokenRejection> {
    let granted = audiences.review_audiences(requested, &claims.aud);
    if granted.is_empty() {
        let requested = if requested.is_empty() {
            audiences.api_audiences().to_vec()
        } else {
            requested.to_vec()
        };
        return Err(TokenRejection::Audience {
            token: claims.aud.clone(),
            requested,
        });
    }
    validate_times(claims, now)?;
    Ok(granted)
}

/// go-jose's `ValidateWithLeeway` order: `nbf`, `exp`, `iat`.
pub fn validate_times(claims: &Claims, now: i64) -> Result<(), TokenRejection> {
    if now + LEEWAY_SECONDS < claims.nbf {
        return Err(TokenRejection::NotValidYet);
    }
    if now - LEEWAY_SECONDS > claims.exp {
        return Err(TokenRejection::Expired);
    }
    if now + LEEWAY_SECONDS < claims.iat {
        return Err(TokenRejection::IssuedInFuture);
    }
    Ok(())
}

/// An object as the validator sees it in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredObject<'a> {
    /// Its current uid.
    pub uid: &'a str,
    /// Its `deletionTimestamp` (unix seconds), if it is being deleted.
    pub deletion_timestamp: Option<i64>,
}

impl StoredObject<'_> {
    /// "Deleted" for the validator: deleting since longer than the leeway.
    fn deleted(&self, now: i64) -> bool {
        self.deletion_timestamp.is_some_and(|t| t < now - LEEWAY_SECONDS)
    }
}

/// R21: the service account named in the claims must exist with the same uid and not be deleted.
pub fn check_service_account(
    namespace: &str,
    claim: &ObjectRef,
    found: Option<StoredObject<'_>>,
    now: i64,
) -> Result<(), TokenRejection> {
    let sa = found.ok_or_else(|| TokenRejection::ServiceAccountNotFound(claim.name.clone()))?;
    if sa.uid != claim.uid {
        return Err(TokenRejection::ServiceAccountUid {
            actual: sa.uid.to_owned(),
            claim: claim.uid.clone(),
        });
    }
    if sa.deleted(now) {
        return Err(TokenRejection::ServiceAccountDeleted {
            namespace: namespace.to_owned(),
            name: claim.name.clone(),
        });
    }
    Ok(())
}

/// R21: a bound secret, pod or node must still exist with the same uid and not be deleted.
pub fn check_bound_object(
    kind: BoundKind,
    claim: &ObjectRef,
    found: Option<StoredObject<'_>>,
    now: i64,
) -> Result<(), TokenRejection> {
    let object = found.ok_or(TokenRejection::Invalidated)?;
    if object.uid != claim.uid {
        return Err(TokenRejection::BoundUid {
            kind,
            actual: object.uid.to_owned(),
            claim: claim.uid.clone(),
        });
    }
    if object.deleted(now) {
        return Err(TokenRejection::Invalidated);
    }
    Ok(())
}

/// Which objects the validator must look up for these claims, in kube-apiserver's order: secret, pod, then the
/// node only for a node-bound token (a pod's node is informational, R21).
pub fn objects_to_check(claims: &Claims) -> Vec<(BoundKind, &ObjectRef)> {
    let Some(private) = &claims.kubernetes_io else {
        return Vec::new();
    };
    let mut checks = Vec::new();
    if let Some(secret) = &private.secret {
        checks.push((BoundKind::Secret, secret));
    }
    if let Some(pod) = &private.pod {
        checks.push((BoundKind::Pod, pod));
    }
    if let (Some(node), None) = (&private.node, &private.pod) {
        checks.push((BoundKind::Node, node));
    }
    checks
}

/// The user a valid service-account token authenticates as (R22, R23).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountUser {
    /// `system:serviceaccount:{ns}:{name}`.
    pub username: String,
    /// The service account's uid.
    pub uid: String,
    /// `system:serviceaccounts`, `system:serviceaccounts:{ns}`, `system:authenticated`.
    pub groups: Vec<String>,
    /// Pod, node and credential-id extras, each a one-element list.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl ServiceAccountUser {
    /// The user of validated claims; `MissingPrivateClaims` if they are not a bound service-account token's.
    pub fn from_claims(claims: &Claims) -> Result<Self, TokenRejection> {
        let private = claims
            .kubernetes_io
            .as_ref()
            .ok_or(TokenRejection::MissingPrivateClaims)?;
        let ns = &private.namespace;
        let mut extra = BTreeMap::new();
        if let Some(pod) = private.pod.as_ref().filter(|p| !p.name.is_empty() && !p.uid.is_empty()) {
            extra.insert(EXTRA_POD_NAME.to_owned(), vec![pod.name.clone()]);
            extra.insert(EXTRA_POD_UID.to_owned(), vec![pod.uid.clone()]);
        }
        if let Some(jti) = claims.jti.as_ref().filter(|j| !j.is_empty()) {
            extra.insert(EXTRA_CREDENTIAL_ID.to_owned(), vec![format!("JTI={jti}")]);
        }
        if let Some(node) = private.node.as_ref().filter(|n| !n.name.is_empty()) {
            extra.insert(EXTRA_NODE_NAME.to_owned(), vec![node.name.clone()]);
            if !node.uid.is_empty() {
                extra.insert(EXTRA_NODE_UID.to_owned(), vec![node.uid.clone()]);
            }
        }
        Ok(Self {
            username: service_account_username(ns, &private.serviceaccount.name),
            uid: private.serviceaccount.uid.clone(),
            groups: service_account_groups(ns),
            extra,
        })
    }
}

/// The groups of a service account in `namespace`, as an authenticated request carries them.
pub fn service_account_groups(namespace: &str) -> Vec<String> {
    vec![
        ALL_SERVICE_ACCOUNTS_GROUP.to_owned(),
        format!("{ALL_SERVICE_ACCOUNTS_GROUP}:{namespace}"),
        AUTHENTICATED_GROUP.to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::KubernetesClaims;

    const NOW: i64 = 1_760_000_000;

    #[test]
    fn the_issuer_alone_decides_whether_a_token_is_claimed() {
        let b64 = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, s);
        let issuers = ["https://issuer".to_owned()];
        let token = |payload: &str| format!("{}.{}.{}", b64(r#"{"alg":"RS256"}"#), b64(payload), b64("sig"));
        // Only `iss` is read: other claims may be missing, and the header and signature are not looked at.
        assert!(issuer_claimed(&token(r#"{"iss":"https://issuer"}"#), &issuers));
        assert!(issuer_claimed(
            &format!("x.{}.y", b64(r#"{"iss":"https://issuer","exp":"soon"}"#)),
            &issuers
        ));
        assert!(!issuer_claimed(&token(r#"{"iss":"https://elsewhere"}"#), &issuers));
        assert!(!issuer_claimed(&token(r#"{"sub":"x"}"#), &issuers));
        assert!(!issuer_claimed(&token(r#"{"iss":42}"#), &issuers));
        assert!(!issuer_claimed(
            &format!("{}.{}", b64("{}"), b64(r#"{"iss":"https://issuer"}"#)),
            &issuers
        ));
        assert!(!issuer_claimed(
            &format!("{{\"a\":1}}.{}.x", b64(r#"{"iss":"https://issuer"}"#)),
            &issuers
        ));
    }

    fn claims() -> Claims {
        Claims {
            aud: vec!["api".into()],
            exp: NOW + 3600,
            iat: NOW,
            iss: "https://issuer".into(),
            jti: Some("j1".into()),
            kubernetes_io: Some(KubernetesClaims {
                namespace: "ns".into(),
                serviceaccount: ObjectRef::new("robot", "sa-uid"),
                pod: Some(ObjectRef::new("web", "pod-uid")),
                node: Some(ObjectRef::new("n1", "")),
                ..Default::default()
            }),
            nbf: NOW,
            sub: "system:serviceaccount:ns:robot".into(),
        }
    }

    fn api() -> AudiencePolicy {
        AudiencePolicy::new(vec!["api".into()])
    }

    #[test]
    fn r21_audience_mismatch_message() {
        let err = validate_claims(&claims(), NOW, &api(), &["x".into(), "y".into()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"token audiences ["api"] is invalid for the target audiences ["x" "y"]"#
        );
        assert_eq!(validate_claims(&claims(), NOW, &api(), &[]), Ok(vec!["api".to_owned()]));
    }

    #[test]
    fn r23_review_error_aggregates_like_kube_apiserver() {
        assert_eq!(review_error(&TokenRejection::NotClaimed), "invalid bearer token");
        assert_eq!(
            review_error(&TokenRejection::Invalidated),
            "[invalid bearer token, service account token has been invalidated]"
        );
    }

    #[test]
    fn r21_times_with_60s_leeway() {
        let c = claims();
        assert_eq!(validate_times(&c, c.exp + 60), Ok(()));
        assert_eq!(validate_times(&c, c.exp + 61), Err(TokenRejection::Expired));
        assert_eq!(validate_times(&c, c.nbf - 61), Err(TokenRejection::NotValidYet));
        let mut future = c.clone();
        future.nbf = NOW - 1000;
        assert_eq!(validate_times(&future, NOW - 61), Err(TokenRejection::IssuedInFuture));
    }

    #[test]
    fn r21_service_account_checks() {
        let sa = ObjectRef::new("robot", "sa-uid");
        assert_eq!(
            check_service_account("ns", &sa, None, NOW).unwrap_err().to_string(),
            "serviceaccounts \"robot\" not found"
        );
        let recreated = StoredObject {
            uid: "other",
            deletion_timestamp: None,
        };
        assert_eq!(
            check_service_account("ns", &sa, Some(recreated), NOW)
                .unwrap_err()
                .to_string(),
            "service account UID (other) does not match claim (sa-uid)"
        );
        let deleting = |t| {
            Some(StoredObject {
                uid: "sa-uid",
                deletion_timestamp: Some(t),
            })
        };
        assert!(check_service_account("ns", &sa, deleting(NOW - 60), NOW).is_ok());
        assert_eq!(
            check_service_account("ns", &sa, deleting(NOW - 61), NOW)
                .unwrap_err()
                .to_string(),
            "service account ns/robot has been deleted"
        );
    }

    #[test]
    fn r21_bound_object_checks() {
        let pod = ObjectRef::new("web", "pod-uid");
        assert_eq!(
            check_bound_object(BoundKind::Pod, &pod, None, NOW),
            Err(TokenRejection::Invalidated)
        );
        let err = check_bound_object(
            BoundKind::Pod,
            &pod,
            Some(StoredObject {
                uid: "new",
                deletion_timestamp: None,
            }),
            NOW,
        );
        assert_eq!(
            err.unwrap_err().to_string(),
            "pod UID (new) does not match service account pod ref claim (pod-uid)"
        );
        assert_eq!(
            objects_to_check(&claims()),
            vec![(BoundKind::Pod, &pod)],
            "a pod's node is not checked"
        );
    }

    #[test]
    fn r22_r23_user_and_extras() {
        let user = ServiceAccountUser::from_claims(&claims()).unwrap();
        assert_eq!(user.username, "system:serviceaccount:ns:robot");
        assert_eq!(
            user.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:ns",
                "system:authenticated"
            ]
        );
        let keys: Vec<&str> = user.extra.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [EXTRA_CREDENTIAL_ID, EXTRA_NODE_NAME, EXTRA_POD_NAME, EXTRA_POD_UID]
        );
        assert_eq!(user.extra[EXTRA_CREDENTIAL_ID], ["JTI=j1"]);
    }
}
