//! The server's request path without sockets: a TokenRequest and a TokenReview through the real router
//! (`tokenrequest_server::router` + `oneshot`), next to the bare signature or verification they contain.
//!
//! The difference between the two lines of a pair is everything the server does besides the crypto (decoding,
//! store lookups, claims, JSON, authentication); `cargo xtask bench` measures the same thing end to end over
//! HTTPS. This bench is also what to profile (`valgrind --tool=callgrind <bench binary> --bench --profile-time 5
//! token_request`), because it has no TLS or scheduler noise around the handler.

#![allow(missing_docs, reason = "criterion_group! generates an undocumented pub fn")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::KeyPair as _;
use axum::Router;
use axum::body::Body;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, StatusCode};
use tokenrequest_server::{AppState, ServerConfig, router};
use tokenrequest_types::policy::SigningAlg;
use tower::ServiceExt as _;

const NAMESPACE: &str = "bench";
const SERVICE_ACCOUNT: &str = "issuer-bench";

/// A server's router with one namespace and service account, and the admin credential.
struct Fixture {
    app: Router,
    admin: String,
    rt: tokio::runtime::Runtime,
}

impl Fixture {
    fn new(alg: SigningAlg) -> Self {
        let mut config = ServerConfig::loopback();
        config.signing_alg = alg;
        let state = AppState::new(&config).expect("server state");
        let admin = format!("Bearer {}", state.admin_token().expose());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let fixture = Self {
            app: router(state),
            admin,
            rt,
        };
        let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}});
        fixture.expect(StatusCode::CREATED, "/api/v1/namespaces", &ns.to_string());
        let sa =
            serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SERVICE_ACCOUNT}});
        fixture.expect(
            StatusCode::CREATED,
            &format!("/api/v1/namespaces/{NAMESPACE}/serviceaccounts"),
            &sa.to_string(),
        );
        fixture
    }

    fn post(&self, path: &str, body: &str) -> (StatusCode, Vec<u8>) {
        let request = Request::post(path)
            .header("authorization", &self.admin)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(Body::from(body.to_owned()))
            .expect("request");
        self.rt.block_on(async {
            let response = self.app.clone().oneshot(request).await.expect("infallible router");
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body");
            (status, bytes.to_vec())
        })
    }

    fn expect(&self, status: StatusCode, path: &str, body: &str) -> Vec<u8> {
        let (got, bytes) = self.post(path, body);
        assert_eq!(got, status, "{path}: {}", String::from_utf8_lossy(&bytes));
        bytes
    }

    /// One token, for the review benchmarks.
    fn token(&self) -> String {
        let bytes = self.expect(StatusCode::CREATED, &token_path(), TOKEN_REQUEST);
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("TokenRequest JSON");
        v["status"]["token"].as_str().expect("a token").to_owned()
    }
}

const TOKEN_REQUEST: &str = r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{}}"#;

fn token_path() -> String {
    format!("/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{SERVICE_ACCOUNT}/token")
}

/// Times `iters` sequential requests inside one `block_on`, so that the runtime's entry cost is not counted.
fn time_requests(f: &Fixture, iters: u64, path: &str, body: &str, status: StatusCode) -> Duration {
    f.rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            let request = Request::post(path)
                .header("authorization", &f.admin)
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .body(Body::from(body.to_owned()))
                .expect("request");
            let response = f.app.clone().oneshot(request).await.expect("infallible router");
            assert_eq!(response.status(), status);
            black_box(
                axum::body::to_bytes(response.into_body(), usize::MAX)
                    .await
                    .expect("body"),
            );
        }
        start.elapsed()
    })
}

fn request_path(c: &mut Criterion) {
    for (alg, name) in [(SigningAlg::RS256, "rs256"), (SigningAlg::ES256, "es256")] {
        let f = Fixture::new(alg);
        let review = serde_json::json!({
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": f.token()}
        })
        .to_string();
        let mut group = c.benchmark_group(format!("request_path_{name}"));
        group.bench_function("token_request", |b| {
            b.iter_custom(|iters| time_requests(&f, iters, &token_path(), TOKEN_REQUEST, StatusCode::CREATED));
        });
        group.bench_function("token_review", |b| {
            b.iter_custom(|iters| {
                time_requests(
                    &f,
                    iters,
                    "/apis/authentication.k8s.io/v1/tokenreviews",
                    &review,
                    StatusCode::CREATED,
                )
            });
        });
        raw_crypto(&mut group, alg);
        group.finish();
    }
}

/// The bare signature and verification of a JWT-sized message with a key parsed once: the floor of each path.
fn raw_crypto(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, alg: SigningAlg) {
    let msg = vec![b'e'; 700];
    let rng = aws_lc_rs::rand::SystemRandom::new();
    match alg {
        SigningAlg::RS256 => {
            let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("key");
            let mut sig = vec![0; key.public_modulus_len()];
            group.bench_function("raw_sign", |b| {
                b.iter(|| {
                    key.sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &rng, black_box(&msg), &mut sig)
                        .expect("sign");
                });
            });
            let public = aws_lc_rs::signature::UnparsedPublicKey::new(
                &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                key.public_key().as_ref().to_vec(),
            );
            group.bench_function("raw_verify", |b| {
                b.iter(|| public.verify(black_box(&msg), &sig).expect("verify"));
            });
        }
        // The bench measures the two algorithms of its loop only.
        SigningAlg::ES384 | SigningAlg::ES512 => unreachable!("not benchmarked"),
        SigningAlg::ES256 => {
            let key =
                aws_lc_rs::signature::EcdsaKeyPair::generate(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                    .expect("key");
            group.bench_function("raw_sign", |b| {
                b.iter(|| key.sign(&rng, black_box(&msg)).expect("sign"))
            });
            let sig = key.sign(&rng, &msg).expect("sign");
            let public = aws_lc_rs::signature::UnparsedPublicKey::new(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
                key.public_key().as_ref().to_vec(),
            );
            group.bench_function("raw_verify", |b| {
                b.iter(|| public.verify(black_box(&msg), sig.as_ref()).expect("verify"));
            });
        }
    }
}

criterion_group! {
    name = benches;
    // Short: `cargo xtask bench` wants the ratios, not publication-grade confidence intervals.
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(20);
    targets = request_path
}
criterion_main!(benches);
