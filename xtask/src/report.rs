//! Reports of a conformance run, made from the suite's JUnit XML: `junit.xml` (redacted),
//! `report.md` and `report.html` in the target's directory, plus `summary.json` (what the matrix
//! and CI read), and at the report root a `report.html` matrix of checks × targets covering every
//! target directory found there.
//!
//! Every text that came from the run passes through [`crate::redact`] first: no token reaches a
//! report, whatever the suite printed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use quick_junit::TestCaseStatus;
use serde::{Deserialize, Serialize};

use crate::redact::redact_jwts;

/// The result of a run, as the matrix and CI read it (`summary.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Summary {
    /// The report directory's name: `embedded`, `kind-1.37`, ...
    pub(crate) target: String,
    /// A longer description: `kind (kindest/node:v1.37.0)`.
    pub(crate) description: String,
    /// The verdict.
    pub(crate) verdict: Verdict,
    /// Why, when the verdict is not a plain pass or fail (skipped, error, interrupted).
    pub(crate) reason: Option<String>,
    /// The policy xtask configured or `--policy` stated.
    pub(crate) expected_policy: Option<String>,
    /// The policy the suite probed.
    pub(crate) probed_policy: Option<String>,
    /// `gitVersion` from the target's `/version`, as the suite reported it.
    pub(crate) kubernetes_version: Option<String>,
    /// How the suite was run.
    pub(crate) runner: Option<String>,
    /// Wall time of the whole run, seconds.
    pub(crate) duration_secs: f64,
    /// Counts.
    pub(crate) passed: usize,
    /// Counts.
    pub(crate) failed: usize,
    /// Counts.
    pub(crate) skipped: usize,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Verdict {
    /// Every check that ran passed, and at least one ran.
    Passed,
    /// At least one check failed (or none ran).
    Failed,
    /// The target could not be started or the suite could not be run.
    Error,
    /// The target cannot run on this machine (no container engine); nothing was checked.
    Skipped,
}

impl Verdict {
    /// Upper-case, for headlines.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "PASSED",
            Verdict::Failed => "FAILED",
            Verdict::Error => "ERROR",
            Verdict::Skipped => "SKIPPED",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Check {
    /// `group::check`.
    pub(crate) name: String,
    /// Passed, failed or skipped.
    pub(crate) outcome: CheckOutcome,
    /// One line (redacted).
    pub(crate) message: String,
    /// The full failure text (redacted).
    pub(crate) detail: String,
}

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckOutcome {
    /// Passed.
    Passed,
    /// Failed or errored.
    Failed,
    /// Not run.
    Skipped,
}

impl Check {
    /// The part of the name before the first `::` (the suite names checks `group::check`).
    pub(crate) fn group(&self) -> &str {
        self.name
            .split_once("::")
            .map_or(self.name.as_str(), |(group, _)| group)
    }
}

/// What the suite wrote to `TOKENREQUEST_TARGET_INFO`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TargetInfo {
    /// `/version`'s gitVersion.
    pub(crate) kubernetes_version: Option<String>,
    /// The probed policy, in `TokenPolicy`'s Display form.
    pub(crate) policy: Option<String>,
}

