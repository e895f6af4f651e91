//! The DER of public keys given by their JWK components: PKCS#1 `RSAPublicKey` (RFC 8017 A.1.1) and X.509
//! `SubjectPublicKeyInfo` (RFC 5280 4.1.2.7, RFC 5480) for RSA and EC P-256/384/521 keys, as Go's
//! `x509.MarshalPKIXPublicKey` writes them. The suite recomputes kube-apiserver's `kid` (R18: the SHA-256 of the
//! SPKI) from a JWKS, and the client's verifier hands aws-lc-rs an RSA key it can parse once. Hand-written because
//! these are three fixed shapes and the crates in the graph that write DER (rcgen, aws-lc-rs) start from a key
//! pair or a parsed key, not from a JWK's `n`, `e`, `x` and `y`.

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const NULL: [u8; 2] = [0x05, 0x00];
/// 1.2.840.113549.1.1.1 rsaEncryption.
const RSA_ENCRYPTION: [u8; 11] = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// 1.2.840.10045.2.1 id-ecPublicKey.
const EC_PUBLIC_KEY: [u8; 9] = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`, from big-endian magnitudes.
pub fn rsa_public_key(n: &[u8], e: &[u8]) -> Vec<u8> {
    tlv(SEQUENCE, &[integer(n), integer(e)].concat())
}

/// The `SubjectPublicKeyInfo` of an RSA key.
pub fn rsa_subject_public_key_info(n: &[u8], e: &[u8]) -> Vec<u8> {
    let algorithm = tlv(SEQUENCE, &[&RSA_ENCRYPTION[..], &NULL[..]].concat());
    tlv(SEQUENCE, &[algorithm, bit_string(&rsa_public_key(n, e))].concat())
}

/// The `SubjectPublicKeyInfo` of an EC key on the JWK curve `crv` (`P-256`, `P-384`, `P-521`) with coordinates
/// `x` and `y` (already padded to the field size, as JWKs carry them); `None` for another curve.
pub fn ec_subject_public_key_info(crv: &str, x: &[u8], y: &[u8]) -> Option<Vec<u8>> {
    let curve: &[u8] = match crv {
        // 1.2.840.10045.3.1.7, 1.3.132.0.34, 1.3.132.0.35.
        "P-256" => &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
        "P-384" => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
        "P-521" => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23],
        _ => return None,
    };
    // The uncompressed point: 0x04 || x || y.
    let point = [&[0x04][..], x, y].concat();
    let algorithm = tlv(SEQUENCE, &[&EC_PUBLIC_KEY[..], curve].concat());
    Some(tlv(SEQUENCE, &[algorithm, bit_string(&point)].concat()))
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
    fn lengths_and_integers() {
        assert_eq!(tlv(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        assert_eq!(&tlv(0x04, &[0; 200])[..3], &[0x04, 0x81, 200]);
        assert_eq!(&tlv(0x04, &[0; 300])[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(integer(&[0x01, 0x00, 0x01]), vec![0x02, 3, 0x01, 0x00, 0x01]);
        assert_eq!(integer(&[0x00, 0x80]), vec![0x02, 2, 0x00, 0x80]);
        assert_eq!(
            rsa_public_key(&[0x80], &[0x03]),
            vec![0x30, 7, 0x02, 2, 0x00, 0x80, 0x02, 1, 0x03]
        );
        assert!(ec_subject_public_key_info("secp256k1", &[1], &[2]).is_none());
    }
}
