//! `credential`: a kubeconfig exec credential plugin (`client.authentication.k8s.io/v1` `ExecCredential`,
//! <https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins>) that
//! hands kubectl, client-go or kube-rs a short-lived token of a service account, optionally bound to an object.
//!
//! The token is requested with a *source* identity: the global `--kubeconfig`/`--context` (another user, e.g. an
//! admin or a CI identity allowed to `create serviceaccounts/token`). It is cached on disk per cluster and request
//! (`tokenrequest_client::CredentialCache`: the TokenCache's refresh rule, file mode 0600, atomic writes, a lock so
//! that parallel kubectl calls make one request), and `expirationTimestamp` tells the client when to run the
//! plugin again: at the token's refresh time, so a long-running client-go program refreshes as kubelet would.
//!
//! `credential setup` prints the kubeconfig `users` entry that runs this plugin, or writes a whole kubeconfig
//! (the source context's cluster, that user, a context) with `--write-kubeconfig`.
//!
//! The token is printed only inside the `ExecCredential` on stdout; errors are one line on stderr.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use k8s_openapi::jiff::Timestamp;
use kube::config::{AuthInfo, Context, ExecConfig, ExecInteractiveMode, Kubeconfig, NamedAuthInfo, NamedContext};
use serde::Serialize;
use tokenrequest_client::cache::{CacheConfig, CacheKey};
use tokenrequest_client::{CredentialCache, TokenClient};

use crate::commands::create::RequestFlags;
use crate::connection::{ConnectionArgs, client_config};

/// The API versions of `ExecCredential` this plugin speaks (kubectl 1.22+ sends v1; older clients v1beta1).
const EXEC_API_VERSIONS: [&str; 2] = [
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
];

/// How long one TokenRequest may take before the plugin gives up (the caller, kubectl, waits for it).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Flags of `credential`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct CredentialArgs {
    /// The token to hand out.
    #[command(flatten)]
    pub plugin: PluginFlags,
    /// `setup`: print or write the kubeconfig that runs this plugin.
    #[command(subcommand)]
    pub setup: Option<SetupCommand>,
}

/// What the plugin requests, and where it caches it (the namespace is the global `-n`).
#[derive(Debug, Clone, Args)]
pub struct PluginFlags {
    /// The service account whose token is handed out.
    #[arg(long, required = true, value_name = "NAME")]
    pub service_account: Option<String>,
    /// Audiences, duration and binding of the token.
    #[command(flatten)]
    pub request: RequestFlags,
    /// Where tokens are cached; default: `$XDG_CACHE_HOME/kube-tokenrequest/tokens` (or `~/.cache/...`).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

/// `credential setup`.
#[derive(Debug, Subcommand)]
pub enum SetupCommand {
    /// Print the kubeconfig `users` entry that runs this plugin, or write a whole kubeconfig with it.
    Setup(SetupArgs),
}

/// Flags of `credential setup`.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// The same flags the plugin will be run with.
    #[command(flatten)]
    pub plugin: PluginFlags,
    /// The name of the user (and context) in the kubeconfig; default: `SERVICE-ACCOUNT@NAMESPACE`.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Write a complete kubeconfig (the source context's cluster, the user, a context) to this file.
    #[arg(long, value_name = "PATH")]
    pub write_kubeconfig: Option<PathBuf>,
}

/// `ExecCredential` as the plugin prints it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredential<'a> {
    api_version: &'a str,
    kind: &'static str,
    status: ExecCredentialStatus<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredentialStatus<'a> {
    expiration_timestamp: String,
    token: &'a str,
}

/// Runs `credential` or `credential setup`.
pub async fn run(connection: &ConnectionArgs, args: CredentialArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    match args.setup {
        Some(SetupCommand::Setup(setup)) => run_setup(connection, &setup, out),
        None => run_plugin(connection, &args.plugin, out).await,
    }
}

