//! The whole `cargo xtask` command line, declared once with clap's derive API.
//!
//! Kept apart from the commands so that `--help` can be read in one place and the commands
//! receive plain, already-validated values.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Project automation for kube-tokenrequest.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    // Dispatched in main.rs before this parser, each with its own `--help`.
    after_help = "More commands, each with its own --help:\n  \
                  bench         the issuer against its signing limit and a real kube-apiserver (BENCHMARKS.md)\n  \
                  differential  the embedded server and a real kube-apiserver, request by request\n  \
                  fuzz          every cargo-fuzz target for a while\n  \
                  reliability   the full barrage, load, leak, interrupt and regression checks"
)]
pub(crate) struct Xtask {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Start a target API, run the conformance suite against it, write reports, stop the target.
    Conformance(ConformanceArgs),
    /// Rebuild `report.html` (the checks × targets matrix) from every target under a report root.
    Report(ReportArgs),
    /// Build a real kube-apiserver and etcd from Go modules (see `xtask/controlplane/`).
    #[command(subcommand)]
    Controlplane(ControlplaneCommand),
    /// Check `.github/workflows/*.yml` with actionlint (skipped, with the reason, when it is not installed).
    LintWorkflows,
}

#[derive(Debug, Args)]
pub(crate) struct ConformanceArgs {
    /// The target to start. Ignored when --kubeconfig is given.
    #[arg(long, value_enum, default_value_t = Cluster::Embedded)]
    pub(crate) cluster: Cluster,
    /// Use an existing cluster: nothing is started or deleted, and the policy is probed, not assumed.
    #[arg(long, value_name = "PATH")]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// Kubernetes minor (or full) version for apiserver, kind and k3s: 1.35, 1.36 or 1.37.
    #[arg(long, value_name = "X.Y", default_value = "1.37")]
    pub(crate) k8s_version: String,
    /// Run only the checks whose name (`group::check`) contains this text.
    #[arg(long, value_name = "EXPR")]
    pub(crate) filter: Option<String>,
    /// Leave the started cluster running (kind, k3s) and print how to reach it.
    #[arg(long)]
    pub(crate) keep: bool,
    /// Where to write junit.xml, report.md and report.html [default: target/conformance/<target>].
    #[arg(long, value_name = "DIR")]
    pub(crate) report_dir: Option<PathBuf>,
    /// The token policy the target is expected to enforce, e.g. `max=24h,extend=false,audiences=a,b`
    /// (keys: max, extend, audiences, alg). It configures the started targets and is checked by the suite.
    #[arg(long, value_name = "POLICY")]
    pub(crate) policy: Option<String>,
    /// Directory holding kube-apiserver and etcd for `--cluster apiserver` (else $KUBEBUILDER_ASSETS,
    /// else `target/controlplane/<version>`).
    #[arg(long, value_name = "DIR")]
    pub(crate) controlplane_bin: Option<PathBuf>,
}

/// The targets xtask can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Cluster {
    /// `kube-tokenrequest serve` on loopback (no container engine needed).
    Embedded,
    /// A real kube-apiserver and etcd as loopback processes.
    Apiserver,
    /// A kind cluster (needs a container engine and the kind CLI).
    Kind,
    /// A k3s container through testcontainers (needs a container engine).
    K3s,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// The directory holding one subdirectory per target [default: target/conformance].
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ControlplaneCommand {
    /// Build kube-apiserver and etcd into `target/controlplane/<version>/` (skipped when present).
    Build(ControlplaneBuildArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ControlplaneBuildArgs {
    /// The Kubernetes release, e.g. v1.37.1.
    #[arg(long, default_value = xtask::controlplane::PINNED_K8S_VERSION)]
    pub(crate) k8s_version: String,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn help_names_the_commands_dispatched_before_this_parser() {
        Xtask::command().debug_assert();
        let help = Xtask::command().render_long_help().to_string();
        for command in ["conformance", "bench", "differential", "fuzz", "reliability"] {
            assert!(
                help.contains(&format!("  {command} ")),
                "{command} missing from:\n{help}"
            );
        }
    }
}
