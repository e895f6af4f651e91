//! `kube-tokenrequest conformance`: from nothing to a verdict. Checks that the target can run here, starts it
//! (the embedded server, a real kube-apiserver, kind, k3s; or uses `--kubeconfig`), runs the conformance checks
//! against its kubeconfig in this process, stops it (also on failure and Ctrl-C), and writes the reports.
//!
//! Exit status: 0 when at least one check ran and none failed; 1 otherwise (a failed check, a target that could
//! not start or cannot run here, an interrupt).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use tokenrequest_conformance::Target;
use tokenrequest_conformance::report::{self, Summary, Verdict};
use tokenrequest_conformance::runner::{self, CheckResult, Outcome};
use tokenrequest_envtest::target::{Cluster, Release, Running, TargetSpec};
use tokenrequest_envtest::{Error as EnvtestError, interrupt};
use tokenrequest_types::policy::TokenPolicy;

use crate::connection::ConnectionArgs;
use tokenrequest_envtest::progress::{self, Step};

/// `conformance` flags. The global `--kubeconfig` names an existing cluster: nothing is started or deleted.
#[derive(Debug, Args)]
pub struct ConformanceArgs {
    /// The target to start. Ignored when --kubeconfig is given.
    #[arg(long, value_enum, default_value_t = ClusterArg::Embedded)]
    pub cluster: ClusterArg,
    /// Kubernetes minor (or full) version for apiserver, kind and k3s: 1.35, 1.36 or 1.37.
    #[arg(long, value_name = "X.Y", default_value = "1.37")]
    pub k8s_version: String,
    /// Run only the checks whose name (`group::check`) contains this text.
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// Leave the started cluster running (kind, k3s) and print how to reach it.
    #[arg(long)]
    pub keep: bool,
    /// Where to write this target's reports, alone (no matrix) [default: REPORT_ROOT/<target>].
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// The directory holding one report directory per target and the matrix page over them.
    #[arg(long, value_name = "DIR", default_value = "conformance-report")]
    pub report_root: PathBuf,
    /// Only rebuild the matrix page under --report-root from the targets' reports there, then exit.
    #[arg(long)]
    pub matrix_only: bool,
    /// The token policy the target is expected to enforce, e.g. `max=24h,extend=false,audiences=a,b`
    /// (keys: max, extend, audiences, alg). It configures the started targets and is checked by the suite.
    #[arg(long, value_name = "POLICY")]
    pub policy: Option<String>,
    /// Directory holding kube-apiserver and etcd for `--cluster apiserver` (else $KUBEBUILDER_ASSETS,
    /// else the cache `kube-tokenrequest controlplane build` fills).
    #[arg(long, value_name = "DIR")]
    pub controlplane_bin: Option<PathBuf>,
    /// With `--cluster apiserver`: also run kube-controller-manager (a `default` service account in every
    /// namespace, namespaces that finish deleting, garbage collection), as a small cluster has it.
    #[arg(long)]
    pub controllers: bool,
}

/// The targets `conformance` can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClusterArg {
    /// `kube-tokenrequest serve` on loopback (no container engine needed).
    Embedded,
    /// A real kube-apiserver and etcd as loopback processes.
    Apiserver,
    /// A kind cluster (needs a container engine and the kind CLI).
    Kind,
    /// A k3s container through testcontainers (needs a container engine).
    K3s,
}

impl From<ClusterArg> for Cluster {
    fn from(arg: ClusterArg) -> Self {
        match arg {
            ClusterArg::Embedded => Cluster::Embedded,
            ClusterArg::Apiserver => Cluster::Apiserver,
            ClusterArg::Kind => Cluster::Kind,
            ClusterArg::K3s => Cluster::K3s,
        }
    }
}

/// What to run against: a target to start, or an existing cluster.
enum Plan {
    Start(Box<TargetSpec>),
    Existing(PathBuf),
}

impl Plan {
    fn name(&self) -> String {
        match self {
            Plan::Start(spec) => spec.name(),
            Plan::Existing(_) => "kubeconfig".to_owned(),
        }
    }

    fn description(&self) -> String {
        match self {
            Plan::Start(spec) => spec.description(),
            Plan::Existing(path) => format!("existing cluster ({})", path.display()),
        }
    }
}

/// The policy `--policy` states, on top of kube-apiserver's defaults.
fn parse_policy(spec: Option<&str>) -> anyhow::Result<TokenPolicy> {
    tokenrequest_envtest::target::policy_from_spec(spec).map_err(|err| match spec {
        Some(spec) => anyhow::format_err!("--policy {spec:?}: {err}"),
        None => anyhow::Error::new(err),
    })
}

