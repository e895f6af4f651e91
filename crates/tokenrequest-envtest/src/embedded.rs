//! The embedded target: `tokenrequest-server` with a given token policy, either in this process ([`InProcess`],
//! on a runtime of its own so it outlives any caller's runtime) or as a child process ([`Serve`]:
//! `kube-tokenrequest serve`, exactly as a user runs it). Either way it is known to its users only through the
//! kubeconfig it writes.
//!
//! [`Serve`] relies on the `serve` contract: it prints `listening on https://ADDR` on stdout once ready and writes
//! the kubeconfig atomically (temp file + rename), so "line seen and file present" means ready. Its output goes to
//! `server.log` in the target's temp dir, quoted when it fails to start.

use std::fs::File;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

use tokenrequest_server::{Fault, RunningServer, ServerConfig};
use tokenrequest_types::policy::{DEFAULT_ISSUER, TokenPolicy};

use crate::error::{Context, Error, Result};
use crate::pki::RetiredKey;
use crate::supervisor::{Stopped, Supervised};

/// How long `serve` may take from spawn to ready.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// SIGTERM → SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The server configuration for a policy: kube-apiserver's defaults with the policy's flags, and `retired_keys`
/// (see [`crate::pki::retired_keys`]) as verification keys when the policy has `keys` > 1.
pub fn server_config(policy: &TokenPolicy, fault: Option<Fault>, retired_keys: &[RetiredKey]) -> ServerConfig {
    let mut config = ServerConfig::loopback();
    config.previous_issuers.clone_from(&policy.previous_issuers);
    config.retired_keys_pem = retired_keys.iter().map(|key| key.private_pem.clone()).collect();
    config.api_audiences = Some(policy.audiences.api_audiences().to_vec());
    config.max_token_expiration = policy
        .expiration
        .max_seconds
        .map(|s| Duration::from_secs(s.unsigned_abs()));
    config.extend_token_expiration = policy.expiration.extend;
    config.signing_alg = policy.signing_alg;
    config.fault = fault;
    config
}

/// The `serve` flags for `policy`, after `serve --listen 127.0.0.1:0 --write-kubeconfig PATH`; `retired_key_files`
/// hold the retired keys of a `keys` > 1 policy.
pub fn serve_args(policy: &TokenPolicy, retired_key_files: &[PathBuf]) -> Vec<String> {
    let mut args = Vec::new();
    if !policy.previous_issuers.is_empty() {
        // The first --issuer issues; the target's own issuer is the default one.
        args.push(format!("--issuer={DEFAULT_ISSUER}"));
        args.extend(
            policy
                .previous_issuers
                .iter()
                .map(|issuer| format!("--issuer={issuer}")),
        );
    }
    args.extend(
        retired_key_files
            .iter()
            .map(|file| format!("--service-account-key-file={}", file.display())),
    );
    if let Some(max) = policy.expiration.max_seconds {
        args.push(format!("--max-token-expiration={max}s"));
    }
    args.push(format!("--extend-token-expiration={}", policy.expiration.extend));
    args.push(format!(
        "--api-audiences={}",
        policy.audiences.api_audiences().join(",")
    ));
    args.push(format!("--signing-alg={}", policy.signing_alg));
    args
}

/// One multi-threaded runtime hosts every in-process server. Each `#[tokio::test]` has its own runtime that ends
/// with the test; a server spawned there would die with it.
fn server_runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::io::Result<tokio::runtime::Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("embedded-apiserver")
                .enable_all()
                .build()
        })
        .as_ref()
        .map_err(|e| format_err!("cannot build the embedded server's runtime: {e}"))
}

/// A server running in this process and its kubeconfig file. Dropping it stops the server (without waiting).
pub struct InProcess {
    server: Option<RunningServer>,
    kubeconfig: tempfile::NamedTempFile,
}

impl InProcess {
    /// Starts a server with `config` on its own runtime and writes its kubeconfig to a temporary file.
    pub async fn start(config: ServerConfig) -> Result<Self> {
        let server = server_runtime()?
            .spawn(tokenrequest_server::start(config))
            .await
            .context("the embedded server's start task")?
            .context("the embedded server did not start")?;
        let mut kubeconfig = tempfile::Builder::new()
            .prefix("trc-embedded-")
            .suffix(".kubeconfig")
            .tempfile()
            .context("the embedded server's kubeconfig")?;
        kubeconfig.write_all(server.kubeconfig_yaml().as_bytes())?;
        kubeconfig.flush()?;
        Ok(Self {
            server: Some(server),
            kubeconfig,
        })
    }

