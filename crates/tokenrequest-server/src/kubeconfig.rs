//! The kubeconfig handed to clients: one cluster (server URL + CA data), one user (the admin bearer token), one
//! context, current-context set (DESIGN.md contract).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use tokenrequest_types::token::Token;

/// The names used for the cluster, user and context.
pub const CLUSTER_NAME: &str = "kube-tokenrequest";

/// Renders a kubeconfig for `server_url` (e.g. `https://127.0.0.1:6443`) trusting `ca_pem`, authenticating with
/// `token`.
pub fn kubeconfig_yaml(server_url: &str, ca_pem: &str, token: &Token) -> String {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CLUSTER_NAME, "cluster": {
            "server": server_url,
            "certificate-authority-data": STANDARD.encode(ca_pem),
        }}],
        "users": [{"name": CLUSTER_NAME, "user": {"token": token.expose()}}],
        "contexts": [{"name": CLUSTER_NAME, "context": {"cluster": CLUSTER_NAME, "user": CLUSTER_NAME}}],
        "current-context": CLUSTER_NAME,
        "preferences": {},
    });
    // Serializing a JSON value to YAML cannot fail.
    serde_yaml::to_string(&config).unwrap_or_default()
}
