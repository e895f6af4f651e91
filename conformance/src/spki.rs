//! A published JWK as the DER `SubjectPublicKeyInfo` Go's `x509.MarshalPKIXPublicKey` writes, so that the suite
//! can recompute kube-apiserver's `kid` (R18: base64url of the SHA-256 of that DER) from the JWKS alone. Only
//! the two key types kube-apiserver signs with: RSA and EC on P-256/384/521.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::failure::CheckFailure;

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const NULL: [u8; 2] = [0x05, 0x00];
/// 1.2.840.113549.1.1.1 rsaEncryption.
const RSA_ENCRYPTION: [u8; 11] = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// 1.2.840.10045.2.1 id-ecPublicKey.
const EC_PUBLIC_KEY: [u8; 9] = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// The DER of the JWK's public key.
pub fn der(jwk: &Value) -> Result<Vec<u8>, CheckFailure> {
    match jwk["kty"].as_str() {
        Some("RSA") => {
            let n = field(jwk, "n")?;
            let e = field(jwk, "e")?;
            let key = tlv(SEQUENCE, &[integer(&n), integer(&e)].concat());
            let algorithm = tlv(SEQUENCE, &[&RSA_ENCRYPTION[..], &NULL[..]].concat());
            Ok(tlv(SEQUENCE, &[algorithm, bit_string(&key)].concat()))
        }
        Some("EC") => {
            let curve: &[u8] = match jwk["crv"].as_str() {
                // 1.2.840.10045.3.1.7, 1.3.132.0.34, 1.3.132.0.35.
                Some("P-256") => &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
                Some("P-384") => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
                Some("P-521") => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23],
                other => return Err(CheckFailure::mismatch("JWK crv", "P-256, P-384 or P-521", other)),
            };
            // The uncompressed point: 0x04 || x || y (JWK coordinates are already padded to the field size).
            let point = [&[0x04][..], &field(jwk, "x")?, &field(jwk, "y")?].concat();
            let algorithm = tlv(SEQUENCE, &[&EC_PUBLIC_KEY[..], curve].concat());
            Ok(tlv(SEQUENCE, &[algorithm, bit_string(&point)].concat()))
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

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A non-negative INTEGER: minimal, with a 0x00 in front when the high bit is set.
fn integer(unsigned: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = unsigned.iter().copied().skip_while(|b| *b == 0).collect();
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend(trimmed);
    tlv(INTEGER, &content)
}

fn bit_string(content: &[u8]) -> Vec<u8> {
    tlv(BIT_STRING, &[&[0u8][..], content].concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_and_integers() {
        assert_eq!(tlv(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        assert_eq!(&tlv(0x04, &[0; 200])[..3], &[0x04, 0x81, 200]);
        assert_eq!(&tlv(0x04, &[0; 300])[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(integer(&[0x01, 0x00, 0x01]), vec![0x02, 3, 0x01, 0x00, 0x01]);
        assert_eq!(integer(&[0x00, 0x80]), vec![0x02, 2, 0x00, 0x80]);
    }
}