/// Reads the suite's target info, if it wrote one.
pub(crate) fn read_target_info(path: &Path) -> TargetInfo {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// The checks in a JUnit XML document, redacted, sorted by name.
pub(crate) fn checks(junit_xml: &str) -> anyhow::Result<Vec<Check>> {
    let report = quick_junit::Report::deserialize_from_str(junit_xml).context("parsing JUnit XML")?;
    let mut checks = Vec::new();
    for suite in &report.test_suites {
        for case in &suite.test_cases {
            // nextest names a case by its test path; some runners prefix the binary.
            let name = case.name.as_str().to_owned();
            let (outcome, message, detail) = match &case.status {
                TestCaseStatus::Success { .. } => (CheckOutcome::Passed, String::new(), String::new()),
                TestCaseStatus::Skipped { message, .. } => (
                    CheckOutcome::Skipped,
                    message.as_ref().map(|m| m.as_str().to_owned()).unwrap_or_default(),
                    String::new(),
                ),
                TestCaseStatus::NonSuccess {
                    message, description, ..
                } => {
                    let detail = description
                        .as_ref()
                        .map(|d| d.as_str().to_owned())
                        .or_else(|| case.system_out.as_ref().map(|o| o.as_str().to_owned()))
                        .or_else(|| case.system_err.as_ref().map(|o| o.as_str().to_owned()))
                        .unwrap_or_default();
                    let message = message
                        .as_ref()
                        .map(|m| m.as_str().to_owned())
                        .unwrap_or_else(|| failure_summary(&detail));
                    (CheckOutcome::Failed, message, detail)
                }
            };
            checks.push(Check {
                name,
                outcome,
                message: redact_jwts(&message).into_owned(),
                detail: redact_jwts(&detail).into_owned(),
            });
        }
    }
    checks.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(checks)
}

/// The one-line summary of a failure's text: the panic message (the line after `thread 'NAME'
/// panicked at FILE:LINE:`, wherever it is: insta prints its diff before the panic), else the
/// first line that is not decoration.
pub(crate) fn failure_summary(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if let Some(idx) = lines
        .iter()
        .position(|l| l.starts_with("thread '") && l.contains("panicked at"))
    {
        return lines.get(idx + 1).unwrap_or(&lines[idx]).to_string();
    }
    let decoration = |l: &&&str| {
        l.chars()
            .next()
            .is_some_and(|c| !c.is_alphanumeric() && !"\"'`(<[{".contains(c))
    };
    lines
        .iter()
        .find(|l| !decoration(l))
        .or(lines.first())
        .map_or_else(|| "failed".to_owned(), |l| l.to_string())
}

/// Counts (passed, failed, skipped).
pub(crate) fn counts(checks: &[Check]) -> (usize, usize, usize) {
    let n = |o| checks.iter().filter(|c| c.outcome == o).count();
    (
        n(CheckOutcome::Passed),
        n(CheckOutcome::Failed),
        n(CheckOutcome::Skipped),
    )
}

/// Writes `junit.xml` (when there is one), `summary.json`, `report.md` and `report.html` into
/// `dir`, then the matrix over every target directory in `matrix_root`, if given. Returns the
/// paths a person should open.
pub(crate) fn write(
    dir: &Path,
    summary: &Summary,
    junit_xml: Option<&str>,
    matrix_root: Option<&Path>,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let checks = match junit_xml {
        Some(xml) => {
            // A JWT has no XML-special characters, so replacing it in the serialized text is
            // exact, as long as the replacement is escaped.
            std::fs::write(
                dir.join("junit.xml"),
                crate::redact::replace_jwts(xml, "&lt;redacted&gt;").as_bytes(),
            )?;
            checks(xml)?
        }
        None => Vec::new(),
    };
    std::fs::write(dir.join("summary.json"), serde_json::to_string_pretty(summary)?)?;
    let md = markdown(summary, &checks);
    std::fs::write(dir.join("report.md"), &md)?;
    std::fs::write(
        dir.join("report.html"),
        html_page(
            &format!("Conformance: {}", summary.target),
            &target_html(summary, &checks),
        ),
    )?;
    let mut paths = vec![dir.join("report.md"), dir.join("report.html")];
    // Only a root xtask owns gets a matrix: a parent of `--report-dir DIR` may be any directory.
    if let Some(root) = matrix_root
        && let Some(matrix) = write_matrix(root)?
    {
        paths.push(matrix);
    }
    append_github_step_summary(&md);
    Ok(paths)
}

/// Under GitHub Actions, the report also goes to the job's summary page.
fn append_github_step_summary(md: &str) {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
        return;
    };
    let res = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, format!("{md}\n").as_bytes()));
    if let Err(err) = res {
        crate::progress::warn_line(&format!("cannot append to $GITHUB_STEP_SUMMARY: {err}"));
    }
}

