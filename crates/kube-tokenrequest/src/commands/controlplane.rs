//! `kube-tokenrequest controlplane build`: a real kube-apiserver and etcd from Go modules into the control-plane
//! cache (`tokenrequest_envtest::controlplane::cache_dir`), for `conformance --cluster apiserver`. Skipped when
//! both binaries are there; each step is printed with its time.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use tokenrequest_envtest::controlplane;

use tokenrequest_envtest::progress;

/// `controlplane` subcommands.
#[derive(Debug, Subcommand)]
pub enum ControlplaneCommand {
    /// Build kube-apiserver and etcd for a Kubernetes release (skipped when present).
    Build(BuildArgs),
}

/// `controlplane build` flags.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The Kubernetes release, e.g. v1.37.1.
    #[arg(long, default_value = controlplane::PINNED_K8S_VERSION)]
    pub k8s_version: String,
}

/// Runs the command.
pub async fn run(command: ControlplaneCommand) -> anyhow::Result<ExitCode> {
    let ControlplaneCommand::Build(args) = command;
    let binaries = tokio::task::spawn_blocking(move || {
        controlplane::build(&args.k8s_version, &mut |line| {
            progress::note_line(&format!("controlplane: {line}"))
        })
    })
    .await
    .context("the build task")??;
    progress::line(&format!(
        "kube-apiserver: {}\netcd: {}\nkube-controller-manager: {}",
        binaries.kube_apiserver.display(),
        binaries.etcd.display(),
        binaries.kube_controller_manager.display()
    ));
    Ok(ExitCode::SUCCESS)
}
