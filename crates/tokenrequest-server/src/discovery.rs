//! Discovery and health: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/authentication.k8s.io[/v1]`, and
//! `/healthz`, `/livez`, `/readyz`. Only the legacy (unaggregated) form is served: kubectl and kube-rs ask for
//! aggregated discovery first (`as=APIGroupDiscoveryList`) and fall back to this when the answer is plain JSON.
//! Only the verbs this server implements are advertised.

use axum::Json;
use http::HeaderMap;
use serde_json::{Value, json};

use crate::decode;
use crate::error::ApiError;

/// The `gitVersion` reported by `/version`: the Kubernetes API level of k8s-openapi's `latest` feature, marked as
/// this server.
pub const GIT_VERSION: &str = "v1.37.0-tokenrequest";

const OBJECT_VERBS: &[&str] = &["create", "delete", "get", "list"];

/// `GET /healthz`, `/livez`, `/readyz`: plain `ok`.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /version` (staging/src/k8s.io/apimachinery/pkg/version/types.go `Info`).
pub async fn version() -> Json<Value> {
    Json(json!({
        "major": "1",
        "minor": "37",
        "emulationMajor": "1",
        "emulationMinor": "37",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "36",
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "n/a (Rust)",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
    }))
}

/// `GET /api`.
pub async fn api_versions(headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    decode::negotiate_output(&headers)?;
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_owned();
    Ok(Json(json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
    })))
}

/// `GET /api/v1`: the core resources, with the `serviceaccounts/token` subresource.
pub async fn core_v1(headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    decode::negotiate_output(&headers)?;
    let resource = |name: &str, singular: &str, namespaced: bool, kind: &str, short: &[&str]| {
        let mut r = json!({
            "name": name, "singularName": singular, "namespaced": namespaced, "kind": kind, "verbs": OBJECT_VERBS,
        });
        if !short.is_empty() {
            r["shortNames"] = json!(short);
        }
        r
    };
    Ok(Json(json!({
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            resource("namespaces", "namespace", false, "Namespace", &["ns"]),
            resource("nodes", "node", false, "Node", &["no"]),
            resource("pods", "pod", true, "Pod", &["po"]),
            resource("secrets", "secret", true, "Secret", &[]),
            resource("serviceaccounts", "serviceaccount", true, "ServiceAccount", &["sa"]),
            {"name": "serviceaccounts/token", "singularName": "", "namespaced": true,
             "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest", "verbs": ["create"]},
        ],
    })))
}

fn authentication_group() -> Value {
    let version = json!({"groupVersion": "authentication.k8s.io/v1", "version": "v1"});
    json!({"name": "authentication.k8s.io", "versions": [version.clone()], "preferredVersion": version})
}

/// `GET /apis`.
pub async fn api_groups(headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    decode::negotiate_output(&headers)?;
    Ok(Json(
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [authentication_group()]}),
    ))
}

/// `GET /apis/authentication.k8s.io`.
pub async fn authentication_api_group(headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    decode::negotiate_output(&headers)?;
    let mut group = authentication_group();
    group["kind"] = json!("APIGroup");
    group["apiVersion"] = json!("v1");
    Ok(Json(group))
}

/// `GET /apis/authentication.k8s.io/v1`.
pub async fn authentication_v1(headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    decode::negotiate_output(&headers)?;
    Ok(Json(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "authentication.k8s.io/v1",
        "resources": [
            {"name": "selfsubjectreviews", "singularName": "selfsubjectreview", "namespaced": false,
             "kind": "SelfSubjectReview", "verbs": ["create"]},
            {"name": "tokenreviews", "singularName": "tokenreview", "namespaced": false,
             "kind": "TokenReview", "verbs": ["create"]},
        ],
    })))
}

/// `GET /openapi/v3`: the index of OpenAPI v3 documents, listing only the core group. kubectl (1.29+) reads it to
/// learn whether the server validates fields itself (`fieldValidation`), before `create -f`.
pub async fn openapi_v3_index(headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    decode::negotiate_output(&headers)?;
    Ok(Json(
        json!({"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=kube-tokenrequest"}}}),
    ))
}

/// `GET /openapi/v3/api/v1`: a minimal document. It carries only what kubectl's field-validation check
/// (k8s.io/cli-runtime/pkg/resource/query_param_verifier_v3.go) looks at: per kind, a path whose PATCH operation is
/// tagged with the kind and takes the `fieldValidation` query parameter, so that kubectl leaves validation to the
/// server. Schemas are not served (kube-apiserver's full document is not reproduced).
pub async fn openapi_v3_core(headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    decode::negotiate_output(&headers)?;
    let mut paths = serde_json::Map::new();
    for (kind, path) in [
        ("Namespace", "/api/v1/namespaces/{name}"),
        ("Node", "/api/v1/nodes/{name}"),
        ("Pod", "/api/v1/namespaces/{namespace}/pods/{name}"),
        ("Secret", "/api/v1/namespaces/{namespace}/secrets/{name}"),
        (
            "ServiceAccount",
            "/api/v1/namespaces/{namespace}/serviceaccounts/{name}",
        ),
    ] {
        paths.insert(
            path.to_owned(),
            json!({"patch": {
                "x-kubernetes-group-version-kind": {"group": "", "version": "v1", "kind": kind},
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                "responses": {},
            }}),
        );
    }
    Ok(Json(
        json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": GIT_VERSION}, "paths": paths}),
    ))
}
