//! OIDC discovery for service-account tokens (R25, R26): `/.well-known/openid-configuration` and
//! `/openid/v1/jwks`, as pkg/serviceaccount/openidmetadata.go builds them and pkg/routes/openidmetadata.go serves
//! them (content types, `Cache-Control: public, max-age=3600`). They exist only for an https issuer.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use serde_json::json;
use tokenrequest_types::status;

use crate::error::ApiError;
use crate::fault::Fault;
use crate::state::AppState;

const CACHE: &str = "public, max-age=3600";

fn served(state: &AppState) -> Result<(), ApiError> {
    // openidmetadata.go refuses a non-https issuer ("issuer URL must use https scheme"), and kube-apiserver then
    // installs no route.
    if state.issuer().starts_with("https://") {
        Ok(())
    } else {
        Err(status::path_not_found().into())
    }
}

/// go-restful route negotiation: each endpoint produces one media type and refuses an `Accept` without it
/// (kube-apiserver v1.37.1 answers `Accept: application/json` on the JWKS with 406, observed/81b).
fn accepts(headers: &HeaderMap, produces: &str) -> Result<(), ApiError> {
    let Some(accept) = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .filter(|a| !a.trim().is_empty())
    else {
        return Ok(());
    };
    let (kind, _) = produces.split_once('/').unwrap_or((produces, ""));
    let ok = accept.split(',').any(|clause| {
        let media = clause.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        media == "*/*" || media == produces || media == format!("{kind}/*")
    });
    if ok {
        Ok(())
    } else {
        Err(crate::error::not_acceptable_of(produces))
    }
}

/// `GET /.well-known/openid-configuration`.
pub async fn configuration(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    served(&state)?;
    accepts(&headers, "application/json")?;
    let body = json!({
        "issuer": state.issuer(),
        "jwks_uri": state.jwks_uri(),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": state.keys().algorithms(),
    });
    Ok((
        [
            (CONTENT_TYPE, content_type(&state, "application/json")),
            (CACHE_CONTROL, CACHE),
        ],
        body.to_string(),
    )
        .into_response())
}

/// `produces`, unless a fault serves discovery with the wrong type.
fn content_type(state: &AppState, produces: &'static str) -> &'static str {
    if state.faulty(Fault::WrongDiscoveryContentType) {
        "text/plain; charset=utf-8"
    } else {
        produces
    }
}

/// `GET /openid/v1/jwks`.
pub async fn jwks(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    served(&state)?;
    accepts(&headers, "application/jwk-set+json")?;
    let keys: Vec<serde_json::Value> = state
        .keys()
        .all()
        .map(|key| {
            let mut jwk = key.jwk().clone();
            if state.faulty(Fault::JwksWithoutKid) {
                jwk.as_object_mut().map(|jwk| jwk.remove("kid"));
            }
            jwk
        })
        .collect();
    let body = json!({ "keys": keys });
    Ok((
        [
            (CONTENT_TYPE, content_type(&state, "application/jwk-set+json")),
            (CACHE_CONTROL, CACHE),
        ],
        body.to_string(),
    )
        .into_response())
}
