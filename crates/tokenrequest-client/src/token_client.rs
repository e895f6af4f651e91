//! Requesting service-account tokens (TokenRequest) and reviewing them (TokenReview) through a `kube::Client`.
//!
//! The response of a TokenRequest is kept whole, with its `Warning` headers, because callers (the CLI, the
//! conformance suite) check what the API reports, not just the token.

use http::Method;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use tokenrequest_types::binding::BoundKind;
use tokenrequest_types::claims::Claims;
use tokenrequest_types::token::{JoseHeader, Token, TokenFormatError, UnverifiedToken};
use tokenrequest_types::{
    BoundObjectReference, Status, TokenRequest, TokenRequestSpec, TokenReview, TokenReviewSpec, TokenReviewStatus,
};

use crate::api_call::{ACCEPT_JSON, ApiError, call};

/// What to ask for in a TokenRequest. Everything is sent as given: the API server, not this client, validates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TokenRequestOptions {
    /// `spec.audiences`; empty means the API audiences (R11).
    pub audiences: Vec<String>,
    /// `spec.expirationSeconds`; `None` means the server default, 3600 s (R4).
    pub expiration_seconds: Option<i64>,
    /// `spec.boundObjectRef`.
    pub bound_object: Option<BoundObjectRef>,
    /// Send `?dryRun=All` (kube-apiserver ignores it and issues a real token, R28).
    pub dry_run: bool,
}

impl TokenRequestOptions {
    /// The `TokenRequest` body these options describe.
    pub fn to_token_request(&self) -> TokenRequest {
        TokenRequest {
            metadata: ObjectMeta::default(),
            spec: Some(TokenRequestSpec {
                audiences: (!self.audiences.is_empty()).then(|| self.audiences.clone()),
                bound_object_ref: self.bound_object.as_ref().map(BoundObjectRef::to_reference),
                expiration_seconds: self.expiration_seconds,
                ..TokenRequestSpec::default()
            }),
            status: None,
        }
    }
}

/// The object a token is bound to. `apiVersion` is always `v1`: all three kinds are in the core group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BoundObjectRef {
    /// Pod, Secret or Node.
    pub kind: BoundKind,
    /// The object's name.
    pub name: String,
    /// The object's uid; when set, the API checks it (R16).
    pub uid: Option<String>,
}

impl BoundObjectRef {
    /// The `spec.boundObjectRef` of a request.
    pub fn to_reference(&self) -> BoundObjectReference {
        BoundObjectReference {
            api_version: Some("v1".to_owned()),
            kind: Some(self.kind.kind().to_owned()),
            name: Some(self.name.clone()),
            uid: self.uid.clone(),
        }
    }
}

/// A token the API issued, with everything the API said about it.
///
/// `Debug` shows the response with `status.token` emptied and the token as `<redacted>`.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    token: Token,
    decoded: UnverifiedToken,
    response: TokenRequest,
    expiration_timestamp: Timestamp,
    warnings: Vec<String>,
}

impl IssuedToken {
    /// The token.
    pub fn token(&self) -> &Token {
        &self.token
    }

    /// The JWT header, unverified.
    pub fn header(&self) -> &JoseHeader {
        self.decoded.header()
    }

    /// The JWT claims, unverified (the API just issued them over TLS).
    pub fn claims(&self) -> &Claims {
        self.decoded.claims()
    }

    /// The response `TokenRequest` with `status.token` emptied.
    pub fn response(&self) -> &TokenRequest {
        &self.response
    }

    /// The response `TokenRequest` as the API sent it, token included: for output the user asked for.
    pub fn to_token_request(&self) -> TokenRequest {
        let mut response = self.response.clone();
        if let Some(status) = response.status.as_mut() {
            status.token = Some(self.token.expose().to_owned());
        }
        response
    }

    /// `status.expirationTimestamp`.
    pub fn expiration_timestamp(&self) -> Timestamp {
        self.expiration_timestamp
    }

    /// `spec.expirationSeconds` of the response: the granted duration after clamping (R8).
    pub fn expiration_seconds(&self) -> Option<i64> {
        self.response.spec.as_ref()?.expiration_seconds
    }

    /// `spec.audiences` of the response: the effective audiences (R11).
    pub fn audiences(&self) -> &[String] {
        self.response
            .spec
            .as_ref()
            .and_then(|spec| spec.audiences.as_deref())
            .unwrap_or_default()
    }

