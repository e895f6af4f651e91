//! Builds a workspace binary and runs it with the repository's paths: `kube-tokenrequest` (the product: its
//! `conformance` writes under `target/conformance`, its control planes live in `target/controlplane`) or
//! `tokenrequest-evidence` (the repository's measurements). The child inherits the terminal; its exit code is
//! xtask's.
//!
//! Cargo is asked for `-p PACKAGE` only: the workspace-hack crate (`cargo hakari`) gives every package the same
//! dependency features, so this build reuses what `cargo test --workspace` compiled. (The one build script that
//! watches cargo's package variables, ring's, is only in test builds, which the evidence tool makes; it starts
//! cargo without them.)

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::Context;

/// Runs `kube-tokenrequest ARGS... EXTRA...` with `--report-root target/conformance` for `conformance`.
///
/// `--cluster k3s` builds the CLI with its `containers` feature (testcontainers), which nothing else needs.
pub(crate) fn product(root: &Path, args: &[&str], extra: &[String]) -> anyhow::Result<ExitCode> {
    let k3s = extra.windows(2).any(|pair| pair[0] == "--cluster" && pair[1] == "k3s")
        || extra.iter().any(|a| a == "--cluster=k3s");
    let features: &[&str] = if k3s { &["--features", "containers"] } else { &[] };
    let binary = build(root, "kube-tokenrequest", "kube-tokenrequest", features)?;
    let mut cmd = Command::new(binary);
    cmd.args(args);
    if args.first() == Some(&"conformance") {
        cmd.arg("--report-root").arg(target_dir(root).join("conformance"));
    }
    cmd.args(extra);
    run(root, cmd)
}

/// Runs `tokenrequest-evidence COMMAND EXTRA...`.
pub(crate) fn evidence(root: &Path, command: &str, extra: &[String]) -> anyhow::Result<ExitCode> {
    let binary = build(root, "tokenrequest-evidence", "tokenrequest-evidence", &[])?;
    let mut cmd = Command::new(binary);
    cmd.arg(command).args(extra);
    run(root, cmd)
}

fn run(root: &Path, mut cmd: Command) -> anyhow::Result<ExitCode> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let status = cmd
        .current_dir(root)
        .env("TOKENREQUEST_CONTROLPLANE_DIR", target_dir(root).join("controlplane"))
        .status()
        .with_context(|| format!("running {program}"))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        // Killed by a signal (Ctrl-C reaches the whole process group).
        None => ExitCode::from(130),
    })
}

/// `target/` (or `$CARGO_TARGET_DIR`).
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |dir| root.join(dir))
}

/// `cargo build -p PACKAGE --bin BIN`, its progress on stderr; returns the executable cargo reports.
fn build(root: &Path, package: &str, bin: &str, features: &[&str]) -> anyhow::Result<PathBuf> {
    let mut child = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--locked", "-p", package, "--bin", bin])
        .args(features)
        .args(["--message-format=json-render-diagnostics"])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("running cargo in {}", root.display()))?;
    let stdout = child.stdout.take().context("cargo's stdout")?;
    let mut executable = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading cargo's messages")?;
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if message["reason"] == "compiler-artifact"
            && message["target"]["name"] == bin
            && let Some(path) = message["executable"].as_str()
        {
            executable = Some(PathBuf::from(path));
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        anyhow::bail!("`cargo build -p {package}` failed ({status})");
    }
    executable.with_context(|| format!("cargo built no `{bin}` executable in {package}"))
}