/// `cargo xtask report`: rebuilds the matrix from the target directories under the root.
pub(crate) fn run_matrix(args: &crate::flags::ReportArgs) -> anyhow::Result<()> {
    let root = args
        .dir
        .clone()
        .unwrap_or_else(|| crate::suite::target_dir(&crate::project_root()).join("conformance"));
    match write_matrix(&root)? {
        Some(path) => {
            crate::progress::line(&format!("matrix: {}", path.display()));
            let md = std::fs::read_to_string(root.join("report.md"))?;
            append_github_step_summary(&md);
            Ok(())
        }
        None => Err(anyhow::format_err!(
            "no target reports (summary.json) under {}",
            root.display()
        )),
    }
}

/// One target's results, as loaded from its directory.
struct TargetResults {
    summary: Summary,
    checks: Vec<Check>,
}

fn load_targets(root: &Path) -> anyhow::Result<Vec<TargetResults>> {
    let mut targets = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return Ok(targets);
    };
    for entry in entries {
        let dir = entry?.path();
        let Ok(text) = std::fs::read_to_string(dir.join("summary.json")) else {
            continue;
        };
        let summary: Summary =
            serde_json::from_str(&text).with_context(|| format!("reading {}", dir.join("summary.json").display()))?;
        let checks = match std::fs::read_to_string(dir.join("junit.xml")) {
            Ok(xml) => checks(&xml).with_context(|| format!("reading {}", dir.join("junit.xml").display()))?,
            Err(_) => Vec::new(),
        };
        targets.push(TargetResults { summary, checks });
    }
    targets.sort_by(|a, b| a.summary.target.cmp(&b.summary.target));
    Ok(targets)
}

/// Writes `root/report.html` (and a matrix `root/report.md`) if any target has results there.
pub(crate) fn write_matrix(root: &Path) -> anyhow::Result<Option<PathBuf>> {
    let targets = load_targets(root)?;
    if targets.is_empty() {
        return Ok(None);
    }
    let path = root.join("report.html");
    std::fs::write(&path, html_page("Conformance matrix", &matrix_html(&targets)))?;
    std::fs::write(root.join("report.md"), matrix_markdown(&targets))?;
    Ok(Some(path))
}

/// Failure text in reports is cut to this many lines; the full text is in junit.xml.
const MAX_DETAIL_LINES: usize = 40;

fn detail_excerpt(detail: &str) -> String {
    let lines: Vec<&str> = detail.lines().collect();
    if lines.len() <= MAX_DETAIL_LINES {
        return detail.to_owned();
    }
    format!(
        "{}\n... ({} more lines in junit.xml)",
        lines[..MAX_DETAIL_LINES].join("\n"),
        lines.len() - MAX_DETAIL_LINES
    )
}

/// Per group: (passed, failed, skipped).
fn groups(checks: &[Check]) -> BTreeMap<&str, (usize, usize, usize)> {
    let mut groups: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for check in checks {
        let entry = groups.entry(check.group()).or_default();
        match check.outcome {
            CheckOutcome::Passed => entry.0 += 1,
            CheckOutcome::Failed => entry.1 += 1,
            CheckOutcome::Skipped => entry.2 += 1,
        }
    }
    groups
}

fn unknown(value: &Option<String>, why: &str) -> String {
    value.clone().unwrap_or_else(|| format!("unknown ({why})"))
}