/// Runs the command.
pub async fn run(connection: &ConnectionArgs, args: ConformanceArgs) -> anyhow::Result<ExitCode> {
    if args.matrix_only {
        return match report::write_matrix(&args.report_root)? {
            Some(path) => {
                progress::line(&format!("matrix: {}", path.display()));
                Ok(ExitCode::SUCCESS)
            }
            None => Err(anyhow::format_err!(
                "no target reports (summary.json) under {}",
                args.report_root.display()
            )),
        };
    }
    if args.controllers && (args.cluster != ClusterArg::Apiserver || connection.kubeconfig.is_some()) {
        anyhow::bail!(
            "--controllers applies to --cluster apiserver (the embedded server, kind and k3s have their controllers)"
        );
    }
    let started = Instant::now();
    interrupt::install(progress::warn_line);
    let policy = parse_policy(args.policy.as_deref())?;
    let plan = match &connection.kubeconfig {
        Some(path) => Plan::Existing(tokenrequest_envtest::existing::check(path)?),
        None => {
            let mut spec = TargetSpec::new(args.cluster.into(), Release::pinned(&args.k8s_version)?, policy.clone());
            spec.server_binary = Some(std::env::current_exe().context("finding this executable for `serve`")?);
            spec.controlplane_bin.clone_from(&args.controlplane_bin);
            spec.controllers = args.controllers;
            Plan::Start(Box::new(spec))
        }
    };
    // The matrix covers the targets under the report root; a `--report-dir` stands alone.
    let (report_dir, matrix_root) = match &args.report_dir {
        Some(dir) => (dir.clone(), None),
        None => (args.report_root.join(plan.name()), Some(args.report_root.as_path())),
    };
    // A started target enforces the policy it was given; an existing one only what --policy states.
    let expected_policy = match plan {
        Plan::Existing(_) => args.policy.as_ref().map(|_| policy.to_string()),
        Plan::Start(_) => Some(policy.to_string()),
    };
    let mut summary = Summary {
        target: plan.name(),
        description: plan.description(),
        verdict: Verdict::Error,
        reason: None,
        expected_policy: expected_policy.clone(),
        probed_policy: None,
        kubernetes_version: None,
        duration_secs: 0.0,
        passed: 0,
        failed: 0,
        skipped: 0,
    };

    if let Plan::Start(spec) = &plan
        && let Err(err) = spec.check_prerequisites()
    {
        if let Some(reason) = err.unavailable() {
            // Recorded as skipped for the matrix, but the command still fails: nothing was checked.
            summary.verdict = Verdict::Skipped;
            summary.reason = Some(reason);
            summary.duration_secs = started.elapsed().as_secs_f64();
            report::write(&report_dir, &summary, &[], matrix_root)?;
        }
        return Err(err.into());
    }

    let checks = start_check_stop(plan, &args, expected_policy, &mut summary).await;
    summary.duration_secs = started.elapsed().as_secs_f64();
    let checks = match checks {
        Ok(checks) => checks,
        Err(err) => {
            summary.reason = Some(tokenrequest_types::token::redact_jwts(&format!("{err:#}")).into_owned());
            report::write(&report_dir, &summary, &[], matrix_root)?;
            return Err(err);
        }
    };
    (summary.passed, summary.failed, summary.skipped) = report::counts(&checks);
    summary.verdict = Verdict::of(&checks);
    if summary.verdict == Verdict::Failed && summary.passed + summary.failed == 0 {
        summary.reason = Some("no check ran".to_owned());
    }
    if interrupt::requested() {
        summary.verdict = Verdict::Error;
        summary.reason = Some("interrupted".to_owned());
    }
    let paths = report::write(&report_dir, &summary, &checks, matrix_root)?;
    print_verdict(&summary, &checks, &paths);
    Ok(if summary.verdict == Verdict::Passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Start, check, stop. The target is stopped whatever happened.
async fn start_check_stop(
    plan: Plan,
    args: &ConformanceArgs,
    expected_policy: Option<String>,
    summary: &mut Summary,
) -> anyhow::Result<Vec<CheckResult>> {
    let description = plan.description();
    let start_message = description.clone();
    let running = tokio::task::spawn_blocking(move || -> Result<Running, EnvtestError> {
        let step = Step::start("start", &start_message);
        let running = match plan {
            Plan::Existing(path) => Ok(Running::Existing(path)),
            Plan::Start(spec) => spec.start(&mut |line| step.message(line)),
        };
        match &running {
            Ok(_) => step.done(""),
            Err(_) => step.fail(""),
        }
        running
    })
    .await
    .context("the start task")??;

    let res = check(
        running.kubeconfig(),
        running.retired_keys(),
        &description,
        expected_policy,
        args.filter.as_deref(),
        summary,
    )
    .await;

    let step = Step::start("teardown", &summary.target);
    let keep = args.keep;
    let stopped = tokio::task::spawn_blocking(move || running.stop(keep))
        .await
        .context("the teardown task")?;
    match stopped {
        Ok(Some(note)) => {
            step.done("");
            progress::line(&note);
        }
        Ok(None) => step.done(""),
        Err(err) => {
            step.fail(&err.to_string());
            // A failed stop does not hide the checks' result, but it is an error of the run.
            res?;
            return Err(anyhow::Error::new(err).context("stopping the target"));
        }
    }
    res
}

/// Probes the target and runs the selected checks against it.
async fn check(
    kubeconfig: &Path,
    retired_keys: &[tokenrequest_envtest::pki::RetiredKey],
    description: &str,
    expected_policy: Option<String>,
    filter: Option<&str>,
    summary: &mut Summary,
) -> anyhow::Result<Vec<CheckResult>> {
    let target = Arc::new(
        Target::for_kubeconfig(kubeconfig, expected_policy, description, retired_keys)
            .await
            .context("reading the target's kubeconfig")?,
    );
    summary.kubernetes_version = target.kubernetes_version().await;
    match tokenrequest_conformance::probe::probed(&target).await {
        Ok(probed) => summary.probed_policy = Some(probed.policy.to_string()),
        // Every check reports the same failure; the report says it once per check.
        Err(err) => progress::warn_line(&format!("probing the target's policy failed: {err}")),
    }
    let checks = runner::selected(filter);
    let mut step = Step::counter("checks", checks.len() as u64, "running");
    let mut done = 0;
    let run = runner::run(target, &checks, |result| {
        done += 1;
        step.position(done, &result.id);
        if result.outcome == Outcome::Failed {
            step.note(&format!("FAIL {}", result.id));
        }
    });
    let results = tokio::select! {
        results = run => results,
        () = interrupted() => return Err(anyhow::format_err!("interrupted")),
    };
    let failed = results.iter().filter(|r| r.outcome == Outcome::Failed).count();
    let message = format!("{}/{} passed", results.len() - failed, results.len());
    if failed == 0 {
        step.done(&message);
    } else {
        step.fail(&message);
    }
    Ok(results)
}

/// Resolves once Ctrl-C or SIGTERM has arrived.
async fn interrupted() {
    while !interrupt::requested() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn print_verdict(summary: &Summary, checks: &[CheckResult], paths: &[PathBuf]) {
    let mut line = format!(
        "{} {}: {} passed, {} failed, {} skipped in {}",
        summary.verdict.as_str(),
        summary.target,
        summary.passed,
        summary.failed,
        summary.skipped,
        progress::elapsed(Duration::from_secs_f64(summary.duration_secs))
    );
    if let Some(reason) = &summary.reason {
        line.push_str(&format!(" ({reason})"));
    }
    progress::line(&line);
    for check in checks.iter().filter(|c| c.outcome == Outcome::Failed) {
        let why = check.failure.as_ref().map_or("", |f| f.summary.as_str());
        progress::line(&format!("  FAIL {} ({}): {why}", check.id, check.rules.join(", ")));
    }
    if let Some(policy) = &summary.probed_policy {
        progress::line(&format!("  probed policy: {policy}"));
    }
    for path in paths {
        progress::line(&format!("  report: {}", path.display()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_policies_name_the_flag_and_the_problem() {
        let cases = [
            (
                "speed=1",
                r#"--policy "speed=1": unknown policy key "speed": expected max, extend, audiences, alg, issuers or keys"#,
            ),
            (
                "extend",
                r#"--policy "extend": policy entry "extend" has no value: write key=value"#,
            ),
            (
                "max=10m",
                r#"--policy "max=10m": invalid policy value "10m" for max: expected between 1h and 2^32 seconds"#,
            ),
            (
                "extend=maybe",
                r#"--policy "extend=maybe": invalid policy value "maybe" for extend: expected true or false"#,
            ),
            (
                "alg=HS256",
                r#"--policy "alg=HS256": invalid policy value "HS256" for alg: expected RS256, ES256, ES384 or ES512"#,
            ),
        ];
        for (spec, expected) in cases {
            assert_eq!(parse_policy(Some(spec)).unwrap_err().to_string(), expected);
        }
        assert_eq!(
            parse_policy(None).unwrap().to_string(),
            "max=0,extend=true,audiences=https://kubernetes.default.svc.cluster.local,alg=RS256"
        );
    }
}
