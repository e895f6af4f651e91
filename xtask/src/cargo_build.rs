//! Runs `cargo build` / `cargo test --no-run` for one package and returns the executables cargo
//! reports, so xtask never guesses `target/debug/...` (CARGO_TARGET_DIR, profiles and hashes vary).
//!
//! Cargo's status lines are streamed into the step's spinner; its diagnostics are kept and, if
//! the build fails, the tail is quoted in the error.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;

use crate::progress::Step;

/// An executable produced by the build.
#[derive(Debug, Clone)]
pub(crate) struct Executable {
    /// The cargo target name (`kube-tokenrequest`, `lib`'s crate name, a test file's name).
    pub(crate) target_name: String,
    /// The target kinds, e.g. `["bin"]`, `["lib"]`, `["test"]`.
    pub(crate) kinds: Vec<String>,
    /// Where it is.
    pub(crate) path: PathBuf,
}

/// What to ask cargo for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Build {
    /// `cargo build -p PACKAGE`: the package's binaries.
    Binaries,
    /// `cargo test -p PACKAGE --no-run`: the package's test executables.
    Tests,
}

/// Builds `package` in `root` and returns its executables.
pub(crate) fn build(root: &Path, package: &str, what: Build, step: &Step) -> anyhow::Result<Vec<Executable>> {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    match what {
        Build::Binaries => cmd.args(["build", "-p", package]),
        Build::Tests => cmd.args(["test", "-p", package, "--no-run"]),
    };
    cmd.args(["--message-format=json-render-diagnostics", "--color=never"])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("running cargo in {}", root.display()))?;
    let mut stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    // Read stdout on a thread: cargo writes both streams, and reading one at a time could block it.
    let reader = std::thread::spawn(move || {
        let mut json = String::new();
        stdout.read_to_string(&mut json).map(|_| json)
    });
    let mut diagnostics = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.context("reading cargo's output")?;
        // Cargo's status lines (`Compiling x`, `Blocking waiting for file lock ...`) show what the
        // build is doing; diagnostics are kept for the error.
        let trimmed = line.trim_start();
        if trimmed
            .split_whitespace()
            .next()
            .is_some_and(|w| w.len() > 1 && w.chars().all(|c| c.is_ascii_alphabetic()))
            && trimmed.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        {
            step.message(trimmed);
        }
        diagnostics.push(line);
    }
    let status = child.wait().context("waiting for cargo")?;
    let json = reader
        .join()
        .expect("the reader thread does not panic")
        .context("reading cargo's messages")?;
    if !status.success() {
        let start = diagnostics.len().saturating_sub(30);
        return Err(anyhow::format_err!(
            "`cargo {}` for {package} failed ({status}):\n{}",
            match what {
                Build::Binaries => "build",
                Build::Tests => "test --no-run",
            },
            diagnostics[start..].join("\n")
        ));
    }
    Ok(executables(&json, package))
}

/// The executables of `package` in cargo's JSON messages.
fn executables(json: &str, package: &str) -> Vec<Executable> {
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
        // package_id looks like `path+file:///.../conformance#tokenrequest-conformance@0.1.0`.
        let package_id = message["package_id"].as_str().unwrap_or_default();
        if !(package_id.contains(&format!("#{package}@")) || package_id.contains(&format!("/{package}#"))) {
            continue;
        }
        let target = &message["target"];
        res.push(Executable {
            target_name: target["name"].as_str().unwrap_or_default().to_owned(),
            kinds: target["kind"]
                .as_array()
                .map(|kinds| kinds.iter().filter_map(|k| k.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
            path: PathBuf::from(path),
        });
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executables_of_the_package_are_found_in_cargo_messages() {
        let json = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/crates/kube-tokenrequest#0.1.0","target":{"kind":["bin"],"name":"kube-tokenrequest"},"executable":"/w/target/debug/kube-tokenrequest"}
{"reason":"compiler-artifact","package_id":"path+file:///w/crates/tokenrequest-types#0.1.0","target":{"kind":["lib"],"name":"tokenrequest_types"},"executable":null}
{"reason":"compiler-artifact","package_id":"path+file:///w/conformance#tokenrequest-conformance@0.1.0","target":{"kind":["test"],"name":"suite"},"executable":"/w/target/debug/deps/suite-1"}
{"reason":"build-finished","success":true}"#;
        let bins = executables(json, "kube-tokenrequest");
        assert_eq!(bins.len(), 1);
        assert_eq!(bins[0].path, Path::new("/w/target/debug/kube-tokenrequest"));
        let tests = executables(json, "tokenrequest-conformance");
        assert_eq!(tests.len(), 1);
        assert_eq!(
            (tests[0].target_name.as_str(), tests[0].kinds.as_slice()),
            ("suite", &["test".to_owned()][..])
        );
    }
}
