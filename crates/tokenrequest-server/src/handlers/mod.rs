//! The HTTP application: routes, and the authentication → authorization filter every request passes first (as in
//! kube-apiserver's handler chain, staging/src/k8s.io/apiserver/pkg/server/config.go `DefaultBuildHandlerChain`),
//! so an unknown path is 403 for anonymous callers and 404 only for those allowed to look.

mod objects;
mod reviews;
mod token;
mod watch;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderValue, StatusCode};
use tokenrequest_types::status;

use crate::authn;
use crate::authz;
use crate::discovery;
use crate::error::{self, ApiError};
use crate::oidc;
use crate::request_info::RequestInfo;
use crate::state::AppState;

/// Builds the application. Socket-less tests call it through `tower::ServiceExt::oneshot`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(discovery::healthz))
        .route("/livez", get(discovery::healthz))
        .route("/readyz", get(discovery::healthz))
        .route("/version", get(discovery::version))
        .route("/metrics", get(request_metrics))
        .route("/openapi/v3", get(discovery::openapi_v3_index))
        .route("/openapi/v3/api/v1", get(discovery::openapi_v3_core))
        .route("/api", get(discovery::api_versions))
        .route("/api/v1", get(discovery::core_v1))
        .route("/apis", get(discovery::api_groups))
        .route("/apis/authentication.k8s.io", get(discovery::authentication_api_group))
        .route("/apis/authentication.k8s.io/v1", get(discovery::authentication_v1))
        .route(
            "/apis/authentication.k8s.io/v1/tokenreviews",
            post(reviews::token_review),
        )
        .route(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            post(reviews::self_subject_review),
        )
        .route("/.well-known/openid-configuration", get(oidc::configuration))
        .route("/openid/v1/jwks", get(oidc::jwks))
        .route(
            "/api/v1/namespaces",
            get(objects::list_cluster_scoped).post(objects::create_cluster_scoped),
        )
        .route(
            "/api/v1/namespaces/{name}",
            get(objects::get_cluster_scoped)
                .patch(objects::patch_cluster_scoped)
                .delete(objects::delete_cluster_scoped),
        )
        .route(
            "/api/v1/nodes",
            get(objects::list_cluster_scoped).post(objects::create_cluster_scoped),
        )
        .route(
            "/api/v1/nodes/{name}",
            get(objects::get_cluster_scoped)
                .patch(objects::patch_cluster_scoped)
                .delete(objects::delete_cluster_scoped),
        )
        .route("/api/v1/pods", get(objects::list_all_namespaces))
        .route("/api/v1/secrets", get(objects::list_all_namespaces))
        .route("/api/v1/serviceaccounts", get(objects::list_all_namespaces))
        .route(
            "/api/v1/namespaces/{namespace}/{resource}",
            get(objects::list_namespaced).post(objects::create_namespaced),
        )
        .route(
            "/api/v1/namespaces/{namespace}/{resource}/{name}",
            get(objects::get_namespaced)
                .patch(objects::patch_namespaced)
                .delete(objects::delete_namespaced),
        )
        .route(
            "/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            post(token::create_token),
        )
        .fallback(not_found)
        // Bodies are limited by `decode::read_body` (3 MiB, kube-apiserver's limit), not by axum's 2 MB default.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(middleware::map_response(cache_control))
        .with_state(state)
}

/// kube-apiserver's `WithCacheControl` filter (staging/src/k8s.io/apiserver/pkg/server/filters/cachecontrol.go):
/// every answer that did not set its own `Cache-Control` (OIDC discovery does) says `no-cache, private`, errors
/// included (observed on v1.37.1: 401, 403, 405, /version, /readyz).
async fn cache_control(mut response: Response) -> Response {
    response
        .headers_mut()
        .entry(http::header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-cache, private"));
    response
}

/// `/metrics` (the request counter only), in the Prometheus text format kube-apiserver serves.
async fn request_metrics(State(state): State<AppState>) -> Response {
    let mut response = state.requests().render().into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// kube-apiserver's 404 for a path it does not serve.
async fn not_found() -> ApiError {
    status::path_not_found().into()
}

/// Authentication (401), authorization (403), then the route; a bare 405 from the router becomes kube-apiserver's
/// `Status`.
async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let info = RequestInfo::parse(request.method(), request.uri().path(), request.uri().query());
    let user = match authn::authenticate(&state, request.headers()) {
        Ok(user) => user,
        Err(rejection) => {
            // The reason is logged for the operator; the client only learns "Unauthorized" (R22).
            tracing::info!(%rejection, path = %info.path, "authentication failed");
            return ApiError::from(status::unauthorized()).into_response();
        }
    };
    if let Some(outage) = state.outage() {
        // A dropped connection is handled where connections are (server.rs); here it is just refused.
        let answer = outage.response(|| authz::denial(&user, &info).into_response());
        return answer.unwrap_or_else(|| {
            ApiError::from(status::service_unavailable("the connection is dropped (outage)")).into_response()
        });
    }
    if let Err(denied) = authz::authorize(&user, &info, state.anonymous_issuer_discovery()) {
        tracing::info!(user = %user.username, verb = %info.verb, path = %info.path, "forbidden");
        return denied.into_response();
    }
    tracing::debug!(user = %user.username, verb = %info.verb, path = %info.path, "request");
    request.extensions_mut().insert(user);
    let query = request.uri().query().map(str::to_owned);
    let response = next.run(request).await;
    state
        .requests()
        .record(&info, query.as_deref(), response.status().as_u16());
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && !response.headers().contains_key(http::header::CONTENT_TYPE)
    {
        return error::method_not_allowed().into_response();
    }
    response
}

/// `response` with a `Warning: 299 - "text"` header per warning (staging/src/k8s.io/apiserver/pkg/warning: code 299,
/// agent "-", quoted text).
pub(crate) fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for text in warnings {
        let quoted = serde_json::Value::String(text.clone()).to_string();
        let value = HeaderValue::from_str(&format!("299 - {quoted}"))
            .unwrap_or_else(|_| HeaderValue::from_static("299 - \"\""));
        response.headers_mut().append(http::header::WARNING, value);
    }
    response
}
