//! `kube-tokenrequest serve`: runs the embedded reference API server (crate `tokenrequest-server`) until SIGINT or
//! SIGTERM. The flags and the output are a contract other tools rely on (DESIGN.md): one line
//! `listening on https://ADDR` on stdout once ready, and the kubeconfig written atomically (mode 0600) first.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use tokenrequest_server::{Controllers, Fault, ServerConfig};
use tokenrequest_types::policy::{DEFAULT_ISSUER, SigningAlg};

/// Flags of `serve`, named after the kube-apiserver flags they stand for.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Write a kubeconfig (admin bearer token, CA) to PATH once the server is ready.
    #[arg(long, value_name = "PATH")]
    pub write_kubeconfig: Option<PathBuf>,
    /// `--service-account-issuer`: the `iss` of every token and the OIDC issuer. Repeatable, for issuer rotation:
    /// the first issues, all are accepted.
    #[arg(long = "issuer", default_value = DEFAULT_ISSUER, value_name = "URL")]
    pub issuers: Vec<String>,
    /// `--api-audiences` (comma-separated); default: the issuer.
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub api_audiences: Vec<String>,
    /// `--service-account-max-token-expiration`, e.g. 24h; 0 means no maximum.
    #[arg(long, value_parser = parse_duration, default_value = "0", value_name = "DURATION")]
    pub max_token_expiration: Duration,
    /// `--service-account-extend-token-expiration`.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true",
          value_name = "true|false")]
    pub extend_token_expiration: bool,
    /// Algorithm of the signing key generated at start (ignored with --service-account-signing-key-file).
    #[arg(long, value_parser = parse_alg, default_value = "RS256", value_name = "RS256|ES256|ES384|ES512")]
    pub signing_alg: SigningAlg,
    /// `--service-account-jwks-uri`: the `jwks_uri` OIDC discovery announces; default: this server's
    /// `/openid/v1/jwks`.
    #[arg(long, value_name = "URL")]
    pub service_account_jwks_uri: Option<String>,
    /// Let anonymous callers read OIDC discovery and the JWKS, as a ClusterRoleBinding of
    /// `system:service-account-issuer-discovery` to `system:unauthenticated` does (external relying parties need
    /// it; off by default, as in kube-apiserver).
    #[arg(long)]
    pub anonymous_issuer_discovery: bool,
    /// `--service-account-signing-key-file`: PEM private key (RSA or EC P-256, P-384, P-521).
    #[arg(long, value_name = "PATH")]
    pub service_account_signing_key_file: Option<PathBuf>,
    /// `--service-account-key-file`: a retired key (PEM private key) whose tokens are still accepted and which the
    /// JWKS still lists, never used to sign. Repeatable, for key rotation.
    #[arg(long = "service-account-key-file", value_name = "PATH")]
    pub service_account_key_files: Vec<PathBuf>,
    /// Serving certificate (PEM); default: a CA and certificate made at start.
    #[arg(long, value_name = "PATH", requires = "tls_private_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// Serving private key (PEM).
    #[arg(long, value_name = "PATH", requires = "tls_cert_file")]
    pub tls_private_key_file: Option<PathBuf>,
    /// `all`: as a small cluster, a `default` service account in every namespace and namespaces that finish
    /// deleting (after 5 s); `none`: a bare kube-apiserver, where neither happens.
    #[arg(long, default_value_t = Controllers::All, value_name = "all|none")]
    pub controllers: Controllers,
    /// Break one rule on purpose, to prove the conformance suite can fail (see `tokenrequest_server::Fault`).
    #[arg(long, hide = true, value_name = "NAME")]
    pub inject_fault: Option<Fault>,
}

fn parse_duration(value: &str) -> Result<Duration, String> {
    if value == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(value).map_err(|e| e.to_string())
}

fn parse_alg(value: &str) -> Result<SigningAlg, String> {
    value
        .parse()
        .map_err(|e: tokenrequest_types::policy::PolicyError| e.to_string())
}

