//! Authentication: who is calling. The admin bearer token (constant-time compare), service-account tokens this
//! server issued (R21/R22), or anonymous when no bearer token is sent (kube-apiserver's `--anonymous-auth=true`).
//! The same token validation serves TokenReview (R23).

use std::collections::BTreeMap;

use http::HeaderMap;
use k8s_openapi::api::core::v1::{Node, Pod, Secret, ServiceAccount};
use subtle::ConstantTimeEq as _;
use tokenrequest_types::binding::BoundKind;
use tokenrequest_types::review::{self, ServiceAccountUser, StoredObject, TokenRejection};

use crate::fault::Fault;
use crate::state::AppState;
use crate::store::{Object, Store};

/// The admin's user name (kubeadm's name for the cluster-admin credential).
pub const ADMIN_USER: &str = "kubernetes-admin";

/// An authenticated (or anonymous) caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `system:anonymous`, `kubernetes-admin` or `system:serviceaccount:{ns}:{name}`.
    pub username: String,
    /// The service account's uid (empty otherwise).
    pub uid: String,
    /// Groups, as kube-apiserver reports them.
    pub groups: Vec<String>,
    /// Extra attributes (service-account tokens: pod, node, credential id).
    pub extra: BTreeMap<String, Vec<String>>,
    /// Which kind of caller this is, for authorization.
    pub kind: UserKind,
}

/// The three kinds of caller the authorizer distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserKind {
    /// No credentials.
    Anonymous,
    /// The kubeconfig's bearer token: member of `system:masters`.
    Admin,
    /// A service-account token issued by this server.
    ServiceAccount,
}

impl User {
    fn anonymous() -> Self {
        Self {
            username: "system:anonymous".to_owned(),
            uid: String::new(),
            groups: vec!["system:unauthenticated".to_owned()],
            extra: BTreeMap::new(),
            kind: UserKind::Anonymous,
        }
    }

    fn admin() -> Self {
        Self {
            username: ADMIN_USER.to_owned(),
            uid: String::new(),
            groups: vec!["system:masters".to_owned(), "system:authenticated".to_owned()],
            extra: BTreeMap::new(),
            kind: UserKind::Admin,
        }
    }

    fn service_account(user: ServiceAccountUser) -> Self {
        Self {
            username: user.username,
            uid: user.uid,
            groups: user.groups,
            extra: user.extra,
            kind: UserKind::ServiceAccount,
        }
    }
}

/// Authenticates a request from its `Authorization` header. `Err` means 401 (R22): a bearer token was sent and
/// nothing accepted it.
pub fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<User, TokenRejection> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(User::anonymous());
    };
    // staging/src/k8s.io/apiserver/pkg/authentication/request/bearertoken/bearertoken.go: only "Bearer <token>"
    // is looked at; an empty token or another scheme is left to the next authenticator (here: anonymous).
    let Some(token) = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
    else {
        return Ok(User::anonymous());
    };
    if token.is_empty() {
        return Ok(User::anonymous());
    }
    if bool::from(token.as_bytes().ct_eq(state.admin_token().expose().as_bytes())) {
        return Ok(User::admin());
    }
    let (user, _) = authenticate_token(state, token, &[])?;
    Ok(User::service_account(user))
}

/// Validates a service-account token for `requested` audiences (empty: the API audiences), in the order of
/// pkg/serviceaccount/jwt.go (`AuthenticateToken`) and claims.go (`Validate`): issuer (unverified, so that a foreign
/// token is simply not claimed), key id and signature, audiences, times (60 s leeway), then the service account and
/// the bound objects, looked up in the store. Returns the user and the audiences the token is good for.
pub fn authenticate_token(
    state: &AppState,
    token: &str,
    requested: &[String],
) -> Result<(ServiceAccountUser, Vec<String>), TokenRejection> {
    if !review::issuer_claimed(token, state.issuers()) {
        return Err(TokenRejection::NotClaimed);
    }
    let verified = state.keys().verify(token)?;
    let claims = verified.claims();
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    let audiences = if state.faulty(Fault::ReviewIgnoresAudience) {
        review::validate_times(claims, now)?;
        if requested.is_empty() {
            claims.aud.clone()
        } else {
            requested.to_vec()
        }
    } else {
        review::validate_claims(claims, now, &state.policy().audiences, requested)?
    };
    let user = ServiceAccountUser::from_claims(claims)?;
    if !state.faulty(Fault::NoInvalidation) {
        let private = claims
            .kubernetes_io
            .as_ref()
            .ok_or(TokenRejection::MissingPrivateClaims)?;
        let store = state.read();
        let ns = private.namespace.as_str();
        let sa = stored::<ServiceAccount>(&store, ns, &private.serviceaccount.name);
        review::check_service_account(ns, &private.serviceaccount, sa, now)?;
        for (kind, reference) in review::objects_to_check(claims) {
            let found = match kind {
                BoundKind::Pod => stored::<Pod>(&store, ns, &reference.name),
                BoundKind::Secret => stored::<Secret>(&store, ns, &reference.name),
                BoundKind::Node => stored::<Node>(&store, "", &reference.name),
            };
            review::check_bound_object(kind, reference, found, now)?;
        }
    }
    Ok((user, audiences))
}

fn stored<'a, K: Object>(store: &'a Store, namespace: &str, name: &str) -> Option<StoredObject<'a>> {
    store.get::<K>(namespace, name).map(|object| {
        let meta = object.metadata();
        StoredObject {
            uid: meta.uid.as_deref().unwrap_or(""),
            deletion_timestamp: meta.deletion_timestamp.as_ref().map(|t| t.0.as_second()),
        }
    })
}
