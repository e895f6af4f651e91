//! The two servers under load: the embedded server (`kube-tokenrequest serve`, the release binary, as a child
//! process) and a real kube-apiserver with its etcd, both started and stopped by `tokenrequest-envtest` and reached
//! through the kubeconfig each writes, each prepared the same way (a namespace and a service account created
//! through the API) and driven by the same load generator.

use std::path::Path;

use anyhow::{Result, bail};
use tokenrequest_envtest::controlplane::{Binaries, ControlPlane, ControlPlaneConfig};
use tokenrequest_envtest::embedded::Serve;
use tokenrequest_envtest::http::{Endpoint, Request};
use tokenrequest_envtest::target::policy_from_spec;
use tokenrequest_types::policy::SigningAlg;

use super::load::Workload;

/// The namespace and service account every workload uses.
pub(crate) const NAMESPACE: &str = "tokenrequest-bench";
pub(crate) const SERVICE_ACCOUNT: &str = "issuer-bench";

/// The headers of every request the benchmarks send (JSON in, JSON out).
pub(crate) const JSON: &[(&str, &str)] = &[
    ("Content-Type", "application/json"),
    ("Accept", "application/json"),
    ("User-Agent", "kube-tokenrequest-bench"),
];

/// `kube-tokenrequest serve` on an ephemeral loopback port with a generated key of `alg` (`RS256` or `ES256`),
/// ready, and its endpoint.
pub(crate) fn start_embedded(bin: &Path, alg: &str) -> Result<(Serve, Endpoint)> {
    let policy = policy_from_spec(Some(&format!("alg={alg}")))?;
    let server = Serve::start(bin, &policy, &[])?;
    let endpoint = Endpoint::read_kubeconfig(server.kubeconfig())?;
    Ok((server, endpoint))
}

/// A real control plane (kube-apiserver + etcd) with an RSA-2048 service-account key, or why there is none.
pub(crate) fn start_real(version: &str) -> Result<(ControlPlane, Endpoint), String> {
    let bins = Binaries::locate(None, version).map_err(|e| e.to_string())?;
    let mut config = ControlPlaneConfig::new(bins);
    config.policy.signing_alg = SigningAlg::RS256;
    let cp = ControlPlane::start(&config).map_err(|e| format!("kube-apiserver did not start: {e}"))?;
    let endpoint = Endpoint::read_kubeconfig(cp.kubeconfig_path()).map_err(|e| e.to_string())?;
    Ok((cp, endpoint))
}

/// Creates the namespace and service account the workloads use (an existing one is fine).
pub(crate) fn prepare(endpoint: &Endpoint) -> Result<()> {
    let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}});
    let sa = serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SERVICE_ACCOUNT}});
    for (path, body) in [
        ("/api/v1/namespaces".to_owned(), ns),
        (format!("/api/v1/namespaces/{NAMESPACE}/serviceaccounts"), sa),
    ] {
        let body = body.to_string();
        let r = endpoint.send(&Request {
            headers: JSON,
            body: Some(body.as_bytes()),
            ..Request::new("POST", &path)
        })?;
        if r.status != 201 && r.status != 409 {
            bail!("POST {path}: HTTP {}: {}", r.status, String::from_utf8_lossy(&r.body));
        }
    }
    Ok(())
}

/// TokenRequest for the bench service account, default audiences and expiration.
pub(crate) fn token_requests() -> Workload {
    Workload {
        name: "TokenRequest",
        path: format!("/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{SERVICE_ACCOUNT}/token"),
        bodies: std::sync::Arc::new(vec![
            r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{}}"#.to_owned(),
        ]),
        status: 201,
        must_contain: "\"token\":\"",
    }
}

/// TokenReviews of `tokens` (issued by the same server), cycled through.
pub(crate) fn token_reviews(tokens: &[String]) -> Result<Workload> {
    if tokens.is_empty() {
        bail!("no tokens were collected to review");
    }
    let bodies = tokens
        .iter()
        .map(|t| {
            serde_json::json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": t}})
                .to_string()
        })
        .collect();
    Ok(Workload {
        name: "TokenReview",
        path: "/apis/authentication.k8s.io/v1/tokenreviews".to_owned(),
        bodies: std::sync::Arc::new(bodies),
        status: 201,
        must_contain: "\"authenticated\":true",
    })
}