    /// The texts of the response's `Warning` headers (e.g. the clamping warning, R8).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// Why a TokenRequest failed. Never contains a token.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The API refused or could not be reached.
    #[error("token request failed")]
    Api(#[from] ApiError),
    /// A namespace or name that cannot be a path segment.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidName {
        /// `namespace` or `service account`.
        what: &'static str,
        /// The value given.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The body could not be encoded.
    #[error("cannot encode the TokenRequest")]
    Encode(#[source] serde_json::Error),
    /// A success response without `status.token` or `status.expirationTimestamp`.
    #[error("the API answered {code} without a token in status")]
    MissingToken {
        /// The HTTP code.
        code: u16,
    },
    /// The issued token is not a readable JWT.
    #[error("the API issued a token that is not a readable JWT")]
    MalformedToken(#[source] TokenFormatError),
}

impl RequestError {
    /// The `Status` the API sent, if it sent one.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Self::Api(e) => e.status(),
            _ => None,
        }
    }
}

/// Why a TokenReview failed (not: why a token was rejected; that is a successful review). Never contains a token.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The API refused or could not be reached.
    #[error("token review failed")]
    Api(#[from] ApiError),
    /// The body could not be encoded.
    #[error("cannot encode the TokenReview")]
    Encode(#[source] serde_json::Error),
    /// A success response without a status.
    #[error("the API answered the TokenReview without a status")]
    MissingStatus,
}

impl ReviewError {
    /// The `Status` the API sent, if it sent one.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Self::Api(e) => e.status(),
            _ => None,
        }
    }
}

/// Requests and reviews tokens through one `kube::Client`.
#[derive(Clone)]
pub struct TokenClient {
    client: kube::Client,
}

impl TokenClient {
    /// A client on an existing connection.
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }

    /// The connection, for other calls.
    pub fn kube_client(&self) -> &kube::Client {
        &self.client
    }

    /// Requests a token for `namespace/service_account` as `options` describe.
    pub async fn request(
        &self,
        namespace: &str,
        service_account: &str,
        options: &TokenRequestOptions,
    ) -> Result<IssuedToken, RequestError> {
        self.request_object(namespace, service_account, &options.to_token_request(), options.dry_run)
            .await
    }

    /// Sends `body` as is: for callers that set metadata (name, uid, labels) themselves.
    pub async fn request_object(
        &self,
        namespace: &str,
        service_account: &str,
        body: &TokenRequest,
        dry_run: bool,
    ) -> Result<IssuedToken, RequestError> {
        let path = token_path(namespace, service_account, dry_run)?;
        let body = serde_json::to_vec(body).map_err(RequestError::Encode)?;
        tracing::debug!(%path, "requesting a token");
        let response = call(&self.client, Method::POST, &path, ACCEPT_JSON, Some(body)).await?;
        let code = response.code.as_u16();
        issued_token(response.json("TokenRequest")?, response.warnings(), code)
    }

    /// Reviews `token` for `audiences` (empty: the API audiences) and returns the review's status (R23).
    pub async fn review(&self, token: &Token, audiences: &[String]) -> Result<TokenReviewStatus, ReviewError> {
        let review = TokenReview {
            metadata: ObjectMeta::default(),
            spec: TokenReviewSpec {
                audiences: (!audiences.is_empty()).then(|| audiences.to_vec()),
                token: token.expose().to_owned(),
            },
            status: None,
        };
        let body = serde_json::to_vec(&review).map_err(ReviewError::Encode)?;
        let path = "/apis/authentication.k8s.io/v1/tokenreviews";
        let response = call(&self.client, Method::POST, path, ACCEPT_JSON, Some(body)).await?;
        let review: TokenReview = response.json("TokenReview")?;
        review.status.ok_or(ReviewError::MissingStatus)
    }
}

fn token_path(namespace: &str, service_account: &str, dry_run: bool) -> Result<String, RequestError> {
    let namespace = path_segment("namespace", namespace)?;
    let service_account = path_segment("service account", service_account)?;
    let query = if dry_run { "?dryRun=All" } else { "" };
    Ok(format!(
        "/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token{query}"
    ))
}

