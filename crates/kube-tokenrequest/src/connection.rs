//! Connecting to a cluster the way kubectl does: `--kubeconfig`, else `KUBECONFIG`, else `~/.kube/config`, else
//! in-cluster; `--context` picks a context, `-n` overrides its namespace.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// kubectl's connection flags. Without `--kubeconfig`, `KUBECONFIG` (a list of paths) or `~/.kube/config` is
/// read, as kubectl does.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// Path to the kubeconfig file.
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The namespace; default: the context's.
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
}

/// A client and the namespace commands act in.
pub struct Connection {
    /// The client.
    pub client: kube::Client,
    /// `-n`, else the context's namespace, else `default`.
    pub namespace: String,
}

/// Connects as `args` say. Nothing is sent until the first request.
pub async fn connect(args: &ConnectionArgs) -> anyhow::Result<Connection> {
    let config = client_config(args).await?;
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = kube::Client::try_from(config).context("cannot create a Kubernetes client")?;
    Ok(Connection { client, namespace })
}

/// The kube-rs configuration `args` select, for callers that adjust it (timeouts, retries) before connecting.
pub async fn client_config(args: &ConnectionArgs) -> anyhow::Result<kube::Config> {
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = match (&args.kubeconfig, &args.context) {
        (Some(path), _) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read the kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .with_context(|| format!("cannot use the kubeconfig {}", path.display()))?
        }
        (None, Some(_)) => kube::Config::from_kubeconfig(&options)
            .await
            .context("cannot use the kubeconfig")?,
        (None, None) => kube::Config::infer()
            .await
            .context("no cluster configured: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config")?,
    };
    Ok(config)
}
