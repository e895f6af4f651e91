//! Local JWT verification (`Verifier` with its JWKS already fetched) next to the bare signature check it contains
//! (issue 10: >= 0.8 of the raw rate).
//!
//! The token is a real service-account token layout signed by aws-lc-rs, the library jsonwebtoken verifies with
//! here; the raw line verifies the same signature over the same bytes with a public key parsed once. The gap is
//! the verifier's own work: parsing the token, looking the key up, building the decoding key, decoding the claims.
//! `cargo xtask bench` runs this and reads criterion's estimates.

#![allow(missing_docs, reason = "criterion_group! generates an undocumented pub fn")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{self, KeyPair as _, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::jwk::JwkSet;
use tokenrequest_client::{DiscoveryDocument, FetchError, KeySource, Verifier, VerifierConfig};

const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
const KID: &str = "bench-key";

/// Serves one discovery document and one key set from memory; fetched once, on the first verification.
struct StaticKeys {
    jwks: JwkSet,
}

impl KeySource for StaticKeys {
    async fn discovery(&self) -> Result<DiscoveryDocument, FetchError> {
        Ok(DiscoveryDocument {
            issuer: ISSUER.to_owned(),
            jwks_uri: format!("{ISSUER}/openid/v1/jwks"),
            response_types_supported: vec!["id_token".to_owned()],
            subject_types_supported: vec!["public".to_owned()],
            id_token_signing_alg_values_supported: vec!["RS256".to_owned()],
        })
    }

    async fn key_set(&self, _jwks_uri: &str) -> Result<JwkSet, FetchError> {
        Ok(self.jwks.clone())
    }
}

/// A pod-bound token as kube-apiserver lays it out, signed with `key`.
fn token(key: &aws_lc_rs::rsa::KeyPair, now: i64) -> String {
    let header = serde_json::json!({"alg": "RS256", "kid": KID});
    let claims = serde_json::json!({
        "aud": ["vault"], "exp": now + 3600, "iat": now, "nbf": now, "iss": ISSUER,
        "jti": "0b8c8a1e-5c0f-4f7e-9d8c-1c2b3a4d5e6f",
        "kubernetes.io": {
            "namespace": "default",
            "node": {"name": "node-1", "uid": "a7d1c1f4-7d0e-4a55-8c7b-2f5d6e7a8b9c"},
            "pod": {"name": "web-7d4b9c6f5-x2kqz", "uid": "5f1c7e0a-3b7e-4c1d-9a55-0c2d7f6e8b91"},
            "serviceaccount": {"name": "web", "uid": "3c2b1a09-8f7e-4d6c-b5a4-93827160f5e4"},
            "warnafter": now + 3600
        },
        "sub": "system:serviceaccount:default:web"
    });
    let mut jws = URL_SAFE_NO_PAD.encode(header.to_string());
    jws.push('.');
    jws.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut sig = vec![0; key.public_modulus_len()];
    key.sign(
        &signature::RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        jws.as_bytes(),
        &mut sig,
    )
    .expect("sign");
    jws.push('.');
    jws.push_str(&URL_SAFE_NO_PAD.encode(sig));
    jws
}

fn verify(c: &mut Criterion) {
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA-2048");
    let public = key.public_key();
    let jwks: JwkSet = serde_json::from_value(serde_json::json!({"keys": [{
        "use": "sig", "kty": "RSA", "alg": "RS256", "kid": KID,
        "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
        "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
    }]}))
    .expect("JWKS");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        .cast_signed();
    let token = token(&key, now);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let verifier = Verifier::new(StaticKeys { jwks }, VerifierConfig::new(vec!["vault".to_owned()]));
    rt.block_on(verifier.verify_at(&token, now))
        .expect("the token verifies");

    let (signing_input, sig) = token.rsplit_once('.').expect("three parts");
    let sig = URL_SAFE_NO_PAD.decode(sig).expect("base64url signature");
    let raw = UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, public.as_ref().to_vec());

    let mut group = c.benchmark_group("verify_rs256");
    group.bench_function("raw_verify", |b| {
        b.iter(|| {
            raw.verify(black_box(signing_input.as_bytes()), black_box(&sig))
                .expect("verify")
        });
    });
    group.bench_function("verifier", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(verifier.verify_at(black_box(&token), now).await.expect("verify"));
                }
                start.elapsed()
            })
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(20);
    targets = verify
}
criterion_main!(benches);
