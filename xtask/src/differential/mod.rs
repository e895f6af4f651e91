//! `cargo xtask differential`: the embedded server measured against a real kube-apiserver
//! (issue 11, "Differential fidelity"). Both are started with the same token policy by the
//! conformance targets' own launchers, given the same fixtures and then the same seeded sequence
//! of TokenRequests, TokenReviews, object operations and bad inputs; every answer is normalised
//! ([`normalize`]) and compared. Prints `N requests, D differences` and one readable diff per
//! difference class; exits non-zero when D > 0 unless `--allow-differences`.
//!
//! Findings for the server owner live in `crates/tokenrequest-server/DIFFERENTIAL.md`.

mod http;
mod normalize;
mod plan;
mod report;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use clap::Parser as _;

use crate::progress::{self, Step};

/// Flags of `cargo xtask differential`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "cargo xtask differential",
    about = "Send the same generated requests to the embedded server and a real kube-apiserver and compare the answers"
)]
struct Flags {
    /// Generated requests after the fixtures.
    #[arg(long, default_value_t = 1000)]
    requests: usize,
    /// Seed of the sequence (same seed, same requests).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Token policy for both servers, as for `cargo xtask conformance` (`max=24h,extend=false,...`).
    #[arg(long)]
    policy: Option<String>,
    /// Exit 0 even when the answers differ (CI while the server owner fixes them).
    #[arg(long)]
    allow_differences: bool,
    /// The Kubernetes minor or release of the real server (binaries from `cargo xtask controlplane build`).
    #[arg(long, default_value = "1.37")]
    k8s_version: String,
    /// A directory with `kube-apiserver` and `etcd` (as envtest's `KUBEBUILDER_ASSETS`).
    #[arg(long)]
    controlplane_bin: Option<PathBuf>,
    /// A built `kube-tokenrequest` to use instead of running `cargo build -p kube-tokenrequest`.
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Print every difference, not one example per class.
    #[arg(long)]
    all: bool,
    /// Also write the difference classes as Markdown here.
    #[arg(long)]
    markdown: Option<PathBuf>,
}

/// Entry point, dispatched from `main.rs` before the shared CLI parses (like `bench`).
pub(crate) fn main() -> ExitCode {
    let flags = Flags::parse_from(std::env::args().skip(1));
    match differential(&flags) {
        Ok(code) => code,
        Err(err) => {
            progress::error_line(&crate::redact::redact_jwts(&format!("{err:#}")));
            ExitCode::FAILURE
        }
    }
}

fn differential(flags: &Flags) -> anyhow::Result<ExitCode> {
    crate::interrupt::install();
    let root = crate::project_root();
    let policy = crate::policy::parse(flags.policy.as_deref())?;
    let release = crate::target::release(&flags.k8s_version)?;

    let server_bin = match &flags.server_bin {
        Some(path) => path.clone(),
        None => {
            let step = Step::start("build", "kube-tokenrequest");
            let bin = crate::cargo_build::build(&root, &step)?.binary("kube-tokenrequest", "kube-tokenrequest")?;
            step.done("");
            bin
        }
    };

    let step = Step::start(
        "start",
        &format!("kube-apiserver {} and the embedded server", release.apiserver),
    );
    let real = crate::target::apiserver::start(flags.controlplane_bin.as_deref(), &release, &policy)?;
    // The real side is a kube-apiserver without a controller manager: deleted namespaces stay Terminating there.
    let embedded =
        crate::target::embedded::start(&root, &server_bin, &policy, &["--namespace-finalize-after", "never"])?;
    step.done(&format!("policy {policy}"));

    let res = compare(flags, &policy, real.kubeconfig(), embedded.kubeconfig());
    let stopped = real.stop().and(embedded.stop());
    let (n, diffs, elapsed) = res?;
    stopped.context("stopping the servers")?;

    let classes = report::classes(&diffs);
    let mut shown = std::collections::BTreeSet::new();
    for class in &classes {
        progress::line(&format!("class: {} ({} requests)", class.key, class.members.len()));
        let take = if flags.all { class.members.len() } else { 1 };
        for d in class.members.iter().take(take) {
            // A request that differs in several fields is printed once, under its first class.
            if shown.insert(d.step) {
                progress::line(&report::render(d, class.members.len()));
            } else {
                progress::line(&format!("  (step {} is shown above)", d.step));
            }
        }
    }
    if let Some(path) = &flags.markdown {
        std::fs::write(path, report::markdown(&classes, n, flags.seed, &policy.to_string()))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    progress::line(&format!(
        "{n} requests, {} differences ({} classes; seed {}, policy {policy}; {} after both servers were up)",
        diffs.len(),
        classes.len(),
        flags.seed,
        progress::elapsed(elapsed)
    ));
    Ok(if diffs.is_empty() || flags.allow_differences {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn compare(
    flags: &Flags,
    policy: &tokenrequest_types::policy::TokenPolicy,
    real_kubeconfig: &std::path::Path,
    embedded_kubeconfig: &std::path::Path,
) -> anyhow::Result<(usize, Vec<run::Difference>, std::time::Duration)> {
    let t0 = Instant::now();
    let api_audiences = policy.audiences.api_audiences().to_vec();
    let requests = plan::plan(flags.seed, flags.requests, &api_audiences);
    let fixtures = requests
        .iter()
        .take_while(|r| matches!(r.effect, plan::Effect::Created(_)))
        .count();
    let mut real = run::Side::new("real", http::Endpoint::from_kubeconfig(real_kubeconfig)?);
    let mut embedded = run::Side::new("embedded", http::Endpoint::from_kubeconfig(embedded_kubeconfig)?);
    let mut step = Step::counter("compare", requests.len() as u64, "requests");
    let diffs = run::run(&requests, fixtures, &mut real, &mut embedded, |done, d| {
        step.position(done as u64, &format!("{d} differences"));
    })?;
    step.done("");
    Ok((requests.len(), diffs, t0.elapsed()))
}
