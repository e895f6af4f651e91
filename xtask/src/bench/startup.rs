//! `serve` start to kubeconfig written: the time a test harness or `cargo xtask conformance` waits before it can
//! talk to the embedded server. Measured from just before spawning the release binary to the moment the
//! kubeconfig exists (it is written atomically, so existing means complete), polled every 0.2 ms.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use super::targets::stop_child;

/// The median and the slowest of `runs` starts.
pub(crate) fn measure(bin: &Path, runs: usize) -> Result<(Duration, Duration)> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let dir = tempfile::Builder::new().prefix("tokenrequest-bench-start-").tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        let start = Instant::now();
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--write-kubeconfig"])
            .arg(&kubeconfig)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let deadline = start + Duration::from_secs(10);
        let written = loop {
            if kubeconfig.exists() {
                break Some(start.elapsed());
            }
            if Instant::now() > deadline || matches!(child.try_wait(), Ok(Some(_))) {
                break None;
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        stop_child(&mut child);
        match written {
            Some(t) => times.push(t),
            None => bail!("`serve` wrote no kubeconfig within 10 s"),
        }
    }
    times.sort_unstable();
    Ok((times[times.len() / 2], *times.last().context("no runs")?))
}
