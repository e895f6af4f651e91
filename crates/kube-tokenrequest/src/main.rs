//! `kube-tokenrequest`: the command-line interface. Each subcommand lives in its own module under `commands`;
//! this file parses the command line, sets up logging and TLS, runs one command and turns its outcome into an exit
//! code and at most one line on stderr.

mod cli;
mod commands;
mod connection;
mod output;
mod relative_time;
mod serve;
mod token_input;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{CommandFactory as _, Parser as _};

use crate::cli::{Cli, Command, CompletionsArgs, Shell};
use crate::commands::{conformance, controlplane, create, credential, doctor, inspect, probe, review, verify};

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
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => fail(&error),
    }
}

/// Runs the command and returns the exit code of a command that ran (verify and review exit 1 for a rejected
/// token, conformance for a failed check); an `Err` is a command that could not run.
async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    let code = match cli.command {
        Command::Create(args) => create::run(&cli.connection, args, &mut stdout).await?,
        Command::Credential(args) => credential::run(&cli.connection, args, &mut stdout).await?,
        Command::Inspect(args) => inspect::run(args, &mut stdout)?,
        Command::Verify(args) => verify::run(&cli.connection, args, &mut stdout).await?,
        Command::Review(args) => review::run(&cli.connection, args, &mut stdout).await?,
        Command::Doctor(args) => doctor::run(&cli.connection, args, &mut stdout).await?,
        Command::Probe(args) => probe::run(&cli.connection, args, &mut stdout).await?,
        Command::Completions(args) => completions(&args, &mut stdout)?,
        Command::Serve(args) => {
            drop(stdout);
            serve::run(args).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Conformance(args) => {
            drop(stdout);
            return conformance::run(&cli.connection, args).await;
        }
        Command::Controlplane(command) => {
            drop(stdout);
            return controlplane::run(command).await;
        }
    };
    stdout.flush().context("cannot write to stdout")?;
    Ok(code)
}

fn completions(args: &CompletionsArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut Cli::command(), "kube-tokenrequest", out);
    Ok(ExitCode::SUCCESS)
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
    // doctor tells an unreachable server, a non-Kubernetes endpoint and missing permissions apart.
    error
        .downcast_ref::<doctor::DoctorFailure>()
        .map_or(ExitCode::FAILURE, |failure| ExitCode::from(failure.code))
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
