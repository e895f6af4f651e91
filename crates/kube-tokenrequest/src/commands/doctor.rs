//! `doctor`: will the systems that consume this cluster's service-account tokens accept them? Gathers what the
//! cluster serves (`tokenrequest_client::doctor`, in a scratch namespace it deletes) and judges it per relying party
//! (`tokenrequest_types::relying_party`): works, will not work, or cannot tell from here, each with the reason and
//! the fix.
//!
//! Exit codes: 0 when every selected profile works; 1 when one will not work or cannot be told; 3 when the API
//! server cannot be reached; 4 when the endpoint is not a Kubernetes API server with TokenRequest; 5 when the
//! kubeconfig's user may not do what doctor needs (create a namespace, a service account, tokens).

use std::fmt;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use serde::Serialize;
use tokenrequest_client::ApiError;
use tokenrequest_types::relying_party::{Judgement, Observations, Outcome, Profile, Verdict, judge};

use crate::connection::{ConnectionArgs, client_config};

/// Flags of `doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The relying parties to judge (comma-separated); default: all.
    #[arg(long = "for", value_delimiter = ',', value_parser = parse_profile, value_name = "go-oidc,conformance,aws,azure,gcp,vault,spire")]
    pub profiles: Vec<Profile>,
    /// GCP's audience: the workload identity provider's resource name
    /// (`//iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/providers/Q`).
    #[arg(long, value_name = "AUDIENCE")]
    pub gcp_audience: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub output: DoctorFormat,
    /// The longest the whole diagnosis may take.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s", value_name = "DURATION")]
    pub timeout: Duration,
}

/// What `doctor` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DoctorFormat {
    /// A table: one line per profile, then the reasons and fixes.
    Table,
    /// The observations and the judgements as JSON.
    Json,
    /// A Markdown table, for an issue or a report.
    Markdown,
}

fn parse_profile(value: &str) -> Result<Profile, String> {
    value
        .parse()
        .map_err(|e: tokenrequest_types::relying_party::UnknownProfile| e.to_string())
}

/// A failure that decides its own exit code (see the module doc).
#[derive(Debug)]
pub struct DoctorFailure {
    /// The exit code.
    pub code: u8,
    message: String,
}

impl fmt::Display for DoctorFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DoctorFailure {}

#[derive(Serialize)]
struct Report<'a> {
    observations: &'a Observations,
    judgements: &'a [Judgement],
}

/// Runs `doctor`.
pub async fn run(connection: &ConnectionArgs, args: DoctorArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let profiles = if args.profiles.is_empty() {
        Profile::ALL.to_vec()
    } else {
        args.profiles.clone()
    };
    let mut config = client_config(connection).await?;
    config.default_retry = false;
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = Some(Duration::from_secs(20));
    let server = config.cluster_url.to_string();
    let mut audiences: Vec<String> = profiles
        .iter()
        .filter_map(|p| p.audience())
        .map(str::to_owned)
        .collect();
    audiences.extend(args.gcp_audience.clone());
    audiences.dedup();
    let observed = tokio::time::timeout(args.timeout, tokenrequest_client::doctor::observe(config, &audiences))
        .await
        .map_err(|_| DoctorFailure {
            code: 3,
            message: format!(
                "{server} did not answer within {}",
                humantime::format_duration(args.timeout)
            ),
        })?;
    let mut seen = observed.map_err(|e| classify(&server, &anyhow::Error::new(e)))?;
    seen.gcp_audience = args.gcp_audience;
    let judgements: Vec<Judgement> = profiles.iter().map(|&p| judge(p, &seen)).collect();
    match args.output {
        DoctorFormat::Json => {
            serde_json::to_writer_pretty(
                &mut *out,
                &Report {
                    observations: &seen,
                    judgements: &judgements,
                },
            )?;
            writeln!(out)?;
        }
        DoctorFormat::Table => write_table(&judgements, out)?,
        DoctorFormat::Markdown => write_markdown(&judgements, out)?,
    }
    let all_work = judgements.iter().all(|j| j.verdict == Verdict::Works);
    Ok(if all_work { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The exit code of a failure to observe: unreachable (3), not a Kubernetes API with TokenRequest (4), not
/// allowed (5).
fn classify(server: &str, error: &anyhow::Error) -> DoctorFailure {
    let line = error
        .chain()
        .map(ToString::to_string)
        .fold(String::new(), |line, part| {
            if line.contains(&part) {
                line
            } else if line.is_empty() {
                part
            } else {
                format!("{line}: {part}")
            }
        });
    let api_code = error.chain().find_map(|cause| {
        if let Some(api) = cause.downcast_ref::<ApiError>() {
            return Some(api.code());
        }
        match cause.downcast_ref::<kube::Error>() {
            Some(kube::Error::Api(status)) => Some(Some(status.code)),
            Some(kube::Error::SerdeError(_)) => Some(Some(0)),
            Some(_) => Some(None),
            None => None,
        }
    });
    let (code, what) = match api_code {
        Some(Some(401 | 403)) => (5, "not allowed"),
        Some(Some(_)) => (4, "not a Kubernetes API server with TokenRequest"),
        _ => (3, "cannot reach the API server"),
    };
    DoctorFailure {
        code,
        message: format!("{what} ({server}): {line}"),
    }
}

fn write_table(judgements: &[Judgement], out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(out, "{:<12} {:<22} FOR", "PROFILE", "VERDICT")?;
    for judged in judgements {
        writeln!(
            out,
            "{:<12} {:<22} {}",
            judged.profile.name(),
            judged.verdict.to_string(),
            judged.profile.title()
        )?;
    }
    for judged in judgements.iter().filter(|j| j.verdict != Verdict::Works) {
        writeln!(
            out,
            "\n{} ({}): {}",
            judged.profile.name(),
            judged.profile.title(),
            judged.verdict
        )?;
        for finding in judged.findings.iter().filter(|f| f.outcome != Outcome::Pass) {
            let mark = if finding.outcome == Outcome::Fail { "✗" } else { "?" };
            writeln!(out, "  {mark} {}: {}", finding.rule, finding.reason)?;
            if let Some(fix) = &finding.fix {
                writeln!(out, "    fix: {fix}")?;
            }
            writeln!(out, "    source: {}", finding.source)?;
        }
    }
    Ok(())
}

fn write_markdown(judgements: &[Judgement], out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(out, "| profile | verdict | why | fix |")?;
    writeln!(out, "|---|---|---|---|")?;
    let cell = |s: &str| s.replace('|', "\\|");
    for judged in judgements {
        let failing: Vec<_> = judged.findings.iter().filter(|f| f.outcome != Outcome::Pass).collect();
        let why = failing
            .iter()
            .map(|f| format!("{}: {}", f.rule, cell(&f.reason)))
            .collect::<Vec<_>>()
            .join("<br>");
        let fix = failing
            .iter()
            .filter_map(|f| f.fix.as_deref().map(cell))
            .collect::<Vec<_>>()
            .join("<br>");
        writeln!(
            out,
            "| {} ({}) | {} | {} | {} |",
            judged.profile.name(),
            judged.profile.title(),
            judged.verdict,
            if why.is_empty() { "-".to_owned() } else { why },
            if fix.is_empty() { "-".to_owned() } else { fix },
        )
        .context("cannot write the report")?;
    }
    Ok(())
}
