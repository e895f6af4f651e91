//! `serve` start to kubeconfig written: the time a test harness or `cargo xtask conformance` waits before it can
//! talk to the embedded server. Measured from just before spawning the release binary to the moment the
//! kubeconfig exists (it is written atomically, so existing means complete), polled every 0.2 ms.
//!
//! The server is a [`Supervised`] process (stopped with SIGTERM, killed if the measurement fails), but its
//! readiness is polled here rather than by `Supervised::wait_until` or `embedded::Serve`: they poll every 100 ms,
//! which would round every start up to the next 100 ms.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tokenrequest_envtest::supervisor::Supervised;

/// The median and the slowest of `runs` starts.
pub(crate) fn measure(bin: &Path, runs: usize) -> Result<(Duration, Duration)> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let dir = tempfile::Builder::new().prefix("tokenrequest-bench-start-").tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        let log = dir.path().join("serve.log");
        let mut command = Command::new(bin);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--write-kubeconfig"])
            .arg(&kubeconfig)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?);
        let start = Instant::now();
        let mut server =
            Supervised::spawn_configured("kube-tokenrequest serve", command, &log, Duration::from_secs(5))?;
        let deadline = start + Duration::from_secs(10);
        let written = loop {
            if kubeconfig.exists() {
                break Some(start.elapsed());
            }
            if Instant::now() > deadline || server.try_wait()?.is_some() {
                break None;
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        let failed_log = written.is_none().then(|| server.log_tail(30));
        server.stop()?;
        match written {
            Some(t) => times.push(t),
            None => bail!(
                "`serve` wrote no kubeconfig within 10 s; its log:\n{}",
                failed_log.unwrap_or_default()
            ),
        }
    }
    times.sort_unstable();
    Ok((times[times.len() / 2], *times.last().context("no runs")?))
}
