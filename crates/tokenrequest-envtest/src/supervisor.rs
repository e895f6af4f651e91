//! The one process supervisor: every child a target starts (`kube-tokenrequest serve`, etcd, kube-apiserver) is a
//! [`Supervised`] process with its output in a log file, waited on until a readiness probe says yes (or it exits,
//! a deadline passes, or Ctrl-C arrives), and stopped with SIGTERM then SIGKILL after a grace period: on
//! [`Supervised::stop`], and as a last resort on drop, so an error or a panic never leaks a server.
//!
//! Modelled on controller-runtime's `pkg/internal/testing/process`: start races health, exit and timeout.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Context, Error, Result};

/// How often readiness is polled.
const POLL: Duration = Duration::from_millis(100);

/// How a stop went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It exited on SIGTERM within the grace period (or had exited already).
    Gracefully,
    /// It ignored SIGTERM for the grace period and was killed.
    Killed,
}

/// A started child process.
#[derive(Debug)]
pub struct Supervised {
    name: String,
    child: Option<Child>,
    log: PathBuf,
    grace: Duration,
}

impl Supervised {
    /// Starts `command` (stdin closed) with stdout and stderr appended to `log`; `grace` is the time between
    /// SIGTERM and SIGKILL.
    pub fn spawn(name: &str, mut command: Command, log: &Path, grace: Duration) -> Result<Self> {
        let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        command.stdin(Stdio::null()).stdout(out).stderr(err);
        Self::spawn_configured(name, command, log, grace)
    }

    /// Starts `command` as it is configured (e.g. with stdout piped, to read a ready line from it); `log` is
    /// where its output ends up, quoted when it fails.
    pub fn spawn_configured(name: &str, mut command: Command, log: &Path, grace: Duration) -> Result<Self> {
        let program = command.get_program().to_string_lossy().into_owned();
        let child = command
            .spawn()
            .with_context(|| format!("starting {name} ({program})"))?;
        Ok(Self {
            name: name.to_owned(),
            child: Some(child),
            log: log.to_owned(),
            grace,
        })
    }

    /// The process, e.g. to take a piped stdout.
    pub fn child_mut(&mut self) -> Option<&mut Child> {
        self.child.as_mut()
    }

    /// `Some(status)` once the process has exited.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        match self.child.as_mut() {
            Some(child) => Ok(child.try_wait()?),
            None => Ok(None),
        }
    }

    /// Polls `ready` until it says yes. Fails, quoting the log's last lines, when the process exits, the
    /// `deadline` passes, or Ctrl-C arrives ([`crate::interrupt`]).
    pub fn wait_until(&mut self, deadline: Instant, what: &str, mut ready: impl FnMut() -> Result<bool>) -> Result<()> {
        let mut last_err = None;
        let became_ready = poll_until(deadline, POLL, || {
            match ready() {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(e) => last_err = Some(e),
            }
            match self.try_wait()? {
                Some(status) => Err(Error::Failed(format!(
                    "{what}: {} exited ({status}); last lines of {}:\n{}",
                    self.name,
                    self.log.display(),
                    self.log_tail(30)
                ))),
                None => Ok(false),
            }
        })?;
        if became_ready {
            return Ok(());
        }
        Err(Error::Failed(format!(
            "{what}: not ready before the start timeout (last error: {}); last lines of {}:\n{}",
            last_err.map_or_else(|| "none".to_owned(), |e| e.to_string()),
            self.log.display(),
            self.log_tail(30)
        )))
    }

    /// The last `n` lines of the log, tokens redacted (a log quoted in an error may end up in CI output).
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        tokenrequest_types::token::redact_jwts(&lines[lines.len().saturating_sub(n)..].join("\n")).into_owned()
    }

    /// SIGTERM, then SIGKILL after the grace period.
    pub fn stop(mut self) -> Result<Stopped> {
        self.terminate()
    }

    fn terminate(&mut self) -> Result<Stopped> {
        let Some(mut child) = self.child.take() else {
            return Ok(Stopped::Gracefully);
        };
        if child.try_wait()?.is_some() {
            // Already gone (e.g. Ctrl-C reached the whole process group): not an error.
            return Ok(Stopped::Gracefully);
        }
        let pid = rustix::process::Pid::from_child(&child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + self.grace;
        while Instant::now() < deadline {
            if child.try_wait()?.is_some() {
                return Ok(Stopped::Gracefully);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.kill()?;
        child.wait()?;
        Ok(Stopped::Killed)
    }
}

/// Calls `ready` every `every` until it says yes (`Ok(true)`) or `deadline` passes (`Ok(false)`); an error of
/// `ready` ends the wait, and so does Ctrl-C ([`crate::interrupt`], `Err(Error::Interrupted)`). The one wait loop
/// of the crate: processes, kind's and k3s' readiness.
pub(crate) fn poll_until(deadline: Instant, every: Duration, mut ready: impl FnMut() -> Result<bool>) -> Result<bool> {
    loop {
        if ready()? {
            return Ok(true);
        }
        if crate::interrupt::requested() {
            return Err(Error::Interrupted);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(every);
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn a_process_that_exits_fails_the_wait_with_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let mut p = Supervised::spawn("probe", sh("echo starting; exit 3"), &log, Duration::from_secs(1)).unwrap();
        let err = p
            .wait_until(Instant::now() + Duration::from_secs(10), "ready", || Ok(false))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("ready: probe exited (exit status: 3)"), "{err}");
        assert!(err.ends_with("starting"), "{err}");
    }

    #[test]
    fn a_deadline_ends_the_wait_and_stop_terminates() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let mut p = Supervised::spawn("sleeper", sh("exec sleep 30"), &log, Duration::from_secs(5)).unwrap();
        let err = p
            .wait_until(Instant::now(), "ready", || Ok(false))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("ready: not ready before the start timeout"), "{err}");
        assert_eq!(p.stop().unwrap(), Stopped::Gracefully);
    }

    #[test]
    fn sigterm_ignored_means_killed() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let mut p = Supervised::spawn(
            "stubborn",
            sh("trap '' TERM; echo up; while :; do sleep 0.05; done"),
            &log,
            Duration::from_millis(300),
        )
        .unwrap();
        p.wait_until(Instant::now() + Duration::from_secs(10), "up", || {
            Ok(std::fs::read_to_string(&log)?.contains("up"))
        })
        .unwrap();
        assert_eq!(p.stop().unwrap(), Stopped::Killed);
    }

    #[test]
    fn log_tails_are_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let token = ["eyJ", "hbGciOiJSUzI1NiJ9", ".", "eyJzdWIiOiJ4In0", ".", "c2ln"].concat();
        std::fs::write(&log, format!("one\nBearer {token}\n")).unwrap();
        let p = Supervised {
            name: "x".into(),
            child: None,
            log,
            grace: Duration::ZERO,
        };
        assert_eq!(p.log_tail(1), "Bearer <redacted>");
    }
}