async fn run_plugin(
    connection: &ConnectionArgs,
    flags: &PluginFlags,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let api_version = exec_api_version(std::env::var("KUBERNETES_EXEC_INFO").ok().as_deref())?;
    let service_account = flags
        .service_account
        .as_deref()
        .context("--service-account is required")?;
    let mut config = client_config(connection).await?;
    // The plugin answers one kubectl call: every request is bounded, and a failure reaches the cache (which
    // serves a still-valid token and backs off) instead of kube-rs's own retries.
    config.default_retry = false;
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = Some(REQUEST_TIMEOUT);
    let namespace = connection
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    // The cache is per cluster (its URL and CA: a new cluster on a reused address gets new tokens), whoever the
    // source user is: the token is the service account's either way.
    let identity = format!("{} {:?}", config.cluster_url, config.root_cert);
    let key = CacheKey::new(&namespace, service_account, &flags.request.options(false)?);
    let client = TokenClient::new(kube::Client::try_from(config).context("cannot create a Kubernetes client")?);
    let cache = CredentialCache::new(cache_dir(flags.cache_dir.as_deref())?, CacheConfig::new(1));
    let credential = tokio::time::timeout(
        REQUEST_TIMEOUT + Duration::from_secs(5),
        cache.get(&identity, &key, &client),
    )
    .await
    .context("no token within the time limit")?
    .with_context(|| format!("cannot get a token for {namespace}/{service_account}"))?;
    let expiration = Timestamp::from_second(credential.renew_at).context("the token's refresh time is out of range")?;
    let exec_credential = ExecCredential {
        api_version,
        kind: "ExecCredential",
        status: ExecCredentialStatus {
            expiration_timestamp: expiration.to_string(),
            token: credential.token.expose(),
        },
    };
    serde_json::to_writer(&mut *out, &exec_credential)?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}

/// The `apiVersion` to answer with: the one in `KUBERNETES_EXEC_INFO`, else v1.
fn exec_api_version(exec_info: Option<&str>) -> anyhow::Result<&'static str> {
    let Some(info) = exec_info.filter(|s| !s.trim().is_empty()) else {
        return Ok(EXEC_API_VERSIONS[0]);
    };
    let info: serde_json::Value =
        serde_json::from_str(info).context("KUBERNETES_EXEC_INFO is not a JSON ExecCredential")?;
    let requested = info["apiVersion"].as_str().unwrap_or_default();
    match EXEC_API_VERSIONS.iter().find(|v| **v == requested) {
        Some(version) => Ok(version),
        None => bail!(
            "KUBERNETES_EXEC_INFO asks for ExecCredential {requested:?}; this plugin speaks {}",
            EXEC_API_VERSIONS.join(" and ")
        ),
    }
}

/// `--cache-dir`, else `$XDG_CACHE_HOME/kube-tokenrequest/tokens`, else `~/.cache/kube-tokenrequest/tokens`.
fn cache_dir(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = flag {
        return Ok(dir.to_owned());
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .context("no cache directory: pass --cache-dir, or set XDG_CACHE_HOME or HOME")?;
    Ok(base.join("kube-tokenrequest").join("tokens"))
}

fn run_setup(connection: &ConnectionArgs, setup: &SetupArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let service_account = setup
        .plugin
        .service_account
        .as_deref()
        .context("--service-account is required")?;
    let source_path = source_kubeconfig(connection.kubeconfig.as_deref())?;
    let source = Kubeconfig::read_from(&source_path)
        .with_context(|| format!("cannot read the kubeconfig {}", source_path.display()))?;
    let context_name = connection
        .context
        .clone()
        .or_else(|| source.current_context.clone())
        .with_context(|| format!("{} has no current context; pass --context", source_path.display()))?;
    let context = source
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.clone())
        .with_context(|| format!("context {context_name:?} not found in {}", source_path.display()))?;
    let namespace = connection
        .namespace
        .clone()
        .or_else(|| context.namespace.clone())
        .unwrap_or_else(|| "default".to_owned());
    let name = setup
        .name
        .clone()
        .unwrap_or_else(|| format!("{service_account}@{namespace}"));
    let user = NamedAuthInfo {
        name: name.clone(),
        auth_info: Some(AuthInfo {
            exec: Some(exec_config(&source_path, &context_name, &namespace, &setup.plugin)?),
            ..AuthInfo::default()
        }),
        other: Default::default(),
    };
    let Some(path) = &setup.write_kubeconfig else {
        serde_yaml::to_writer(&mut *out, &serde_json::json!({ "users": [user] }))?;
        return Ok(ExitCode::SUCCESS);
    };
    let cluster = source
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .cloned()
        .with_context(|| format!("cluster {:?} not found in {}", context.cluster, source_path.display()))?;
    let kubeconfig = Kubeconfig {
        api_version: Some("v1".to_owned()),
        kind: Some("Config".to_owned()),
        clusters: vec![cluster.clone()],
        auth_infos: vec![user],
        contexts: vec![NamedContext {
            name: name.clone(),
            context: Some(Context {
                cluster: cluster.name,
                user: Some(name.clone()),
                namespace: Some(namespace),
                extensions: None,
                other: Default::default(),
            }),
            other: Default::default(),
        }],
        current_context: Some(name),
        ..Kubeconfig::default()
    };
    let yaml = serde_yaml::to_string(&kubeconfig)?;
    std::fs::write(path, yaml).with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(out, "kubeconfig written to {}", path.display())?;
    Ok(ExitCode::SUCCESS)
}

