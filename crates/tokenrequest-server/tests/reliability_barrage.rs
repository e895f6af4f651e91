//! The bad-input barrage: malformed requests against an in-process server over real loopback HTTPS (HTTP/1.1 and
//! HTTP/2), and what must hold afterwards.
//!
//! Sent: random bytes, truncated and deeply nested JSON/YAML, wrong types, invalid UTF-8, bodies over the 3 MiB
//! limit, huge and numerous headers, bogus paths, queries and methods, and missing/invalid/tampered/`alg: none`/
//! HMAC/expired/not-yet-valid/wrong-kid/foreign-issuer tokens and tokens of deleted objects.
//! Required: no 5xx, no panic (a panic hook counts them, server tasks included), the server still answering, every
//! bad token refused (401 on the API, `authenticated` not true on TokenReview), and every stored namespace,
//! service account, pod, secret and node unchanged (uid and resourceVersion, listed before and after).
//!
//! `cargo test` runs a short, deterministic form (a few hundred requests, a few seconds). The full form (10,000 by
//! default, `RELIABILITY_BARRAGE_REQUESTS` to change) is `barrage_full`, ignored by default and run by
//! `cargo xtask reliability barrage`; both write their figures to `target/tmp/reliability-barrage-*.json`.
//!
//! Object creates carry `dryRun=All` and deletes name objects that do not exist (or carry `dryRun=All`): the
//! inputs are malformed, but a generator slip must not be what changes the store, so the store check stays
//! meaningful.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};
use tokenrequest_server::{Controllers, RunningServer, ServerConfig};

/// Panics anywhere in this process (the server's tasks run here too).
static PANICS: AtomicU64 = AtomicU64::new(0);

fn count_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// kube-apiserver's body limit (3 MiB); the barrage's huge bodies are beyond it.
const BODY_LIMIT: usize = 3 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barrage_short() {
    let figures = barrage(400, 0x5eed).await;
    figures.assert_clean();
    figures.write("short");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "the full barrage (10,000+ requests): cargo xtask reliability barrage"]
async fn barrage_full() {
    let requests = std::env::var("RELIABILITY_BARRAGE_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let figures = barrage(requests, 0xba77a6e).await;
    figures.write("full");
    figures.assert_clean();
}

/// What was sent and seen.
#[derive(Debug, Default, serde::Serialize)]
struct Figures {
    requests_sent: u64,
    /// Responses by class: 1xx..5xx.
    responses_2xx: u64,
    responses_3xx: u64,
    responses_4xx: u64,
    responses_5xx: u64,
    /// Transport errors on requests the server may legitimately cut short (bodies over the limit, oversized headers).
    transport_errors_expected: u64,
    /// Transport errors anywhere else: each is a failure.
    transport_errors_unexpected: u64,
    /// Requests sent a second time, on a fresh connection, because a kept-alive HTTP/1.1 connection was closed
    /// under them (hyper closes a connection whose request body a handler did not read, e.g. after a 401/404, and
    /// a pooled client may already have picked it for the next request). Only the retry's answer is judged.
    retried_after_keepalive_race: u64,
    /// Bad tokens that were accepted (API 2xx/403 instead of 401, or TokenReview `authenticated: true`).
    bad_tokens_accepted: u64,
    bad_tokens_sent: u64,
    panics: u64,
    objects_checked: usize,
    objects_changed: Vec<String>,
    still_answering: bool,
    seconds: f64,
    /// The first few failures, for the report (never a token: labels and status codes only).
    failures: Vec<String>,
}

impl Figures {
    fn assert_clean(&self) {
        assert!(self.requests_sent > 0);
        assert_eq!(self.responses_5xx, 0, "5xx responses: {:?}", self.failures);
        assert_eq!(self.panics, 0, "panics: {:?}", self.failures);
        assert_eq!(
            self.transport_errors_unexpected, 0,
            "transport errors: {:?}",
            self.failures
        );
        assert_eq!(self.bad_tokens_accepted, 0, "bad tokens accepted: {:?}", self.failures);
        assert!(
            self.objects_changed.is_empty(),
            "stored objects changed: {:?}",
            self.objects_changed
        );
        assert!(
            self.objects_checked >= 10,
            "only {} objects checked",
            self.objects_checked
        );
        assert!(self.still_answering, "the server stopped answering");
    }

    fn write(&self, form: &str) {
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("reliability-barrage-{form}.json"));
        let _ = std::fs::write(&path, serde_json::to_vec_pretty(self).unwrap_or_default());
        #[allow(
            clippy::print_stderr,
            reason = "the figures are the test's report; --nocapture shows them"
        )]
        {
            eprintln!(
                "barrage ({form}): {} requests, 2xx {}, 4xx {}, 5xx {}, transport errors {} expected / {} unexpected, \
                 bad tokens {} sent / {} accepted, panics {}, objects checked {} ({} changed), {:.1} s; figures in {}",
                self.requests_sent,
                self.responses_2xx,
                self.responses_4xx,
                self.responses_5xx,
                self.transport_errors_expected,
                self.transport_errors_unexpected,
                self.bad_tokens_sent,
                self.bad_tokens_accepted,
                self.panics,
                self.objects_checked,
                self.objects_changed.len(),
                self.seconds,
                path.display()
            );
        }
    }
}

