//! The service-account token signer: one key, parsed or generated ONCE at start and kept in the server's state.
//!
//! It signs with aws-lc-rs directly (RS256 = RSA PKCS#1 v1.5 + SHA-256, ES256 = ECDSA P-256 with the fixed-size
//! signature JWS wants), because `jsonwebtoken::encode` re-parses the private key on every call (DESIGN.md). It also
//! verifies its own tokens for bearer authentication and TokenReview, and publishes its public key as a JWK.
//! The JWT layout follows pkg/serviceaccount/jwt.go: header exactly `{"alg","kid"}`, `kid` from
//! `tokenrequest_types::keyid::key_id` (R18).

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use serde::Serialize;
use tokenrequest_types::claims::Claims;
use tokenrequest_types::keyid::key_id;
use tokenrequest_types::policy::SigningAlg;
use tokenrequest_types::review::TokenRejection;
use tokenrequest_types::token::{Token, UnverifiedToken};

use crate::error::ServerError;

/// The signing key and what is derived from it.
pub struct Signer {
    key: Key,
    kid: String,
    jwk: serde_json::Value,
}

enum Key {
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ec(EcdsaKeyPair, Curve),
}

/// The ECDSA curves kube-apiserver signs with, each with its one JWS algorithm (pkg/serviceaccount/jwt.go,
/// `signerFromECDSAPrivateKey`: P-256 → ES256, P-384 → ES384, P-521 → ES512).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    const ALL: [Curve; 3] = [Curve::P256, Curve::P384, Curve::P521];

    fn of(alg: SigningAlg) -> Option<Self> {
        match alg {
            SigningAlg::RS256 => None,
            SigningAlg::ES256 => Some(Curve::P256),
            SigningAlg::ES384 => Some(Curve::P384),
            SigningAlg::ES512 => Some(Curve::P521),
        }
    }

    fn alg(self) -> SigningAlg {
        match self {
            Curve::P256 => SigningAlg::ES256,
            Curve::P384 => SigningAlg::ES384,
            Curve::P521 => SigningAlg::ES512,
        }
    }

    fn signing(self) -> &'static signature::EcdsaSigningAlgorithm {
        match self {
            Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            Curve::P521 => &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
        }
    }

    fn verification(self) -> &'static signature::EcdsaVerificationAlgorithm {
        match self {
            Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
            Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
            Curve::P521 => &signature::ECDSA_P521_SHA512_FIXED,
        }
    }

    /// The JWK `crv` (RFC 7518 6.2.1.1).
    fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'a str,
    kid: &'a str,
}

