//! `POST /api/v1/namespaces/{namespace}/serviceaccounts/{name}/token`: the TokenRequest subresource, in
//! kube-apiserver's order of evaluation (SPEC.md; create.go for the generic part, then
//! pkg/registry/core/serviceaccount/storage/token.go `TokenREST.Create`). The rules and their order are
//! `tokenrequest_types::evaluation::evaluate`; this handler only gives it the store, signs, and answers.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestStatus};
use k8s_openapi::api::core::v1::{Node, Pod, Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use tokenrequest_types::binding::BoundKind;
use tokenrequest_types::claims::{Claims, ClaimsInput, ObjectRef};
use tokenrequest_types::evaluation::{self, BoundTarget, Evaluated, NamespaceState, Objects};
use tokenrequest_types::status;
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
    // The evaluation and the signature (an RSA signature is ~0.4 ms of CPU) run on the blocking pool, so that a
    // queue of signatures never holds up the async workers that serve other connections (issue 17).
    let object = decoded.object;
    let answer =
        tokio::task::spawn_blocking(move || respond(&state, &namespace, &name, query.as_deref(), &headers, object))
            .await;
    let response = match answer {
        Ok(Ok((response, clamp_warning))) => {
            warnings.extend(clamp_warning);
            response
        }
        Ok(Err(error)) => error.into_response(),
        Err(failed) => {
            ApiError::from(status::internal_error(&format!("token request failed: {failed}"))).into_response()
        }
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
    // Every rule, in kube-apiserver's order, under one read lock so that the objects looked at are consistent.
    let evaluated = evaluation::evaluate(
        state.policy(),
        namespace,
        name,
        &request,
        &*state.read(),
        state.deviations(),
    )?;
    let clamp_warning = evaluated.lifetime.warning.clone();
    let response = issue(state, namespace, name, request, evaluated)?;
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

/// Signs the token of an evaluated request and fills in the response.
fn issue(
    state: &AppState,
    namespace: &str,
    name: &str,
    mut request: TokenRequest,
    evaluated: Evaluated,
) -> Result<TokenRequest, ApiError> {
    let mut spec = request.spec.take().unwrap_or_default();
    spec.audiences = Some(evaluated.audiences.clone());
    spec.expiration_seconds = Some(evaluated.lifetime.expiration_seconds);
    request.metadata.name = Some(name.to_owned());
    request.metadata.namespace = Some(namespace.to_owned());
    // The status clock is read once, before the claims: expirationTimestamp <= exp, creationTimestamp <= iat (R10).
    let now = Timestamp::now().as_second();
    request.metadata.creation_timestamp = Some(time(now));
    request.metadata.uid = Some(evaluated.service_account_uid.clone());
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
    let expiration_seconds = evaluated.lifetime.expiration_seconds;
    let claims = Claims::for_request(ClaimsInput {
        issuer,
        namespace,
        service_account: ObjectRef::new(name, evaluated.service_account_uid),
        audiences: evaluated.audiences,
        bound: evaluated.bound,
        pod_node: evaluated.pod_node,
        lifetime: &evaluated.lifetime,
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
    tracing::info!(%jti, namespace, service_account = name, expiration_seconds, "issued token");
    request.spec = Some(spec);
    request.status = Some(TokenRequestStatus {
        token: Some(token),
        expiration_timestamp: Some(time(now + expiration_seconds)),
    });
    Ok(request)
}

/// The store as the evaluation looks objects up.
impl Objects for Store {
    fn namespace(&self, namespace: &str) -> NamespaceState {
        if !self.namespace_exists(namespace) {
            NamespaceState::Missing
        } else if self.namespace_terminating(namespace) {
            NamespaceState::Terminating
        } else {
            NamespaceState::Active
        }
    }

    fn service_account_uid(&self, namespace: &str, name: &str) -> Option<String> {
        self.get::<ServiceAccount>(namespace, name)
            .map(|sa| sa.metadata.uid.clone().unwrap_or_default())
    }

    fn bound_target(&self, namespace: &str, kind: BoundKind, name: &str) -> Option<BoundTarget> {
        let (metadata, pod_spec) = match kind {
            BoundKind::Pod => self
                .get::<Pod>(namespace, name)
                .map(|pod| (&pod.metadata, pod.spec.as_ref()))?,
            BoundKind::Secret => (&self.get::<Secret>(namespace, name)?.metadata, None),
            BoundKind::Node => (&self.get::<Node>("", name)?.metadata, None),
        };
        Some(BoundTarget {
            uid: metadata.uid.clone().unwrap_or_default(),
            pod_service_account: pod_spec.map(|s| s.service_account_name.clone().unwrap_or_default()),
            pod_node_name: pod_spec.and_then(|s| s.node_name.clone()),
        })
    }
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