/// The server, the admin credential, the signing key the test shares with the server, and the tokens to abuse.
struct Setup {
    server: RunningServer,
    admin: String,
    key_pem: String,
    /// A genuine token for `a/sa` bound to pod `a/p1`.
    genuine: String,
    /// Tokens whose service account / pod / secret was deleted before the barrage.
    orphaned: Vec<String>,
}

async fn setup() -> Setup {
    let key_pem = throwaway_key_pem();
    let mut config = ServerConfig::loopback();
    config.signing_key_pem = Some(key_pem.clone());
    // A bare kube-apiserver: no controller writes, so any change to the stored objects is the barrage's doing.
    config.controllers = Controllers::None;
    let server = tokenrequest_server::start(config).await.expect("server");
    let admin = server.admin_token().expose().to_owned();
    let client = https_client(server.ca_pem(), false);
    let url = server.url();
    let post = |path: &str, body: Value| {
        let request = client.post(format!("{url}{path}")).bearer_auth(&admin).json(&body);
        async move {
            let response = request.send().await.expect("setup request");
            assert!(response.status().is_success(), "setup {} failed", response.status());
            response.json::<Value>().await.expect("setup JSON")
        }
    };
    for ns in ["a", "b"] {
        post(
            "/api/v1/namespaces",
            json!({"metadata": {"name": ns, "labels": {"team": ns}}}),
        )
        .await;
        for sa in ["sa", "sa-gone"] {
            post(
                &format!("/api/v1/namespaces/{ns}/serviceaccounts"),
                json!({"metadata": {"name": sa}}),
            )
            .await;
        }
        for pod in ["p1", "p2", "p-gone"] {
            let body = json!({"metadata": {"name": pod, "labels": {"app": pod}},
                "spec": {"serviceAccountName": "sa", "nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]}});
            post(&format!("/api/v1/namespaces/{ns}/pods"), body).await;
        }
        for secret in ["s1", "s-gone"] {
            post(
                &format!("/api/v1/namespaces/{ns}/secrets"),
                json!({"metadata": {"name": secret}, "data": {"k": "dg=="}}),
            )
            .await;
        }
    }
    for node in ["n1", "n2"] {
        post("/api/v1/nodes", json!({"metadata": {"name": node}})).await;
    }
    let token = |sa: &str, bound: Value| {
        post(
            &format!("/api/v1/namespaces/a/serviceaccounts/{sa}/token"),
            json!({"spec": {"boundObjectRef": bound}}),
        )
    };
    let genuine = token("sa", json!({"kind": "Pod", "apiVersion": "v1", "name": "p1"})).await["status"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let mut orphaned = Vec::new();
    for (sa, bound) in [
        ("sa-gone", Value::Null),
        ("sa", json!({"kind": "Pod", "apiVersion": "v1", "name": "p-gone"})),
        ("sa", json!({"kind": "Secret", "apiVersion": "v1", "name": "s-gone"})),
    ] {
        let body = token(sa, bound).await;
        orphaned.push(body["status"]["token"].as_str().expect("token").to_owned());
    }
    for path in ["serviceaccounts/sa-gone", "pods/p-gone", "secrets/s-gone"] {
        let response = client
            .delete(format!("{url}/api/v1/namespaces/a/{path}"))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("delete");
        assert!(response.status().is_success(), "setup delete {path}");
    }
    Setup {
        server,
        admin,
        key_pem,
        genuine,
        orphaned,
    }
}

/// A fresh P-256 key as PKCS#8 PEM: the server signs with it, and so can the test (to forge tokens whose only
/// defect is in their claims or header).
fn throwaway_key_pem() -> String {
    let key = aws_lc_rs::signature::EcdsaKeyPair::generate(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING)
        .expect("key");
    let body = STANDARD.encode(key.to_pkcs8v1().expect("PKCS#8").as_ref());
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("ASCII"))
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

/// A client trusting only the server's CA; `h2` offers HTTP/2 by ALPN, else HTTP/1.1 only.
fn https_client(ca_pem: &str, h2: bool) -> reqwest::Client {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA certificate");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = if h2 {
        vec![b"h2".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Every stored object: `kind namespace/name` → `uid resourceVersion`.
async fn snapshot(client: &reqwest::Client, url: &str, admin: &str) -> BTreeMap<String, String> {
    let mut objects = BTreeMap::new();
    for kind in ["namespaces", "nodes", "serviceaccounts", "pods", "secrets"] {
        let list: Value = client
            .get(format!("{url}/api/v1/{kind}"))
            .bearer_auth(admin)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("list JSON");
        for item in list["items"].as_array().expect("items") {
            let meta = &item["metadata"];
            let key = format!(
                "{kind} {}/{}",
                meta["namespace"].as_str().unwrap_or(""),
                meta["name"].as_str().unwrap_or("")
            );
            let value = format!(
                "{} {}",
                meta["uid"].as_str().unwrap_or(""),
                meta["resourceVersion"].as_str().unwrap_or("")
            );
            objects.insert(key, value);
        }
    }
    objects
}

/// One malformed request, and what must come back besides "not 5xx".
struct Planned {
    method: reqwest::Method,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    bearer: Option<String>,
    body: Vec<u8>,
    /// What kind of abuse, for the report.
    label: &'static str,
    expect: Expect,
}

/// Headers beyond this many bytes may get the connection cut (see `Expect::MayCut`).
const HEADER_BYTES_SAFE: usize = 16 * 1024;
/// A body the server refuses before reading it (406, 415, 401, 403 come first) is not drained: a large one is cut
/// off mid-write (broken pipe), as Go's server does beyond 256 KiB. Such requests may see a transport error.
const BODY_BYTES_SAFE: usize = 256 * 1024;

impl Planned {
    /// Whether the request may end its connection, so it must not share one with other requests.
    fn isolated(&self) -> bool {
        self.expect == Expect::MayCut || self.header_bytes() > HEADER_BYTES_SAFE || self.body.len() > BODY_BYTES_SAFE
    }

    fn header_bytes(&self) -> usize {
        self.headers.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>() + self.bearer.as_ref().map_or(0, String::len)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Only "not 5xx".
    No5xx,
    /// The server may cut the connection (oversized body or headers) instead of answering. Over HTTP/2, a header
    /// list of 64 KiB or more makes the `h2` crate send GOAWAY (ENHANCE_YOUR_CALM), which also ends every other
    /// stream on that connection: such requests go on a connection of their own (see `Planned::isolated`).
    MayCut,
    /// A bad bearer token on the API: exactly 401.
    Unauthorized,
    /// A TokenReview of a bad token: 201 and not authenticated.
    NotAuthenticated,
}

/// Bodies that must decode cleanly if left alone; the barrage breaks them.
fn templates() -> Vec<(&'static str, Value)> {
    vec![
        (
            "/api/v1/namespaces/a/serviceaccounts/sa/token",
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"audiences": ["x", ISSUER], "expirationSeconds": 3607,
                     "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p1"}}}),
        ),
        (
            "/apis/authentication.k8s.io/v1/tokenreviews",
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
            "spec": {"token": "x.y.z", "audiences": [ISSUER]}}),
        ),
        (
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}),
        ),
        (
            "/api/v1/namespaces/a/pods?dryRun=All",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "new", "labels": {"x": "y"}},
            "spec": {"serviceAccountName": "sa", "containers": [{"name": "c", "image": "i", "args": ["a", "b"]}]}}),
        ),
        (
            "/api/v1/namespaces/a/secrets?dryRun=All",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "new"},
            "type": "Opaque", "data": {"k": "dmFsdWU="}}),
        ),
        (
            "/api/v1/namespaces/a/serviceaccounts?dryRun=All",
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "new"}}),
        ),
        (
            "/api/v1/namespaces?dryRun=All",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "new"}}),
        ),
        (
            "/api/v1/nodes?dryRun=All",
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "new"}}),
        ),
        (
            "/api/v1/namespaces/a/pods/p1?dryRun=All",
            json!({"apiVersion": "v1", "kind": "DeleteOptions",
            "preconditions": {"uid": "00000000-0000-0000-0000-000000000000"}, "propagationPolicy": "Background"}),
        ),
    ]
}

