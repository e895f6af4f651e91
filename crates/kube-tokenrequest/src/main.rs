//! `kube-tokenrequest`: the command-line interface. Each subcommand lives in its own module.

mod serve;

use clap::{Parser, Subcommand};

/// Request, inspect, review and verify Kubernetes service-account tokens.
#[derive(Debug, Parser)]
#[command(name = "kube-tokenrequest", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the embedded reference API server (the token subsystem of kube-apiserver) on loopback.
    Serve(serve::ServeArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Logs go to stderr: stdout carries command output (`serve`'s `listening on` line).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
    }
}
