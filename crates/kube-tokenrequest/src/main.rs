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
/// the other commands only warn, and kube-rs's own error logs are off: the error line says it once.
fn init_logging(command: &Command) {
    let default = if matches!(command, Command::Serve(_)) {
        "info"
    } else {
        "warn,kube_client=off"
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .init();
}

/// One line on stderr with the error and its causes, and exit code 1. A closed stdout (`| head`) is not an
/// error worth a message: the reader has what it wanted.
fn fail(error: &anyhow::Error) -> ExitCode {
    let broken_pipe = error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe);
    if broken_pipe {
        return ExitCode::SUCCESS;
    }
    let line = format!("error: {}", one_line(error));
    // Nothing useful can be done when stderr is gone.
    let _ = writeln!(std::io::stderr().lock(), "{line}");
    ExitCode::FAILURE
}

/// The error and its causes joined by `: `. Some errors (kube-rs's, hyper's) repeat their cause in their own
/// message; a cause already contained in the message before it is skipped, so nothing is said twice.
fn one_line(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string().replace('\n', " ");
        if parts.last().is_some_and(|previous| previous.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_said_once() {
        let error = anyhow::anyhow!("tcp connect error: refused")
            .context("client error (Connect): tcp connect error: refused")
            .context("cannot reach the API server");
        assert_eq!(
            one_line(&error),
            "cannot reach the API server: client error (Connect): tcp connect error: refused"
        );
    }
}
