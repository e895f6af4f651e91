//! The `cargo xtask conformance` command line as a user meets it, run as a process: where a
//! target cannot run, one clear line and a non-zero exit, fast, and before anything is built.

use std::process::Command;
use std::time::{Duration, Instant};

fn xtask(args: &[&str], report_dir: &std::path::Path) -> (i32, String, String, Duration) {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .arg("--report-dir")
        .arg(report_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        // No engine can answer here, also on machines (CI) that have one.
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("CI", "true")
        .output()
        .expect("xtask runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn kind_and_k3s_without_a_container_engine_fail_in_one_line() {
    for cluster in ["kind", "k3s"] {
        let dir = tempfile::tempdir().unwrap();
        let (code, stdout, stderr, took) = xtask(&["conformance", "--cluster", cluster], dir.path());
        assert_ne!(code, 0, "{cluster}: must not pass");
        assert_eq!(stdout, "", "{cluster}");
        assert_eq!(stderr.lines().count(), 1, "{cluster}: one line, got:\n{stderr}");
        assert!(
            stderr.starts_with(&format!("error: {cluster}: no container engine: docker")),
            "{cluster}: {stderr}"
        );
        assert!(took < Duration::from_secs(10), "{cluster}: took {took:?}");
        // The matrix records the cell as skipped, never as a pass.
        let summary = std::fs::read_to_string(dir.path().join("summary.json")).unwrap();
        assert!(summary.contains(r#""verdict": "skipped""#), "{summary}");
    }
}

#[test]
fn a_bad_policy_is_rejected_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr, took) = xtask(&["conformance", "--policy", "max=10m"], dir.path());
    assert_ne!(code, 0);
    assert_eq!(
        stderr.trim(),
        r#"error: --policy "max=10m": invalid policy value "10m" for max: expected between 1h and 2^32 seconds"#
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}