impl Signer {
    /// Generates a key for `alg` (RSA 2048 for RS256, the curve of an ES algorithm), as kube-apiserver's test
    /// setups do.
    pub fn generate(alg: SigningAlg) -> Result<Self, ServerError> {
        let key = match Curve::of(alg) {
            None => Key::Rsa(aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048).map_err(key_err)?),
            Some(curve) => Key::Ec(EcdsaKeyPair::generate(curve.signing()).map_err(key_err)?, curve),
        };
        Self::new(key)
    }

    /// Loads `--service-account-signing-key-file`: PKCS#8, PKCS#1 (RSA) or SEC1 (EC P-256, P-384, P-521). The
    /// key's type decides the algorithm, as in kube-apiserver.
    pub fn from_pem(pem: &str) -> Result<Self, ServerError> {
        let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| ServerError::SigningKey(e.to_string()))?;
        let ec = |parse: &dyn Fn(Curve) -> Option<EcdsaKeyPair>| {
            Curve::ALL
                .into_iter()
                .find_map(|curve| parse(curve).map(|key| Key::Ec(key, curve)))
                .ok_or_else(|| ServerError::SigningKey("not an RSA, P-256, P-384 or P-521 key".to_owned()))
        };
        let key = match &der {
            PrivateKeyDer::Pkcs1(k) => {
                Key::Rsa(aws_lc_rs::rsa::KeyPair::from_der(k.secret_pkcs1_der()).map_err(key_err)?)
            }
            PrivateKeyDer::Sec1(k) => {
                ec(&|curve| EcdsaKeyPair::from_private_key_der(curve.signing(), k.secret_sec1_der()).ok())?
            }
            PrivateKeyDer::Pkcs8(k) => match aws_lc_rs::rsa::KeyPair::from_pkcs8(k.secret_pkcs8_der()) {
                Ok(rsa) => Key::Rsa(rsa),
                Err(_) => ec(&|curve| EcdsaKeyPair::from_pkcs8(curve.signing(), k.secret_pkcs8_der()).ok())?,
            },
            _ => return Err(ServerError::SigningKey("unsupported private key format".to_owned())),
        };
        Self::new(key)
    }

    fn new(key: Key) -> Result<Self, ServerError> {
        let (spki, jwk) = match &key {
            Key::Rsa(k) => {
                let public = k.public_key();
                let spki = public.as_der().map_err(key_err)?.as_ref().to_vec();
                let jwk = serde_json::json!({
                    "use": "sig",
                    "kty": "RSA",
                    "alg": "RS256",
                    "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
                    "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
                });
                (spki, jwk)
            }
            Key::Ec(k, curve) => {
                let public = k.public_key();
                let spki = public.as_der().map_err(key_err)?.as_ref().to_vec();
                // An uncompressed point: 0x04 || x || y, each coordinate the curve's size.
                let point = public.as_ref();
                let (x, y) = point[1..].split_at((point.len() - 1) / 2);
                let jwk = serde_json::json!({
                    "use": "sig",
                    "kty": "EC",
                    "alg": curve.alg().as_str(),
                    "crv": curve.name(),
                    "x": URL_SAFE_NO_PAD.encode(x),
                    "y": URL_SAFE_NO_PAD.encode(y),
                });
                (spki, jwk)
            }
        };
        let kid = key_id(&spki);
        let mut jwk = jwk;
        jwk["kid"] = serde_json::Value::String(kid.clone());
        Ok(Self { key, kid, jwk })
    }

    /// The JWS algorithm of the key.
    pub fn alg(&self) -> SigningAlg {
        match self.key {
            Key::Rsa(_) => SigningAlg::RS256,
            Key::Ec(_, curve) => curve.alg(),
        }
    }

    /// The key id in every token's header and in the JWKS.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK (R25).
    pub fn jwk(&self) -> &serde_json::Value {
        &self.jwk
    }

    /// Signs `claims` into a compact JWS.
    pub fn sign(&self, claims: &Claims) -> Result<Token, SignError> {
        let header = serde_json::to_vec(&Header {
            alg: self.alg().as_str(),
            kid: &self.kid,
        })
        .map_err(|_| SignError)?;
        let payload = serde_json::to_vec(claims).map_err(|_| SignError)?;
        let mut signing_input = URL_SAFE_NO_PAD.encode(header);
        signing_input.push('.');
        signing_input.push_str(&URL_SAFE_NO_PAD.encode(payload));
        let signature = self.signature(signing_input.as_bytes())?;
        signing_input.push('.');
        signing_input.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(Token::new(signing_input))
    }

    fn signature(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let rng = SystemRandom::new();
        match &self.key {
            Key::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(|_| SignError)?;
                Ok(sig)
            }
            Key::Ec(k, _) => Ok(k.sign(&rng, message).map_err(|_| SignError)?.as_ref().to_vec()),
        }
    }

    /// Checks a token's signature against this key, in pkg/serviceaccount/jwt.go's order: a token that is not a
    /// JWT or names another key is "no keys found"; a bad signature is go-jose's primitive error.
    pub fn verify(&self, token: &str) -> Result<UnverifiedToken, TokenRejection> {
        // pkg/serviceaccount/jwt.go: the header picks the key (none: `invalid signature, no keys found`), the key
        // checks the signature, and only then are the claims decoded.
        let header = UnverifiedToken::parse_header(token).map_err(|_| TokenRejection::NotClaimed)?;
        if header.kid.as_deref().is_some_and(|kid| kid != self.kid) || header.alg != self.alg().as_str() {
            return Err(TokenRejection::NoKeys);
        }
        let (signing_input, encoded_signature) = token.trim().rsplit_once('.').ok_or(TokenRejection::NotClaimed)?;
        let sig = URL_SAFE_NO_PAD
            .decode(encoded_signature)
            .map_err(|_| TokenRejection::BadSignature)?;
        let ok = match &self.key {
            Key::Rsa(k) => UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, k.public_key().as_ref())
                .verify(signing_input.as_bytes(), &sig)
                .is_ok(),
            Key::Ec(k, curve) => UnparsedPublicKey::new(curve.verification(), k.public_key().as_ref())
                .verify(signing_input.as_bytes(), &sig)
                .is_ok(),
        };
        if !ok {
            return Err(TokenRejection::BadSignature);
        }
        UnverifiedToken::parse(token).map_err(|_| TokenRejection::NotClaimed)
    }
}

/// Every key the server knows: the one it signs with, and the retired ones it still verifies with
/// (`--service-account-key-file` beside `--service-account-signing-key-file`, for key rotation). The JWKS lists
/// them all, and a token signed by any of them verifies (pkg/serviceaccount/jwt.go picks the key by `kid`).
pub struct KeySet {
    signing: Signer,
    retired: Vec<Signer>,
}

impl KeySet {
    /// The signing key and the retired ones.
    pub fn new(signing: Signer, retired: Vec<Signer>) -> Self {
        Self { signing, retired }
    }

    /// The key new tokens are signed with.
    pub fn signing(&self) -> &Signer {
        &self.signing
    }

    /// Every key, the signing key first.
    pub fn all(&self) -> impl Iterator<Item = &Signer> {
        std::iter::once(&self.signing).chain(&self.retired)
    }

