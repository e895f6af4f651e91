//! `cargo xtask conformance`: from a clone to a verdict. Checks that the target can run here,
//! builds the suite (and the server, for `embedded`), starts the target, runs the suite against
//! its kubeconfig, stops the target (also on failure and Ctrl-C), and writes the reports.
//!
//! The order matters: prerequisites first (a machine without a container engine hears so in one
//! line, before any compile), and the build before the start (a cluster never waits for rustc).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use tokenrequest_types::policy::TokenPolicy;

use crate::flags::{Cluster, ConformanceArgs};
use crate::progress::{self, Step};
use crate::report::{self, Summary, Verdict};
use crate::suite::{self, SuiteEnv};
use crate::target::{self, Running, engine::NoContainerEngine};

/// How the command ended when it ran to a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every check passed.
    Passed,
    /// A check failed (or none ran).
    Failed,
}

impl Outcome {
    /// The process exit code.
    pub(crate) fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Passed => ExitCode::SUCCESS,
            Outcome::Failed => ExitCode::FAILURE,
        }
    }
}

/// Which target, named for reports.
struct Plan {
    /// `embedded`, `kind-1.37`, ... (the report directory's name).
    name: String,
    /// For reports and the suite's `TOKENREQUEST_TARGET`.
    description: String,
    kind: PlanKind,
}

enum PlanKind {
    Embedded,
    Apiserver(target::Release),
    Kind(target::Release),
    K3s(target::Release),
    Existing(PathBuf),
}

impl Plan {
    fn new(args: &ConformanceArgs) -> anyhow::Result<Self> {
        if let Some(path) = &args.kubeconfig {
            let path = target::kubeconfig::existing(path)?;
            return Ok(Plan {
                name: "kubeconfig".to_owned(),
                description: format!("existing cluster ({})", path.display()),
                kind: PlanKind::Existing(path),
            });
        }
        Ok(match args.cluster {
            Cluster::Embedded => Plan {
                name: "embedded".to_owned(),
                description: "embedded (kube-tokenrequest serve)".to_owned(),
                kind: PlanKind::Embedded,
            },
            Cluster::Apiserver => {
                let release = target::release(&args.k8s_version)?;
                Plan {
                    name: format!("apiserver-{}", release.minor),
                    description: format!("kube-apiserver {} + etcd (loopback processes)", release.apiserver),
                    kind: PlanKind::Apiserver(release),
                }
            }
            Cluster::Kind => {
                let release = target::release(&args.k8s_version)?;
                Plan {
                    name: format!("kind-{}", release.minor),
                    description: format!("kind ({})", release.kind_image),
                    kind: PlanKind::Kind(release),
                }
            }
            Cluster::K3s => {
                let release = target::release(&args.k8s_version)?;
                Plan {
                    name: format!("k3s-{}", release.minor),
                    description: format!("k3s (rancher/k3s:{})", release.k3s_tag),
                    kind: PlanKind::K3s(release),
                }
            }
        })
    }
}

/// Runs the command.
pub(crate) fn run(args: &ConformanceArgs) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let root = crate::project_root();
    crate::interrupt::install();
    let policy = crate::policy::parse(args.policy.as_deref())?;
    let plan = Plan::new(args)?;
    let default_root = suite::target_dir(&root).join("conformance");
    // The matrix covers the targets under the default root; a `--report-dir` stands alone.
    let (report_dir, matrix_root) = match &args.report_dir {
        Some(dir) => (dir.clone(), None),
        None => (default_root.join(&plan.name), Some(default_root)),
    };
    // A started target enforces the policy xtask gave it; an existing one only what --policy states.
    let expected_policy = match plan.kind {
        PlanKind::Existing(_) => args.policy.as_ref().map(|_| policy.to_string()),
        _ => Some(policy.to_string()),
    };
    let mut summary = Summary {
        target: plan.name.clone(),
        description: plan.description.clone(),
        verdict: Verdict::Error,
        reason: None,
        expected_policy: expected_policy.clone(),
        probed_policy: None,
        kubernetes_version: None,
        runner: None,
        duration_secs: 0.0,
        passed: 0,
        failed: 0,
        skipped: 0,
    };

    if let Err(err) = check_prerequisites(&root, &plan, &policy) {
        if let Some(no_engine) = err.downcast_ref::<NoContainerEngine>() {
            // Recorded as skipped for the matrix, but the command still fails: nothing was checked.
            summary.verdict = Verdict::Skipped;
            summary.reason = Some(format!("no container engine: {}", no_engine.reason));
            summary.duration_secs = started.elapsed().as_secs_f64();
            report::write(&report_dir, &summary, None, matrix_root.as_deref())?;
        }
        return Err(err);
    }

    let res = build_start_and_check(&root, &plan, &policy, args, &report_dir, expected_policy, &mut summary);
    summary.duration_secs = started.elapsed().as_secs_f64();
    let junit = match res {
        Ok(junit) => junit,
        Err(err) => {
            summary.verdict = Verdict::Error;
            summary.reason = Some(crate::redact::redact_jwts(&format!("{err:#}")).into_owned());
            report::write(&report_dir, &summary, None, matrix_root.as_deref())?;
            return Err(err);
        }
    };

    let checks = report::checks(&junit)?;
    (summary.passed, summary.failed, summary.skipped) = report::counts(&checks);
    let info = report::read_target_info(&report_dir.join("target.json"));
    summary.kubernetes_version = info.kubernetes_version;
    summary.probed_policy = info.policy;
    summary.verdict = if crate::interrupt::requested() {
        summary.reason = Some("interrupted".to_owned());
        Verdict::Error
    } else if summary.failed > 0 {
        Verdict::Failed
    } else if summary.passed == 0 {
        summary.reason = Some("no check ran".to_owned());
        Verdict::Failed
    } else {
        Verdict::Passed
    };
    let paths = report::write(&report_dir, &summary, Some(&junit), matrix_root.as_deref())?;
    print_verdict(&summary, &paths);
    Ok(if summary.verdict == Verdict::Passed {
        Outcome::Passed
    } else {
        Outcome::Failed
    })
}

