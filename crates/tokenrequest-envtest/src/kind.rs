//! The `kind` target: a one-node kind cluster whose kube-apiserver is configured for the policy
//! through a kubeadm patch, created and deleted with the kind CLI.
//!
//! kind is driven as a CLI rather than a library because that is how users run it and how its
//! GitHub Action installs it; the kind version is pinned in `conformance.yml` (v0.33.0).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Context, Error, Result};
use serde::Serialize;
use tokenrequest_types::policy::TokenPolicy;

use crate::engine;
use crate::supervisor::poll_until;
use crate::target::Release;

/// From `kind create` returning to the `default` service account existing (the controller
/// manager creates it shortly after the API is up).
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// A kind cluster this crate created.
pub struct Cluster {
    name: String,
    kubeconfig: PathBuf,
    // Holds the kubeconfig and the cluster config; removed with the cluster.
    dir: tempfile::TempDir,
}

impl Cluster {
    /// The kubeconfig kind wrote for this cluster.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Deletes the cluster.
    pub fn delete(self) -> Result<()> {
        delete(self.dir.path(), &self.name, &self.kubeconfig)
    }

    /// Leaves the cluster running and says how to reach and delete it.
    pub fn keep(self) -> String {
        let dir = self.dir.keep();
        format!(
            "kept kind cluster {name}: KUBECONFIG={}; delete with `kind delete cluster --name {name}`",
            dir.join("kubeconfig").display(),
            name = self.name
        )
    }
}

/// Fails fast, in one line, when kind cannot run here: no container engine, or no kind CLI.
pub fn check_prerequisites() -> Result<()> {
    engine::require("kind")?;
    match Command::new("kind")
        .arg("version")
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format_err!("kind: `kind version` failed ({status})")),
        Err(_) => Err(format_err!(
            "kind: the kind CLI is not on PATH (install v0.33.0: https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"
        )),
    }
}

// The kind cluster config, as kind's v1alpha4 API spells it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KindConfig {
    kind: &'static str,
    api_version: &'static str,
    name: String,
    nodes: Vec<KindNode>,
    kubeadm_config_patches: Vec<String>,
}

#[derive(Serialize)]
struct KindNode {
    role: &'static str,
    image: String,
}

// The kubeadm ClusterConfiguration patch. kubeadm v1beta4 (used by kind for Kubernetes 1.31+,
// so for every release we pin) spells extraArgs as a list of {name, value}, not a map.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClusterConfigurationPatch {
    kind: &'static str,
    api_version: &'static str,
    api_server: ApiServerPatch,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiServerPatch {
    extra_args: Vec<ExtraArg>,
}

#[derive(Serialize)]
struct ExtraArg {
    name: &'static str,
    value: String,
}

/// The kind cluster config (YAML) for a cluster `name` running `release` with `policy`.
pub fn cluster_config(name: &str, release: &Release, policy: &TokenPolicy) -> Result<String> {
    crate::target::rsa_only("kind", policy)?;
    let extra_args = crate::target::policy_flags(policy)
        .into_iter()
        .map(|(name, value)| ExtraArg { name, value })
        .collect();
    let patch = ClusterConfigurationPatch {
        kind: "ClusterConfiguration",
        api_version: "kubeadm.k8s.io/v1beta4",
        api_server: ApiServerPatch { extra_args },
    };
    let config = KindConfig {
        kind: "Cluster",
        api_version: "kind.x-k8s.io/v1alpha4",
        name: name.to_owned(),
        nodes: vec![KindNode {
            role: "control-plane",
            image: release.kind_image.clone(),
        }],
        kubeadm_config_patches: vec![serde_yaml::to_string(&patch).context("the kubeadm patch")?],
    };
    serde_yaml::to_string(&config).context("the kind config")
}

