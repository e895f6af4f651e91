//! The command line: global kubectl-like connection flags ([`ConnectionArgs`]) and one subcommand, each declared
//! beside its code in `commands/` (this file only lists them; nothing there imports it back).

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands::{conformance, controlplane, create, credential, doctor, inspect, probe, review, verify};
use crate::connection::ConnectionArgs;
use crate::serve;

/// Request, inspect, review and verify Kubernetes service-account tokens.
#[derive(Debug, Parser)]
#[command(name = "kube-tokenrequest", version)]
pub struct Cli {
    /// How to reach the cluster.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Request a token for a service account (prints the token, like `kubectl create token`).
    Create(create::CreateArgs),
    /// A kubeconfig credential plugin: hand kubectl a cached short-lived service-account token (`setup` writes
    /// the kubeconfig).
    Credential(credential::CredentialArgs),
    /// Show a token's header and claims without verifying it (never the signature).
    Inspect(inspect::InspectArgs),
    /// Verify a token against the cluster's OIDC keys: exit 0 and the subject, or exit 1 and why.
    Verify(verify::VerifyArgs),
    /// Ask the API server to review a token (TokenReview).
    Review(review::ReviewArgs),
    /// Will AWS, Azure, GCP, Vault, SPIRE or an OIDC library accept this cluster's tokens? Verdicts, reasons, fixes.
    Doctor(doctor::DoctorArgs),
    /// Infer the cluster's effective token policy through the public API.
    Probe(probe::ProbeArgs),
    /// Print shell completions.
    Completions(CompletionsArgs),
    /// Run the embedded reference API server (the token subsystem of kube-apiserver) on loopback.
    Serve(serve::ServeArgs),
    /// Start a target API (or use --kubeconfig), run the conformance checks against it, write reports.
    Conformance(conformance::ConformanceArgs),
    /// A real kube-apiserver and etcd built from Go modules, for `conformance --cluster apiserver`.
    #[command(subcommand)]
    Controlplane(controlplane::ControlplaneCommand),
}

/// `completions SHELL`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: Shell,
}

/// Shells with completions.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    /// GNU bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli = Cli::try_parse_from([
            "kube-tokenrequest",
            "create",
            "robot",
            "-n",
            "team-a",
            "--context",
            "kind",
        ])
        .unwrap();
        assert_eq!(cli.connection.namespace.as_deref(), Some("team-a"));
        assert_eq!(cli.connection.context.as_deref(), Some("kind"));
    }
}