    /// The kubeconfig file: from here on the server is a target like any other.
    pub fn kubeconfig(&self) -> &Path {
        self.kubeconfig.path()
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let (Some(server), Ok(runtime)) = (self.server.take(), server_runtime()) {
            // Shutting down needs the server's own runtime; do not wait for it.
            runtime.spawn(server.shutdown());
        }
    }
}

/// A running `kube-tokenrequest serve` child process.
pub struct Serve {
    process: Supervised,
    url: String,
    kubeconfig: PathBuf,
    retired_keys: Vec<RetiredKey>,
    // Held for its Drop: removes the kubeconfig and the log when the server is stopped.
    _dir: tempfile::TempDir,
}

impl Serve {
    /// Starts `binary serve` with `policy` (and `extra` flags) and waits until it is ready.
    pub fn start(binary: &Path, policy: &TokenPolicy, extra: &[&str]) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("kube-tokenrequest-embedded-")
            .tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        let log_path = dir.path().join("server.log");
        let retired_keys = crate::pki::retired_keys(policy.signing_alg, policy.keys.saturating_sub(1))?;
        let mut retired_key_files = Vec::new();
        for (i, key) in retired_keys.iter().enumerate() {
            let file = dir.path().join(format!("sa-retired-{i}.key"));
            std::fs::write(&file, &key.private_pem)?;
            retired_key_files.push(file);
        }
        let log = File::create(&log_path)?;
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--write-kubeconfig"])
            .arg(&kubeconfig)
            .args(serve_args(policy, &retired_key_files))
            .args(extra)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.try_clone()?);
        let mut process = Supervised::spawn_configured("kube-tokenrequest serve", command, &log_path, STOP_GRACE)?;
        let stdout = process
            .child_mut()
            .and_then(|child| child.stdout.take())
            .context("serve's stdout")?;

        // The server's stdout must be drained for its whole life (a full pipe would block it); the
        // thread copies it to the log and hands over the first `listening on` line.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut log = log;
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(log, "{line}");
                if let Some(url) = line.strip_prefix("listening on ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });

        let mut url = None;
        process.wait_until(Instant::now() + START_TIMEOUT, "kube-tokenrequest serve", || {
            if url.is_none() {
                url = rx.try_recv().ok();
            }
            Ok(url.is_some() && kubeconfig.is_file())
        })?;
        let url = url.context("serve printed no `listening on` line")?;
        Ok(Self {
            process,
            url,
            kubeconfig,
            retired_keys,
            _dir: dir,
        })
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The kubeconfig the server wrote.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The retired keys the server verifies with (`keys=N`).
    pub fn retired_keys(&self) -> &[RetiredKey] {
        &self.retired_keys
    }

    /// SIGTERM, then SIGKILL after a grace period (an error: `serve` stops on SIGTERM).
    pub fn stop(self) -> Result<()> {
        match self.process.stop()? {
            Stopped::Gracefully => Ok(()),
            Stopped::Killed => Err(Error::Failed(format!(
                "kube-tokenrequest serve did not stop within {STOP_GRACE:?} of SIGTERM and was killed"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::policy_from_spec;

    #[test]
    fn serve_flags_follow_the_policy() {
        let policy = policy_from_spec(Some("max=24h,extend=false,audiences=a,b,alg=ES256")).unwrap();
        insta::assert_snapshot!(serve_args(&policy, &[]).join("\n"), @r"
        --max-token-expiration=86400s
        --extend-token-expiration=false
        --api-audiences=a,b
        --signing-alg=ES256
        ");
        let defaults = policy_from_spec(None).unwrap();
        insta::assert_snapshot!(serve_args(&defaults, &[]).join("\n"), @r"
        --extend-token-expiration=true
        --api-audiences=https://kubernetes.default.svc.cluster.local
        --signing-alg=RS256
        ");
        let rotated = policy_from_spec(Some("issuers=https://old.example,keys=2")).unwrap();
        insta::assert_snapshot!(serve_args(&rotated, &[PathBuf::from("/tmp/sa-retired-0.key")]).join("\n"), @r"
        --issuer=https://kubernetes.default.svc.cluster.local
        --issuer=https://old.example
        --service-account-key-file=/tmp/sa-retired-0.key
        --extend-token-expiration=true
        --api-audiences=https://kubernetes.default.svc.cluster.local
        --signing-alg=RS256
        ");
    }
}