impl ServeArgs {
    fn config(&self) -> anyhow::Result<ServerConfig> {
        let read =
            |path: &Path| std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()));
        let tls = match (&self.tls_cert_file, &self.tls_private_key_file) {
            (Some(cert), Some(key)) => Some((read(cert)?, read(key)?)),
            _ => None,
        };
        let mut config = ServerConfig::new(self.listen);
        let (issuer, previous) = self.issuers.split_first().context("--issuer needs a value")?;
        config.issuer.clone_from(issuer);
        config.previous_issuers = previous.to_vec();
        config.retired_keys_pem = self
            .service_account_key_files
            .iter()
            .map(|path| read(path))
            .collect::<anyhow::Result<_>>()?;
        config.api_audiences = (!self.api_audiences.is_empty()).then(|| self.api_audiences.clone());
        config.max_token_expiration = (!self.max_token_expiration.is_zero()).then_some(self.max_token_expiration);
        config.extend_token_expiration = self.extend_token_expiration;
        config.signing_alg = self.signing_alg;
        config.jwks_uri.clone_from(&self.service_account_jwks_uri);
        config.anonymous_issuer_discovery = self.anonymous_issuer_discovery;
        config.signing_key_pem = self.service_account_signing_key_file.as_deref().map(read).transpose()?;
        config.tls = tls;
        config.controllers = self.controllers;
        config.fault = self.inject_fault;
        Ok(config)
    }
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() {
        tracing::warn!(listen = %args.listen, "listening beyond loopback: anyone who can reach this address can try the admin token");
    }
    if let Some(fault) = args.inject_fault {
        tracing::warn!(%fault, "FAULT INJECTED: this server breaks a TokenRequest rule on purpose");
    }
    let config = args.config()?;
    let server = tokenrequest_server::start(config)
        .await
        .context("cannot start the server")?;
    if let Some(path) = &args.write_kubeconfig {
        write_atomically(path, server.kubeconfig_yaml().as_bytes())
            .with_context(|| format!("cannot write the kubeconfig to {}", path.display()))?;
    }
    let signals = Signals::install()?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", server.url()).context("cannot write to stdout")?;
    stdout.flush().context("cannot write to stdout")?;
    drop(stdout);
    signals.wait().await?;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

/// SIGTERM and SIGINT, listened for from creation: installed before `listening on` is printed, so that a signal
/// sent as soon as the line is read stops the server cleanly instead of killing it.
#[cfg(unix)]
struct Signals {
    term: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            interrupt: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
        })
    }

    async fn wait(mut self) -> anyhow::Result<()> {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.interrupt.recv() => {}
        }
        Ok(())
    }
}

/// Ctrl-C elsewhere.
#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> anyhow::Result<Self> {
        Ok(Self)
    }

    async fn wait(self) -> anyhow::Result<()> {
        tokio::signal::ctrl_c().await.context("cannot listen for Ctrl-C")
    }
}

/// Writes `contents` to a temporary file beside `path` (mode 0600: it holds the admin token) and renames it over
/// `path`, so a reader never sees a partial kubeconfig.
fn write_atomically(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .context("the kubeconfig path has no file name")?
        .to_string_lossy();
    let temp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = (|| {
        let mut file = options.open(&temp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    Ok(result?)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn defaults_follow_kube_apiserver() {
        let args = Cli::parse_from(["serve"]).serve;
        assert_eq!(args.listen.to_string(), "127.0.0.1:0");
        assert_eq!(args.issuers, [DEFAULT_ISSUER]);
        assert!(args.extend_token_expiration);
        assert!(args.max_token_expiration.is_zero());
        assert_eq!(args.signing_alg, SigningAlg::RS256);
        assert_eq!(args.controllers, Controllers::All);
        assert!(args.inject_fault.is_none());
    }

    #[test]
    fn contract_flags_parse() {
        let args = Cli::parse_from([
            "serve",
            "--api-audiences",
            "a,b",
            "--max-token-expiration",
            "24h",
            "--extend-token-expiration=false",
            "--signing-alg",
            "ES256",
            "--controllers",
            "none",
            "--inject-fault",
            "no-clamp",
        ])
        .serve;
        assert_eq!(args.controllers, Controllers::None);
        assert_eq!(args.api_audiences, ["a", "b"]);
        assert_eq!(args.max_token_expiration, Duration::from_secs(86_400));
        assert!(!args.extend_token_expiration);
        assert_eq!(args.signing_alg, SigningAlg::ES256);
        assert_eq!(args.inject_fault, Some(Fault::NoClamp));
    }

    #[test]
    fn kubeconfig_is_written_atomically_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        write_atomically(&path, b"hello").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left behind"
        );
    }
}
