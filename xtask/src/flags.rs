//! The whole `cargo xtask` command line, declared once with clap's derive API. Every command goes through this
//! parser; commands that delegate to a workspace binary take the rest of the line as that binary's arguments.

use clap::{Args, Parser, Subcommand};

/// Project automation for kube-tokenrequest: each command builds and runs a workspace binary, or checks the
/// repository.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
pub(crate) struct Xtask {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Start a target API, run the conformance checks against it, write reports under target/conformance
    /// (`kube-tokenrequest conformance`; see its --help).
    Conformance(Passthrough),
    /// Rebuild target/conformance/report.html (the checks × targets matrix) from the targets' reports.
    Report,
    /// Build a real kube-apiserver and etcd from Go modules into target/controlplane
    /// (`kube-tokenrequest controlplane`; see its --help).
    Controlplane(Passthrough),
    /// The embedded server and a real kube-apiserver, request by request (`tokenrequest-evidence differential`).
    Differential(Passthrough),
    /// The issuer against its signing limit and a real kube-apiserver, into BENCHMARKS.md
    /// (`tokenrequest-evidence bench`).
    Bench(Passthrough),
    /// The barrage, load, leak, interrupt and regression checks (`tokenrequest-evidence reliability`).
    Reliability(Passthrough),
    /// Every cargo-fuzz target (nightly) for a while, one after the other.
    Fuzz(FuzzArgs),
    /// Check `.github/workflows/*.yml` with actionlint (skipped, with the reason, when it is not installed).
    LintWorkflows,
}

/// `fuzz` flags.
#[derive(Debug, Args)]
pub(crate) struct FuzzArgs {
    /// Seconds per target.
    #[arg(long, default_value_t = 60)]
    pub(crate) seconds: u64,
    /// Only these targets (default: all of `fuzz/fuzz_targets/`).
    #[arg(long = "target", value_name = "NAME")]
    pub(crate) targets: Vec<String>,
}

/// The arguments of the delegated command, passed on unchanged (including `--help`).
#[derive(Debug, Args)]
pub(crate) struct Passthrough {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
    pub(crate) args: Vec<String>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_line_is_consistent_and_passes_arguments_on() {
        Xtask::command().debug_assert();
        let parsed = Xtask::try_parse_from(["xtask", "conformance", "--cluster", "kind", "--help"]).unwrap();
        let Command::Conformance(pass) = parsed.command else {
            panic!("not conformance: {parsed:?}");
        };
        assert_eq!(pass.args, ["--cluster", "kind", "--help"]);
    }

    #[test]
    fn help_names_every_command() {
        let help = Xtask::command().render_long_help().to_string();
        for command in [
            "conformance",
            "report",
            "controlplane",
            "differential",
            "bench",
            "reliability",
            "fuzz",
            "lint-workflows",
        ] {
            assert!(
                help.contains(&format!("  {command}")),
                "{command} missing from:\n{help}"
            );
        }
    }
}
