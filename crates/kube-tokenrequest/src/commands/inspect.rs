//! `inspect [TOKEN|-]`: a token's header and claims, decoded without verification, with times in RFC 3339 and
//! relative to now. The signature is never shown: it is what makes a token usable.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;
use tokenrequest_types::claims::{Claims, ObjectRef};
use tokenrequest_types::token::{JoseHeader, UnverifiedToken};

use crate::output::ObjectFormat;
use crate::relative_time::{absolute_and_relative, expiry};
use crate::token_input::read_token;

/// Flags of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The token; `-` or nothing reads it from stdin.
    pub token: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: ObjectFormat,
}

/// What `-o json` prints.
#[derive(Serialize)]
struct Inspection<'a> {
    header: &'a JoseHeader,
    claims: &'a Claims,
}

/// Runs `inspect`.
pub fn run(args: InspectArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let token = read_token(args.token.as_deref())?;
    let decoded = UnverifiedToken::parse(&token)?;
    match args.output {
        ObjectFormat::Json => {
            let inspection = Inspection {
                header: decoded.header(),
                claims: decoded.claims(),
            };
            serde_json::to_writer_pretty(&mut *out, &inspection)?;
            writeln!(out)?;
        }
        ObjectFormat::Text => write_text(&decoded, Timestamp::now(), out)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The readable form: header, standard claims, then what the token is bound to.
pub fn write_text(token: &UnverifiedToken, now: Timestamp, out: &mut impl Write) -> std::io::Result<()> {
    let header = token.header();
    let claims = token.claims();
    let time = |t: i64| absolute_and_relative(t, now);
    writeln!(out, "Header:")?;
    writeln!(out, "  alg:  {}", header.alg)?;
    if let Some(kid) = &header.kid {
        writeln!(out, "  kid:  {kid}")?;
    }
    if let Some(typ) = &header.typ {
        writeln!(out, "  typ:  {typ}")?;
    }
    writeln!(out, "Claims:")?;
    writeln!(out, "  iss:  {}", claims.iss)?;
    writeln!(out, "  sub:  {}", claims.sub)?;
    writeln!(out, "  aud:  {}", claims.aud.join(", "))?;
    writeln!(out, "  iat:  {}", time(claims.iat))?;
    writeln!(out, "  nbf:  {}", time(claims.nbf))?;
    writeln!(out, "  exp:  {}", expiry(claims.exp, now))?;
    if let Some(jti) = &claims.jti {
        writeln!(out, "  jti:  {jti}")?;
    }
    let Some(kubernetes) = &claims.kubernetes_io else {
        return writeln!(out, "Binding: none (not a TokenRequest token)");
    };
    writeln!(out, "Binding:")?;
    writeln!(out, "  namespace:       {}", kubernetes.namespace)?;
    writeln!(out, "  serviceaccount:  {}", object(&kubernetes.serviceaccount))?;
    let parts = [
        ("pod", &kubernetes.pod),
        ("secret", &kubernetes.secret),
        ("node", &kubernetes.node),
    ];
    for (name, reference) in parts {
        if let Some(reference) = reference {
            writeln!(out, "  {:<17}{}", format!("{name}:"), object(reference))?;
        }
    }
    if let Some(warnafter) = kubernetes.warnafter {
        writeln!(out, "  warnafter:       {}", time(warnafter))?;
    }
    Ok(())
}

fn object(reference: &ObjectRef) -> String {
    if reference.uid.is_empty() {
        reference.name.clone()
    } else {
        format!("{} (uid {})", reference.name, reference.uid)
    }
}
