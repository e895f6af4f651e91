//! The embedded target: `kube-tokenrequest serve` on 127.0.0.1 with the requested policy.
//!
//! Relies on the `serve` contract in DESIGN.md: it prints `listening on https://ADDR` on stdout
//! once ready and writes the kubeconfig atomically (temp file + rename), so "line seen and file
//! present" means ready. Its output goes to `server.log` in the target's temp dir, quoted when it
//! fails to start.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokenrequest_types::policy::TokenPolicy;

use crate::target::process::Child;

/// How long the server may take from spawn to ready.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// SIGTERM → SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A running embedded server.
pub(crate) struct Server {
    child: Child,
    url: String,
    kubeconfig: PathBuf,
    // Held for its Drop: removes the kubeconfig and the log when the server is stopped.
    _dir: tempfile::TempDir,
}

impl Server {
    /// `https://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The kubeconfig the server wrote.
    pub(crate) fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// SIGTERM, then SIGKILL after a grace period.
    pub(crate) fn stop(self) -> anyhow::Result<()> {
        self.child.stop()
    }
}

/// The `serve` arguments for `policy`, after `serve --listen 127.0.0.1:0 --write-kubeconfig PATH`.
pub(crate) fn policy_args(policy: &TokenPolicy) -> Vec<String> {
    let mut args = Vec::new();
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

/// Starts `binary serve` with `policy` (and `extra` flags) and waits until it is ready.
pub(crate) fn start(root: &Path, binary: &Path, policy: &TokenPolicy, extra: &[&str]) -> anyhow::Result<Server> {
    let dir = tempfile::Builder::new()
        .prefix("kube-tokenrequest-embedded-")
        .tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    let log_path = dir.path().join("server.log");
    let log = File::create(&log_path)?;
    let mut cmd = Command::new(binary);
    cmd.arg("serve")
        .args(["--listen", "127.0.0.1:0", "--write-kubeconfig"])
        .arg(&kubeconfig)
        .args(policy_args(policy))
        .args(extra)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log.try_clone()?);
    let mut spawned = cmd.spawn().with_context(|| format!("starting {}", binary.display()))?;
    let stdout = spawned.stdout.take().expect("piped");
    let mut child = Child::new("kube-tokenrequest serve", spawned, STOP_GRACE);

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

    let deadline = Instant::now() + START_TIMEOUT;
    let mut url = None;
    loop {
        if url.is_none() {
            url = rx.try_recv().ok();
        }
        if let Some(url) = &url
            && kubeconfig.is_file()
        {
            return Ok(Server {
                child,
                url: url.clone(),
                kubeconfig,
                _dir: dir,
            });
        }
        if let Some(status) = child.try_wait()? {
            return Err(anyhow::format_err!(
                "kube-tokenrequest serve exited before it was ready ({status}); its log:\n{}",
                tail(&log_path, 20)
            ));
        }
        if crate::interrupt::requested() {
            child.stop()?;
            return Err(crate::interrupt::error());
        }
        if Instant::now() > deadline {
            let log = tail(&log_path, 20);
            child.stop()?;
            return Err(anyhow::format_err!(
                "kube-tokenrequest serve was not ready within {START_TIMEOUT:?} (no `listening on` line and kubeconfig); its log:\n{log}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last `n` lines of a log, redacted (a log quoted in an error may end up in CI output).
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    crate::redact::redact_jwts(&lines[lines.len().saturating_sub(n)..].join("\n")).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_flags_follow_the_policy() {
        let policy = crate::policy::parse(Some("max=24h,extend=false,audiences=a,b,alg=ES256")).unwrap();
        insta::assert_snapshot!(policy_args(&policy).join("\n"), @r"
        --max-token-expiration=86400s
        --extend-token-expiration=false
        --api-audiences=a,b
        --signing-alg=ES256
        ");
        let defaults = crate::policy::parse(None).unwrap();
        insta::assert_snapshot!(policy_args(&defaults).join("\n"), @r"
        --extend-token-expiration=true
        --api-audiences=https://kubernetes.default.svc.cluster.local
        --signing-alg=RS256
        ");
    }
}
