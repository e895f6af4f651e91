//! Runs the conformance suite (`tokenrequest-conformance`) as processes against a kubeconfig and
//! returns its results as JUnit XML, whichever runner is available:
//!
//! - cargo-nextest, with the `conformance` profile in `.config/nextest.toml`, which writes the
//!   JUnit itself;
//! - otherwise the test binaries that `cargo test` builds, run one by one, with the JUnit made
//!   from their output by [`crate::libtest`].
//!
//! The suite learns its target only through the environment (see [`SuiteEnv`]).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;

use crate::cargo_build::{Executable, Executables};
use crate::libtest;
use crate::progress::Step;

/// The suite's package.
pub(crate) const PACKAGE: &str = "tokenrequest-conformance";

/// What the suite is told about its target.
#[derive(Debug, Clone)]
pub(crate) struct SuiteEnv {
    /// `TOKENREQUEST_KUBECONFIG`: the target.
    pub(crate) kubeconfig: PathBuf,
    /// `TOKENREQUEST_EXPECTED_POLICY`: the policy the target should enforce (`TokenPolicy` Display
    /// form); `None` for an existing cluster without `--policy`.
    pub(crate) expected_policy: Option<String>,
    /// `TOKENREQUEST_TARGET`: a short description for messages (`embedded`, `kind v1.37.0`).
    pub(crate) target: String,
    /// `TOKENREQUEST_TARGET_INFO`: where the suite writes what it probed (Kubernetes version,
    /// effective policy) as JSON, for the report.
    pub(crate) target_info: PathBuf,
    /// `TOKENREQUEST_RUN_ID`: one id for every process of this run (nextest runs one per check,
    /// libtest one per test binary), so the suite labels and sweeps its objects as one run.
    pub(crate) run_id: String,
}

impl SuiteEnv {
    fn apply(&self, cmd: &mut Command) {
        cmd.env("TOKENREQUEST_KUBECONFIG", &self.kubeconfig)
            .env("TOKENREQUEST_TARGET", &self.target)
            .env("TOKENREQUEST_TARGET_INFO", &self.target_info)
            .env("TOKENREQUEST_RUN_ID", &self.run_id)
            // This process owns the run: the sweep of a later run deletes the run's leftovers once it is gone.
            .env("TOKENREQUEST_RUN_OWNER", std::process::id().to_string());
        // A conformance run gives a verdict; it must not leave `.snap.new` files in the suite's
        // source tree (reviewing snapshots is `cargo insta review`'s job). A user's choice wins.
        if std::env::var_os("INSTA_UPDATE").is_none() {
            cmd.env("INSTA_UPDATE", "no");
        }
        match &self.expected_policy {
            Some(policy) => cmd.env(crate::policy::EXPECTED_POLICY_ENV, policy),
            None => cmd.env_remove(crate::policy::EXPECTED_POLICY_ENV),
        };
    }
}

/// How the suite will be run.
pub(crate) enum Runner {
    /// `cargo nextest run --profile conformance`.
    Nextest,
    /// The libtest binaries `cargo test` built.
    Libtest(Vec<Executable>),
}

impl Runner {
    /// A name for the report.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Runner::Nextest => "cargo-nextest",
            Runner::Libtest(_) => "cargo test (libtest output parsed by xtask)",
        }
    }
}

/// Picks the runner for the suite's test binaries, which `built` holds (they are built before any
/// target starts, so a cluster does not wait for a compile).
pub(crate) fn runner(root: &Path, built: &Executables, step: &Step) -> Runner {
    if nextest_available(root) {
        return Runner::Nextest;
    }
    step.note("cargo-nextest is not installed: running the suite with the `cargo test` harness (`cargo install cargo-nextest` for the nextest runner)");
    Runner::Libtest(built.tests(PACKAGE))
}

