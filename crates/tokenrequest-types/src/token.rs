//! Tokens as secrets, and reading a JWT's header and claims without verifying it.
//!
//! A [`Token`] never shows itself through `Debug` or `Display`; code that must send it calls
//! [`Token::expose`]. [`UnverifiedToken`] decodes header and claims for inspection and keeps no signature, so
//! nothing built from it can leak one.
//!
//! [`find_jwt`] is the workspace's one scanner for token-shaped text: every redaction (reports, error messages,
//! logs quoted in errors) and every leak check uses it, so they agree on what a token is. The pattern is the one
//! a compact JWS always has, `eyJ<b64url>.<b64url>.<b64url>` (its header is a JSON object, so the base64url starts
//! with `eyJ`); the signature may be empty (an unsigned JWT is still a credential's shape). Hand-written rather
//! than a regex: the pattern is fixed and the core crate stays free of a regex engine.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::claims::Claims;

/// How a token is shown wherever it is not explicitly asked for.
pub const REDACTED: &str = "<redacted>";

/// A bearer token (a service-account JWT or an admin token). Prints as `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself, for the one place that needs it (an `Authorization` header, `create`'s output).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({REDACTED})")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// The first token-shaped run of text at or after byte `from`:
/// `eyJ[A-Za-z0-9_=-]+\.[A-Za-z0-9_=-]+\.[A-Za-z0-9_=-]*`.
pub fn find_jwt(text: &str, from: usize) -> Option<Range<usize>> {
    let bytes = text.as_bytes();
    let mut search = from;
    while let Some(offset) = text.get(search..)?.find("eyJ") {
        let start = search + offset;
        if let Some(end) = jwt_end(bytes, start) {
            return Some(start..end);
        }
        search = start + 3;
    }
    None
}

/// Every token-shaped run of `text`, in order.
pub fn find_jwts(text: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut from = 0;
    std::iter::from_fn(move || {
        let range = find_jwt(text, from)?;
        from = range.end;
        Some(range)
    })
}

/// `text` with every token-shaped run replaced by [`REDACTED`]; borrowed when there is none.
pub fn redact_jwts(text: &str) -> Cow<'_, str> {
    replace_jwts(text, REDACTED)
}

/// `text` with every token-shaped run replaced by `replacement` (XML needs `&lt;redacted&gt;`).
pub fn replace_jwts<'a>(text: &'a str, replacement: &str) -> Cow<'a, str> {
    let mut ranges = find_jwts(text).peekable();
    if ranges.peek().is_none() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for range in ranges {
        out.push_str(&text[copied..range.start]);
        out.push_str(replacement);
        copied = range.end;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// Where a token starting at `start` (which holds `eyJ`) ends, if its three segments are there.
fn jwt_end(bytes: &[u8], start: usize) -> Option<usize> {
    let is_b64url = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=');
    let segment = |at: usize| at + bytes[at..].iter().take_while(|b| is_b64url(b)).count();
    // The header goes on past `eyJ`, and the payload is not empty; the signature may be.
    let header_end = segment(start + 3);
    if header_end == start + 3 || bytes.get(header_end) != Some(&b'.') {
        return None;
    }
    let payload_end = segment(header_end + 1);
    if payload_end == header_end + 1 || bytes.get(payload_end) != Some(&b'.') {
        return None;
    }
    Some(segment(payload_end + 1))
}

/// A JWS protected header. kube-apiserver writes exactly `alg` and `kid` (R18).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoseHeader {
    /// Signing algorithm, e.g. `RS256`.
    pub alg: String,
    /// Key id ([`crate::keyid::key_id`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Token type; kube-apiserver never sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
}

/// Why a string is not a readable JWT. Never contains the token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenFormatError {
    /// Not three dot-separated parts.
    #[error("not a JWT: expected 3 dot-separated parts, found {0}")]
    Parts(usize),
    /// A part is not base64url.
    #[error("not a JWT: the {0} is not base64url")]
    Base64(&'static str),
    /// A part is not the expected JSON.
    #[error("not a JWT: the {part} is not valid JSON: {reason}")]
    Json {
        /// `header` or `claims`.
        part: &'static str,
        /// The decoder's complaint (about structure, never echoing values).
        reason: String,
    },
}

/// A JWT's header and claims, decoded without checking the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnverifiedToken {
    header: JoseHeader,
    claims: Claims,
}

