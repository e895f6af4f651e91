//! The conformance suite's wall time against the embedded server, the way a developer runs it after a build:
//! `cargo test -p tokenrequest-conformance`, compiled first with `--no-run` so that only the run is timed (the
//! suite starts its own embedded server, so that start is included, as it is for the developer).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// Wall time of the run and whether it passed; the output goes to `log`.
pub(crate) fn measure(root: &Path, log: &Path) -> Result<(Duration, bool)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let build = Command::new(&cargo)
        .current_dir(root)
        .args(["test", "-p", "tokenrequest-conformance", "--no-run"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?)
        .status()
        .context("running cargo test --no-run")?;
    if !build.success() {
        bail!("the suite does not build (see {})", log.display());
    }
    let out = std::fs::File::create(log)?;
    let start = Instant::now();
    let status = Command::new(&cargo)
        .current_dir(root)
        .args(["test", "-p", "tokenrequest-conformance"])
        .stdout(out.try_clone()?)
        .stderr(out)
        .status()
        .context("running cargo test")?;
    Ok((start.elapsed(), status.success()))
}
