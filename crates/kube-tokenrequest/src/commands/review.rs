//! `review [TOKEN|-]`: ask the API server whether it accepts a token (TokenReview) and print its answer: who the
//! token authenticates as, or why it does not. Exit 1 when the token is not authenticated.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use tokenrequest_client::TokenClient;
use tokenrequest_types::TokenReviewStatus;
use tokenrequest_types::token::Token;

use crate::connection::ConnectionArgs;
use crate::connection::connect;
use crate::output::ObjectFormat;
use crate::token_input::read_token;

/// Flags of `review`.
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The token; `-` or nothing reads it from stdin.
    pub token: Option<String>,
    /// An audience to review for (repeatable); default: the API audiences.
    #[arg(long = "audience", value_name = "AUDIENCE")]
    pub audiences: Vec<String>,
    /// Output format (`json` prints the TokenReview status).
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: ObjectFormat,
}

/// Runs `review`.
pub async fn run(connection: &ConnectionArgs, args: ReviewArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let token = Token::new(read_token(args.token.as_deref())?);
    let cluster = connect(connection).await?;
    let status = TokenClient::new(cluster.client).review(&token, &args.audiences).await?;
    match args.output {
        ObjectFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &status)?;
            writeln!(out)?;
        }
        ObjectFormat::Text => write_text(&status, out)?,
    }
    let authenticated = status.authenticated == Some(true);
    Ok(if authenticated {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn write_text(status: &TokenReviewStatus, out: &mut impl Write) -> std::io::Result<()> {
    let authenticated = status.authenticated == Some(true);
    writeln!(out, "authenticated: {authenticated}")?;
    if let Some(error) = &status.error {
        writeln!(out, "error:         {error}")?;
    }
    if let Some(user) = status.user.as_ref().filter(|_| authenticated) {
        writeln!(out, "user:          {}", user.username.as_deref().unwrap_or_default())?;
        writeln!(out, "uid:           {}", user.uid.as_deref().unwrap_or_default())?;
        writeln!(
            out,
            "groups:        {}",
            user.groups.as_deref().unwrap_or_default().join(", ")
        )?;
        for (key, values) in user.extra.iter().flatten() {
            writeln!(out, "extra:         {key}={}", values.join(","))?;
        }
    }
    if let Some(audiences) = &status.audiences {
        writeln!(out, "audiences:     {}", audiences.join(", "))?;
    }
    Ok(())
}
