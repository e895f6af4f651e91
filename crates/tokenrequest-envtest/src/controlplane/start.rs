//! Starts and stops a loopback control plane: etcd, then kube-apiserver, each a [`Supervised`] child process
//! with its log in a file, waiting for readiness with a bounded timeout; stopped in reverse order (kube-apiserver
//! before etcd: stopping both at once left kube-apiserver hanging on SIGTERM), and the same (plus removal of the
//! temp dir) when dropped, so a failed start or a panic leaves nothing behind.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokenrequest_types::kubeconfig;
use tokenrequest_types::token::Token;

use super::ControlPlaneConfig;
use super::flags::{self, Files};
use crate::error::{Context, Result};
use crate::http;
use crate::pki::{Pki, RetiredKey};
use crate::supervisor::Supervised;

/// How long a process gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A running etcd + kube-apiserver on 127.0.0.1. Stops (and cleans up) on [`stop`](Self::stop)
/// or when dropped.
pub struct ControlPlane {
    dir: Option<tempfile::TempDir>,
    log_dir: PathBuf,
    controller_manager: Option<Supervised>,
    apiserver: Option<Supervised>,
    etcd: Option<Supervised>,
    server_url: String,
    api_addr: SocketAddr,
    tls: Option<Arc<rustls::ClientConfig>>,
    kubeconfig: PathBuf,
    ca_pem: String,
    issuer: String,
    admin_token: Token,
    /// The retired service-account keys (key rotation), for tests that sign old tokens.
    retired_keys: Vec<RetiredKey>,
    started_in: Duration,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The admin token is left out on purpose.
        f.debug_struct("ControlPlane")
            .field("server_url", &self.server_url)
            .field("kubeconfig", &self.kubeconfig)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver and waits until the API is ready: anonymous `/readyz` is
    /// 200 and the `default` namespace exists. Then writes the kubeconfig.
    pub fn start(config: &ControlPlaneConfig) -> Result<Self> {
        let t0 = Instant::now();
        let controller_manager = config.controllers.then_some(&config.binaries.kube_controller_manager);
        for bin in [&config.binaries.etcd, &config.binaries.kube_apiserver]
            .into_iter()
            .chain(controller_manager)
        {
            if !bin.is_file() {
                fail!(
                    "control plane binary {} does not exist: run `kube-tokenrequest controlplane build`",
                    bin.display()
                );
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("kube-tokenrequest-controlplane-")
            .tempdir()
            .context("creating the control plane's temp dir")?;
        let log_dir = match &config.log_dir {
            Some(d) => d.clone(),
            None => dir.path().join("logs"),
        };
        std::fs::create_dir_all(&log_dir).with_context(|| format!("creating {}", log_dir.display()))?;

        let retired = config.policy.keys.saturating_sub(1);
        let pki = Pki::generate(config.policy.signing_alg, retired)?;
        let files = Files::under(dir.path(), retired);
        for (file, key) in files.retired_pub.iter().zip(&pki.retired) {
            write_private(file, &key.public_pem)?;
        }
        write_private(&files.ca_cert, &pki.ca_pem)?;
        write_private(&files.serving_cert, &pki.serving_cert_pem)?;
        write_private(&files.serving_key, &pki.serving_key_pem)?;
        write_private(&files.sa_key, &pki.sa_key_pem)?;
        write_private(&files.sa_pub, &pki.sa_public_pem)?;
        write_private(&files.token_file, &flags::token_file_line(pki.admin_token.expose()))?;

        let [etcd_client, etcd_peer, secure_port] = free_ports()?;
        let server_url = format!("https://127.0.0.1:{secure_port}");
        // From here on, Drop cleans up whatever was started.
        let mut cp = ControlPlane {
            kubeconfig: dir.path().join("kubeconfig"),
            dir: Some(dir),
            log_dir,
            controller_manager: None,
            apiserver: None,
            etcd: None,
            server_url,
            api_addr: SocketAddr::from(([127, 0, 0, 1], secure_port)),
            tls: None,
            ca_pem: pki.ca_pem.clone(),
            issuer: config.issuer.clone(),
            admin_token: pki.admin_token.clone(),
            retired_keys: pki.retired.clone(),
            started_in: Duration::ZERO,
        };
        let deadline = t0 + config.start_timeout;

        let data_dir = cp.tmp().join("etcd-data");
        let etcd_log = cp.log_dir.join("etcd.log");
        let mut etcd_cmd = Command::new(&config.binaries.etcd);
        etcd_cmd.args(flags::etcd_args(&data_dir, etcd_client, etcd_peer));
        let etcd = cp
            .etcd
            .insert(Supervised::spawn("etcd", etcd_cmd, &etcd_log, STOP_GRACE)?);
        let etcd_addr = SocketAddr::from(([127, 0, 0, 1], etcd_client));
        etcd.wait_until(deadline, "etcd /health", || {
            let r = http::request(etcd_addr, None, "GET", "/health", None, None)?;
            Ok(r.status == 200 && r.body.replace(' ', "").contains("\"health\":\"true\""))
        })?;

        let mut apiserver_cmd = Command::new(&config.binaries.kube_apiserver);
        apiserver_cmd
            .args(flags::apiserver_args(
                &files,
                etcd_client,
                secure_port,
                &config.issuer,
                &config.policy,
            ))
            .args(&config.extra_apiserver_args);
        let apiserver_log = cp.log_dir.join("kube-apiserver.log");
        let apiserver = cp.apiserver.insert(Supervised::spawn(
            "kube-apiserver",
            apiserver_cmd,
            &apiserver_log,
            STOP_GRACE,
        )?);
        let api_addr = SocketAddr::from(([127, 0, 0, 1], secure_port));
        let tls = Arc::new(http::client_config_trusting_pem(pki.ca_pem.as_bytes())?);
        let token = pki.admin_token.clone();
        apiserver.wait_until(deadline, "kube-apiserver /readyz", || {
            Ok(http::request(api_addr, Some(&tls), "GET", "/readyz", None, None)?.status == 200)
        })?;
        // What Kubernetes' own test server waits for after /readyz.
        apiserver.wait_until(deadline, "the default namespace", || {
            let r = http::request(
                api_addr,
                Some(&tls),
                "GET",
                "/api/v1/namespaces/default",
                Some(&token),
                None,
            )?;
            Ok(r.status == 200)
        })?;
        if config.anonymous_discovery {
            bind_anonymous_discovery(api_addr, &tls, &token)?;
        }

        let yaml = kubeconfig::render("kube-apiserver", &cp.server_url, &cp.ca_pem, &token);
        let tmp = cp.kubeconfig.with_extension("tmp");
        write_private(&tmp, &yaml)?;
        std::fs::rename(&tmp, &cp.kubeconfig)?;

        if let Some(binary) = controller_manager {
            let mut command = Command::new(binary);
            command.args(flags::controller_manager_args(&files, &cp.kubeconfig));
            let log = cp.log_dir.join("kube-controller-manager.log");
            let controller_manager =
                cp.controller_manager
                    .insert(Supervised::spawn("kube-controller-manager", command, &log, STOP_GRACE)?);
            // Its service-account controller has run once the `default` namespace has its `default` account.
            controller_manager.wait_until(deadline, "the default service account", || {
                let path = "/api/v1/namespaces/default/serviceaccounts/default";
                Ok(http::request(api_addr, Some(&tls), "GET", path, Some(&token), None)?.status == 200)
            })?;
        }
        cp.tls = Some(tls);
        cp.started_in = t0.elapsed();
        Ok(cp)
    }

    /// The kubeconfig (cluster with CA data, user with the admin bearer token, one context).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// `https://127.0.0.1:PORT`.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The CA certificate (PEM) that signed the serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The service-account issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The retired service-account keys kube-apiserver still verifies with (`keys=N` in the policy): what a test
    /// signs "pre-rotation" tokens with.
    pub fn retired_keys(&self) -> &[RetiredKey] {
        &self.retired_keys
    }

    /// The admin bearer token (group `system:masters`). A secret: never print it.
    pub fn admin_token(&self) -> &Token {
        &self.admin_token
    }

    /// One request to the API as the admin user (`body`: JSON). For bootstrap objects and
    /// tests; the conformance suite itself talks to the server through the kubeconfig.
    pub fn api_request(&self, method: &str, path: &str, body: Option<&str>) -> Result<http::Response> {
        let tls = self.tls.as_ref().context("the control plane is not started")?;
        http::request(self.api_addr, Some(tls), method, path, Some(&self.admin_token), body)
    }

    /// Where the processes' logs are (inside the temp dir unless `log_dir` was given).
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// From `start` being called to the API being ready.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Stops kube-apiserver, then etcd (SIGTERM, SIGKILL after 10 s), and removes the temp dir.
    pub fn stop(mut self) -> Result<()> {
        self.shutdown()
    }

    fn tmp(&self) -> &Path {
        self.dir.as_ref().expect("temp dir lives until shutdown").path()
    }

    fn shutdown(&mut self) -> Result<()> {
        // Every step is tried; the first error is reported (kube-apiserver killed after ignoring SIGTERM is not
        // one: its data dir goes with the temp dir).
        let mut first_err = None;
        // The controller manager first, kube-apiserver before etcd (stopping them at once left kube-apiserver
        // hanging on SIGTERM: docs/KIND.md).
        let children = [self.controller_manager.take(), self.apiserver.take(), self.etcd.take()];
        for child in children.into_iter().flatten() {
            if let Err(e) = child.stop() {
                first_err.get_or_insert(e);
            }
        }
        if let Some(dir) = self.dir.take()
            && let Err(e) = dir.close()
        {
            first_err.get_or_insert(e.into());
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Lets unauthenticated clients read OIDC discovery, as some clusters do (not the default).
fn bind_anonymous_discovery(addr: SocketAddr, tls: &Arc<rustls::ClientConfig>, token: &Token) -> Result<()> {
    let body = serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "kube-tokenrequest:anonymous-issuer-discovery"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "system:service-account-issuer-discovery"
        },
        "subjects": [{
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Group",
            "name": "system:unauthenticated"
        }]
    })
    .to_string();
    let r = http::request(
        addr,
        Some(tls),
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        Some(token),
        Some(&body),
    )?;
    if r.status != 201 && r.status != 409 {
        fail!(
            "creating the anonymous discovery binding: HTTP {}: {}",
            r.status,
            r.body
        );
    }
    Ok(())
}

/// Three distinct free loopback ports (all held open while choosing, then released).
fn free_ports() -> Result<[u16; 3]> {
    let listeners = [
        TcpListener::bind("127.0.0.1:0")?,
        TcpListener::bind("127.0.0.1:0")?,
        TcpListener::bind("127.0.0.1:0")?,
    ];
    let mut ports = [0u16; 3];
    for (port, l) in ports.iter_mut().zip(&listeners) {
        *port = l.local_addr()?.port();
    }
    Ok(ports)
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct() {
        let [a, b, c] = free_ports().unwrap();
        assert!(a != b && b != c && a != c);
    }
}
