//! The whole `tokenrequest-evidence` command line, declared once with clap's derive API; the commands receive
//! plain, already-validated values. `cargo xtask bench|differential|reliability` hands its arguments over as
//! they are.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tokenrequest_envtest::controlplane::PINNED_K8S_VERSION;

/// Evidence for kube-tokenrequest's claims, measured against real servers.
#[derive(Debug, Parser)]
#[command(name = "tokenrequest-evidence")]
pub(crate) struct Evidence {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Measure the issuer against its signing limit and a real kube-apiserver, and the product's waits.
    Bench(BenchArgs),
    /// Send the same generated requests to the embedded server and a real kube-apiserver and compare the answers.
    Differential(DifferentialArgs),
    /// The full forms of the reliability and security checks.
    #[command(subcommand)]
    Reliability(Check),
}

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Seconds of each measured load phase (each after 1 s of warm-up).
    #[arg(long, default_value_t = 5.0)]
    pub(crate) seconds: f64,
    /// Concurrent keep-alive HTTPS connections of the load generator.
    #[arg(long, default_value_t = 8)]
    pub(crate) connections: usize,
    /// Only these parts (comma-separated); default: all.
    #[arg(long, value_delimiter = ',', value_enum)]
    pub(crate) only: Vec<Part>,
    /// The real control plane's version, looked up in $TOKENREQUEST_CONTROLPLANE_DIR (`cargo xtask` sets it to
    /// target/controlplane/) or $KUBEBUILDER_ASSETS.
    #[arg(long, default_value = PINNED_K8S_VERSION)]
    pub(crate) k8s_version: String,
    /// Where to write the Markdown table (default: target/bench/results.md).
    #[arg(long)]
    pub(crate) markdown: Option<PathBuf>,
    /// `refresh`: simulated pods, each holding one pod-bound token.
    #[arg(long, default_value_t = 2000)]
    pub(crate) pods: usize,
    /// `refresh`: pods started per second (kubelet's first TokenRequest of each pod, the start wave).
    #[arg(long, default_value_t = 200.0)]
    pub(crate) pod_start_rate: f64,
    /// `refresh`: the cache's refresh jitter, one refresh wave per value (comma-separated: `10s,5m`; kubelet
    /// uses 10 s).
    #[arg(long, value_delimiter = ',', value_parser = parse_duration, default_value = "10s,5m")]
    pub(crate) refresh_jitter: Vec<Duration>,
    /// `refresh`: seed of the pods' jitter draws (same seed, same schedule).
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
}

fn parse_duration(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value).map_err(|e| format!("{e} (try 10s or 5m)"))
}

/// The parts of a benchmark run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Part {
    /// Embedded server TokenRequests/s ÷ raw signatures/s (RS256, ES256), and the latency at half the peak.
    Issuer,
    /// Embedded server ÷ real kube-apiserver, TokenRequest and TokenReview.
    Real,
    /// `serve` start to kubeconfig written.
    Start,
    /// Criterion benches: token cache, verifier, crypto backends, in-process request path.
    Micro,
    /// The conformance suite's wall time.
    Suite,
    /// kubelet-shaped token refreshes: N pods start at a fixed rate and each refreshes its pod-bound token by
    /// the token cache's rule (80 % of the lifetime less a seeded jitter) on a compressed clock; the height of
    /// each wave (TokenRequests in its busiest second) and its latency, embedded server and real kube-apiserver.
    Refresh,
}

#[derive(Debug, Args)]
pub(crate) struct DifferentialArgs {
    /// Generated requests after the boot-state reads and the fixtures.
    #[arg(long, default_value_t = 2000)]
    pub(crate) requests: usize,
    /// Seed of the sequence (same seed, same requests).
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Token policy for both servers, as for `cargo xtask conformance` (`max=24h,extend=false,...`).
    #[arg(long)]
    pub(crate) policy: Option<String>,
    /// Exit 0 even when the answers differ (CI while the server owner fixes them).
    #[arg(long)]
    pub(crate) allow_differences: bool,
    /// The Kubernetes minor or release of the real server (binaries from `cargo xtask controlplane build`).
    #[arg(long, default_value = "1.37")]
    pub(crate) k8s_version: String,
    /// A directory with `kube-apiserver` and `etcd` (as envtest's `KUBEBUILDER_ASSETS`).
    #[arg(long)]
    pub(crate) controlplane_bin: Option<PathBuf>,
    /// A built `kube-tokenrequest` to use instead of building the workspace.
    #[arg(long)]
    pub(crate) server_bin: Option<PathBuf>,
    /// Print every difference, not one example per class.
    #[arg(long)]
    pub(crate) all: bool,
    /// Also write the difference classes as Markdown here.
    #[arg(long)]
    pub(crate) markdown: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Check {
    /// 10,000+ malformed requests against a loopback server: no 5xx, no panic, store unchanged.
    Barrage {
        /// Requests to send.
        #[arg(long, default_value_t = 10_000)]
        requests: u64,
    },
    /// 200+ concurrent clients creating, deleting, issuing and reviewing: nothing lost, nothing stale.
    Load {
        /// Concurrent clients.
        #[arg(long, default_value_t = 200)]
        clients: u64,
        /// How long.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// No token in any log, report, snapshot or error message (serve, CLI and the conformance suite, traced).
    Leak,
    /// Ctrl-C during `cargo xtask conformance` leaves no server and, after the next run, no namespace.
    Interrupt,
    /// Regression tests of problems found here (see docs/FINDINGS.md), by name.
    Regressions,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_line_is_consistent_and_keeps_its_flags() {
        Evidence::command().debug_assert();
        let parsed = Evidence::try_parse_from([
            "tokenrequest-evidence",
            "differential",
            "--requests",
            "50",
            "--allow-differences",
        ])
        .unwrap();
        let Command::Differential(args) = parsed.command else {
            panic!("not differential: {parsed:?}")
        };
        assert!(args.allow_differences);
        assert_eq!((args.requests, args.seed, args.k8s_version.as_str()), (50, 1, "1.37"));
        let parsed = Evidence::try_parse_from(["tokenrequest-evidence", "bench", "--only", "issuer,start"]).unwrap();
        let Command::Bench(args) = parsed.command else {
            panic!("not bench: {parsed:?}")
        };
        assert_eq!(args.only, [Part::Issuer, Part::Start]);
        assert_eq!((args.pods, args.pod_start_rate, args.seed), (2000, 200.0, 1));
        assert_eq!(args.refresh_jitter, [Duration::from_secs(10), Duration::from_secs(300)]);
        let parsed = Evidence::try_parse_from([
            "tokenrequest-evidence",
            "bench",
            "--only",
            "refresh",
            "--refresh-jitter",
            "30s",
        ])
        .unwrap();
        let Command::Bench(args) = parsed.command else {
            panic!("not bench: {parsed:?}")
        };
        assert_eq!(
            (args.only, args.refresh_jitter),
            (vec![Part::Refresh], vec![Duration::from_secs(30)])
        );
        assert!(Evidence::try_parse_from(["tokenrequest-evidence", "reliability", "load", "--clients", "5"]).is_ok());
    }
}
