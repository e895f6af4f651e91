//! Renders the kubeconfig of a control plane: one cluster (server URL + CA data), one user
//! (bearer token), one context, `current-context` set — the contract in DESIGN.md.

use base64::Engine as _;
use serde_json::json;

/// The kubeconfig YAML for `server` (e.g. `https://127.0.0.1:PORT`), trusting `ca_pem`, as
/// `token`. The name is used for the cluster, the user and the context alike.
pub(crate) fn render(name: &str, server: &str, ca_pem: &str, token: &str) -> String {
    let ca_data = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": name,
            "cluster": { "server": server, "certificate-authority-data": ca_data },
        }],
        "users": [{ "name": name, "user": { "token": token } }],
        "contexts": [{
            "name": name,
            "context": { "cluster": name, "user": name },
        }],
        "current-context": name,
        "preferences": {},
    });
    serde_yaml::to_string(&doc).expect("a JSON value always serializes as YAML")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_shape() {
        let yaml = render(
            "kube-apiserver",
            "https://127.0.0.1:6443",
            "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
            "not-a-real-token",
        );
        insta::assert_snapshot!(yaml);
        let parsed: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(parsed["current-context"], "kube-apiserver");
        assert_eq!(parsed["users"][0]["user"]["token"], "not-a-real-token");
    }
}
