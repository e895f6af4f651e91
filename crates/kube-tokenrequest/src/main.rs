//! `kube-tokenrequest`: the command-line interface. Each subcommand lives in its own module under `commands`;
//! this file parses the command line, sets up logging and TLS, runs one command and turns its outcome into an exit
//! code and at most one line on stderr.

mod cli;
mod commands;
mod connection;
mod relative_time;
mod serve;
mod token_input;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.command);
    // rustls finds both ring and aws-lc-rs in this dependency graph and would refuse to pick one; the workspace
    // uses aws-lc-rs. An error means a provider is already installed, which is fine.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&anyhow::Error::new(error).context("cannot start the async runtime")),
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(error) => fail(&error),
    }
}

/// Logs go to stderr (stdout carries command output), filtered by `RUST_LOG`. `serve` logs at info by default,
/// the other commands only warn.
fn init_logging(command: &Command) {
    let default = if matches!(command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .init();
}

/// One line on stderr with the error and its causes, and exit code 1.
fn fail(error: &anyhow::Error) -> ExitCode {
    let line = format!("error: {error:#}").replace('\n', " ");
    // Nothing useful can be done when stderr is gone.
    let _ = writeln!(std::io::stderr().lock(), "{line}");
    ExitCode::FAILURE
}
