//! `POST /api/v1/namespaces/{namespace}/serviceaccounts/{name}/token`: the TokenRequest subresource, in
//! kube-apiserver's order of evaluation (SPEC.md; create.go for the generic part, then
//! pkg/registry/core/serviceaccount/storage/token.go `TokenREST.Create`). Every rule is computed by
//! `tokenrequest-types`; this handler only looks objects up, signs, and answers.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestStatus};
use k8s_openapi::api::core::v1::{Node, Pod, Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use tokenrequest_types::admission;
use tokenrequest_types::binding::{self, BoundKind, BoundObject};
use tokenrequest_types::claims::{Claims, ClaimsInput, ObjectRef};
use tokenrequest_types::expiration::{EXTENDED_LIFETIME_SECONDS, ExpirationPolicy, MIN_EXPIRATION_SECONDS};
use tokenrequest_types::status;
use tokenrequest_types::validation;
use tokenrequest_types::{defaults, encoding};

use crate::decode::{self, Expected};
use crate::error::ApiError;
use crate::fault::Fault;
use crate::handlers::with_warnings;
use crate::managed_fields;
use crate::state::AppState;
use crate::store::Store;

const TOKEN_REQUEST: Expected<'static> = Expected {
    api_version: "authentication.k8s.io/v1",
    kind: "TokenRequest",
};

/// The `jti` every token gets under the `reuse-jti` fault.
const REUSED_JTI: &str = "00000000-0000-4000-8000-000000000000";

/// The issuer put in tokens under the `wrong-issuer` fault.
const WRONG_ISSUER: &str = "https://wrong-issuer.invalid";

