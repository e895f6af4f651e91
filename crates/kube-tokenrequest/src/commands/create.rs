//! `create SA`: request a token, print it like `kubectl create token` (or the TokenRequest with `-o json|yaml`),
//! and relay the API's warnings (e.g. a shortened expiration) on stderr.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use tokenrequest_client::{BoundObjectRef, TokenClient, TokenRequestOptions};
use tokenrequest_types::binding::BoundKind;

use crate::connection::ConnectionArgs;
use crate::connection::connect;

/// Flags of `create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The service account.
    pub service_account: String,
    /// What to request.
    #[command(flatten)]
    pub request: RequestFlags,
    /// Send `dryRun=All` (kube-apiserver still issues a real token).
    #[arg(long)]
    pub dry_run: bool,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "token")]
    pub output: CreateFormat,
}

/// What a token is requested for: audiences, duration and binding (`create` and `credential`).
#[derive(Debug, Clone, Args)]
pub struct RequestFlags {
    /// An audience of the token (repeatable); default: the API server's audiences.
    #[arg(long = "audience", value_name = "AUDIENCE")]
    pub audiences: Vec<String>,
    /// How long the token should live, e.g. 1h, 30m, 600s; default: the server's (1h).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub duration: Option<Duration>,
    /// Bind the token to an object of this kind.
    #[arg(long, requires = "bound_object_name", value_name = "KIND", value_parser = bound_kind_parser())]
    pub bound_object_kind: Option<BoundKind>,
    /// The name of the object to bind to.
    #[arg(long, requires = "bound_object_kind", value_name = "NAME")]
    pub bound_object_name: Option<String>,
    /// The uid of the object to bind to (checked by the API server).
    #[arg(long, requires = "bound_object_name", value_name = "UID")]
    pub bound_object_uid: Option<String>,
}

/// `Pod`, `Secret` or `Node`, parsed by `tokenrequest-types`; the possible values are listed for help and
/// completions.
fn bound_kind_parser() -> impl clap::builder::TypedValueParser<Value = BoundKind> {
    use clap::builder::TypedValueParser as _;
    let names = BoundKind::ALL.map(BoundKind::kind);
    clap::builder::PossibleValuesParser::new(names).try_map(|name| name.parse::<BoundKind>())
}

/// What `create` prints.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CreateFormat {
    /// The token alone.
    Token,
    /// The TokenRequest, token included, as JSON.
    Json,
    /// The TokenRequest, token included, as YAML.
    Yaml,
}

/// Go-style durations as kubectl takes them (`1h`, `90m`, `1h30m`), or plain seconds.
fn parse_duration(value: &str) -> Result<Duration, String> {
    if let Ok(seconds) = value.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(value).map_err(|e| format!("{e} (try 1h, 30m or 600s)"))
}

impl RequestFlags {
    /// The request these flags describe.
    pub fn options(&self, dry_run: bool) -> anyhow::Result<TokenRequestOptions> {
        let expiration_seconds = self
            .duration
            .map(|d| i64::try_from(d.as_secs()).context("--duration is too large"))
            .transpose()?;
        let bound_object = match (self.bound_object_kind, &self.bound_object_name) {
            (Some(kind), Some(name)) => Some(BoundObjectRef {
                kind,
                name: name.clone(),
                uid: self.bound_object_uid.clone(),
            }),
            _ => None,
        };
        Ok(TokenRequestOptions {
            audiences: self.audiences.clone(),
            expiration_seconds,
            bound_object,
            dry_run,
        })
    }
}

/// Runs `create`.
pub async fn run(connection: &ConnectionArgs, args: CreateArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let options = args.request.options(args.dry_run)?;
    let cluster = connect(connection).await?;
    let issued = TokenClient::new(cluster.client)
        .request(&cluster.namespace, &args.service_account, &options)
        .await?;
    for warning in issued.warnings() {
        let _ = writeln!(std::io::stderr().lock(), "Warning: {warning}");
    }
    // kubectl hides managedFields unless asked (`--show-managed-fields`); so does `create`.
    let mut request = issued.to_token_request();
    request.metadata.managed_fields = None;
    match args.output {
        CreateFormat::Token => writeln!(out, "{}", issued.token().expose())?,
        CreateFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &request)?;
            writeln!(out)?;
        }
        CreateFormat::Yaml => serde_yaml::to_writer(&mut *out, &request)?,
    }
    Ok(ExitCode::SUCCESS)
}