const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "text/plain",
    "application/json; charset=latin1",
    "multipart/form-data; boundary=x",
    "",
];

/// Every leaf path of a JSON value, as pointers (`/spec/audiences/0`).
fn leaf_pointers(value: &Value, prefix: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| leaf_pointers(v, format!("{prefix}/{k}"), out)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| leaf_pointers(v, format!("{prefix}/{i}"), out)),
        _ => {}
    }
    out.push(prefix);
}

fn wrong_value(rng: &mut StdRng) -> Value {
    match rng.random_range(0..9) {
        0 => json!(null),
        1 => json!(true),
        2 => json!(-1),
        3 => json!(1.5e308),
        4 => json!(u64::MAX),
        5 => json!("string"),
        6 => json!([]),
        7 => json!({"unexpected": {"deep": [1, "two", null]}}),
        _ => json!("\u{0}\u{feff}\u{10ffff}"),
    }
}

fn random_bytes(rng: &mut StdRng, max: usize) -> Vec<u8> {
    let len = rng.random_range(0..=max);
    (0..len).map(|_| rng.random()).collect()
}

/// The generator: one request per call, deterministic for a given rng.
struct Generator {
    admin: String,
    templates: Vec<(&'static str, Value)>,
    bad_tokens: Vec<(&'static str, String)>,
}

impl Generator {
    fn plan(&self, rng: &mut StdRng) -> Planned {
        let (template_path, template) = &self.templates[rng.random_range(0..self.templates.len())];
        let method = if template_path.contains("/pods/p1") {
            reqwest::Method::DELETE
        } else {
            reqwest::Method::POST
        };
        let content_type = CONTENT_TYPES[rng.random_range(0..CONTENT_TYPES.len())];
        let mut planned = Planned {
            method,
            path: (*template_path).to_owned(),
            headers: if content_type.is_empty() {
                Vec::new()
            } else {
                vec![("content-type".to_owned(), content_type.as_bytes().to_vec())]
            },
            bearer: Some(self.admin.clone()),
            body: Vec::new(),
            label: "",
            expect: Expect::No5xx,
        };
        let text = template.to_string();
        match rng.random_range(0..100) {
            0..=11 => {
                planned.label = "random bytes";
                planned.body = random_bytes(rng, 512);
            }
            12..=21 => {
                planned.label = "truncated JSON";
                let cut = rng.random_range(0..text.len());
                planned.body = text.as_bytes()[..cut].to_vec();
            }
            22..=27 => {
                planned.label = "deeply nested JSON/YAML";
                // Up to 100,000 deep: YAML nesting once took quadratic time (`deeply_nested_yaml_is_refused_quickly`).
                let depth = [64, 129, 1_000, 10_000, 100_000][rng.random_range(0..5)];
                let (open, close) =
                    [("[", "]"), ("{\"a\":", "}"), ("{\"spec\":", "}"), ("- ", "")][rng.random_range(0..4)];
                let mut body = open.repeat(depth);
                body.push_str("{}");
                body.push_str(&close.repeat(depth));
                if rng.random_bool(0.3) {
                    body.truncate(body.len() / 2);
                }
                planned.body = body.into_bytes();
            }
            28..=41 => {
                planned.label = "wrong types";
                let mut value = template.clone();
                let mut pointers = Vec::new();
                leaf_pointers(&value, String::new(), &mut pointers);
                for _ in 0..rng.random_range(1..=3) {
                    let pointer = &pointers[rng.random_range(0..pointers.len())];
                    let replacement = wrong_value(rng);
                    match value.pointer_mut(pointer) {
                        Some(slot) => *slot = replacement,
                        None => value = replacement,
                    }
                }
                planned.body = value.to_string().into_bytes();
            }
            42..=49 => {
                planned.label = "invalid UTF-8";
                let mut body = text.into_bytes();
                for _ in 0..rng.random_range(1..=4) {
                    let at = rng.random_range(0..body.len());
                    body.insert(at, [0xff, 0xc0, 0xed, 0x80][rng.random_range(0..4)]);
                }
                planned.body = body;
            }
            50..=51 => {
                planned.label = "body over 3 MiB";
                planned.expect = Expect::MayCut;
                let mut body = b"{\"metadata\":{\"name\":\"".to_vec();
                body.resize(BODY_LIMIT + rng.random_range(1..=512 * 1024), b'a');
                planned.body = body;
            }
            52..=55 => {
                planned.label = "huge or numerous headers";
                planned.expect = Expect::MayCut;
                planned.body = text.into_bytes();
                if rng.random_bool(0.5) {
                    let size = [8 * 1024, 64 * 1024, 512 * 1024, 2 * 1024 * 1024][rng.random_range(0..4)];
                    planned.headers.push(("x-huge".to_owned(), vec![b'h'; size]));
                } else {
                    for i in 0..rng.random_range(50..400) {
                        planned.headers.push((format!("x-many-{i}"), b"v".to_vec()));
                    }
                }
            }
            56..=65 => {
                planned.label = "bogus path or query";
                planned.body = text.into_bytes();
                planned.path = self.bogus_path(rng);
                planned.method = if rng.random_bool(0.5) {
                    reqwest::Method::GET
                } else {
                    reqwest::Method::POST
                };
            }
            66..=71 => {
                planned.label = "bogus method";
                planned.body = text.into_bytes();
                let methods = ["PUT", "PATCH", "OPTIONS", "HEAD", "TRACE", "PROPFIND", "FOO", "GET"];
                planned.method = reqwest::Method::from_bytes(methods[rng.random_range(0..methods.len())].as_bytes())
                    .expect("method");
                if rng.random_bool(0.5) {
                    planned.path = [
                        "/api/v1/namespaces/a/pods/p1",
                        "/api/v1/namespaces/a",
                        "/api/v1/nodes/n1",
                        "/api/v1/namespaces/a/serviceaccounts/sa/token",
                        "/apis/authentication.k8s.io/v1/tokenreviews",
                    ][rng.random_range(0..5)]
                    .to_owned();
                }
            }
            72..=85 => {
                let (label, token) = &self.bad_tokens[rng.random_range(0..self.bad_tokens.len())];
                planned.label = label;
                planned.bearer = Some(token.clone());
                planned.expect = Expect::Unauthorized;
                planned.method = reqwest::Method::GET;
                planned.path = [
                    "/api/v1/namespaces",
                    "/api/v1/namespaces/a/pods",
                    "/api",
                    "/openid/v1/jwks",
                ][rng.random_range(0..4)]
                .to_owned();
                if rng.random_bool(0.3) {
                    planned.method = reqwest::Method::POST;
                    planned.path = "/api/v1/namespaces/a/serviceaccounts/sa/token".to_owned();
                    planned.body = br#"{"spec":{}}"#.to_vec();
                }
            }
            86..=97 => {
                let (label, token) = &self.bad_tokens[rng.random_range(0..self.bad_tokens.len())];
                planned.label = label;
                planned.expect = Expect::NotAuthenticated;
                planned.method = reqwest::Method::POST;
                planned.path = "/apis/authentication.k8s.io/v1/tokenreviews".to_owned();
                planned.headers = vec![("content-type".to_owned(), b"application/json".to_vec())];
                let audiences = if rng.random_bool(0.5) {
                    json!([ISSUER])
                } else {
                    json!(null)
                };
                planned.body = json!({"spec": {"token": token, "audiences": audiences}})
                    .to_string()
                    .into_bytes();
            }
            _ => {
                planned.label = "missing or malformed Authorization";
                planned.method = reqwest::Method::GET;
                planned.path = "/api/v1/namespaces".to_owned();
                planned.bearer = None;
                let values: [&[u8]; 6] = [
                    b"",
                    b"Bearer",
                    b"Bearer ",
                    b"Basic YWRtaW46YWRtaW4=",
                    b"bearer x",
                    b"Bearer \xff\xfe",
                ];
                let value = values[rng.random_range(0..values.len())];
                if !value.is_empty() {
                    planned.headers.push(("authorization".to_owned(), value.to_vec()));
                }
            }
        }
        planned
    }

    fn bogus_path(&self, rng: &mut StdRng) -> String {
        let segment = |rng: &mut StdRng| -> String {
            let pieces = [
                "..",
                ".",
                "%2e%2e",
                "%00",
                "%ff%fe",
                "a",
                "p1",
                "pods",
                "token",
                "namespaces",
                "%2F",
                "~",
                "a b",
                "%",
                "%zz",
                "\u{e9}",
                "status",
                "watch",
                "long",
            ];
            match pieces[rng.random_range(0..pieces.len())] {
                "long" => "x".repeat(300),
                piece => piece.to_owned(),
            }
        };
        let mut path = [
            "/api/v1/namespaces/a/",
            "/apis/",
            "/api/v1/",
            "/",
            "/openid/",
            "/.well-known/",
            "//",
        ][rng.random_range(0..7)]
        .to_owned();
        let segments: Vec<String> = (0..rng.random_range(0..8)).map(|_| segment(rng)).collect();
        path.push_str(&segments.join("/"));
        let queries = [
            "",
            "?labelSelector=((((",
            "?labelSelector=a%20in%20(",
            "?fieldSelector=spec.x%3Dy",
            "?dryRun=%ff",
            "?watch=true",
            "?fieldValidation=Bogus",
            "?limit=-1&continue=%00",
            "?dryRun=All&dryRun=Bogus",
            "?a=b&&&===&",
        ];
        path.push_str(queries[rng.random_range(0..queries.len())]);
        // The body is a valid template: a bogus path that happens to be a real collection must not create anything.
        // (A DELETE is never sent here, so no existing object can be named for deletion either.)
        path.push_str(if path.contains('?') {
            "&dryRun=All"
        } else {
            "?dryRun=All"
        });
        path.replace(' ', "%20")
    }
}

/// Bad tokens: each is refused by kube-apiserver for its own reason (R21).
fn bad_tokens(setup: &Setup) -> Vec<(&'static str, String)> {
    let genuine = &setup.genuine;
    let [header, claims, signature]: [&str; 3] = genuine.split('.').collect::<Vec<_>>().try_into().expect("a JWT");
    let decode = |part: &str| -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
    };
    let header_json = decode(header);
    let claims_json = decode(claims);
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let key = EncodingKey::from_ec_pem(setup.key_pem.as_bytes()).expect("key");
    let sign = |kid: Option<&str>, claims: &Value| {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &key).expect("sign")
    };
    let kid = header_json["kid"].as_str();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let with = |changes: &[(&str, Value)]| {
        let mut claims = claims_json.clone();
        for (key, value) in changes {
            claims[*key] = value.clone();
        }
        claims
    };
    let mut flipped = signature.as_bytes().to_vec();
    flipped[5] = if flipped[5] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).expect("ASCII");
    let public_pem = {
        use aws_lc_rs::encoding::AsDer as _;
        use aws_lc_rs::signature::KeyPair as _;
        let der = STANDARD
            .decode(
                setup
                    .key_pem
                    .lines()
                    .filter(|l| !l.starts_with("-----"))
                    .collect::<String>(),
            )
            .expect("PEM");
        let key = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &der,
        )
        .expect("key");
        let spki = key.public_key().as_der().expect("SPKI");
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(spki.as_ref())
        )
    };
    let mut hs256 = Header::new(Algorithm::HS256);
    hs256.kid = kid.map(str::to_owned);
    let hmac =
        jsonwebtoken::encode(&hs256, &claims_json, &EncodingKey::from_secret(public_pem.as_bytes())).expect("HMAC");
    let none_header = encode(&json!({"alg": "none", "kid": kid}));
    let mut tokens = vec![
        ("garbage token", "not-a-jwt".to_owned()),
        ("two-part token", format!("{header}.{claims}")),
        ("truncated token", genuine[..genuine.len() - 10].to_owned()),
        ("tampered signature", format!("{header}.{claims}.{flipped}")),
        (
            "tampered claims",
            format!(
                "{header}.{}.{signature}",
                encode(&with(&[("sub", json!("system:serviceaccount:b:sa"))]))
            ),
        ),
        ("alg none", format!("{none_header}.{claims}.")),
        (
            "alg none, genuine signature",
            format!("{none_header}.{claims}.{signature}"),
        ),
        ("HS256 with the public key", hmac),
        ("wrong kid", sign(Some("not-the-kid"), &claims_json)),
        (
            "foreign issuer",
            sign(kid, &with(&[("iss", json!("https://evil.example"))])),
        ),
        (
            "expired",
            sign(
                kid,
                &with(&[
                    ("exp", json!(now - 3600)),
                    ("iat", json!(now - 7200)),
                    ("nbf", json!(now - 7200)),
                ]),
            ),
        ),
        (
            "not yet valid",
            sign(kid, &with(&[("nbf", json!(now + 3600)), ("iat", json!(now + 3600))])),
        ),
        (
            "foreign audience",
            sign(kid, &with(&[("aud", json!(["https://elsewhere.example"]))])),
        ),
        ("huge token", format!("{header}.{}.{signature}", "A".repeat(100_000))),
    ];
    for orphan in &setup.orphaned {
        tokens.push(("token of a deleted object", orphan.clone()));
    }
    tokens
}

