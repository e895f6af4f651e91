//! The `kid` of a signing key (R18): base64url (no padding) of the SHA-256 of the public key's PKIX DER.
//!
//! Source: `pkg/serviceaccount/jwt.go` (`keyIDFromPublicKey`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The key id kube-apiserver derives for a public key given as PKIX (SubjectPublicKeyInfo) DER.
pub fn key_id(spki_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(spki_der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r18_kid_is_unpadded_base64url_sha256() {
        // SHA-256("") = e3b0c442...; its base64url form without padding.
        assert_eq!(key_id(b""), "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
        assert_eq!(key_id(b"").len(), 43);
    }
}