/// `report.md` for one target.
pub(crate) fn markdown(summary: &Summary, checks: &[Check]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Conformance: {} — {}\n", summary.verdict.as_str(), summary.target);
    let _ = writeln!(md, "| | |\n|---|---|");
    let counts = format!(
        "{} passed, {} failed, {} skipped",
        summary.passed, summary.failed, summary.skipped
    );
    let _ = writeln!(md, "| Verdict | **{}** ({counts}) |", summary.verdict.as_str());
    if let Some(reason) = &summary.reason {
        let _ = writeln!(md, "| Reason | {} |", md_cell(reason));
    }
    let _ = writeln!(md, "| Target | {} |", md_cell(&summary.description));
    let not_reported = "not reported by the suite";
    let _ = writeln!(
        md,
        "| Kubernetes version | {} |",
        md_cell(&unknown(&summary.kubernetes_version, not_reported))
    );
    let _ = writeln!(
        md,
        "| Probed policy | `{}` |",
        md_cell(&unknown(&summary.probed_policy, not_reported))
    );
    let expected = summary
        .expected_policy
        .clone()
        .unwrap_or_else(|| "none stated (the probed policy is used)".to_owned());
    let _ = writeln!(md, "| Expected policy | `{}` |", md_cell(&expected));
    if let Some(runner) = &summary.runner {
        let _ = writeln!(md, "| Runner | {} |", md_cell(runner));
    }
    let _ = writeln!(md, "| Duration | {:.1}s |", summary.duration_secs);

    if !checks.is_empty() {
        let _ = writeln!(
            md,
            "\n## Groups\n\n| Group | Result | Passed | Failed | Skipped |\n|---|---|---:|---:|---:|"
        );
        for (group, (passed, failed, skipped)) in groups(checks) {
            let result = if failed > 0 { "❌ fail" } else { "✅ pass" };
            let _ = writeln!(md, "| `{group}` | {result} | {passed} | {failed} | {skipped} |");
        }
    }
    let failures: Vec<&Check> = checks.iter().filter(|c| c.outcome == CheckOutcome::Failed).collect();
    if !failures.is_empty() {
        let _ = writeln!(md, "\n## Failures\n");
        for check in failures {
            let _ = writeln!(md, "### `{}`\n\n{}\n", check.name, md_cell(&check.message));
            if !check.detail.is_empty() {
                let _ = writeln!(
                    md,
                    "```text\n{}\n```\n",
                    detail_excerpt(&check.detail).replace("```", "'''")
                );
            }
        }
    }
    md
}

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn matrix_markdown(targets: &[TargetResults]) -> String {
    let mut md = String::from(
        "# Conformance matrix\n\n| Target | Verdict | Kubernetes | Passed | Failed | Skipped |\n|---|---|---|---:|---:|---:|\n",
    );
    for t in targets {
        let s = &t.summary;
        let verdict = match (&s.verdict, &s.reason) {
            (Verdict::Skipped, Some(reason)) => format!("skipped: {}", md_cell(short_reason(reason))),
            (verdict, _) => verdict.as_str().to_owned(),
        };
        let version = s.kubernetes_version.clone().unwrap_or_else(|| "?".to_owned());
        let _ = writeln!(
            md,
            "| {} | {verdict} | {version} | {} | {} | {} |",
            s.target, s.passed, s.failed, s.skipped
        );
    }
    md
}

/// A matrix cell has room for `no container engine`, not for docker's whole message (which the
/// target's own report keeps).
fn short_reason(reason: &str) -> &str {
    reason.split(':').next().unwrap_or(reason).trim()
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#1f2328}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#f6f8fa}.passed{background:#dafbe1}.failed{background:#ffebe9}.skipped{background:#f6f8fa;color:#656d76}\
.error{background:#fff8c5}pre{background:#f6f8fa;padding:8px;overflow:auto;max-height:30em}code{font-size:13px}";

fn html_page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n",
        esc(title)
    )
}

fn verdict_class(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Passed => "passed",
        Verdict::Failed => "failed",
        Verdict::Error => "error",
        Verdict::Skipped => "skipped",
    }
}

