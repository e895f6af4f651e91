//! `differential` (`cargo xtask differential`): the embedded server measured against a real kube-apiserver
//! (issue 11, "Differential fidelity"). Both are started with the same token policy by `tokenrequest-envtest`,
//! the conformance targets' own launchers, given the same fixtures and then the same seeded sequence
//! of TokenRequests, TokenReviews, object operations and bad inputs; every answer is normalised
//! ([`normalize`]) and compared. Prints `N requests, D differences` and one readable diff per
//! difference class; exits non-zero when D > 0 unless `--allow-differences`.
//!
//! Findings for the server owner live in `crates/tokenrequest-server/DIFFERENTIAL.md`.

mod normalize;
mod plan;
mod report;
mod run;

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokenrequest_envtest::controlplane::{Binaries, ControlPlane, ControlPlaneConfig};
use tokenrequest_envtest::embedded::Serve;
use tokenrequest_envtest::http::Endpoint;
use tokenrequest_envtest::target::{Release, policy_from_spec};
use tokenrequest_types::policy::TokenPolicy;

use crate::flags::DifferentialArgs;
use crate::workspace_build;
use tokenrequest_envtest::progress::{self, Step};

/// `tokenrequest-evidence differential [FLAGS]`.
pub(crate) fn run(flags: &DifferentialArgs) -> anyhow::Result<ExitCode> {
    tokenrequest_envtest::interrupt::install(progress::warn_line);
    let policy = policy_from_spec(flags.policy.as_deref())?;
    let release = Release::pinned(&flags.k8s_version)?;

    let server_bin = match &flags.server_bin {
        Some(path) => path.clone(),
        None => {
            let step = Step::start("build", "kube-tokenrequest");
            let bin =
                workspace_build::build(&workspace_build::root())?.binary("kube-tokenrequest", "kube-tokenrequest")?;
            step.done("");
            bin
        }
    };

    let step = Step::start(
        "start",
        &format!("kube-apiserver {} and the embedded server", release.apiserver),
    );
    let mut config = ControlPlaneConfig::new(Binaries::locate(flags.controlplane_bin.as_deref(), &release.apiserver)?);
    config.policy = policy.clone();
    let real = ControlPlane::start(&config)?;
    // The real side is a kube-apiserver without a controller manager: deleted namespaces stay Terminating there.
    let embedded = Serve::start(&server_bin, &policy, &["--controllers", "none"])?;
    step.done(&format!("policy {policy}"));

    let res = compare(flags, &policy, real.kubeconfig_path(), embedded.kubeconfig());
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
    flags: &DifferentialArgs,
    policy: &TokenPolicy,
    real_kubeconfig: &Path,
    embedded_kubeconfig: &Path,
) -> anyhow::Result<(usize, Vec<run::Difference>, Duration)> {
    let t0 = Instant::now();
    let api_audiences = policy.audiences.api_audiences().to_vec();
    let requests = plan::plan(flags.seed, flags.requests, &api_audiences);
    let fixtures = requests
        .iter()
        .take_while(|r| matches!(r.effect, plan::Effect::Created(_)))
        .count();
    let mut real = run::Side::new("real", loopback(real_kubeconfig)?);
    let mut embedded = run::Side::new("embedded", loopback(embedded_kubeconfig)?);
    let mut step = Step::counter("compare", requests.len() as u64, "requests");
    let diffs = run::run(&requests, fixtures, &mut real, &mut embedded, |done, d| {
        step.position(done as u64, &format!("{d} differences"));
    })?;
    step.done("");
    Ok((requests.len(), diffs, t0.elapsed()))
}

/// The server of a kubeconfig, which must be on loopback: the run sends admin requests and odd bodies.
fn loopback(kubeconfig: &Path) -> anyhow::Result<Endpoint> {
    let endpoint = Endpoint::read_kubeconfig(kubeconfig)?;
    anyhow::ensure!(
        endpoint.addr().ip().is_loopback(),
        "refusing a non-loopback server {}",
        endpoint.addr()
    );
    Ok(endpoint)
}
