//! `cargo xtask`: the repository's automation, in Rust so it runs wherever cargo does (the pattern is
//! <https://github.com/matklad/cargo-xtask>).
//!
//! xtask is thin on purpose (rust-analyzer's is the model): the product lives in crates users can install, and
//! each command here builds a workspace binary and runs it with repository paths (`target/conformance`,
//! `target/controlplane`), or checks the repository itself. Its dependencies stay light (no async runtime, no
//! TLS, no container client) so that `cargo xtask --help` compiles in seconds; please keep it that way.
//!
//! The CLI is declared once in [`flags`]; this file only dispatches.

mod flags;
mod fuzz;
mod run;
#[cfg(test)]
mod tidy;
mod workflows;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use crate::flags::Command;

fn main() -> ExitCode {
    let flags = flags::Xtask::parse();
    let root = project_root();
    let res = match flags.command {
        Command::Conformance(pass) => run::product(&root, &["conformance"], &pass.args),
        Command::Report => run::product(&root, &["conformance", "--matrix-only"], &[]),
        Command::Controlplane(pass) => run::product(&root, &["controlplane"], &pass.args),
        Command::Differential(pass) => run::evidence(&root, "differential", &pass.args),
        Command::Bench(pass) => run::evidence(&root, "bench", &pass.args),
        Command::Reliability(pass) => run::evidence(&root, "reliability", &pass.args),
        Command::Fuzz(args) => fuzz::run(&root, args.seconds, &args.targets).map(|()| ExitCode::SUCCESS),
        Command::LintWorkflows => workflows::lint(&root).map(|()| ExitCode::SUCCESS),
    };
    match res {
        Ok(code) => code,
        Err(err) => {
            #[allow(clippy::print_stderr, reason = "the one error line of the process")]
            {
                eprintln!("error: {err:#}");
            }
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
