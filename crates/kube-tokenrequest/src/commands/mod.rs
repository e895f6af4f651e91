//! The subcommands, one module each, and the dispatch from the parsed command line.

pub mod create;
pub mod inspect;
pub mod probe;
pub mod review;
pub mod verify;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::CommandFactory as _;

use crate::cli::{Cli, Command, CompletionsArgs, Shell};
use crate::serve;

/// Runs the command and returns the exit code of a command that ran (verify and review exit 1 for a rejected
/// token); an `Err` is a command that could not run.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    let code = match cli.command {
        Command::Create(args) => create::run(&cli.connection, args, &mut stdout).await?,
        Command::Inspect(args) => inspect::run(args, &mut stdout)?,
        Command::Verify(args) => verify::run(&cli.connection, args, &mut stdout).await?,
        Command::Review(args) => review::run(&cli.connection, args, &mut stdout).await?,
        Command::Probe(args) => probe::run(&cli.connection, args, &mut stdout).await?,
        Command::Completions(args) => completions(&args, &mut stdout)?,
        Command::Serve(args) => {
            drop(stdout);
            serve::run(args).await?;
            return Ok(ExitCode::SUCCESS);
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
