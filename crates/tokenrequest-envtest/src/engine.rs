//! Is there a container engine? kind and k3s need one, and on a machine without one they must
//! say so in one line, quickly, instead of hanging on a socket or reporting a pass.
//!
//! `docker info` is the probe because both kind and testcontainers talk to whatever it talks to
//! (`DOCKER_HOST`, the docker context), so its answer is theirs.

use std::fmt;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `docker info` normally answers in well under a second; a daemon that takes longer than this
/// is as good as absent for a conformance run.
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// The target (kind, k3s) cannot run here because no container engine answers.
#[derive(Debug)]
pub struct NoContainerEngine {
    /// `kind` or `k3s`.
    pub target: &'static str,
    /// Why: `docker info failed (...)`, `docker not found on PATH`.
    pub reason: String,
}

impl fmt::Display for NoContainerEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: no container engine: {}", self.target, self.reason)
    }
}

impl std::error::Error for NoContainerEngine {}

/// Fails with [`NoContainerEngine`] unless `docker info` answers within the timeout.
pub fn require(target: &'static str) -> Result<(), NoContainerEngine> {
    let mut docker = Command::new("docker");
    docker.current_dir(std::env::temp_dir());
    probe(target, docker)
}

/// Runs `docker info` through `docker` (a command prepared with its working directory and, in
/// tests, its environment).
fn probe(target: &'static str, mut docker: Command) -> Result<(), NoContainerEngine> {
    let no_engine = |reason: String| NoContainerEngine { target, reason };
    let mut child = docker
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => no_engine("docker not found on PATH".to_owned()),
            _ => no_engine(format!("cannot run docker ({err})")),
        })?;
    let deadline = Instant::now() + PROBE_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(25)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(no_engine(format!(
                    "docker info did not answer within {PROBE_TIMEOUT:?}"
                )));
            }
            Err(err) => return Err(no_engine(format!("waiting for docker info: {err}"))),
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    // docker prints the daemon error as its last meaningful line.
    let detail = stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("no output")
        .to_owned();
    Err(no_engine(format!("docker info failed ({detail})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_engine_is_one_clear_line_quickly() {
        // docker honours DOCKER_HOST; a socket that cannot exist makes this path testable on
        // machines that do have an engine (CI).
        let mut docker = Command::new("docker");
        docker
            .current_dir(std::env::temp_dir())
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
        let started = Instant::now();
        let err = probe("k3s", docker).unwrap_err().to_string();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
        assert!(err.starts_with("k3s: no container engine: "), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn a_missing_docker_cli_is_named() {
        let docker = Command::new("/nonexistent/docker");
        let err = probe("kind", docker).unwrap_err().to_string();
        assert_eq!(err, "kind: no container engine: docker not found on PATH");
    }
}
