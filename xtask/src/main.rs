//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does
//! (the pattern is <https://github.com/matklad/cargo-xtask>).
//!
//! The main command is `cargo xtask conformance`: start a target API (the embedded server, a real
//! kube-apiserver, a kind or k3s cluster, or an existing cluster by kubeconfig), run the
//! conformance suite against it as a separate process, write reports, and stop what was started.
//! xtask never links the server or the suite: it runs them, exactly as a user would.
//!
//! The CLI is declared once in [`flags`]; each command lives in its own module and this file only
//! dispatches.

mod bench;
mod cargo_build;
mod conformance;
mod differential;
mod flags;
mod interrupt;
mod libtest;
mod policy;
mod progress;
mod redact;
mod reliability;
mod report;
mod suite;
mod target;
#[cfg(test)]
mod tidy;
mod workflows;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // `fuzz` and `reliability` (issue 9) parse their own flags in `reliability.rs`.
    if matches!(std::env::args().nth(1).as_deref(), Some("fuzz" | "reliability")) {
        return reliability::main();
    }
    // `bench` (issue 10) parses its own flags in `bench/`, so this file and `flags` stay untouched by it.
    if std::env::args().nth(1).as_deref() == Some("bench") {
        return bench::main();
    }
    // `differential` (issue 11) parses its own flags in `differential/`, like `bench`.
    if std::env::args().nth(1).as_deref() == Some("differential") {
        return differential::main();
    }
    let flags = flags::Xtask::parse();
    let res: anyhow::Result<ExitCode> = match flags.command {
        flags::Command::Conformance(args) => conformance::run(&args).map(conformance::Outcome::exit_code),
        flags::Command::Report(args) => report::run_matrix(&args).map(|()| ExitCode::SUCCESS),
        flags::Command::Controlplane(flags::ControlplaneCommand::Build(args)) => {
            xtask::controlplane::build(&args.k8s_version).map(|_| ExitCode::SUCCESS)
        }
        flags::Command::LintWorkflows => workflows::lint(&project_root()).map(|()| ExitCode::SUCCESS),
    };
    match res {
        Ok(code) => code,
        Err(err) => {
            // One line: a person (or a CI log) should see the reason without a backtrace.
            progress::error_line(&format!("{err:#}"));
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: every child process runs with an explicit working directory under it.
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
