//! Fuzzes JWT parsing and verification: `tokenrequest_types::token::UnverifiedToken::parse` and the client's
//! offline `Verifier` (algorithm, issuer, key lookup, signature, audience, times) against a fixed JWKS.
//!
//! The JWKS holds only PUBLIC keys whose private halves were thrown away when this file was written (an RSA 2048
//! and a P-256 key), plus an HMAC `oct` key whose secret is public (`kid: hmac`), so the properties are:
//! no panic; `verify` NEVER succeeds (no input can carry a valid signature, and the `oct` key must never be
//! usable); and no error message contains the token.
//!
//! Input layout: if the first byte is even, the rest is the token as text; if odd, the rest is split at 0xFF into
//! header, claims and signature, each base64url-encoded, so mutations reach the JSON decoders behind the base64.

#![no_main]

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use libfuzzer_sys::fuzz_target;
use tokenrequest_client::{DiscoveryDocument, FetchError, KeySource, Verifier, VerifierConfig};
use tokenrequest_types::token::UnverifiedToken;

const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// Mid-2026, inside the validity window of the seed tokens, so that seeds reach the signature check.
const NOW: i64 = 1_780_000_000;

/// A key source that never does I/O.
struct FixedKeys;

impl KeySource for FixedKeys {
    async fn discovery(&self) -> Result<DiscoveryDocument, FetchError> {
        Ok(DiscoveryDocument {
            issuer: ISSUER.to_owned(),
            jwks_uri: "https://127.0.0.1:6443/openid/v1/jwks".to_owned(),
            response_types_supported: vec!["id_token".to_owned()],
            subject_types_supported: vec!["public".to_owned()],
            id_token_signing_alg_values_supported: vec!["ES256".to_owned(), "RS256".to_owned()],
        })
    }

    async fn key_set(&self, _jwks_uri: &str) -> Result<JwkSet, FetchError> {
        Ok(JWKS.clone())
    }
}

static JWKS: LazyLock<JwkSet> = LazyLock::new(|| {
    serde_json::from_value(serde_json::json!({"keys": [
        {"use": "sig", "kty": "RSA", "alg": "RS256", "kid": "rsa", "e": "AQAB",
         "n": "5iy-K1G-Oc4g8B-MwaNnDQz-dJ1hEEryILaK-bzcR5mEazLlX7jn2FIBWR12lF7RbTW3othwLCj8gW0h2nLQu-zd-IYsptHkI0FjpwvVRJz6VH66V-b50W6XIMPMOGC11a2OlFeWhiAsNSPPp7gdZR4x9NhRV9RPrzi7Bvy9AUW8jzEgZy8XHmdOgYZeElaVX2Nm-dRncddrxkp3fjrH_YqhLoDdr3ywEsTi3Pg9h6l20y4SgrTWHqhwF7PRv7jr9ISNX9-xZ9CgVAIarPf2R4JOM-7pMont6WS4XXABlldmSxM4TxXdsgeJ4l5YV7wR_S5TKUbpakg8HknguLe6YQ"},
        {"use": "sig", "kty": "EC", "alg": "ES256", "kid": "ec", "crv": "P-256",
         "x": "h7ceGi8Qa7n6Am7YksbSyadxNRSX8hTXHWJyx1zoP3g", "y": "CWYzke4WBB4HvHrqFd5Ut1Nq0QY8vreHr-QnhVQtqsY"},
        // A symmetric key in a JWKS would let anyone who reads the JWKS sign: the verifier must refuse it.
        {"kty": "oct", "kid": "hmac", "alg": "HS256", "k": "cHVibGljLXNlY3JldA"}
    ]}))
    .expect("the fixed JWKS")
});

struct Fixture {
    runtime: tokio::runtime::Runtime,
    verifier: Verifier<FixedKeys>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| Fixture {
    runtime: tokio::runtime::Builder::new_current_thread().build().expect("runtime"),
    verifier: Verifier::new(FixedKeys, VerifierConfig::new(vec![ISSUER.to_owned()])),
});

fn token_from(data: &[u8]) -> Option<String> {
    let (mode, rest) = data.split_first()?;
    if mode % 2 == 0 {
        return std::str::from_utf8(rest).ok().map(str::to_owned);
    }
    let parts: Vec<String> = rest.split(|b| *b == 0xFF).map(|p| URL_SAFE_NO_PAD.encode(p)).collect();
    Some(parts.join("."))
}

fuzz_target!(|data: &[u8]| {
    let Some(token) = token_from(data) else { return };
    let fixture = &*FIXTURE;

    // Only a JWT-shaped input is checked for echoes: a short dot-less input ("found 1") can be a substring of a
    // constant message by chance, while a JWT cannot be rebuilt from the fields decoded out of it.
    let checked = token.len() >= 16 && token.matches('.').count() >= 2;
    if let Err(error) = UnverifiedToken::parse(&token) {
        let message = error.to_string();
        assert!(!checked || !message.contains(&token), "parse error echoes the token");
    }

    match fixture.runtime.block_on(fixture.verifier.verify_at(&token, NOW)) {
        Ok(verified) => panic!("a token verified without any private key: header {:?}", verified.header),
        Err(error) => {
            let message = format!("{error} / {error:?}");
            assert!(!checked || !message.contains(&token), "verify error echoes the token");
        }
    }
});