async fn send(client: &reqwest::Client, url: &str, planned: &Planned) -> Result<(u16, Value), reqwest::Error> {
    let mut request = client.request(planned.method.clone(), format!("{url}{}", planned.path));
    if let Some(token) = &planned.bearer {
        request = request.bearer_auth(token);
    }
    for (name, value) in &planned.headers {
        if let Ok(value) = reqwest::header::HeaderValue::from_bytes(value) {
            request = request.header(name.as_str(), value);
        }
    }
    let response = request.body(planned.body.clone()).send().await?;
    let code = response.status().as_u16();
    let bytes = response.bytes().await?;
    Ok((code, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

async fn barrage(requests: u64, seed: u64) -> Figures {
    count_panics();
    let panics_before = PANICS.load(Ordering::SeqCst);
    let started = Instant::now();
    let setup = setup().await;
    let url = setup.server.url();
    let clients = [
        https_client(setup.server.ca_pem(), false),
        https_client(setup.server.ca_pem(), true),
    ];
    let before = snapshot(&clients[0], &url, &setup.admin).await;
    let generator = Arc::new(Generator {
        admin: setup.admin.clone(),
        templates: templates(),
        bad_tokens: bad_tokens(&setup),
    });

    let workers = 16u64;
    let figures = Arc::new(std::sync::Mutex::new(Figures::default()));
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..workers {
        let share = requests / workers + u64::from(worker < requests % workers);
        // Half the workers speak HTTP/1.1, half HTTP/2 (each half shares one pool, as real clients do).
        let h2 = worker % 2 == 1;
        let client = clients[usize::from(h2)].clone();
        let (generator, figures, url, ca) = (
            generator.clone(),
            figures.clone(),
            url.clone(),
            setup.server.ca_pem().to_owned(),
        );
        tasks.spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed.wrapping_add(worker));
            for _ in 0..share {
                let planned = generator.plan(&mut rng);
                let mut outcome = if planned.isolated() {
                    send(&https_client(&ca, h2), &url, &planned).await
                } else {
                    send(&client, &url, &planned).await
                };
                if outcome.as_ref().is_err_and(keepalive_race) && !planned.isolated() {
                    figures.lock().expect("figures").retried_after_keepalive_race += 1;
                    outcome = send(&https_client(&ca, h2), &url, &planned).await;
                }
                record(&mut figures.lock().expect("figures"), &planned, outcome);
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.expect("a barrage worker panicked");
    }

    let mut figures = std::mem::take(&mut *figures.lock().expect("figures"));
    let fresh = https_client(setup.server.ca_pem(), false);
    let health = fresh
        .get(format!("{url}/healthz"))
        .send()
        .await
        .map(|r| r.status().is_success())
        .unwrap_or(false);
    let token_ok = fresh
        .post(format!("{url}/api/v1/namespaces/b/serviceaccounts/sa/token"))
        .bearer_auth(&setup.admin)
        .json(&json!({"spec": {}}))
        .send()
        .await
        .map(|r| r.status().as_u16() == 201)
        .unwrap_or(false);
    figures.still_answering = health && token_ok;
    let after = snapshot(&fresh, &url, &setup.admin).await;
    figures.objects_checked = before.len();
    for (key, value) in &before {
        if after.get(key) != Some(value) {
            figures
                .objects_changed
                .push(format!("{key}: {value} -> {:?}", after.get(key)));
        }
    }
    for key in after.keys().filter(|k| !before.contains_key(*k)) {
        figures.objects_changed.push(format!("{key}: created"));
    }
    figures.panics = PANICS.load(Ordering::SeqCst) - panics_before;
    figures.seconds = started.elapsed().as_secs_f64();
    setup.server.shutdown().await;
    figures
}

fn record(figures: &mut Figures, planned: &Planned, outcome: Result<(u16, Value), reqwest::Error>) {
    figures.requests_sent += 1;
    let bad_token = matches!(planned.expect, Expect::Unauthorized | Expect::NotAuthenticated);
    if bad_token {
        figures.bad_tokens_sent += 1;
    }
    let fail = |figures: &mut Figures, what: String| {
        if figures.failures.len() < 20 {
            figures.failures.push(format!("{}: {what}", planned.label));
        }
    };
    let (code, body) = match outcome {
        Ok(answer) => answer,
        Err(error) => {
            if planned.isolated() {
                figures.transport_errors_expected += 1;
            } else {
                figures.transport_errors_unexpected += 1;
                // reqwest's error names the URL (no token: tokens travel in headers and bodies only).
                fail(
                    figures,
                    format!(
                        "{} {}: transport error {}",
                        planned.method,
                        planned.path,
                        error_chain(&error)
                    ),
                );
            }
            return;
        }
    };
    match code / 100 {
        2 => figures.responses_2xx += 1,
        3 => figures.responses_3xx += 1,
        4 => figures.responses_4xx += 1,
        _ => {
            figures.responses_5xx += 1;
            fail(figures, format!("{} {} -> {code}", planned.method, planned.path));
        }
    }
    match planned.expect {
        Expect::Unauthorized if code != 401 => {
            figures.bad_tokens_accepted += 1;
            fail(
                figures,
                format!("{} {} -> {code}, expected 401", planned.method, planned.path),
            );
        }
        Expect::NotAuthenticated if code != 201 || body["status"]["authenticated"] == json!(true) => {
            figures.bad_tokens_accepted += 1;
            fail(
                figures,
                format!(
                    "TokenReview -> {code}, authenticated {}",
                    body["status"]["authenticated"]
                ),
            );
        }
        _ => {}
    }
}

/// hyper's "connection closed before message completed": the request was written on a connection the server had
/// already decided to close.
fn keepalive_race(error: &reqwest::Error) -> bool {
    error_chain(error).contains("connection closed before message completed")
}

/// A regression test for a problem the barrage found: YAML flow mappings nested N deep took time quadratic in N to
/// parse (serde_yaml / unsafe-libyaml), synchronously on a runtime worker, so one body well under the 3 MiB limit
/// pinned a core for minutes and stalled other requests (depth 30,000: ~3.5 s; 100,000: ~40 s, debug build). Fixed
/// by bounding the nesting before parsing, as go-yaml does since CVE-2022-3064 (the server does the same in `decode.rs`).
#[tokio::test]
async fn deeply_nested_yaml_is_refused_quickly() {
    let state = tokenrequest_server::AppState::new(&ServerConfig::loopback()).expect("state");
    let admin = state.admin_token().expose().to_owned();
    let app = tokenrequest_server::router(state);
    let depth = 30_000;
    let body = format!("{}{{}}{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    let request = http::Request::post("/apis/authentication.k8s.io/v1/tokenreviews")
        .header("content-type", "application/yaml")
        .header("authorization", format!("Bearer {admin}"))
        .body(axum::body::Body::from(body))
        .expect("request");
    let started = Instant::now();
    let response = tower::ServiceExt::oneshot(app, request).await.expect("infallible");
    let elapsed = started.elapsed();
    assert_eq!(response.status(), http::StatusCode::BAD_REQUEST);
    assert!(
        elapsed < Duration::from_millis(500),
        "a {depth}-deep YAML body took {elapsed:?}"
    );
}

/// An error and its sources on one line (reqwest's own message hides the cause).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