fn target_html(summary: &Summary, checks: &[Check]) -> String {
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<h1>Conformance: <span class=\"{}\">{}</span> — {}</h1>",
        verdict_class(summary.verdict),
        summary.verdict.as_str(),
        esc(&summary.target)
    );
    let not_reported = "not reported by the suite";
    let rows = [
        (
            "Counts",
            format!(
                "{} passed, {} failed, {} skipped",
                summary.passed, summary.failed, summary.skipped
            ),
        ),
        ("Reason", summary.reason.clone().unwrap_or_default()),
        ("Target", summary.description.clone()),
        ("Kubernetes version", unknown(&summary.kubernetes_version, not_reported)),
        ("Probed policy", unknown(&summary.probed_policy, not_reported)),
        (
            "Expected policy",
            summary
                .expected_policy
                .clone()
                .unwrap_or_else(|| "none stated".to_owned()),
        ),
        ("Runner", summary.runner.clone().unwrap_or_default()),
        ("Duration", format!("{:.1}s", summary.duration_secs)),
    ];
    h.push_str("<table>\n");
    for (key, value) in rows.iter().filter(|(_, v)| !v.is_empty()) {
        let _ = writeln!(h, "<tr><th>{key}</th><td>{}</td></tr>", esc(value));
    }
    h.push_str("</table>\n<h2>Checks</h2>\n<table><tr><th>Group</th><th>Check</th><th>Result</th></tr>\n");
    for check in checks {
        let (class, label) = outcome_label(check.outcome);
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td><code>{}</code></td><td class=\"{class}\">{label}</td></tr>",
            esc(check.group()),
            esc(&check.name)
        );
    }
    h.push_str("</table>\n");
    for check in checks.iter().filter(|c| c.outcome == CheckOutcome::Failed) {
        let _ = writeln!(
            h,
            "<h3><code>{}</code></h3>\n<p>{}</p>\n<pre>{}</pre>",
            esc(&check.name),
            esc(&check.message),
            esc(&detail_excerpt(&check.detail))
        );
    }
    h
}

fn outcome_label(outcome: CheckOutcome) -> (&'static str, &'static str) {
    match outcome {
        CheckOutcome::Passed => ("passed", "pass"),
        CheckOutcome::Failed => ("failed", "FAIL"),
        CheckOutcome::Skipped => ("skipped", "skipped"),
    }
}