impl UnverifiedToken {
    /// Decodes `header.claims.signature`; the signature is dropped unread.
    pub fn parse(token: &str) -> Result<Self, TokenFormatError> {
        let parts: Vec<&str> = token.trim().split('.').collect();
        let [header, claims, _signature] = parts[..] else {
            return Err(TokenFormatError::Parts(parts.len()));
        };
        Ok(Self {
            header: decode_part(header, "header")?,
            claims: decode_part(claims, "claims")?,
        })
    }

    /// Decodes only the header of `header.claims.signature`, as a verifier does before it picks the key: the
    /// claims are read once the signature is known to be good.
    pub fn parse_header(token: &str) -> Result<JoseHeader, TokenFormatError> {
        let parts: Vec<&str> = token.trim().split('.').collect();
        let [header, _claims, _signature] = parts[..] else {
            return Err(TokenFormatError::Parts(parts.len()));
        };
        decode_part(header, "header")
    }

    /// The header.
    pub fn header(&self) -> &JoseHeader {
        &self.header
    }

    /// The claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }
}

fn decode_part<T: serde::de::DeserializeOwned>(part: &str, name: &'static str) -> Result<T, TokenFormatError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenFormatError::Base64(name))?;
    serde_json::from_slice(&bytes).map_err(|e| TokenFormatError::Json {
        part: name,
        // serde_json's messages name types and positions; values it might quote are ours to drop.
        reason: format!("{:?} error at column {}", e.classify(), e.column()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Built at run time so that no JWT-looking literal is committed (the tidy test forbids them).
    fn jwt() -> String {
        ["eyJ", "hbGciOiJSUzI1NiJ9", ".", "eyJzdWIiOiJ4In0", ".", "c2ln-_A"].concat()
    }

    #[test]
    fn tokens_are_redacted_everywhere_in_a_message() {
        let text = format!("left: \"{}\"\nright: Bearer {}, done", jwt(), jwt());
        assert_eq!(
            redact_jwts(&text),
            "left: \"<redacted>\"\nright: Bearer <redacted>, done"
        );
        assert_eq!(find_jwts(&text).count(), 2);
    }

    #[test]
    fn text_without_tokens_is_unchanged_and_not_copied() {
        let text = "expected 3600, got eyJ but no dots; a.b.c is not a token";
        assert!(matches!(redact_jwts(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn incomplete_tokens_are_left_alone_and_unsigned_ones_redacted() {
        for text in ["eyJabc.def", "eyJ.abc.def", "eyJabc..def"] {
            assert_eq!(redact_jwts(text), text, "{text}");
        }
        assert_eq!(redact_jwts("eyJabc.def. rest"), "<redacted> rest"); // tidy:allow-jwt: unsigned
    }

    #[test]
    fn a_token_after_a_false_start_is_found() {
        let text = format!("eyJx {} eyJ", jwt());
        assert_eq!(redact_jwts(&text), "eyJx <redacted> eyJ");
        assert_eq!(replace_jwts(&text, "&lt;redacted&gt;"), "eyJx &lt;redacted&gt; eyJ");
    }

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn token_never_prints() {
        let t = Token::new("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"); // synthetic, unsigned: tidy:allow-jwt
        assert_eq!(format!("{t}"), "<redacted>");
        assert_eq!(format!("{t:?}"), "Token(<redacted>)");
        assert_eq!(t.expose(), "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"); // synthetic, unsigned: tidy:allow-jwt
    }

    #[test]
    fn parses_header_and_claims() {
        let claims = r#"{"aud":["a"],"exp":2,"iat":1,"iss":"i","nbf":1,"sub":"system:serviceaccount:n:s"}"#;
        let jwt = format!("{}.{}.{}", b64(r#"{"alg":"RS256","kid":"k"}"#), b64(claims), b64("sig"));
        let t = UnverifiedToken::parse(&jwt).unwrap();
        assert_eq!(t.header().alg, "RS256");
        assert_eq!(t.claims().sub, "system:serviceaccount:n:s");
    }

    #[test]
    fn errors_do_not_echo_the_token() {
        assert_eq!(UnverifiedToken::parse("secret"), Err(TokenFormatError::Parts(1)));
        assert_eq!(
            UnverifiedToken::parse("a.b!.c"),
            Err(TokenFormatError::Base64("header"))
        );
        let bad = format!("{}.{}.x", b64(r#"{"alg":"secretvalue"#), b64("{}"));
        let err = UnverifiedToken::parse(&bad).unwrap_err().to_string();
        assert!(!err.contains("secretvalue"), "{err}");
    }
}
