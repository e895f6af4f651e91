//! `verify [TOKEN|-]`: verify a token offline against the cluster's OIDC discovery and JWKS, as a relying party
//! would. Exit 0 and the subject when valid; exit 1 and one line saying why otherwise.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use tokenrequest_client::oidc::ClusterKeySource;
use tokenrequest_client::{Verifier, VerifierConfig, VerifyError};

use crate::cli::ConnectionArgs;
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
}

/// Runs `verify`.
pub async fn run(connection: &ConnectionArgs, args: VerifyArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let token = read_token(args.token.as_deref())?;
    let cluster = connect(connection).await?;
    let verifier = Verifier::new(
        ClusterKeySource::new(cluster.client),
        VerifierConfig::new(args.audiences),
    );
    match verifier.verify(&token).await {
        Ok(verified) => {
            writeln!(out, "{}", verified.claims.sub)?;
            Ok(ExitCode::SUCCESS)
        }
        // Fetching keys is not a verdict on the token: report it as a failure to run.
        Err(VerifyError::Fetch(error)) => Err(anyhow::Error::new(error).context("cannot read the cluster's keys")),
        Err(rejection) => {
            let reason = anyhow::Error::new(rejection);
            let _ = writeln!(std::io::stderr().lock(), "invalid: {reason:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}