fn check_prerequisites(root: &Path, plan: &Plan, policy: &TokenPolicy) -> anyhow::Result<()> {
    match &plan.kind {
        PlanKind::Kind(_) => {
            target::kind::check_prerequisites(root)?;
            target::apiserver_flags("kind", policy)?;
        }
        PlanKind::K3s(_) => {
            target::k3s::check_prerequisites(root)?;
            target::apiserver_flags("k3s", policy)?;
        }
        PlanKind::Embedded | PlanKind::Apiserver(_) | PlanKind::Existing(_) => {}
    }
    Ok(())
}

/// Build, start, run, stop. Returns the JUnit XML. The target is stopped whatever happened.
fn build_start_and_check(
    root: &Path,
    plan: &Plan,
    policy: &TokenPolicy,
    args: &ConformanceArgs,
    report_dir: &Path,
    expected_policy: Option<String>,
    summary: &mut Summary,
) -> anyhow::Result<String> {
    let step = Step::start("build", "the conformance suite");
    let built = crate::cargo_build::build(root, &step)?;
    let server_binary = match plan.kind {
        PlanKind::Embedded => Some(built.binary("kube-tokenrequest", "kube-tokenrequest")?),
        _ => None,
    };
    let runner = suite::runner(root, &built, &step);
    summary.runner = Some(runner.name().to_owned());
    step.done(runner.name());
    if crate::interrupt::requested() {
        return Err(crate::interrupt::error());
    }

    let running = start(root, plan, policy, args, server_binary.as_deref())?;
    std::fs::create_dir_all(report_dir)?;
    let target_info = report_dir.join("target.json");
    let _ = std::fs::remove_file(&target_info);
    let env = SuiteEnv {
        kubeconfig: running.kubeconfig().to_owned(),
        expected_policy,
        target: plan.description.clone(),
        target_info,
        run_id: run_id(),
    };
    let res = suite::run(root, &runner, &env, args.filter.as_deref());

    let step = Step::start("teardown", &plan.name);
    match running.stop(args.keep) {
        Ok(Some(note)) => {
            step.done("");
            progress::line(&note);
        }
        Ok(None) => step.done(""),
        Err(err) => {
            step.fail(&format!("{err:#}"));
            // A failed stop does not hide the suite's result, but it is an error of the run.
            res?;
            return Err(err.context("stopping the target"));
        }
    }
    res
}

fn start(
    root: &Path,
    plan: &Plan,
    policy: &TokenPolicy,
    args: &ConformanceArgs,
    server_binary: Option<&Path>,
) -> anyhow::Result<Running> {
    let step = Step::start("start", &plan.description);
    let running = match &plan.kind {
        PlanKind::Embedded => {
            let binary = server_binary.expect("built for the embedded target");
            let server = target::embedded::start(root, binary, policy, &[])?;
            step.done(server.url());
            Running::Embedded(server)
        }
        PlanKind::Apiserver(release) => {
            let cp = target::apiserver::start(args.controlplane_bin.as_deref(), release, policy)?;
            step.done(&release.apiserver);
            Running::Apiserver(cp)
        }
        PlanKind::Kind(release) => {
            let cluster = target::kind::create(root, release, policy, &step)?;
            step.done(&release.kind_image);
            Running::Kind(cluster)
        }
        PlanKind::K3s(release) => {
            let cluster = target::k3s::start(release, policy, &step)?;
            step.done(&release.k3s_tag);
            Running::K3s(Box::new(cluster))
        }
        PlanKind::Existing(path) => {
            step.done("existing cluster: nothing started");
            Running::Existing(path.clone())
        }
    };
    Ok(running)
}

/// Eight hex digits: a valid label value and short enough to prefix namespace names.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{:08x}", nanos ^ std::process::id().rotate_left(16))
}

fn print_verdict(summary: &Summary, paths: &[PathBuf]) {
    let mut line = format!(
        "{} {}: {} passed, {} failed, {} skipped in {}",
        summary.verdict.as_str(),
        summary.target,
        summary.passed,
        summary.failed,
        summary.skipped,
        progress::elapsed(std::time::Duration::from_secs_f64(summary.duration_secs))
    );
    if let Some(reason) = &summary.reason {
        line.push_str(&format!(" ({reason})"));
    }
    progress::line(&line);
    if let Some(policy) = &summary.probed_policy {
        progress::line(&format!("  probed policy: {policy}"));
    }
    for path in paths {
        progress::line(&format!("  report: {}", path.display()));
    }
}
