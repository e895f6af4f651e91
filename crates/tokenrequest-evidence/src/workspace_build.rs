//! The workspace this binary measures: its root, its target directory, and its executables, built with
//! `cargo test --workspace --no-run` and taken from cargo's own report, so nothing guesses `target/debug/...`
//! (CARGO_TARGET_DIR, profiles and hashes vary).
//!
//! The build is the README's `cargo test --workspace`, without running anything: after that command it is a no-op,
//! and it yields the test harnesses (the suite timed by `bench`) as well as the programs. Cargo's status lines go
//! to stderr as cargo prints them; if the build fails, the tail of its diagnostics is quoted in the error.

#![allow(
    clippy::print_stderr,
    reason = "cargo's status lines are passed through as cargo prints them"
)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;

/// The workspace root (this crate is `crates/tokenrequest-evidence`); every child process runs under it.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the crate lives two levels below the workspace root")
        .to_path_buf()
}

/// `$CARGO_TARGET_DIR` (relative to the root), else `<root>/target`.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |dir| root.join(dir))
}

/// An executable produced by the build.
#[derive(Debug, Clone)]
pub(crate) struct Executable {
    /// The package it belongs to (`kube-tokenrequest`, `tokenrequest-conformance`).
    pub(crate) package: String,
    /// The cargo target name (`kube-tokenrequest`, `lib`'s crate name, a test file's name).
    pub(crate) target_name: String,
    /// The target kinds, e.g. `["bin"]`, `["lib"]`, `["test"]`.
    pub(crate) kinds: Vec<String>,
    /// Whether this is a libtest harness (a test file, or a lib's or bin's unit tests) rather than the program.
    pub(crate) harness: bool,
    /// Where it is.
    pub(crate) path: PathBuf,
}

/// The workspace's executables, as one build produced them.
#[derive(Debug, Clone)]
pub(crate) struct Executables(Vec<Executable>);

impl Executables {
    /// The program `name` of `package` (not its unit-test harness).
    pub(crate) fn binary(&self, package: &str, name: &str) -> anyhow::Result<PathBuf> {
        self.0
            .iter()
            .find(|e| e.package == package && e.target_name == name && !e.harness && e.kinds.iter().any(|k| k == "bin"))
            .map(|e| e.path.clone())
            .ok_or_else(|| anyhow::format_err!("cargo built no `{name}` binary in {package}"))
    }

    /// The test harnesses of `package`.
    pub(crate) fn tests(&self, package: &str) -> Vec<Executable> {
        self.0
            .iter()
            .filter(|e| e.package == package && e.harness)
            .cloned()
            .collect()
    }
}

/// A `cargo` command (the one that built this binary, when `cargo run` started it) without the variables cargo
/// sets for a package it runs.
///
/// Cargo fingerprints the variables a build script watches (`rerun-if-env-changed`) by their values in its own
/// environment: ring's build script watches `CARGO_PKG_NAME` and the like, so a cargo started with this binary's
/// `CARGO_PKG_*` rebuilt ring and everything above it, and the README's `cargo test` rebuilt them back.
pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_NAME",
            "CARGO_BIN_NAME",
            "CARGO_PRIMARY_PACKAGE",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix))
        {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// Builds the workspace's programs and test harnesses in `root` and returns them.
pub(crate) fn build(root: &Path) -> anyhow::Result<Executables> {
    let mut child = cargo()
        .args(["test", "--workspace", "--no-run"])
        .args(["--message-format=json-render-diagnostics", "--color=never"])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running cargo in {}", root.display()))?;
    let mut stdout = child.stdout.take().context("cargo's stdout")?;
    let stderr = child.stderr.take().context("cargo's stderr")?;
    // Read stdout on a thread: cargo writes both streams, and reading one at a time could block it.
    let reader = std::thread::spawn(move || {
        let mut json = String::new();
        stdout.read_to_string(&mut json).map(|_| json)
    });
    let mut diagnostics = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.context("reading cargo's output")?;
        // Cargo's status lines (`Compiling x`, `Blocking waiting for file lock ...`) show what the build is
        // doing; diagnostics are kept for the error.
        let trimmed = line.trim_start();
        if trimmed
            .split_whitespace()
            .next()
            .is_some_and(|w| w.len() > 1 && w.chars().all(|c| c.is_ascii_alphabetic()))
            && trimmed.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        {
            eprintln!("    {trimmed}");
        }
        diagnostics.push(line);
    }
    let status = child.wait().context("waiting for cargo")?;
    let json = reader
        .join()
        .map_err(|_| anyhow::format_err!("the thread reading cargo's messages panicked"))?
        .context("reading cargo's messages")?;
    if !status.success() {
        let start = diagnostics.len().saturating_sub(30);
        return Err(anyhow::format_err!(
            "`cargo test --workspace --no-run` failed ({status}):\n{}",
            diagnostics[start..].join("\n")
        ));
    }
    Ok(executables(&json))
}