/// Issues a token.
pub async fn create_token(
    State(state): State<AppState>,
    Path((namespace, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    decode::negotiate_output(&headers)?;
    let format = decode::input_format(&headers)?;
    let bytes = decode::read_body(body).await?;
    // dryRun=All is validated and then ignored: a real token is minted (R28).
    let options = decode::create_options(query.as_deref())?;
    let decoded = decode::decode::<TokenRequest>(&bytes, format, TOKEN_REQUEST, options.field_validation)?;
    // The decoder's warnings go out with whatever the request ends in, an error included: kube-apiserver records
    // them in the request's context and writes them as headers at the end (staging/src/k8s.io/apiserver/pkg/warning).
    let mut warnings = decoded.warnings;
    let response = match respond(&state, &namespace, &name, query.as_deref(), &headers, decoded.object) {
        Ok((response, clamp_warning)) => {
            warnings.extend(clamp_warning);
            response
        }
        Err(error) => error.into_response(),
    };
    Ok(with_warnings(response, &warnings))
}

/// The answer to a decoded TokenRequest, and the clamping Warning if any.
fn respond(
    state: &AppState,
    namespace: &str,
    name: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    mut request: TokenRequest,
) -> Result<(Response, Option<String>), ApiError> {
    encoding::omit_empty_token_request(&mut request);
    // What the client set, after defaulting (the spec is a value in Go, so expirationSeconds is always set).
    let mut as_set = request.clone();
    defaults::default_expiration(as_set.spec.get_or_insert_with(Default::default));
    let as_set = serde_json::to_value(&as_set).unwrap_or_default();
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
    let (response, clamp_warning) = {
        let store = state.read();
        issue(state, &store, namespace, name, &mut request)?
    };
    let code = if state.faulty(Fault::WrongStatusCode) {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut body = serde_json::to_value(&response).unwrap_or_default();
    // Go's TokenRequestSpec has no omitempty on boundObjectRef: kube-apiserver sends `"boundObjectRef": null`
    // (docs/observed/01-create-default.txt); k8s-openapi omits it.
    if let Some(spec) = body.get_mut("spec").and_then(|s| s.as_object_mut()) {
        spec.entry("boundObjectRef").or_insert(serde_json::Value::Null);
    }
    let manager = managed_fields::manager(query, headers);
    let time = body["metadata"]["creationTimestamp"].clone();
    body["metadata"]["managedFields"] = serde_json::json!([managed_fields::entry(
        &as_set,
        &manager,
        TOKEN_REQUEST.api_version,
        Some("token"),
        &time
    )]);
    Ok(((code, Json(body)).into_response(), clamp_warning))
}

/// Everything after decoding, under one read lock so that the objects looked at are consistent.
fn issue(
    state: &AppState,
    store: &Store,
    namespace: &str,
    name: &str,
    request: &mut TokenRequest,
) -> Result<(TokenRequest, Option<String>), ApiError> {
    // NamespaceLifecycle admission runs before the storage: 404, or 403 while the namespace is terminating.
    if !store.namespace_exists(namespace) {
        return Err(status::not_found("", "namespaces", namespace).into());
    }
    if store.namespace_terminating(namespace) {
        return Err(admission::namespace_terminating("serviceaccounts", name, namespace).into());
    }
    validation::validate_name(request, name)?;
    let sa = store
        .get::<ServiceAccount>(namespace, name)
        .ok_or_else(|| ApiError::from(status::not_found("", "serviceaccounts", name)))?;
    let sa_uid = sa.metadata.uid.clone().unwrap_or_default();
    validation::check_service_account_uid(request, name, &sa_uid)?;
    let policy = state.policy();
    let mut spec = request.spec.take().unwrap_or_default();
    let requested_audiences = spec.audiences.take().unwrap_or_default();
    let audiences = if state.faulty(Fault::WrongDefaultAudiences) && requested_audiences.is_empty() {
        vec!["wrong-audience".to_owned()]
    } else {
        policy.audiences.effective(&requested_audiences)
    };
    spec.audiences = Some(audiences.clone());
    request.metadata.name = Some(name.to_owned());
    request.metadata.namespace = Some(namespace.to_owned());
    // The status clock is read once, before the claims: expirationTimestamp <= exp, creationTimestamp <= iat (R10).
    let now = Timestamp::now().as_second();
    request.metadata.creation_timestamp = Some(time(now));
    request.metadata.uid = Some(sa_uid.clone());
    request.status = None;
    defaults::default_expiration(&mut spec);
    let requested = spec.expiration_seconds.unwrap_or_default();
    let skip_minimum = state.faulty(Fault::AcceptShortExpiration) && (1..MIN_EXPIRATION_SECONDS).contains(&requested);
    if !skip_minimum {
        validation::validate_spec(requested)?;
    }

    let mut pod_node = None;
    let bound = match &spec.bound_object_ref {
        None => None,
        Some(reference) => {
            let kind = BoundKind::from_reference(reference)?;
            let object_name = binding::require_name(reference)?;
            let not_found = || ApiError::from(status::not_found("", kind.resource(), object_name));
            let uid = match kind {
                BoundKind::Pod => {
                    let pod = store.get::<Pod>(namespace, object_name).ok_or_else(not_found)?;
                    let spec = pod.spec.clone().unwrap_or_default();
                    binding::check_pod_service_account(name, spec.service_account_name.as_deref().unwrap_or(""))?;
                    // R17: the pod's node, with its uid only when the Node exists.
                    if let Some(node_name) = spec.node_name.filter(|n| !n.is_empty())
                        && !state.faulty(Fault::NoNodeClaim)
                    {
                        let node_uid = store
                            .get::<Node>("", &node_name)
                            .and_then(|n| n.metadata.uid.clone())
                            .unwrap_or_default();
                        pod_node = Some(ObjectRef::new(node_name, node_uid));
                    }
                    pod.metadata.uid.clone()
                }
                BoundKind::Secret => store
                    .get::<Secret>(namespace, object_name)
                    .ok_or_else(not_found)?
                    .metadata
                    .uid
                    .clone(),
                BoundKind::Node => store
                    .get::<Node>("", object_name)
                    .ok_or_else(not_found)?
                    .metadata
                    .uid
                    .clone(),
            }
            .unwrap_or_default();
            if !state.faulty(Fault::IgnoreBoundUid) {
                binding::check_uid(kind, object_name, reference.uid.as_deref(), &uid)?;
            }
            Some(BoundObject {
                kind,
                name: object_name.to_owned(),
                uid,
            })
        }
    };

    let expiration = ExpirationPolicy {
        max_seconds: if state.faulty(Fault::NoClamp) {
            None
        } else {
            policy.expiration.max_seconds
        },
        extend: policy.expiration.extend && !state.faulty(Fault::NoExtension),
    };
    let all_api = policy.audiences.all_api(&audiences);
    let mut lifetime = expiration.lifetime(requested, bound.as_ref().map(|b| b.kind), all_api);
    if state.faulty(Fault::AlwaysExtend) {
        lifetime.token_seconds = EXTENDED_LIFETIME_SECONDS;
        lifetime.warn_after_seconds = Some(lifetime.expiration_seconds);
    }
    spec.expiration_seconds = Some(lifetime.expiration_seconds);
    let jti = if state.faulty(Fault::ReuseJti) {
        REUSED_JTI.to_owned()
    } else {
        uuid::Uuid::new_v4().to_string()
    };
    let issuer = if state.faulty(Fault::WrongIssuer) {
        WRONG_ISSUER
    } else {
        state.issuer()
    };
    let claims = Claims::for_request(ClaimsInput {
        issuer,
        namespace,
        service_account: ObjectRef::new(name, sa_uid),
        audiences,
        bound,
        pod_node,
        lifetime: &lifetime,
        now,
        jti: jti.clone(),
    });
    let token = state
        .signer()
        .sign(&claims)
        .map_err(|e| ApiError::from(status::internal_error(&format!("failed to generate token: {e}"))))?;
    let token = if state.faulty(Fault::BadSignature) {
        corrupt(token.expose())
    } else {
        token.expose().to_owned()
    };
    // The jti identifies the credential in logs (as kube-apiserver's audit annotation does); never the token.
    tracing::info!(%jti, namespace, service_account = name, expiration_seconds = lifetime.expiration_seconds, "issued token");
    request.spec = Some(spec);
    request.status = Some(TokenRequestStatus {
        token: Some(token),
        expiration_timestamp: Some(time(now + lifetime.expiration_seconds)),
    });
    Ok((request.clone(), lifetime.warning))
}

fn time(seconds: i64) -> Time {
    Time(Timestamp::from_second(seconds).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// Flips the signature's first character so that no verifier accepts it (the `bad-signature` fault).
fn corrupt(token: &str) -> String {
    let Some((input, signature)) = token.rsplit_once('.') else {
        return token.to_owned();
    };
    let mut chars: Vec<char> = signature.chars().collect();
    if let Some(first) = chars.first_mut() {
        *first = if *first == 'A' { 'B' } else { 'A' };
    }
    format!("{input}.{}", chars.into_iter().collect::<String>())
}
