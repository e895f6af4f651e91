//! The conformance suite's wall time against the embedded server, the way a developer runs it after a build:
//! the test executables of `cargo test -p tokenrequest-conformance`, built first (`--no-run`, untimed) and then
//! run one after another as cargo runs them (working directory = the package), so that only the run is timed
//! even when a source file changes between the build and the run. The suite starts its own embedded server(s),
//! so their start is included, as it is for the developer. Doc-tests are left out (they are compiled at run time).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use crate::workspace_build;

/// One timed run of the suite.
pub(crate) struct SuiteRun {
    /// All executables, one after another.
    pub(crate) wall: Duration,
    /// Each executable's name and time.
    pub(crate) each: Vec<(String, Duration)>,
    /// Whether every executable passed.
    pub(crate) passed: bool,
}

/// Builds (untimed) and runs (timed) the suite's test executables; their output goes to `log`.
pub(crate) fn measure(root: &Path, log: &Path) -> Result<SuiteRun> {
    let package = "tokenrequest-conformance";
    let executables = workspace_build::build(root)?.tests(package);
    let package_dir = root.join("conformance");
    let out = std::fs::File::create(log)?;
    let mut passed = true;
    let mut each = Vec::new();
    let start = Instant::now();
    for exe in &executables {
        let t0 = Instant::now();
        let status = Command::new(&exe.path)
            .current_dir(&package_dir)
            .env("CARGO_MANIFEST_DIR", &package_dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out.try_clone()?)
            .status()
            .with_context(|| format!("running {}", exe.path.display()))?;
        passed &= status.success();
        each.push((exe.target_name.clone(), t0.elapsed()));
    }
    Ok(SuiteRun {
        wall: start.elapsed(),
        each,
        passed,
    })
}
