//! Fuzzes the embedded server's request handling end to end, through the real router: decoding of TokenRequest,
//! TokenReview, SelfSubjectReview and object bodies (JSON, YAML, protobuf, unknown media types), create options in
//! the query, content negotiation, and bearer-token authentication of arbitrary `Authorization` headers.
//!
//! Input layout: byte 0 picks the endpoint, byte 1 the Content-Type, byte 2 the caller and the query/Accept
//! variants; the rest is the body (or, for the header-auth endpoints, the token). The property: no panic, and
//! never a 5xx (a malformed request is the client's fault: 4xx, or a 201 TokenReview saying "not authenticated").
//!
//! Object creates and deletes carry `dryRun=All`, so the in-memory store does not grow over millions of runs and
//! every input meets the same objects.

#![no_main]

use std::sync::LazyLock;

use axum::Router;
use axum::body::Body;
use http::{Method, Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use tokenrequest_server::{AppState, ServerConfig, router};
use tokenrequest_types::policy::SigningAlg;
use tower::ServiceExt as _;

/// The router, the admin token and a genuine service-account token, made once per fuzzing process.
struct Fixture {
    runtime: tokio::runtime::Runtime,
    app: Router,
    admin: String,
    sa_token: String,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let mut config = ServerConfig::loopback();
    // ES256 signs faster than RS256: more inputs per second on the paths that issue tokens.
    config.signing_alg = SigningAlg::ES256;
    let state = AppState::new(&config).expect("server state");
    let admin = state.admin_token().expose().to_owned();
    let app = router(state);
    let sa_token = runtime.block_on(populate(&app, &admin));
    Fixture {
        runtime,
        app,
        admin,
        sa_token,
    }
});

/// A namespace `ns` with service account `sa`, a pod `p` running as `sa` on node `n`, a secret `s`.
async fn populate(app: &Router, admin: &str) -> String {
    let objects = [
        ("/api/v1/namespaces", json!({"metadata": {"name": "ns"}})),
        ("/api/v1/nodes", json!({"metadata": {"name": "n"}})),
        (
            "/api/v1/namespaces/ns/serviceaccounts",
            json!({"metadata": {"name": "sa"}}),
        ),
        (
            "/api/v1/namespaces/ns/pods",
            json!({"metadata": {"name": "p"}, "spec": {"serviceAccountName": "sa", "nodeName": "n",
                "containers": [{"name": "c", "image": "busybox"}]}}),
        ),
        ("/api/v1/namespaces/ns/secrets", json!({"metadata": {"name": "s"}})),
    ];
    for (path, body) in objects {
        let (code, _) = send(
            app,
            Method::POST,
            path,
            Some(admin),
            "application/json",
            body.to_string().into_bytes(),
        )
        .await;
        assert_eq!(code, StatusCode::CREATED, "setting up {path}");
    }
    let request = json!({"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p"}}});
    let path = "/api/v1/namespaces/ns/serviceaccounts/sa/token";
    let (code, body) = send(
        app,
        Method::POST,
        path,
        Some(admin),
        "application/json",
        request.to_string().into_bytes(),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "setting up a token");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("TokenRequest JSON");
    body["status"]["token"].as_str().expect("a token").to_owned()
}

async fn send(
    app: &Router,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let mut request = Request::builder().method(method).uri(path);
    if !content_type.is_empty() {
        request = request.header("content-type", content_type);
    }
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body)).expect("request"))
        .await
        .expect("infallible");
    let code = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (code, bytes.to_vec())
}

const ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/api/v1/namespaces/ns/serviceaccounts/sa/token"),
    ("POST", "/apis/authentication.k8s.io/v1/tokenreviews"),
    ("POST", "/api/v1/namespaces/ns/pods?dryRun=All"),
    ("POST", "/api/v1/namespaces/ns/secrets?dryRun=All"),
    ("POST", "/api/v1/namespaces/ns/serviceaccounts?dryRun=All"),
    ("POST", "/api/v1/namespaces?dryRun=All"),
    ("POST", "/api/v1/nodes?dryRun=All"),
    ("DELETE", "/api/v1/namespaces/ns/pods/p?dryRun=All"),
    ("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews"),
    ("POST", "/api/v1/namespaces/missing/serviceaccounts/sa/token"),
    // The body is the bearer token of a GET.
    ("GET", "/api"),
    // The body is the token inside an otherwise well-formed TokenReview.
    ("POST", "/apis/authentication.k8s.io/v1/tokenreviews#token"),
];

const CONTENT_TYPES: &[&str] = &[
    "",
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/json; charset=utf-8",
    "text/plain",
    "application/apply-patch+yaml",
    "APPLICATION/JSON",
];

const QUERIES: &[&str] = &[
    "",
    "fieldValidation=Strict",
    "fieldValidation=Ignore",
    "dryRun=Bogus",
    "pretty=true&fieldManager=x",
];

fuzz_target!(|data: &[u8]| {
    let [route, content_type, flags, rest @ ..] = data else {
        return;
    };
    let fixture = &*FIXTURE;
    let (method, path) = ENDPOINTS[usize::from(*route) % ENDPOINTS.len()];
    let content_type = CONTENT_TYPES[usize::from(*content_type) % CONTENT_TYPES.len()];
    let query = QUERIES[usize::from(flags >> 2) % QUERIES.len()];
    let caller = match flags & 0b11 {
        0 => Some(fixture.admin.as_str()),
        1 => Some(fixture.sa_token.as_str()),
        2 => Some("not-a-token"),
        _ => None,
    };
    let method: Method = method.parse().expect("a method");
    let fixture_path;
    let (path, bearer, body) = match path {
        "/api" => {
            // A header value cannot hold every byte; what it cannot hold never reaches the server either.
            let Ok(token) = std::str::from_utf8(rest) else { return };
            if http::HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
                return;
            }
            ("/api".to_owned(), Some(token), Vec::new())
        }
        p if p.ends_with("#token") => {
            let token = String::from_utf8_lossy(rest);
            let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                "spec": {"token": token, "audiences": ["https://kubernetes.default.svc.cluster.local"]}});
            (
                p.trim_end_matches("#token").to_owned(),
                Some(fixture.admin.as_str()),
                body.to_string().into_bytes(),
            )
        }
        p => {
            fixture_path = if query.is_empty() {
                p.to_owned()
            } else if p.contains('?') {
                format!("{p}&{query}")
            } else {
                format!("{p}?{query}")
            };
            (fixture_path, caller, rest.to_vec())
        }
    };
    let (code, response) = fixture
        .runtime
        .block_on(send(&fixture.app, method, &path, bearer, content_type, body));
    assert!(
        !code.is_server_error(),
        "{code} for {path} ({content_type:?}): {}",
        String::from_utf8_lossy(&response)
    );
});
