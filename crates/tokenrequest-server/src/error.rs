//! Errors: [`ApiError`] is every failed request, sent as a Kubernetes `Status` through one `IntoResponse`;
//! [`ServerError`] is a server that could not start.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use tokenrequest_types::Status;
use tokenrequest_types::status;

/// A request that failed: the `Status` kube-apiserver would send. Built only from `tokenrequest_types::status`.
#[derive(Debug, Clone)]
pub struct ApiError(Box<Status>);

impl ApiError {
    /// The HTTP status code carried by the `Status`.
    pub fn code(&self) -> StatusCode {
        StatusCode::from_u16(status::code(&self.0)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The `Status` object sent on the wire.
    pub fn status(&self) -> &Status {
        &self.0
    }
}

impl From<Status> for ApiError {
    fn from(status: Status) -> Self {
        Self(Box::new(status))
    }
}

impl From<status::StatusError> for ApiError {
    fn from(error: status::StatusError) -> Self {
        error.into_status().into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        if code.is_server_error() {
            // Never expected; logged so that a test run shows it. The message is ours, never a token.
            tracing::error!(message = ?self.0.message, "internal error");
        }
        (code, Json(*self.0)).into_response()
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address from the configuration.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The serving certificate or key could not be made or loaded.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The service-account signing key could not be made or loaded.
    #[error("signing key: {0}")]
    SigningKey(String),
    /// A configuration value that kube-apiserver would refuse at start.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// go-restful's 405 for a method a route does not serve.
pub fn method_not_allowed() -> ApiError {
    status::method_not_allowed().into()
}

/// go-restful's 406 for an API resource route.
pub fn not_acceptable() -> ApiError {
    status::not_acceptable(status::SUPPORTED_MEDIA_TYPES).into()
}

/// go-restful's 406 naming what a route produces (the JWKS produces only `application/jwk-set+json`).
pub fn not_acceptable_of(representation: &str) -> ApiError {
    status::not_acceptable(&[representation]).into()
}
