//! The kubeconfig file, written and read in one place: the shape every server of this project hands out (one
//! cluster with the CA inline, one user with a bearer token, one context, `current-context` set) and the reading
//! of the endpoint a raw client needs (server URL, CA, token) from any kubeconfig that names them inline.
//!
//! Pure text in, text out: writing the file (atomically, mode 0600) is the caller's job. kube-rs reads
//! kubeconfigs for API clients; this reader exists for the few raw requests (readiness, benchmarks, the
//! differential) that need the server, CA and token as values.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::token::Token;

/// Why a kubeconfig could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubeconfigError {
    /// Not YAML (or JSON) at all.
    #[error("not YAML: {0}")]
    Syntax(String),
    /// A required entry is missing or has the wrong type.
    #[error("no {0} in it")]
    Missing(&'static str),
    /// `certificate-authority-data` is not base64 of UTF-8 PEM.
    #[error("certificate-authority-data is not base64 of a PEM text")]
    CaData,
}

/// What a raw client needs from a kubeconfig: the current context's server, CA and bearer token.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://127.0.0.1:PORT`.
    pub server: String,
    /// The CA to trust (PEM), from `certificate-authority-data`.
    pub ca_pem: Option<String>,
    /// The user's bearer token.
    pub token: Option<Token>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("server", &self.server)
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "<pem>"))
            .field("token", &self.token)
            .finish()
    }
}

/// The kubeconfig YAML for `server`, trusting `ca_pem`, authenticating with `token`; `name` names the cluster,
/// the user and the context alike.
pub fn render(name: &str, server: &str, ca_pem: &str, token: &Token) -> String {
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": STANDARD.encode(ca_pem)}}],
        "users": [{"name": name, "user": {"token": token.expose()}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "preferences": {},
    });
    // A JSON value always serializes as YAML.
    serde_yaml::to_string(&doc).unwrap_or_default()
}

/// The endpoint of the current context (or of the first context when none is current).
pub fn parse(text: &str) -> Result<Endpoint, KubeconfigError> {
    let doc: Value = serde_yaml::from_str(text).map_err(|e| KubeconfigError::Syntax(e.to_string()))?;
    let contexts = doc["contexts"].as_array().ok_or(KubeconfigError::Missing("contexts"))?;
    let context = match doc["current-context"].as_str() {
        Some(current) if !current.is_empty() => contexts
            .iter()
            .find(|c| c["name"] == current)
            .ok_or(KubeconfigError::Missing("context named by current-context"))?,
        _ => contexts.first().ok_or(KubeconfigError::Missing("context"))?,
    };
    let named = |list: &'static str, name: &Value| -> Option<Value> {
        doc[list].as_array()?.iter().find(|e| e["name"] == *name).cloned()
    };
    let cluster = named("clusters", &context["context"]["cluster"]).ok_or(KubeconfigError::Missing("cluster"))?;
    let server = cluster["cluster"]["server"]
        .as_str()
        .ok_or(KubeconfigError::Missing("cluster server"))?
        .to_owned();
    let ca_pem = match cluster["cluster"]["certificate-authority-data"].as_str() {
        Some(data) => Some(
            STANDARD
                .decode(data.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or(KubeconfigError::CaData)?,
        ),
        None => None,
    };
    let token =
        named("users", &context["context"]["user"]).and_then(|user| user["user"]["token"].as_str().map(Token::new));
    Ok(Endpoint { server, ca_pem, token })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n";

    #[test]
    fn render_then_parse_round_trips() {
        let yaml = render(
            "kube-apiserver",
            "https://127.0.0.1:6443",
            CA,
            &Token::new("not-a-real-token"),
        );
        insta::assert_snapshot!(yaml, @r"
        apiVersion: v1
        clusters:
        - cluster:
            certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkFBPT0KLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=
            server: https://127.0.0.1:6443
          name: kube-apiserver
        contexts:
        - context:
            cluster: kube-apiserver
            user: kube-apiserver
          name: kube-apiserver
        current-context: kube-apiserver
        kind: Config
        preferences: {}
        users:
        - name: kube-apiserver
          user:
            token: not-a-real-token
        ");
        let endpoint = parse(&yaml).unwrap();
        assert_eq!(endpoint.server, "https://127.0.0.1:6443");
        assert_eq!(endpoint.ca_pem.as_deref(), Some(CA));
        assert_eq!(endpoint.token.as_ref().map(Token::expose), Some("not-a-real-token"));
        assert!(!format!("{endpoint:?}").contains("not-a-real-token"));
    }

    #[test]
    fn the_current_context_decides() {
        let yaml = r"
contexts:
- {name: a, context: {cluster: one, user: u1}}
- {name: b, context: {cluster: two, user: u2}}
current-context: b
clusters:
- {name: one, cluster: {server: 'https://one'}}
- {name: two, cluster: {server: 'https://two'}}
users:
- {name: u2, user: {token: t2}}
";
        let endpoint = parse(yaml).unwrap();
        assert_eq!(endpoint.server, "https://two");
        assert_eq!(endpoint.ca_pem, None);
        assert_eq!(endpoint.token.as_ref().map(Token::expose), Some("t2"));
    }

    #[test]
    fn bad_kubeconfigs_say_what_is_missing() {
        assert_eq!(parse("clusters: []").unwrap_err().to_string(), "no contexts in it");
        assert!(matches!(parse("[").unwrap_err(), KubeconfigError::Syntax(_)));
        let no_cluster = "contexts: [{name: a, context: {cluster: x}}]\ncurrent-context: a";
        assert_eq!(parse(no_cluster).unwrap_err().to_string(), "no cluster in it");
    }
}
