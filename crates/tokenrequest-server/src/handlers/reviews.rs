//! `POST /apis/authentication.k8s.io/v1/tokenreviews` (R23; pkg/registry/authentication/tokenreview/storage.go)
//! and `POST /apis/authentication.k8s.io/v1/selfsubjectreviews` (`kubectl auth whoami`;
//! pkg/registry/authentication/selfsubjectreview/rest.go).

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http::{HeaderMap, StatusCode};
use k8s_openapi::api::authentication::v1::{
    SelfSubjectReview, SelfSubjectReviewStatus, TokenReview, TokenReviewStatus, UserInfo,
};
use tokenrequest_types::status;

use crate::authn::{self, User};
use crate::decode::{self, Decoded, Expected};
use crate::error::ApiError;
use crate::handlers::with_warnings;
use crate::managed_fields;
use crate::state::AppState;
use crate::store::now_time;

async fn decode_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    query: Option<&str>,
    body: Body,
    expected: Expected<'_>,
) -> Result<Decoded<T>, ApiError> {
    decode::negotiate_output(headers)?;
    let format = decode::input_format(headers)?;
    let bytes = decode::read_body(body).await?;
    let options = decode::create_options(query)?;
    decode::decode::<T>(&bytes, format, expected, options.field_validation)
}

fn created<T: serde::Serialize>(object: T, warnings: &[String]) -> Response {
    with_warnings((StatusCode::CREATED, Json(object)).into_response(), warnings)
}

/// Reviews a token: who it authenticates, for which of the requested audiences, or why not.
pub async fn token_review(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let expected = Expected {
        api_version: "authentication.k8s.io/v1",
        kind: "TokenReview",
    };
    let decoded = decode_body::<TokenReview>(&headers, query.as_deref(), body, expected).await?;
    let mut review = decoded.object;
    tokenrequest_types::encoding::omit_empty_token_review_spec(&mut review.spec);
    if review.spec.token.is_empty() {
        let error = ApiError::from(status::bad_request(
            "token is required for TokenReview in authentication",
        ));
        return Ok(with_warnings(error.into_response(), &decoded.warnings));
    }
    let as_set = serde_json::to_value(&review).unwrap_or_default();
    let token = review.spec.token.clone();
    let requested = review.spec.audiences.clone().unwrap_or_default();
    review.status = Some(match authn::authenticate_token(&state, &token, &requested) {
        Ok((user, audiences)) => TokenReviewStatus {
            authenticated: Some(true),
            user: Some(UserInfo {
                username: Some(user.username),
                uid: Some(user.uid),
                groups: Some(user.groups),
                extra: Some(user.extra),
            }),
            audiences: Some(audiences),
            error: None,
        },
        Err(rejection) => {
            tracing::info!(%rejection, "token review rejected a token");
            // kube-apiserver aggregates a claimed-then-rejected token with its union's other refusal.
            let error = tokenrequest_types::review::review_error(&rejection);
            TokenReviewStatus {
                authenticated: None,
                user: Some(UserInfo::default()),
                audiences: None,
                error: Some(error),
            }
        }
    });
    review.metadata.creation_timestamp = None;
    let mut body = serde_json::to_value(&review).unwrap_or_default();
    let manager = managed_fields::manager(query.as_deref(), &headers);
    let time = serde_json::to_value(now_time()).unwrap_or_default();
    body["metadata"]["managedFields"] = serde_json::json!([managed_fields::entry(
        &as_set,
        &manager,
        expected.api_version,
        None,
        &time
    )]);
    Ok(created(body, &decoded.warnings))
}

/// Tells the caller who they are.
pub async fn self_subject_review(
    Extension(user): Extension<User>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let expected = Expected {
        api_version: "authentication.k8s.io/v1",
        kind: "SelfSubjectReview",
    };
    let decoded = decode_body::<SelfSubjectReview>(&headers, query.as_deref(), body, expected).await?;
    let mut review = decoded.object;
    review.metadata.creation_timestamp = Some(now_time());
    review.status = Some(SelfSubjectReviewStatus {
        user_info: Some(UserInfo {
            username: Some(user.username),
            uid: Some(user.uid).filter(|u| !u.is_empty()),
            groups: Some(user.groups),
            extra: Some(user.extra).filter(|e| !e.is_empty()),
        }),
    });
    Ok(created(review, &decoded.warnings))
}