    /// The algorithms of the keys, sorted and without repeats, as discovery's
    /// `id_token_signing_alg_values_supported` lists them (pkg/serviceaccount/openidmetadata.go).
    pub fn algorithms(&self) -> Vec<&'static str> {
        let mut algs: Vec<&'static str> = self.all().map(|key| key.alg().as_str()).collect();
        algs.sort_unstable();
        algs.dedup();
        algs
    }

    /// Checks a token with the key its header names: "no keys found" when none has its `kid`.
    pub fn verify(&self, token: &str) -> Result<UnverifiedToken, TokenRejection> {
        let header = UnverifiedToken::parse_header(token).map_err(|_| TokenRejection::NotClaimed)?;
        let key = self
            .all()
            .find(|key| header.kid.as_deref() == Some(key.kid()))
            .unwrap_or(&self.signing);
        key.verify(token)
    }
}

/// Signing failed (never expected with a key that parsed).
#[derive(Debug, thiserror::Error)]
#[error("failed to sign the token")]
pub struct SignError;

fn key_err(e: impl std::fmt::Display) -> ServerError {
    ServerError::SigningKey(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        serde_json::from_value(serde_json::json!({
            "aud": ["api"], "exp": 2_000_000_000i64, "iat": 1_000_000_000i64, "nbf": 1_000_000_000i64,
            "iss": "https://issuer", "sub": "system:serviceaccount:ns:sa"
        }))
        .unwrap()
    }

    #[test]
    fn r18_header_is_exactly_alg_and_kid() {
        for alg in SigningAlg::ALL {
            let signer = Signer::generate(alg).unwrap();
            let token = signer.sign(&claims()).unwrap();
            let header = token.expose().split('.').next().unwrap();
            let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
            assert_eq!(header, serde_json::json!({"alg": alg.as_str(), "kid": signer.kid()}));
            assert!(signer.verify(token.expose()).is_ok());
        }
    }

    #[test]
    fn r21_tampered_and_foreign_tokens_are_rejected() {
        let signer = Signer::generate(SigningAlg::ES256).unwrap();
        let other = Signer::generate(SigningAlg::ES256).unwrap();
        let token = other.sign(&claims()).unwrap();
        assert_eq!(signer.verify(token.expose()).unwrap_err(), TokenRejection::NoKeys);
        let mine = signer.sign(&claims()).unwrap();
        let (input, _) = mine.expose().rsplit_once('.').unwrap();
        let forged = format!("{input}.{}", URL_SAFE_NO_PAD.encode([0u8; 64]));
        assert_eq!(signer.verify(&forged).unwrap_err(), TokenRejection::BadSignature);
    }

    #[test]
    fn ec_keys_publish_their_curve_and_full_coordinates() {
        for (alg, crv, bytes) in [
            (SigningAlg::ES256, "P-256", 32),
            (SigningAlg::ES384, "P-384", 48),
            (SigningAlg::ES512, "P-521", 66),
        ] {
            let jwk = Signer::generate(alg).unwrap().jwk().clone();
            assert_eq!(
                (jwk["alg"].as_str(), jwk["crv"].as_str()),
                (Some(alg.as_str()), Some(crv))
            );
            for coordinate in ["x", "y"] {
                let decoded = URL_SAFE_NO_PAD.decode(jwk[coordinate].as_str().unwrap()).unwrap();
                assert_eq!(decoded.len(), bytes, "{crv} {coordinate}");
            }
        }
    }

    #[test]
    fn loads_a_p384_key_as_es384() {
        let generated = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let signer = Signer::from_pem(&generated.serialize_pem()).unwrap();
        assert_eq!(signer.alg(), SigningAlg::ES384);
    }

    #[test]
    fn a_key_set_verifies_with_every_key_and_lists_their_algorithms() {
        let current = Signer::generate(SigningAlg::ES256).unwrap();
        let retired = Signer::generate(SigningAlg::ES384).unwrap();
        let old_token = retired.sign(&claims()).unwrap();
        let stranger = Signer::generate(SigningAlg::ES256).unwrap().sign(&claims()).unwrap();
        let keys = KeySet::new(current, vec![retired]);
        assert!(keys.verify(keys.signing().sign(&claims()).unwrap().expose()).is_ok());
        assert!(keys.verify(old_token.expose()).is_ok(), "a retired key still verifies");
        assert_eq!(keys.verify(stranger.expose()).unwrap_err(), TokenRejection::NoKeys);
        assert_eq!(keys.algorithms(), ["ES256", "ES384"]);
        assert_eq!(keys.all().count(), 2);
    }

    #[test]
    fn loads_pkcs8_pem_and_keeps_kid() {
        let generated = rcgen::KeyPair::generate().unwrap();
        let signer = Signer::from_pem(&generated.serialize_pem()).unwrap();
        assert_eq!(signer.alg(), SigningAlg::ES256);
        assert_eq!(
            signer.kid(),
            key_id(&rcgen::PublicKeyData::subject_public_key_info(&generated))
        );
    }
}