fn matrix_html(targets: &[TargetResults]) -> String {
    let mut h = String::from("<h1>Conformance matrix</h1>\n<table>\n<tr><th>Check</th>");
    for t in targets {
        let _ = write!(
            h,
            "<th><a href=\"{0}/report.html\">{0}</a></th>",
            esc(&t.summary.target)
        );
    }
    h.push_str("</tr>\n<tr><th>Verdict</th>");
    for t in targets {
        let s = &t.summary;
        let label = match (&s.verdict, &s.reason) {
            (Verdict::Skipped, Some(reason)) => format!("skipped: {}", short_reason(reason)),
            (verdict, _) => format!("{} ({}/{})", verdict.as_str(), s.passed, s.passed + s.failed),
        };
        let _ = write!(h, "<td class=\"{}\">{}</td>", verdict_class(s.verdict), esc(&label));
    }
    h.push_str("</tr>\n<tr><th>Kubernetes</th>");
    for t in targets {
        let _ = write!(
            h,
            "<td>{}</td>",
            esc(t.summary.kubernetes_version.as_deref().unwrap_or("?"))
        );
    }
    h.push_str("</tr>\n");
    let names: BTreeSet<&str> = targets
        .iter()
        .flat_map(|t| t.checks.iter().map(|c| c.name.as_str()))
        .collect();
    for name in names {
        let _ = write!(h, "<tr><td><code>{}</code></td>", esc(name));
        for t in targets {
            match t.checks.iter().find(|c| c.name == name) {
                Some(check) => {
                    let (class, label) = outcome_label(check.outcome);
                    let _ = write!(
                        h,
                        "<td class=\"{class}\" title=\"{}\">{label}</td>",
                        esc(&check.message)
                    );
                }
                None if t.summary.verdict == Verdict::Skipped => {
                    let _ = write!(h, "<td class=\"skipped\">skipped</td>");
                }
                None => h.push_str("<td class=\"skipped\">–</td>"),
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    // The fixtures hold `{{JWT}}` where a token was, so that no JWT-looking string is committed.
    fn fixture(name: &str) -> String {
        let jwt = [
            "eyJ",
            "hbGciOiJSUzI1NiIsImtpZCI6IngifQ",
            ".",
            "eyJpc3MiOiJodHRwczovL3gifQ",
            ".",
            "QUJD-_x",
        ]
        .concat();
        let path = crate::project_root().join("xtask/tests/fixtures").join(name);
        std::fs::read_to_string(&path).unwrap().replace("{{JWT}}", &jwt)
    }

    fn summary(target: &str, verdict: Verdict, checks: &[Check]) -> Summary {
        let (passed, failed, skipped) = counts(checks);
        Summary {
            target: target.to_owned(),
            description: format!("{target} (recorded)"),
            verdict,
            reason: None,
            expected_policy: Some(
                "max=1day,extend=false,audiences=https://kubernetes.default.svc.cluster.local,extra,alg=RS256"
                    .to_owned(),
            ),
            probed_policy: Some(
                "max=1day,extend=true,audiences=https://kubernetes.default.svc.cluster.local,extra,alg=RS256"
                    .to_owned(),
            ),
            kubernetes_version: Some("v1.37.1".to_owned()),
            runner: Some("cargo-nextest".to_owned()),
            duration_secs: 12.5,
            passed,
            failed,
            skipped,
        }
    }

    #[test]
    fn failure_summaries_are_the_panic_message() {
        let insta = "━━━ Snapshot Summary ━━━\nSnapshot file: x.snap\n+new results\nthread 'a::b' (2270) panicked at src/x.rs:1:5:\nsnapshot assertion for 'x' failed in line 19\n";
        assert_eq!(failure_summary(insta), "snapshot assertion for 'x' failed in line 19");
        assert_eq!(
            failure_summary("━━━ banner ━━━\nexpected 409, got 201\n"),
            "expected 409, got 201"
        );
        assert_eq!(failure_summary(""), "failed");
    }

    #[test]
    fn nextest_junit_with_failures_becomes_a_redacted_markdown_report() {
        let xml = fixture("nextest-junit-failures.xml");
        let checks = checks(&xml).unwrap();
        assert_eq!(counts(&checks), (3, 2, 1));
        let md = markdown(&summary("kind-1.37", Verdict::Failed, &checks), &checks);
        assert!(!md.contains("eyJ"), "a token reached the report:\n{md}");
        insta::assert_snapshot!("report_md_nextest_failures", md);
    }

    #[test]
    fn libtest_junit_made_by_xtask_reads_back() {
        let output = fixture("libtest-output.txt");
        let listed = crate::libtest::listed_tests(&fixture("libtest-list.txt"));
        let suite = crate::libtest::junit_suite(
            "tokenrequest-conformance::suite",
            &listed,
            &output,
            Some("signal: 6 (SIGABRT)"),
        );
        let mut report = quick_junit::Report::new("tokenrequest-conformance");
        report.add_test_suite(suite);
        let checks = checks(&report.to_string().unwrap()).unwrap();
        assert_eq!(counts(&checks), (2, 3, 1));
        let md = markdown(&summary("embedded", Verdict::Failed, &checks), &checks);
        assert!(!md.contains("eyJ"), "a token reached the report:\n{md}");
        insta::assert_snapshot!("report_md_libtest_failures", md);
    }

    #[test]
    fn junit_written_to_disk_is_redacted_and_the_matrix_covers_every_target() {
        let root = tempfile::tempdir().unwrap();
        let xml = fixture("nextest-junit-failures.xml");
        let checks = checks(&xml).unwrap();
        let kind = summary("kind-1.37", Verdict::Failed, &checks);
        write(&root.path().join("kind-1.37"), &kind, Some(&xml), Some(root.path())).unwrap();
        let mut skipped = summary("k3s-1.37", Verdict::Skipped, &[]);
        skipped.reason = Some("no container engine".to_owned());
        write(&root.path().join("k3s-1.37"), &skipped, None, Some(root.path())).unwrap();

        for file in [
            "kind-1.37/junit.xml",
            "kind-1.37/report.md",
            "kind-1.37/report.html",
            "report.html",
            "report.md",
        ] {
            let text = std::fs::read_to_string(root.path().join(file)).unwrap();
            assert!(crate::redact::find_jwt(&text, 0).is_none(), "a token reached {file}");
        }
        let matrix = std::fs::read_to_string(root.path().join("report.html")).unwrap();
        assert!(matrix.contains("skipped: no container engine"), "{matrix}");
        assert!(matrix.contains("<code>expiration::clamped_to_max</code>"), "{matrix}");
        insta::assert_snapshot!(
            "matrix_md",
            std::fs::read_to_string(root.path().join("report.md")).unwrap()
        );
    }
}
