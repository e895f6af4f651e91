//! Requests on the wire: what the API answered (status code, headers, JSON body) exactly, because the checks
//! judge codes, `Warning` and `Date` headers and error `Status` bodies, which typed clients hide. Also the
//! decoded form of an issued token.

use http::{HeaderMap, Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokenrequest_types::claims::Claims;
use tokenrequest_types::token::{JoseHeader, Token, UnverifiedToken};
use tokenrequest_types::{Status, TokenRequest};

use crate::failure::CheckFailure;

/// The TokenReview endpoint.
pub const TOKEN_REVIEWS: &str = "/apis/authentication.k8s.io/v1/tokenreviews";
/// The SelfSubjectReview endpoint: any authenticated user may create one, so it shows who a token is (R22).
pub const SELF_SUBJECT_REVIEWS: &str = "/apis/authentication.k8s.io/v1/selfsubjectreviews";
/// OIDC discovery (R25).
pub const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
/// The JWKS path kube-apiserver serves (R25).
pub const JWKS: &str = "/openid/v1/jwks";
/// The only representation kube-apiserver serves the JWKS in (R25): a GET accepting `application/json` alone is
/// refused with 406; `*/*` or this type are served (observed on v1.37.1, see FINDINGS.md).
pub const JWK_SET_MEDIA_TYPE: &str = "application/jwk-set+json";
/// The `User-Agent` of every request: kube-apiserver names the field manager of a write after it (the part
/// before the first `/`) when no `fieldManager` is given, so `managedFields` is the same on every target.
pub const USER_AGENT: &str = concat!("tokenrequest-conformance/", env!("CARGO_PKG_VERSION"));
/// The field manager [`USER_AGENT`] gives.
pub const FIELD_MANAGER: &str = "tokenrequest-conformance";

/// `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`.
pub fn token_path(namespace: &str, service_account: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token")
}

/// One request, as sent.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// The method.
    pub method: Method,
    /// Path and query.
    pub path: &'a str,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
    /// `Content-Type` of the body.
    pub content_type: &'a str,
    /// `Accept`, if any.
    pub accept: Option<&'a str>,
}

impl<'a> Call<'a> {
    /// `GET path`.
    pub fn get(path: &'a str) -> Self {
        Self {
            method: Method::GET,
            path,
            body: None,
            content_type: "application/json",
            accept: Some("application/json"),
        }
    }

    /// `GET path` of the JWKS, accepting its media type.
    pub fn get_jwks(path: &'a str) -> Self {
        Self::get(path).accepting(JWK_SET_MEDIA_TYPE)
    }

    /// The same call with another `Accept`.
    #[must_use]
    pub fn accepting(mut self, accept: &'a str) -> Self {
        self.accept = Some(accept);
        self
    }

    /// `POST path` with a JSON body.
    pub fn post_json(path: &'a str, body: &Value) -> Self {
        Self {
            method: Method::POST,
            path,
            body: Some(body.to_string().into_bytes()),
            content_type: "application/json",
            accept: Some("application/json"),
        }
    }
}

/// An answer: code, headers and body (parsed as JSON when it is JSON, else `Null`).
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
}