/// The executables in cargo's JSON messages.
fn executables(json: &str) -> Executables {
    let mut res = Vec::new();
    for line in json.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(path) = message["executable"].as_str() else {
            continue;
        };
        let target = &message["target"];
        res.push(Executable {
            package: package_name(message["package_id"].as_str().unwrap_or_default()).to_owned(),
            harness: message["profile"]["test"].as_bool().unwrap_or(false),
            target_name: target["name"].as_str().unwrap_or_default().to_owned(),
            kinds: target["kind"]
                .as_array()
                .map(|kinds| kinds.iter().filter_map(|k| k.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
            path: PathBuf::from(path),
        });
    }
    Executables(res)
}

/// The package name in a package id: `path+file:///w/conformance#tokenrequest-conformance@0.1.0` (a package
/// whose directory is not named after it) or `path+file:///w/crates/kube-tokenrequest#0.1.0`.
fn package_name(package_id: &str) -> &str {
    let (path, fragment) = package_id.rsplit_once('#').unwrap_or((package_id, ""));
    match fragment.split_once('@') {
        Some((name, _version)) => name,
        None => path.rsplit('/').next().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_and_harnesses_are_told_apart_in_cargo_messages() {
        // Abridged from `cargo test --workspace --no-run --message-format=json`: the CLI's unit-test
        // harness and the CLI itself are both `bin` targets; only `profile.test` tells them apart.
        let json = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/crates/kube-tokenrequest#0.1.0","target":{"kind":["bin"],"name":"kube-tokenrequest"},"profile":{"test":true},"executable":"/w/target/debug/deps/kube_tokenrequest-1"}
{"reason":"compiler-artifact","package_id":"path+file:///w/crates/kube-tokenrequest#0.1.0","target":{"kind":["bin"],"name":"kube-tokenrequest"},"profile":{"test":false},"executable":"/w/target/debug/kube-tokenrequest"}
{"reason":"compiler-artifact","package_id":"path+file:///w/crates/tokenrequest-types#0.1.0","target":{"kind":["lib"],"name":"tokenrequest_types"},"profile":{"test":false},"executable":null}
{"reason":"compiler-artifact","package_id":"path+file:///w/conformance#tokenrequest-conformance@0.1.0","target":{"kind":["test"],"name":"suite"},"profile":{"test":true},"executable":"/w/target/debug/deps/suite-1"}
{"reason":"build-finished","success":true}"#;
        let built = executables(json);
        assert_eq!(
            built.binary("kube-tokenrequest", "kube-tokenrequest").unwrap(),
            Path::new("/w/target/debug/kube-tokenrequest")
        );
        assert!(built.binary("tokenrequest-conformance", "suite").is_err());
        let tests = built.tests("tokenrequest-conformance");
        assert_eq!(tests.len(), 1);
        assert_eq!(
            (tests[0].target_name.as_str(), tests[0].kinds.as_slice()),
            ("suite", &["test".to_owned()][..])
        );
    }

    #[test]
    fn package_names_come_from_both_package_id_forms() {
        assert_eq!(
            package_name("path+file:///w/conformance#tokenrequest-conformance@0.1.0"),
            "tokenrequest-conformance"
        );
        assert_eq!(
            package_name("path+file:///w/crates/kube-tokenrequest#0.1.0"),
            "kube-tokenrequest"
        );
        assert_eq!(
            package_name("registry+https://github.com/rust-lang/crates.io-index#serde@1.0.229"),
            "serde"
        );
    }

    #[test]
    fn the_root_holds_the_workspace_manifest() {
        assert!(root().join("Cargo.toml").is_file());
        assert!(root().join("crates/tokenrequest-evidence").is_dir());
    }
}
