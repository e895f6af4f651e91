//! A child process xtask started and must stop: SIGTERM, a grace period, then SIGKILL; done on
//! [`Child::stop`] and, as a last resort, on drop, so an error or a panic never leaks a server.

use std::time::{Duration, Instant};

/// A started child process.
pub(crate) struct Child {
    name: &'static str,
    child: Option<std::process::Child>,
    grace: Duration,
}

impl Child {
    /// Takes ownership of a spawned process; `grace` is the time between SIGTERM and SIGKILL.
    pub(crate) fn new(name: &'static str, child: std::process::Child, grace: Duration) -> Self {
        Self {
            name,
            child: Some(child),
            grace,
        }
    }

    /// `Some(status)` if the process has exited.
    pub(crate) fn try_wait(&mut self) -> anyhow::Result<Option<std::process::ExitStatus>> {
        let Some(child) = self.child.as_mut() else {
            return Ok(None);
        };
        Ok(child.try_wait()?)
    }

    /// Stops the process: SIGTERM, then SIGKILL after the grace period. An exit by SIGTERM (or
    /// status 0) is a clean stop; anything else is reported.
    pub(crate) fn stop(mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Some(status) = child.try_wait()? {
            // It was already gone (e.g. Ctrl-C reached the whole process group): not an error.
            let _ = status;
            return Ok(());
        }
        let pid = rustix::process::Pid::from_child(&child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + self.grace;
        while Instant::now() < deadline {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.kill()?;
        child.wait()?;
        Err(anyhow::format_err!(
            "{} did not stop within {:?} of SIGTERM and was killed",
            self.name,
            self.grace
        ))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
