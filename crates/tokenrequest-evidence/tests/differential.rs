//! A short `tokenrequest-evidence differential` (50 generated requests) against the REAL kube-apiserver and an
//! already built `kube-tokenrequest`: the command starts both, compares, stops both, and prints its verdict line.
//! Skips, saying why, when either binary is missing (building the control plane takes ~10 minutes and is not part
//! of `cargo test`; building the server from inside a test would wait on cargo's own lock).
//!
//! Differences are allowed here (`--allow-differences`): this test checks the machinery; the differences
//! themselves are `cargo xtask differential`'s verdict in CI.

#![allow(clippy::print_stderr, reason = "a skipped test says why")]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tokenrequest_envtest::controlplane::{Binaries, PINNED_K8S_VERSION};

#[test]
fn a_short_differential_run_compares_both_servers() {
    if let Err(e) = Binaries::locate(None, PINNED_K8S_VERSION) {
        eprintln!("SKIPPED a_short_differential_run_compares_both_servers: {e}");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |dir| root.join(dir));
    let server = target.join("debug").join("kube-tokenrequest");
    if !server.is_file() {
        eprintln!(
            "SKIPPED a_short_differential_run_compares_both_servers: no {} (run `cargo build -p kube-tokenrequest`)",
            server.display()
        );
        return;
    }
    let t0 = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_tokenrequest-evidence"))
        .args([
            "differential",
            "--requests",
            "50",
            "--seed",
            "42",
            "--allow-differences",
            "--server-bin",
        ])
        .arg(&server)
        .current_dir(&root)
        .output()
        .expect("tokenrequest-evidence runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "differential failed:\n{stdout}\n{stderr}");
    let verdict = stdout
        .lines()
        .find(|l| l.contains(" requests, ") && l.contains(" differences"))
        .unwrap_or_else(|| panic!("no verdict line in:\n{stdout}"));
    let n: usize = verdict.split(' ').next().unwrap().parse().unwrap();
    assert!(n >= 50, "{verdict}");
    eprintln!("{verdict}");
    assert!(!stdout.contains("eyJ"), "a token-looking string in the output");
    assert!(t0.elapsed() < Duration::from_secs(30), "took {:?}", t0.elapsed());
}
