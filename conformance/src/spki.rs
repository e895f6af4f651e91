//! A published JWK as the DER `SubjectPublicKeyInfo` Go's `x509.MarshalPKIXPublicKey` writes, so that the suite
//! can recompute kube-apiserver's `kid` (R18: base64url of the SHA-256 of that DER) from the JWKS alone. Only
//! the two key types kube-apiserver signs with: RSA and EC on P-256/384/521. The DER itself is
//! `tokenrequest_types::der`'s.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use tokenrequest_types::der;

use crate::failure::CheckFailure;

/// The DER of the JWK's public key.
pub fn der(jwk: &Value) -> Result<Vec<u8>, CheckFailure> {
    match jwk["kty"].as_str() {
        Some("RSA") => Ok(der::rsa_subject_public_key_info(&field(jwk, "n")?, &field(jwk, "e")?)),
        Some("EC") => {
            let crv = jwk["crv"].as_str().unwrap_or_default();
            der::ec_subject_public_key_info(crv, &field(jwk, "x")?, &field(jwk, "y")?)
                .ok_or_else(|| CheckFailure::mismatch("JWK crv", "P-256, P-384 or P-521", crv))
        }
        other => Err(CheckFailure::mismatch("JWK kty", "RSA or EC", other)),
    }
}

fn field(jwk: &Value, name: &str) -> Result<Vec<u8>, CheckFailure> {
    let text = jwk[name].as_str().unwrap_or_default();
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| CheckFailure::mismatch(format!("JWK {name}"), "base64url without padding", e.to_string()))
}
