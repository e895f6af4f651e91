//! The k3s container's lifetime, through testcontainers (the `containers` feature).
//!
//! testcontainers is async; this module owns a small tokio runtime for the container's lifetime so the rest of
//! the crate stays synchronous.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use testcontainers::core::ExecCommand;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ImageExt};
use testcontainers_modules::k3s::{K3s, KUBE_SECURE_PORT};
use tokenrequest_types::policy::TokenPolicy;

use super::{container_args, rewrite_server};
use crate::error::{Context, Result};
use crate::supervisor::poll_until;
use crate::target::Release;

/// Pulling the image and starting k3s; a cold pull on a CI runner takes a minute or two.
const START_TIMEOUT: Duration = Duration::from_secs(300);
/// From "node controller synced" to the `default` service account.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// A running k3s container.
pub struct Cluster {
    runtime: tokio::runtime::Runtime,
    container: ContainerAsync<K3s>,
    kubeconfig: PathBuf,
    // The bind-mounted /etc/rancher/k3s and our rewritten kubeconfig.
    dir: tempfile::TempDir,
}

impl Cluster {
    /// The kubeconfig, pointing at the container's published API port on 127.0.0.1.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Stops and removes the container.
    pub fn remove(self) -> Result<()> {
        let Cluster { runtime, container, .. } = self;
        runtime.block_on(container.rm()).context("removing the k3s container")
    }

    /// Leaves the container running and says how to reach and remove it.
    pub fn keep(self) -> String {
        let Cluster {
            runtime,
            container,
            dir,
            ..
        } = self;
        let id = container.id().to_owned();
        // Dropping a ContainerAsync removes the container; forgetting it is how to keep it.
        std::mem::forget(container);
        drop(runtime);
        format!(
            "kept k3s container {id}: KUBECONFIG={}; remove with `docker rm -f {id}`",
            dir.keep().join("kubeconfig").display()
        )
    }
}

/// Starts k3s for `release` with `policy` and waits until the `default` service account exists.
pub fn start(release: &Release, policy: &TokenPolicy, progress: &mut dyn FnMut(&str)) -> Result<Cluster> {
    let args = container_args(policy)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = tempfile::Builder::new().prefix("kube-tokenrequest-k3s-").tempdir()?;
    let conf_dir = dir.path().join("etc-rancher-k3s");
    std::fs::create_dir(&conf_dir)?;
    progress(&format!("rancher/k3s:{} (pulling on first use)", release.k3s_tag));
    let request = K3s::default()
        .with_conf_mount(&conf_dir)
        .with_cmd(args)
        .with_tag(release.k3s_tag.clone())
        .with_privileged(true)
        .with_userns_mode("host")
        .with_startup_timeout(START_TIMEOUT);
    let container = runtime
        .block_on(request.start())
        .context("starting the k3s container")?;
    // From here on, dropping `container` removes it: every early return below cleans up.
    let port = runtime
        .block_on(container.get_host_port_ipv4(KUBE_SECURE_PORT))
        .context("the k3s API port")?;
    let kubeconfig = dir.path().join("kubeconfig");
    let raw = container.image().read_kube_config().context("reading k3s.yaml")?;
    std::fs::write(&kubeconfig, rewrite_server(&raw, port)?)?;
    let cluster = Cluster {
        runtime,
        container,
        kubeconfig,
        dir,
    };
    wait_ready(&cluster, progress)?;
    Ok(cluster)
}

fn wait_ready(cluster: &Cluster, progress: &mut dyn FnMut(&str)) -> Result<()> {
    progress("waiting for the default service account");
    let found = poll_until(Instant::now() + READY_TIMEOUT, Duration::from_secs(1), || {
        let exec = ExecCommand::new([
            "kubectl",
            "-n",
            "default",
            "get",
            "serviceaccount",
            "default",
            "-o",
            "name",
        ]);
        let found = cluster.runtime.block_on(async {
            let mut res = cluster.container.exec(exec).await?;
            // Reading stdout to the end waits for the command to finish.
            let _ = res.stdout_to_vec().await?;
            Ok::<_, testcontainers::TestcontainersError>(res.exit_code().await? == Some(0))
        });
        found.context("kubectl in the k3s container")
    })?;
    if !found {
        fail!("k3s: the default service account did not appear within {READY_TIMEOUT:?}");
    }
    Ok(())
}