fn nextest_available(root: &Path) -> bool {
    crate::cargo_build::cargo()
        .args(["nextest", "--version"])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs the suite and returns the JUnit XML (not yet redacted).
pub(crate) fn run(root: &Path, runner: &Runner, env: &SuiteEnv, filter: Option<&str>) -> anyhow::Result<String> {
    match runner {
        Runner::Nextest => run_nextest(root, env, filter),
        Runner::Libtest(executables) => run_libtest(root, executables, env, filter),
    }
}

fn run_nextest(root: &Path, env: &SuiteEnv, filter: Option<&str>) -> anyhow::Result<String> {
    let junit = target_dir(root).join("nextest/conformance/junit.xml");
    let _ = std::fs::remove_file(&junit);
    let mut cmd = crate::cargo_build::cargo();
    cmd.args([
        "nextest",
        "run",
        // The workspace, as the README's `cargo test --workspace` builds it (see cargo_build), filtered
        // to the suite's package.
        "--workspace",
        "-E",
        &format!("package({PACKAGE})"),
        "--profile",
        "conformance",
        "--no-fail-fast",
        "--color",
        "never",
    ]);
    if let Some(filter) = filter {
        cmd.arg(filter);
    }
    cmd.current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    env.apply(&mut cmd);
    let mut child = cmd.spawn().context("running cargo nextest")?;
    let stdout = child.stdout.take().expect("piped");
    let drain = std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = BufReader::new(stdout).read_to_string(&mut sink);
    });
    // nextest prints `Starting N tests across M binaries` and one `PASS [...] binary name` /
    // `FAIL [...]` line per check on stderr; those drive the counter.
    let mut step: Option<Step> = None;
    let mut done = 0;
    for line in BufReader::new(child.stderr.take().expect("piped")).lines() {
        let line = line?;
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("Starting ") {
            let total = rest.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0);
            step = Some(Step::counter("checks", total, "running"));
        } else if ["PASS [", "FAIL [", "SIGSEGV [", "SIGABRT [", "TIMEOUT ["]
            .iter()
            .any(|p| trimmed.starts_with(p))
        {
            done += 1;
            if let Some(step) = step.as_mut() {
                step.position(done, trimmed.rsplit(' ').next().unwrap_or_default());
            }
        }
    }
    let status = child.wait()?;
    let _ = drain.join();
    if let Some(step) = step {
        step.done(&format!("{done} run"));
    }
    std::fs::read_to_string(&junit).map_err(|err| {
        anyhow::format_err!(
            "cargo nextest ended ({status}) without writing {}: {err}",
            junit.display()
        )
    })
}

fn run_libtest(
    root: &Path,
    executables: &[Executable],
    env: &SuiteEnv,
    filter: Option<&str>,
) -> anyhow::Result<String> {
    let package_dir = root.join("conformance");
    // List first, so the counter knows the total and a crash can be told from a pass.
    let mut planned = Vec::new();
    for exe in executables {
        let mut cmd = Command::new(&exe.path);
        cmd.args(["--list", "--format", "terse"]);
        if let Some(filter) = filter {
            cmd.arg(filter);
        }
        let output = cmd.current_dir(&package_dir).stdin(Stdio::null()).output()?;
        let listed = libtest::listed_tests(&String::from_utf8_lossy(&output.stdout));
        if !listed.is_empty() {
            planned.push((exe, listed));
        }
    }
    let total: usize = planned.iter().map(|(_, listed)| listed.len()).sum();
    let mut report = quick_junit::Report::new(PACKAGE);
    let mut step = Step::counter("checks", total as u64, "running");
    let mut done = 0;
    for (exe, listed) in &planned {
        let mut cmd = Command::new(&exe.path);
        if let Some(filter) = filter {
            cmd.arg(filter);
        }
        cmd.args(["--color", "never"])
            .env("CARGO_MANIFEST_DIR", &package_dir)
            .current_dir(&package_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        env.apply(&mut cmd);
        let mut child = cmd.spawn().with_context(|| format!("running {}", exe.path.display()))?;
        let stderr = child.stderr.take().expect("piped");
        let stderr_reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut text);
            text
        });
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut output = String::new();
        let mut killed_for_interrupt = false;
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    if let Some((name, _)) = libtest::result_line(&line) {
                        done += 1;
                        step.position(done as u64, name);
                    }
                    output.push_str(&line);
                    output.push('\n');
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    // Ctrl-C from a terminal reaches the test binary too; SIGTERM to xtask alone
                    // does not, so stop it here.
                    if crate::interrupt::requested() && !killed_for_interrupt {
                        let _ = child.kill();
                        killed_for_interrupt = true;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let status = child.wait()?;
        let stderr_text = stderr_reader.join().unwrap_or_default();
        let exit = (!status.success() && status.code() != Some(101)).then(|| status.to_string());
        let suite_name = format!("{PACKAGE}::{}", exe.target_name);
        let mut suite = libtest::junit_suite(&suite_name, listed, &output, exit.as_deref());
        if !stderr_text.trim().is_empty() {
            suite.set_system_err(stderr_text);
        }
        report.add_test_suite(suite);
        if crate::interrupt::requested() {
            break;
        }
    }
    step.done(&format!("{done}/{total} run"));
    Ok(report.to_string()?)
}

/// `CARGO_TARGET_DIR` or `<root>/target`.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(|t| root.join(t))
        .unwrap_or_else(|| root.join("target"))
}
