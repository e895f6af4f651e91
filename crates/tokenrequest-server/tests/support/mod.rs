//! Test support: the router driven through `tower::ServiceExt::oneshot` (no sockets), with a fixture of objects
//! every TokenRequest test needs.

#![allow(dead_code)]

use axum::body::Body;
use http::{HeaderMap, Method, Request, StatusCode};
use serde_json::{Value, json};
use tokenrequest_server::{AppState, ServerConfig, router};
use tokenrequest_types::policy::SigningAlg;
use tower::ServiceExt as _;

/// The default issuer, which is also the default API audience.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// A response, decoded.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The `Status` message of an error reply.
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or_default()
    }

    /// The `Warning` header values.
    pub fn warnings(&self) -> Vec<String> {
        self.headers
            .get_all(http::header::WARNING)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// `status.token` of a TokenRequest reply.
    pub fn token(&self) -> String {
        self.body["status"]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token in {}", self.body))
            .to_owned()
    }
}

/// One server state and its admin token.
pub struct Api {
    pub state: AppState,
    token: String,
}

impl Api {
    /// kube-apiserver's defaults, but an ES256 key (see `with`).
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    /// Defaults changed by `change`.
    pub fn with(change: impl FnOnce(&mut ServerConfig)) -> Self {
        let mut config = ServerConfig::loopback();
        // ES256 keys are generated in microseconds, RSA-2048 keys in tens of milliseconds: tests that are not about
        // the algorithm use ES256 (those that are set RS256 themselves) to keep `cargo test` fast.
        config.signing_alg = SigningAlg::ES256;
        change(&mut config);
        Self::for_state(AppState::new(&config).expect("state"))
    }

    /// Requests to `state`, e.g. a started server's.
    pub fn for_state(state: AppState) -> Self {
        let token = state.admin_token().expose().to_owned();
        Self { state, token }
    }

    /// A request as admin.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let token = self.token.clone();
        self.raw(
            method,
            path,
            body.map(|b| b.to_string().into_bytes()),
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await
    }

    /// A request with a bearer token of the caller's choice (`None`: anonymous).
    pub async fn call_as(&self, token: Option<&str>, method: Method, path: &str, body: Option<Value>) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = match &auth {
            Some(a) => vec![("authorization", a.as_str())],
            None => vec![("x-anonymous", "1")],
        };
        self.raw(method, path, body.map(|b| b.to_string().into_bytes()), &headers)
            .await
    }

    /// A request with raw body bytes and headers, as admin unless `headers` has its own authorization.
    pub async fn raw(&self, method: Method, path: &str, body: Option<Vec<u8>>, headers: &[(&str, &str)]) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        let admin = format!("Bearer {}", self.token);
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            && !headers.iter().any(|(k, _)| *k == "x-anonymous")
        {
            request = request.header("authorization", admin);
        }
        if body.is_some() && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            request = request.header("content-type", "application/json");
        }
        for (k, v) in headers.iter().filter(|(k, _)| *k != "x-anonymous") {
            request = request.header(*k, *v);
        }
        let request = request.body(body.map(Body::from).unwrap_or_else(Body::empty)).unwrap();
        let response = router(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Reply { status, headers, body }
    }

    /// Creates an object; panics unless 201.
    pub async fn create(&self, path: &str, object: Value) -> Value {
        let reply = self.call(Method::POST, path, Some(object)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{path}: {}", reply.body);
        reply.body
    }

    /// Namespace `ns`, service accounts `sa` and `other`, node `node1`, pods `web` (of `sa`, on `node1`),
    /// `lonely` (of `sa`, on a node that does not exist), `stranger` (of `other`), secret `s`.
    pub async fn fixture(&self) -> Fixture {
        self.create("/api/v1/namespaces", json!({"metadata": {"name": "ns"}}))
            .await;
        let sa = self
            .create(
                "/api/v1/namespaces/ns/serviceaccounts",
                json!({"metadata": {"name": "sa"}}),
            )
            .await;
        self.create(
            "/api/v1/namespaces/ns/serviceaccounts",
            json!({"metadata": {"name": "other"}}),
        )
        .await;
        let node = self
            .create("/api/v1/nodes", json!({"metadata": {"name": "node1"}}))
            .await;
        let pod = |name: &str, sa: &str, node: &str| {
            json!({"metadata": {"name": name}, "spec": {"serviceAccountName": sa, "nodeName": node,
                   "containers": [{"name": "c", "image": "busybox"}]}})
        };
        let web = self
            .create("/api/v1/namespaces/ns/pods", pod("web", "sa", "node1"))
            .await;
        self.create("/api/v1/namespaces/ns/pods", pod("lonely", "sa", "ghost-node"))
            .await;
        self.create("/api/v1/namespaces/ns/pods", pod("stranger", "other", "node1"))
            .await;
        let secret = self
            .create(
                "/api/v1/namespaces/ns/secrets",
                json!({"metadata": {"name": "s"}, "stringData": {"k": "v"}}),
            )
            .await;
        let uid = |v: &Value| v["metadata"]["uid"].as_str().unwrap().to_owned();
        Fixture {
            sa_uid: uid(&sa),
            pod_uid: uid(&web),
            node_uid: uid(&node),
            secret_uid: uid(&secret),
        }
    }

    /// `POST .../serviceaccounts/{sa}/token` in namespace `ns`.
    pub async fn token_request(&self, sa: &str, body: Value) -> Reply {
        self.call(
            Method::POST,
            &format!("/api/v1/namespaces/ns/serviceaccounts/{sa}/token"),
            Some(body),
        )
        .await
    }

    /// A TokenReview of `token` for `audiences`.
    pub async fn review(&self, token: &str, audiences: &[&str]) -> Reply {
        let mut spec = json!({"token": token});
        if !audiences.is_empty() {
            spec["audiences"] = json!(audiences);
        }
        self.call(
            Method::POST,
            "/apis/authentication.k8s.io/v1/tokenreviews",
            Some(json!({"spec": spec})),
        )
        .await
    }
}

/// The uids of the fixture's objects.
pub struct Fixture {
    pub sa_uid: String,
    pub pod_uid: String,
    pub node_uid: String,
    pub secret_uid: String,
}

/// The claims of a JWT, decoded without verification (tests only).
pub fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// The JOSE header of a JWT.
pub fn header(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').next().expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Seconds since the epoch of an RFC 3339 timestamp.
pub fn seconds(rfc3339: &Value) -> i64 {
    rfc3339
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_second()
}