/// Sends `call` with `client` and reads the whole answer.
pub async fn send(client: &kube::Client, call: Call<'_>) -> Result<Reply, CheckFailure> {
    let what = format!("{} {}", call.method, call.path);
    let mut builder = http::Request::builder()
        .method(call.method.clone())
        .uri(call.path)
        .header(http::header::USER_AGENT, USER_AGENT);
    if call.body.is_some() {
        builder = builder.header(http::header::CONTENT_TYPE, call.content_type);
    }
    if let Some(accept) = call.accept {
        builder = builder.header(http::header::ACCEPT, accept);
    }
    let request = builder
        .body(kube::client::Body::from(call.body.unwrap_or_default()))
        .map_err(|e| CheckFailure::transport(&what, e))?;
    let response = client
        .send(request)
        .await
        .map_err(|e| CheckFailure::transport(&what, e))?;
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect_bytes()
        .await
        .map_err(|e| CheckFailure::transport(&what, e))?;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

impl Reply {
    /// Fails unless the status is `code`; the failure shows the (redacted) body.
    pub fn expect_code(&self, what: &str, code: u16) -> Result<&Self, CheckFailure> {
        if self.status.as_u16() == code {
            return Ok(self);
        }
        Err(CheckFailure::mismatch(
            format!("{what}: HTTP status"),
            code,
            format!("{} {}", self.status.as_u16(), crate::redact::redacted_value(&self.body)),
        ))
    }

    /// The body as `T`.
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, CheckFailure> {
        serde_json::from_value(self.body.clone()).map_err(|e| {
            CheckFailure::mismatch(
                format!("{what}: body shape"),
                std::any::type_name::<T>(),
                format!("{e}: {}", crate::redact::redacted_value(&self.body)),
            )
        })
    }

    /// The body as an error `Status`.
    pub fn status_object(&self, what: &str) -> Result<Status, CheckFailure> {
        self.json(what)
    }

    /// The texts of the `Warning: 299 - "text"` headers (RFC 7234 warn-text, unquoted).
    pub fn warnings(&self) -> Vec<String> {
        self.headers
            .get_all(http::header::WARNING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(warn_text)
            .collect()
    }

    /// The response's `Date` header as unix seconds: the server's clock.
    pub fn date(&self) -> Option<i64> {
        let date = self.headers.get(http::header::DATE)?.to_str().ok()?;
        k8s_openapi::jiff::fmt::rfc2822::parse(date)
            .ok()
            .map(|zoned| zoned.timestamp().as_second())
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// `299 - "text" "date"` → `text`.
fn warn_text(value: &str) -> String {
    let Some(start) = value.find('"') else {
        return value.to_owned();
    };
    let mut text = String::new();
    let mut chars = value[start + 1..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => text.extend(chars.next()),
            '"' => break,
            c => text.push(c),
        }
    }
    text
}

/// A token the API issued (201), decoded without verification; the token itself stays a [`Token`].
#[derive(Debug, Clone)]
pub struct Issued {
    /// The raw answer.
    pub reply: Reply,
    /// The response object.
    pub response: TokenRequest,
    /// The token.
    pub token: Token,
    /// Its JOSE header.
    pub header: JoseHeader,
    /// Its claims, typed.
    pub claims: Claims,
    /// Its claims as JSON (to check the layout, e.g. that `aud` is an array).
    pub raw_claims: Value,
    /// Its header as JSON (to check that only `alg` and `kid` are there).
    pub raw_header: Value,
}

impl Issued {
    /// Reads a 201 TokenRequest answer; any other code is a failure.
    pub fn from_reply(what: &str, reply: Reply) -> Result<Self, CheckFailure> {
        reply.expect_code(what, 201)?;
        let response: TokenRequest = reply.json(what)?;
        let token = response
            .status
            .as_ref()
            .and_then(|s| s.token.clone())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| CheckFailure::mismatch(format!("{what}: status.token"), "a token", "none"))?;
        let unverified =
            UnverifiedToken::parse(&token).map_err(|e| CheckFailure::mismatch(format!("{what}: token"), "a JWT", e))?;
        let raw_header = decode_segment(&token, 0)?;
        let raw_claims = decode_segment(&token, 1)?;
        Ok(Self {
            header: unverified.header().clone(),
            claims: unverified.claims().clone(),
            response,
            token: Token::new(token),
            raw_claims,
            raw_header,
            reply,
        })
    }

    /// `spec.expirationSeconds` of the response.
    pub fn expiration_seconds(&self) -> Option<i64> {
        self.response.spec.as_ref().and_then(|s| s.expiration_seconds)
    }

    /// `spec.audiences` of the response.
    pub fn audiences(&self) -> Vec<String> {
        self.response
            .spec
            .as_ref()
            .and_then(|s| s.audiences.clone())
            .unwrap_or_default()
    }

    /// `status.expirationTimestamp` as unix seconds.
    pub fn expiration_timestamp(&self) -> Option<i64> {
        self.response
            .status
            .as_ref()
            .and_then(|s| s.expiration_timestamp.as_ref())
            .map(|t| t.0.as_second())
    }

    /// `metadata.creationTimestamp` as unix seconds.
    pub fn creation_timestamp(&self) -> Option<i64> {
        self.response
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.as_second())
    }
}

/// One base64url segment of a JWT as JSON.
pub fn decode_segment(token: &str, index: usize) -> Result<Value, CheckFailure> {
    use base64::Engine as _;
    let segment = token.split('.').nth(index).unwrap_or("");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|e| CheckFailure::mismatch("token segment", "base64url", e))?;
    serde_json::from_slice(&bytes).map_err(|e| CheckFailure::mismatch("token segment", "JSON", e))
}

/// R22: a refused bearer token gets exactly kube-apiserver's 401 `Status`.
pub fn expect_unauthorized(reply: &Reply) -> Result<(), CheckFailure> {
    reply.expect_code("bearer use of a refused token", 401)?;
    let expected = serde_json::to_value(tokenrequest_types::status::unauthorized()).unwrap_or(Value::Null);
    crate::failure::expect_eq("401 body", expected, reply.body.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_text_is_unquoted() {
        assert_eq!(
            warn_text(r#"299 - "requested expiration of 9000 seconds shortened to 3600 seconds""#),
            "requested expiration of 9000 seconds shortened to 3600 seconds"
        );
        assert_eq!(
            warn_text(r#"299 - "unknown field \"spec.foo\"""#),
            r#"unknown field "spec.foo""#
        );
    }
}