/// Checks that `value` is usable as one URL path segment. Kubernetes names are DNS labels or subdomains; this only
/// refuses what would change the URL's meaning, and leaves naming rules to the API server.
fn path_segment<'a>(what: &'static str, value: &'a str) -> Result<&'a str, RequestError> {
    let invalid = |reason| RequestError::InvalidName {
        what,
        value: value.to_owned(),
        reason,
    };
    if value.is_empty() {
        return Err(invalid("must not be empty"));
    }
    if value == "." || value == ".." {
        return Err(invalid("must not be a relative path"));
    }
    if value
        .chars()
        .any(|c| matches!(c, '/' | '%' | '?' | '#') || c.is_whitespace() || c.is_control())
    {
        return Err(invalid("must not contain '/', '%', '?', '#' or whitespace"));
    }
    Ok(value)
}

pub(crate) fn issued_token(
    mut response: TokenRequest,
    warnings: Vec<String>,
    code: u16,
) -> Result<IssuedToken, RequestError> {
    let Some(status) = response.status.as_mut() else {
        return Err(RequestError::MissingToken { code });
    };
    let (Some(token), Some(expiration)) = (status.token.take(), status.expiration_timestamp.as_ref()) else {
        return Err(RequestError::MissingToken { code });
    };
    let token = Token::new(token);
    let expiration_timestamp = expiration.0;
    let decoded = UnverifiedToken::parse(token.expose()).map_err(RequestError::MalformedToken)?;
    Ok(IssuedToken {
        token,
        decoded,
        response,
        expiration_timestamp,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_a_token_request() {
        let options = TokenRequestOptions {
            audiences: vec!["vault".to_owned()],
            expiration_seconds: Some(600),
            bound_object: Some(BoundObjectRef {
                kind: BoundKind::Pod,
                name: "web".to_owned(),
                uid: None,
            }),
            dry_run: false,
        };
        let json = serde_json::to_value(options.to_token_request()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "metadata": {},
                "spec": {
                    "audiences": ["vault"],
                    "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "web"},
                    "expirationSeconds": 600
                }
            })
        );
        let json = serde_json::to_value(TokenRequestOptions::default().to_token_request()).unwrap();
        assert_eq!(json["spec"], serde_json::json!({}));
    }

    #[test]
    fn paths_refuse_what_would_change_the_url() {
        assert_eq!(
            token_path("team-a", "robot", true).unwrap(),
            "/api/v1/namespaces/team-a/serviceaccounts/robot/token?dryRun=All"
        );
        for bad in ["", "..", "a/b", "a?b", "a b", "a%2f"] {
            let err = token_path("ns", bad, false).unwrap_err();
            assert!(matches!(err, RequestError::InvalidName { .. }), "{bad:?}");
        }
    }

    #[test]
    fn an_issued_token_never_prints() {
        // Synthetic and unsigned, assembled here so that no token-shaped literal sits in the source.
        let part = |v: serde_json::Value| {
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, v.to_string())
        };
        let jwt = format!(
            "{}.{}.c2lnbmF0dXJl",
            part(serde_json::json!({"alg": "RS256", "kid": "k"})),
            part(serde_json::json!({"aud": ["a"], "exp": 2, "iat": 1, "iss": "i", "nbf": 1, "sub": "s"}))
        );
        let jwt = jwt.as_str();
        let response: TokenRequest = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "robot"},
            "spec": {"audiences": ["a"], "expirationSeconds": 3600},
            "status": {"token": jwt, "expirationTimestamp": "2030-01-01T00:00:00Z"}
        }))
        .unwrap();
        let issued = issued_token(response, vec![], 201).unwrap();
        let debug = format!("{issued:?}");
        assert!(!debug.contains("c2lnbmF0dXJl"), "{debug}");
        assert!(!debug.contains(jwt), "{debug}");
        assert_eq!(issued.token().expose(), jwt);
        assert_eq!(issued.to_token_request().status.unwrap().token.as_deref(), Some(jwt));
        assert_eq!(issued.claims().iss, "i");
        assert_eq!(issued.expiration_seconds(), Some(3600));
    }

    #[test]
    fn a_response_without_token_is_an_error() {
        let response: TokenRequest = serde_json::from_value(serde_json::json!({"spec": {}})).unwrap();
        let err = issued_token(response, vec![], 201).unwrap_err();
        assert_eq!(err.to_string(), "the API answered 201 without a token in status");
    }
}
