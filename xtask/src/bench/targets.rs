//! The two servers under load: the embedded server (`kube-tokenrequest serve`, the release binary, as a child
//! process) and a real kube-apiserver with its etcd (started through `xtask::controlplane`), each prepared the
//! same way (a namespace and a service account created through the API) and driven by the same load generator.

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;

use super::https::{Connection, Endpoint};
use super::load::Workload;

/// The namespace and service account every workload uses.
pub(crate) const NAMESPACE: &str = "tokenrequest-bench";
pub(crate) const SERVICE_ACCOUNT: &str = "issuer-bench";

/// `kube-tokenrequest serve` on an ephemeral loopback port; stopped (SIGTERM) when dropped.
pub(crate) struct EmbeddedServer {
    child: Child,
    _dir: tempfile::TempDir,
    pub(crate) endpoint: Endpoint,
}

impl EmbeddedServer {
    /// Starts the server with a generated key of `alg` (`RS256` or `ES256`) and waits for its kubeconfig.
    pub(crate) fn start(bin: &Path, alg: &str) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("tokenrequest-bench-").tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        let log = std::fs::File::create(dir.path().join("serve.log"))?;
        let mut child = Command::new(bin)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--signing-alg",
                alg,
                "--write-kubeconfig",
            ])
            .arg(&kubeconfig)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        // The contract: one `listening on https://ADDR` line once ready, the kubeconfig written before it.
        let mut line = String::new();
        let stdout = child.stdout.take().context("serve's stdout")?;
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        if !line.starts_with("listening on https://") {
            let _ = child.kill();
            bail!(
                "`serve` did not print its listening line; its log:\n{}",
                std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default()
            );
        }
        let endpoint = endpoint_from_kubeconfig(&std::fs::read_to_string(&kubeconfig)?)?;
        Ok(Self {
            child,
            _dir: dir,
            endpoint,
        })
    }

    /// The server's process id (for a profiler to attach to).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}

/// SIGTERM, then SIGKILL after 5 s.
pub(crate) fn stop_child(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let pid = rustix::process::Pid::from_child(child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The server address, CA and bearer token of a kubeconfig as `serve` writes it (one cluster, one user).
fn endpoint_from_kubeconfig(yaml: &str) -> Result<Endpoint> {
    let doc: serde_yaml::Value = serde_yaml::from_str(yaml).context("parsing the kubeconfig")?;
    let cluster = &doc["clusters"][0]["cluster"];
    let server = cluster["server"].as_str().context("kubeconfig: no server")?;
    let ca_b64 = cluster["certificate-authority-data"]
        .as_str()
        .context("kubeconfig: no certificate-authority-data")?;
    let ca_pem = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(ca_b64)?)?;
    let token = doc["users"][0]["user"]["token"]
        .as_str()
        .context("kubeconfig: no user token")?;
    Endpoint::new(address_of(server)?, &ca_pem, token)
}

/// `https://127.0.0.1:PORT` → the socket address.
pub(crate) fn address_of(url: &str) -> Result<SocketAddr> {
    url.strip_prefix("https://")
        .and_then(|a| a.trim_end_matches('/').parse().ok())
        .with_context(|| format!("not an https://IP:PORT URL: {url}"))
}

/// A real control plane (kube-apiserver + etcd) with an RSA-2048 service-account key, or why there is none.
pub(crate) fn start_real(version: &str) -> Result<(xtask::controlplane::ControlPlane, Endpoint), String> {
    use xtask::controlplane::{Binaries, ControlPlane, ControlPlaneConfig, SigningAlg};
    let bins = Binaries::locate(None, version).map_err(|e| format!("{e:#}"))?;
    let mut config = ControlPlaneConfig::new(bins);
    config.policy.signing_alg = SigningAlg::Rs256;
    let cp = ControlPlane::start(&config).map_err(|e| format!("kube-apiserver did not start: {e:#}"))?;
    let endpoint = address_of(cp.server_url())
        .and_then(|addr| Endpoint::new(addr, cp.ca_pem(), cp.admin_token()))
        .map_err(|e| format!("{e:#}"))?;
    Ok((cp, endpoint))
}

/// Creates the namespace and service account the workloads use (an existing one is fine).
pub(crate) fn prepare(endpoint: &Endpoint) -> Result<()> {
    let mut conn = Connection::open(endpoint)?;
    let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}});
    let sa = serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SERVICE_ACCOUNT}});
    for (path, body) in [
        ("/api/v1/namespaces".to_owned(), ns),
        (format!("/api/v1/namespaces/{NAMESPACE}/serviceaccounts"), sa),
    ] {
        let r = conn.post(&path, &body.to_string())?;
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
