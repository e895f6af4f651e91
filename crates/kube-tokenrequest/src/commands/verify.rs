//! `verify [TOKEN|-]`: verify a token offline against the cluster's OIDC discovery and JWKS, as a relying party
//! would: through the cluster connection, or with `--issuer-url` from a public issuer without any kubeconfig.
//! Exit 0 and the subject when valid; exit 1 and one line saying why otherwise.

use std::io::Write;
use std::process::ExitCode;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use tokenrequest_client::oidc::{ClusterKeySource, IssuerKeySource};
use tokenrequest_client::{Verifier, VerifierConfig, VerifyError};

use crate::connection::ConnectionArgs;
use crate::connection::connect;
use crate::token_input::read_token;

/// Flags of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The token; `-` or nothing reads it from stdin.
    pub token: Option<String>,
    /// An accepted audience (repeatable); default: the issuer, kube-apiserver's default API audience.
    #[arg(long = "audience", value_name = "AUDIENCE")]
    pub audiences: Vec<String>,
    /// Read discovery and keys from this public issuer URL instead of through the cluster.
    #[arg(long, value_name = "URL")]
    pub issuer_url: Option<String>,
    /// An extra CA (PEM) to trust for `--issuer-url`.
    #[arg(long, requires = "issuer_url", value_name = "PATH")]
    pub issuer_ca: Option<PathBuf>,
}

/// Runs `verify`.
pub async fn run(connection: &ConnectionArgs, args: VerifyArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let token = read_token(args.token.as_deref())?;
    let config = VerifierConfig::new(args.audiences.clone());
    let outcome = match &args.issuer_url {
        Some(url) => {
            let ca = args
                .issuer_ca
                .as_deref()
                .map(|path| std::fs::read(path).with_context(|| format!("cannot read {}", path.display())))
                .transpose()?;
            let source = IssuerKeySource::new(url, ca.as_deref())?;
            Verifier::new(source, config).verify(&token).await
        }
        None => {
            let cluster = connect(connection).await?;
            Verifier::new(ClusterKeySource::new(cluster.client), config)
                .verify(&token)
                .await
        }
    };
    match outcome {
        Ok(verified) => {
            writeln!(out, "{}", verified.claims.sub)?;
            Ok(ExitCode::SUCCESS)
        }
        // Fetching keys is not a verdict on the token: report it as a failure to run.
        Err(VerifyError::Fetch(error)) => Err(anyhow::Error::new(error).context("cannot read the issuer's keys")),
        Err(rejection) => {
            let reason = anyhow::Error::new(rejection);
            let _ = writeln!(std::io::stderr().lock(), "invalid: {reason:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}