/// The `exec` stanza: this binary, by absolute path, with the source and the plugin's flags.
fn exec_config(source: &Path, context: &str, namespace: &str, plugin: &PluginFlags) -> anyhow::Result<ExecConfig> {
    let command = std::env::current_exe().context("cannot find this program's path")?;
    let mut args = vec![
        "--kubeconfig".to_owned(),
        source.display().to_string(),
        "--context".to_owned(),
        context.to_owned(),
        "--namespace".to_owned(),
        namespace.to_owned(),
        "credential".to_owned(),
        "--service-account".to_owned(),
        plugin.service_account.clone().unwrap_or_default(),
    ];
    let request = &plugin.request;
    for audience in &request.audiences {
        args.extend(["--audience".to_owned(), audience.clone()]);
    }
    if let Some(duration) = request.duration {
        args.extend(["--duration".to_owned(), format!("{}s", duration.as_secs())]);
    }
    if let (Some(kind), Some(name)) = (request.bound_object_kind, &request.bound_object_name) {
        args.extend([
            "--bound-object-kind".to_owned(),
            kind.kind().to_owned(),
            "--bound-object-name".to_owned(),
            name.clone(),
        ]);
        if let Some(uid) = &request.bound_object_uid {
            args.extend(["--bound-object-uid".to_owned(), uid.clone()]);
        }
    }
    if let Some(dir) = &plugin.cache_dir {
        args.extend(["--cache-dir".to_owned(), absolute(dir)?.display().to_string()]);
    }
    Ok(ExecConfig {
        api_version: Some(EXEC_API_VERSIONS[0].to_owned()),
        command: Some(command.display().to_string()),
        args: Some(args),
        env: None::<Vec<HashMap<String, String>>>,
        drop_env: None,
        install_hint: Some(
            "kube-tokenrequest is the credential plugin of this user: cargo install kube-tokenrequest".to_owned(),
        ),
        interactive_mode: Some(ExecInteractiveMode::Never),
        provide_cluster_info: false,
        cluster: None,
        other: Default::default(),
    })
}

/// `--kubeconfig`, else the first file of `KUBECONFIG`, else `~/.kube/config`, as an absolute path (the plugin
/// runs from whatever directory kubectl runs in).
fn source_kubeconfig(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match flag {
        Some(path) => path.to_owned(),
        None => match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
            Some(list) => std::env::split_paths(&list)
                .next()
                .context("KUBECONFIG names no file")?,
            None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?).join(".kube/config"),
        },
    };
    absolute(&path)
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot make {} absolute", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_speaks_the_version_kubectl_asked_for() {
        assert_eq!(exec_api_version(None).unwrap(), "client.authentication.k8s.io/v1");
        let v1beta1 = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":false}}"#;
        assert_eq!(
            exec_api_version(Some(v1beta1)).unwrap(),
            "client.authentication.k8s.io/v1beta1"
        );
        let alpha = r#"{"apiVersion":"client.authentication.k8s.io/v1alpha1"}"#;
        assert!(
            exec_api_version(Some(alpha))
                .unwrap_err()
                .to_string()
                .contains("v1alpha1")
        );
        assert!(exec_api_version(Some("{")).is_err());
    }
}
