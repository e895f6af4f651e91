//! The identity of one run of the suite: its id (the [`RUN_LABEL`] on every namespace and node it creates) and the
//! process that owns it ([`RunOwner`], the [`OWNER_ANNOTATION`] beside the label), by which later runs' sweeps
//! (`cleanup`) tell leftovers from live work.

use std::fmt;

/// The label on every namespace and node the suite creates; its value is the run id.
pub const RUN_LABEL: &str = "tokenrequest.dev/conformance-run";

/// The annotation naming a run's [`RunOwner`], beside the run label on every namespace and node the suite creates.
pub const OWNER_ANNOTATION: &str = "tokenrequest.dev/conformance-owner";
/// The pid of the process that owns the run when it is not the test process: `cargo xtask conformance` sets it
/// to its own, since the suite's test processes (one per binary, or per test under nextest) come and go.
pub const RUN_OWNER_ENV: &str = "TOKENREQUEST_RUN_OWNER";

/// What marks the objects of one run: the run id (the [`RUN_LABEL`] value) and the process that owns the run
/// (the [`OWNER_ANNOTATION`] value), by which later runs' sweeps tell leftovers from live work.
#[derive(Debug, Clone)]
pub struct RunMark {
    /// The run id.
    pub id: String,
    /// Who owns the run.
    pub owner: RunOwner,
}

/// The process whose life is a run's: `host/pid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOwner {
    pub(crate) host: String,
    pub(crate) pid: u32,
}

impl RunOwner {
    /// This process's run: the pid [`RUN_OWNER_ENV`] names, or this process's own, on this host.
    pub fn current() -> Self {
        let pid = std::env::var(RUN_OWNER_ENV)
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(std::process::id);
        Self { host: this_host(), pid }
    }

    /// Reads the annotation's `host/pid` (the host name may not hold a `/`, but the split is from the right).
    pub fn parse(value: &str) -> Option<Self> {
        let (host, pid) = value.rsplit_once('/')?;
        Some(Self {
            host: host.to_owned(),
            pid: pid.parse().ok()?,
        })
    }
}

impl fmt::Display for RunOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.host, self.pid)
    }
}

pub(crate) fn this_host() -> String {
    rustix::system::uname().nodename().to_string_lossy().into_owned()
}

/// Whether process `pid` exists on this host (a process of another user counts: signalling it is refused, not
/// failed). A pid the kernel reused for another process keeps the run's objects until a later sweep.
pub(crate) fn alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e != rustix::io::Errno::SRCH,
    }
}
