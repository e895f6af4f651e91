//! One HTTP round trip to the API server through a `kube::Client`, keeping what kube-rs's typed API drops.
//!
//! `kube::Api::create_subresource` returns only the body; TokenRequest callers also need the `Warning` headers
//! (the clamping warning, R8) and the exact `Status` of a failure (R27), so requests go through
//! [`kube::Client::send`] and the response is read here.

use std::time::Duration;

use http::{HeaderMap, Method, Request, StatusCode};
use serde::de::DeserializeOwned;
use tokenrequest_types::Status;

use crate::warning::warning_texts;

/// Why an API call failed. Never contains a token: request bodies are not echoed and error bodies are the
/// server's `Status`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The API answered with a `Status` (4xx/5xx).
    #[error("{} (HTTP {} {})", .0.message.as_deref().unwrap_or("no message"), .0.code.unwrap_or_default(), .0.reason.as_deref().unwrap_or("no reason"))]
    Status(Box<Status>),
    /// The API answered with an error that is not a `Status` (a proxy, a load balancer).
    #[error("HTTP {code} from the API server, body is not a Kubernetes Status")]
    NotStatus {
        /// The HTTP status code.
        code: u16,
        /// The `Retry-After` header (kube-apiserver's 429 from its max-in-flight filter is plain text with one).
        retry_after: Option<Duration>,
    },
    /// The server could not be reached or the connection failed.
    #[error("cannot reach the API server")]
    Transport(#[source] kube::Error),
    /// A success response whose body is not the expected object.
    #[error("unexpected {what} from the API server")]
    Decode {
        /// What was expected, e.g. `TokenRequest`.
        what: &'static str,
        /// The decoder's complaint.
        #[source]
        source: serde_json::Error,
    },
}

impl ApiError {
    /// The `Status` the API sent, if it sent one.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Self::Status(status) => Some(status),
            _ => None,
        }
    }

    /// The HTTP code of an API answer (`None` for transport and decoding failures).
    pub fn code(&self) -> Option<u16> {
        match self {
            Self::Status(status) => status.code.and_then(|c| u16::try_from(c).ok()),
            Self::NotStatus { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// How long the server asked to wait before retrying: `details.retryAfterSeconds` of a `Status`, else the
    /// `Retry-After` header.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status(status) => status
                .details
                .as_ref()
                .and_then(|details| details.retry_after_seconds)
                .and_then(|seconds| u64::try_from(seconds).ok())
                .map(Duration::from_secs),
            Self::NotStatus { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// A successful answer: code, headers and body.
#[derive(Debug)]
pub(crate) struct ApiResponse {
    pub(crate) code: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl ApiResponse {
    /// The body decoded as `T`.
    pub(crate) fn json<T: DeserializeOwned>(&self, what: &'static str) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(|source| ApiError::Decode { what, source })
    }

    /// The texts of the `Warning` headers.
    pub(crate) fn warnings(&self) -> Vec<String> {
        warning_texts(&self.headers)
    }
}

/// The `Accept` of API objects and of the discovery document.
pub(crate) const ACCEPT_JSON: &str = "application/json";

/// The `Accept` of a JWKS. kube-apiserver answers 406 to `application/json` on `/openid/v1/jwks`: it serves only
/// `application/jwk-set+json` (seen on v1.37.1). Other issuers may serve plain JSON, hence the fallback.
pub(crate) const ACCEPT_JWK_SET: &str = "application/jwk-set+json, application/json;q=0.9";

/// Sends `method path` with an optional JSON body and returns the answer, or the API's `Status` on failure.
pub(crate) async fn call(
    client: &kube::Client,
    method: Method,
    path: &str,
    accept: &'static str,
    json_body: Option<Vec<u8>>,
) -> Result<ApiResponse, ApiError> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::ACCEPT, accept);
    if json_body.is_some() {
        builder = builder.header(http::header::CONTENT_TYPE, "application/json");
    }
    let request = builder
        .body(kube::client::Body::from(json_body.unwrap_or_default()))
        // Paths are built from validated names by this crate; a failure here is a bug, reported not panicked.
        .map_err(|e| ApiError::Transport(kube::Error::HttpError(e)))?;
    let response = client.send(request).await.map_err(ApiError::Transport)?;
    let (parts, body) = response.into_parts();
    let body = body.collect_bytes().await.map_err(ApiError::Transport)?.to_vec();
    if parts.status.is_client_error() || parts.status.is_server_error() {
        return Err(failure(parts.status, &parts.headers, &body));
    }
    Ok(ApiResponse {
        code: parts.status,
        headers: parts.headers,
        body,
    })
}

fn failure(code: StatusCode, headers: &HeaderMap, body: &[u8]) -> ApiError {
    // Retry-After in seconds, the only form kube-apiserver sends (RFC 9110 also allows a date).
    let retry_after = headers
        .get(http::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u32>().ok());
    match serde_json::from_slice::<Status>(body) {
        Ok(mut status) if status.message.is_some() || status.reason.is_some() => {
            status.code.get_or_insert(i32::from(code.as_u16()));
            if let Some(seconds) = retry_after {
                let details = status.details.get_or_insert_with(Default::default);
                details
                    .retry_after_seconds
                    .get_or_insert(i32::try_from(seconds).unwrap_or(i32::MAX));
            }
            ApiError::Status(Box::new(status))
        }
        _ => ApiError::NotStatus {
            code: code.as_u16(),
            retry_after: retry_after.map(|seconds| Duration::from_secs(u64::from(seconds))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_body_becomes_a_status_error() {
        let body = br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"serviceaccounts \"x\" not found","reason":"NotFound","code":404}"#;
        let err = failure(StatusCode::NOT_FOUND, &HeaderMap::new(), body);
        assert_eq!(err.code(), Some(404));
        assert_eq!(err.to_string(), r#"serviceaccounts "x" not found (HTTP 404 NotFound)"#);
    }

    #[test]
    fn other_bodies_keep_only_the_code() {
        let err = failure(StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"<html>bad gateway</html>");
        assert_eq!(
            err.to_string(),
            "HTTP 502 from the API server, body is not a Kubernetes Status"
        );
        assert!(err.status().is_none());
        assert_eq!(err.retry_after(), None);
    }

    #[test]
    fn retry_after_comes_from_the_header_or_the_status_details() {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("3"));
        let plain = failure(
            StatusCode::TOO_MANY_REQUESTS,
            &headers,
            b"Too many requests, please try again later.\n",
        );
        assert_eq!(plain.retry_after(), Some(Duration::from_secs(3)));
        let body = br#"{"kind":"Status","status":"Failure","message":"slow down","reason":"TooManyRequests","details":{"retryAfterSeconds":5},"code":429}"#;
        let status = failure(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), body);
        assert_eq!(status.retry_after(), Some(Duration::from_secs(5)));
    }
}