/// Creates the cluster and waits until the `default` service account exists. On any failure
/// (including Ctrl-C during creation) the half-made cluster is deleted.
pub fn create(release: &Release, policy: &TokenPolicy, progress: &mut dyn FnMut(&str)) -> Result<Cluster> {
    let name = format!(
        "tokenrequest-{}-{}",
        release.minor.replace('.', "-"),
        std::process::id()
    );
    let dir = tempfile::Builder::new().prefix("kube-tokenrequest-kind-").tempdir()?;
    let config_path = dir.path().join("kind.yaml");
    std::fs::write(&config_path, cluster_config(&name, release, policy)?)?;
    let kubeconfig = dir.path().join("kubeconfig");
    let cluster = Cluster { name, kubeconfig, dir };

    let created = run_kind_create(&cluster, &config_path, progress).and_then(|()| wait_ready(&cluster, progress));
    match created {
        Ok(()) => Ok(cluster),
        Err(err) => {
            progress(&format!("deleting the half-created kind cluster {}", cluster.name));
            if let Err(delete_err) = delete(cluster.dir.path(), &cluster.name, &cluster.kubeconfig) {
                return Err(format_err!("{err}; and deleting the cluster failed too: {delete_err}"));
            }
            Err(err)
        }
    }
}

fn run_kind_create(cluster: &Cluster, config_path: &Path, progress: &mut dyn FnMut(&str)) -> Result<()> {
    let mut child = Command::new("kind")
        .args(["create", "cluster", "--name", &cluster.name, "--config"])
        .arg(config_path)
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .args(["--wait", "3m", "--retain=false"])
        .current_dir(cluster.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("running kind create cluster")?;
    let mut output = Vec::new();
    let stderr = child.stderr.take().context("kind's stderr")?;
    for line in BufReader::new(stderr).lines() {
        let line = line?;
        progress(line.trim());
        output.push(line);
    }
    let status = child.wait()?;
    if crate::interrupt::requested() {
        return Err(Error::Interrupted);
    }
    if !status.success() {
        return Err(format_err!(
            "kind create cluster failed ({status}):\n{}",
            output.join("\n")
        ));
    }
    Ok(())
}

/// The API is up when `kind create --wait` returns; the `default` service account comes from the
/// controller manager a little later, and the suite's first check would race it.
fn wait_ready(cluster: &Cluster, progress: &mut dyn FnMut(&str)) -> Result<()> {
    progress("waiting for the default service account");
    let node = format!("{}-control-plane", cluster.name);
    let found = poll_until(Instant::now() + READY_TIMEOUT, Duration::from_secs(1), || {
        let status = Command::new("docker")
            .args(["exec", &node, "kubectl", "--kubeconfig=/etc/kubernetes/admin.conf"])
            .args(["-n", "default", "get", "serviceaccount", "default", "-o", "name"])
            .current_dir(cluster.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        Ok(status.success())
    })?;
    if !found {
        fail!("kind: the default service account did not appear within {READY_TIMEOUT:?}");
    }
    Ok(())
}

fn delete(dir: &Path, name: &str, kubeconfig: &Path) -> Result<()> {
    let output = Command::new("kind")
        .args(["delete", "cluster", "--name", name, "--kubeconfig"])
        .arg(kubeconfig)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .context("running kind delete cluster")?;
    if !output.status.success() {
        return Err(format_err!(
            "kind delete cluster --name {name} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_config_for_the_matrix_policy() {
        let policy = crate::target::policy_from_spec(Some(
            "max=24h,extend=false,audiences=https://kubernetes.default.svc.cluster.local,extra",
        ))
        .unwrap();
        let release = crate::target::Release::pinned("1.37").unwrap();
        insta::assert_snapshot!(
            "kind_config_matrix_policy",
            cluster_config("tokenrequest-1-37-1234", &release, &policy).unwrap()
        );
    }

    #[test]
    fn kind_config_for_the_default_policy() {
        let policy = crate::target::policy_from_spec(None).unwrap();
        let release = crate::target::Release::pinned("1.35").unwrap();
        insta::assert_snapshot!(
            "kind_config_default_policy",
            cluster_config("tokenrequest-1-35-1234", &release, &policy).unwrap()
        );
    }
}
