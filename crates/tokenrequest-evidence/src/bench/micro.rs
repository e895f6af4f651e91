//! The micro-benchmarks that live with the crates (criterion, `crates/*/benches/`): `cargo bench` runs them in
//! this same run, and their means are read back from criterion's `estimates.json` files.
//!
//! They run as processes instead of being linked, like everything else measured here.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context as _, Result, bail};

/// The crates with benches and their bench targets. One `cargo bench` builds them all with one feature set, so a
/// second run (or `cargo bench --no-run` in CI with the same packages) rebuilds nothing.
pub(crate) const BENCHES: [(&str, &[&str]); 2] = [
    ("tokenrequest-client", &["cache", "verify"]),
    ("tokenrequest-server", &["crypto_backends", "request_path"]),
];

/// Runs every bench in [`BENCHES`], output to `log`.
pub(crate) fn run(root: &Path, log: &Path) -> Result<()> {
    let mut cmd = crate::workspace_build::cargo();
    cmd.current_dir(root).arg("bench");
    for (package, _) in BENCHES {
        cmd.args(["-p", package]);
    }
    for b in BENCHES.iter().flat_map(|(_, benches)| benches.iter()) {
        cmd.args(["--bench", b]);
    }
    let out = std::fs::File::create(log)?;
    let status = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .status()
        .context("running cargo bench")?;
    if !status.success() {
        bail!("cargo bench failed (see {})", log.display());
    }
    Ok(())
}

/// The mean time of one iteration of `group/function`, in nanoseconds, from the last run.
pub(crate) fn mean_ns(target_dir: &Path, group: &str, function: &str) -> Result<f64> {
    let path: PathBuf = target_dir
        .join("criterion")
        .join(group)
        .join(function)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    v["mean"]["point_estimate"]
        .as_f64()
        .with_context(|| format!("{}: no mean.point_estimate", path.display()))
}
