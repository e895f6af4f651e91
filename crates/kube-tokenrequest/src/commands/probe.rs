//! `probe`: infer the cluster's effective token policy through the public API (see `tokenrequest_client::probe`)
//! and print it as a table or JSON. Ctrl-C stops the probe and still deletes its scratch objects.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use tokenrequest_client::ProbedPolicy;

use crate::connection::ConnectionArgs;
use crate::connection::connect;
use crate::output::ObjectFormat;

/// Flags of `probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: ObjectFormat,
}

/// Runs `probe`.
pub async fn run(connection: &ConnectionArgs, args: ProbeArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let cluster = connect(connection).await?;
    let interrupted = async {
        // If Ctrl-C cannot be watched, the probe simply runs to the end.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let probed = tokenrequest_client::probe_until(cluster.client, interrupted).await?;
    match args.output {
        ObjectFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &probed)?;
            writeln!(out)?;
        }
        ObjectFormat::Text => write_table(&probed, out)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// A two-column table, one fact per row.
pub fn write_table(probed: &ProbedPolicy, out: &mut impl Write) -> std::io::Result<()> {
    let max = probed
        .max_expiration_seconds
        .map_or_else(|| "none (2^32 s granted)".to_owned(), |s| format!("{s} s"));
    let extension = match (probed.extension, probed.extension_observable) {
        (true, true) => "on (pod-bound 3607 s tokens live a year)",
        (false, true) => "off",
        (_, false) => "unknown (max expiration is below 3607 s)",
    };
    let min = probed
        .min_expiration_seconds
        .map_or_else(|| "not at 600 s".to_owned(), |s| format!("{s} s"));
    let kinds: Vec<&str> = probed.bound_kinds.iter().map(|k| k.kind()).collect();
    let discovery = probed.discovery_issuer.as_deref().unwrap_or("not served");
    let rows = [
        ("issuer", probed.issuer.clone()),
        ("api audiences", probed.api_audiences.join(", ")),
        ("max expiration", max),
        ("extension", extension.to_owned()),
        ("min expiration", min),
        ("token algorithm", probed.token_algorithm.clone()),
        ("bound kinds", kinds.join(", ")),
        ("discovery issuer", discovery.to_owned()),
        ("discovery algorithms", probed.discovery_algorithms.join(", ")),
        ("policy", probed.policy.to_string()),
    ];
    for (name, value) in rows {
        writeln!(out, "{name:<21} {value}")?;
    }
    Ok(())
}
