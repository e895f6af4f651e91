//! Reports of a conformance run, made from the runner's results: `junit.xml`, `summary.json`, `checks.json`,
//! `report.md` (also appended to `$GITHUB_STEP_SUMMARY`) and `report.html` in the target's directory, and at the
//! report root a matrix of checks × targets (`report.html`, `report.md`) over every target directory found there.
//!
//! A report a person wants to read: the verdict and a per-group summary first, then the failures (each with the
//! behaviour it verifies, expected against actual, and the kube-apiserver flag or source that governs it), then
//! every check with its rule ids, what it verifies and its duration. Every text from the run passes through the
//! workspace's one token scanner first: no token reaches a report.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use serde::{Deserialize, Serialize};
use tokenrequest_types::token::{redact_jwts, replace_jwts};

use crate::runner::{CheckResult, Outcome};

/// Why a report could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A `summary.json` or `checks.json` does not parse.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The JUnit document could not be serialized.
    #[error("junit.xml: {0}")]
    Junit(#[from] quick_junit::SerializeError),
}

/// The result of a run, as the matrix and CI read it (`summary.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The report directory's name: `embedded`, `kind-1.37`, ...
    pub target: String,
    /// A longer description: `kind (kindest/node:v1.37.0)`.
    pub description: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, when the verdict is not a plain pass or fail (skipped, error, interrupted).
    pub reason: Option<String>,
    /// The policy the run configured or `--policy` stated.
    pub expected_policy: Option<String>,
    /// The policy the suite probed.
    pub probed_policy: Option<String>,
    /// `gitVersion` from the target's `/version`.
    pub kubernetes_version: Option<String>,
    /// Wall time of the whole run, seconds.
    pub duration_secs: f64,
    /// Counts.
    pub passed: usize,
    /// Counts.
    pub failed: usize,
    /// Counts.
    pub skipped: usize,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every check that ran passed, and at least one ran.
    Passed,
    /// At least one check failed (or none ran).
    Failed,
    /// The target could not be started or the checks could not be run.
    Error,
    /// The target cannot run on this machine (e.g. no container engine); nothing was checked.
    Skipped,
}

impl Verdict {
    /// Upper-case, for headlines.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "PASSED",
            Verdict::Failed => "FAILED",
            Verdict::Error => "ERROR",
            Verdict::Skipped => "SKIPPED",
        }
    }

    /// The verdict of a run whose checks gave `checks`.
    pub fn of(checks: &[CheckResult]) -> Verdict {
        let (passed, failed, _) = counts(checks);
        if failed > 0 || passed == 0 {
            Verdict::Failed
        } else {
            Verdict::Passed
        }
    }
}

/// Counts (passed, failed, skipped).
pub fn counts(checks: &[CheckResult]) -> (usize, usize, usize) {
    let n = |o| checks.iter().filter(|c| c.outcome == o).count();
    (n(Outcome::Passed), n(Outcome::Failed), n(Outcome::Skipped))
}

/// What governs a rule on kube-apiserver: its flag (if any) and source, from `docs/SPEC.md`'s catalogue.
fn governed_by(rules: &[String]) -> String {
    rules
        .iter()
        .map(|id| match tokenrequest_types::rules::find(id) {
            Some(rule) => match rule.flag {
                Some(flag) => format!("{id} {}: {flag}; {}", rule.title, rule.source),
                None => format!("{id} {}: {}", rule.title, rule.source),
            },
            None => id.clone(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn write_file(path: &Path, contents: &str) -> Result<(), ReportError> {
    std::fs::write(path, contents).map_err(|source| ReportError::Io {
        path: path.to_owned(),
        source,
    })
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, ReportError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ReportError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| ReportError::Json {
            path: path.to_owned(),
            source,
        })
}

/// Writes `junit.xml`, `summary.json`, `checks.json`, `report.md` and `report.html` into `dir`, then the matrix
/// over every target directory in `matrix_root`, if given. Returns the paths a person should open.
pub fn write(
    dir: &Path,
    summary: &Summary,
    checks: &[CheckResult],
    matrix_root: Option<&Path>,
) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_owned(),
        source,
    })?;
    write_file(&dir.join("junit.xml"), &junit(summary, checks)?)?;
    write_file(&dir.join("summary.json"), &pretty_json(summary))?;
    write_file(&dir.join("checks.json"), &pretty_json(&checks))?;
    let md = markdown(summary, checks);
    write_file(&dir.join("report.md"), &md)?;
    let html = html_page(
        &format!("Conformance: {}", summary.target),
        &target_html(summary, checks),
    );
    write_file(&dir.join("report.html"), &html)?;
    let mut paths = vec![dir.join("report.md"), dir.join("report.html")];
    // Only a root the runner owns gets a matrix: a parent of `--report-dir DIR` may be any directory.
    if let Some(root) = matrix_root
        && let Some(matrix) = write_matrix(root)?
    {
        paths.push(matrix);
    }
    append_github_step_summary(&md)?;
    Ok(paths)
}

/// Pretty JSON, redacted. Serializing the report's types cannot fail (strings, numbers and enums only).
fn pretty_json<T: Serialize>(value: &T) -> String {
    redact_jwts(&serde_json::to_string_pretty(value).unwrap_or_default()).into_owned()
}

/// Under GitHub Actions, the report also goes to the job's summary page.
fn append_github_step_summary(md: &str) -> Result<(), ReportError> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, format!("{md}\n").as_bytes()))
        .map_err(|source| ReportError::Io {
            path: PathBuf::from(path),
            source,
        })
}

/// The JUnit document: one suite named after the target, one case per check (`classname` the group).
fn junit(summary: &Summary, checks: &[CheckResult]) -> Result<String, ReportError> {
    let mut report = quick_junit::Report::new("tokenrequest-conformance");
    let mut suite = TestSuite::new(summary.target.as_str());
    for check in checks {
        let mut status = match (&check.outcome, &check.failure) {
            (Outcome::Passed, _) => TestCaseStatus::success(),
            (Outcome::Skipped, failure) => {
                let mut status = TestCaseStatus::skipped();
                if let Some(failure) = failure {
                    status.set_message(failure.summary.as_str());
                }
                status
            }
            (Outcome::Failed, failure) => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                if let Some(failure) = failure {
                    status.set_message(failure.summary.as_str());
                    status.set_description(failure_text(check).as_str());
                }
                status
            }
        };
        if let TestCaseStatus::NonSuccess { ty, .. } = &mut status {
            *ty = Some(check.rules.join(",").into());
        }
        let mut case = TestCase::new(check.id.as_str(), status);
        case.set_classname(check.group.as_str())
            .set_time(Duration::from_secs_f64(check.duration_secs));
        suite.add_test_case(case);
    }
    report.add_test_suite(suite);
    // A token has no XML-special characters, so replacing it in the serialized text is exact, as long as the
    // replacement is escaped.
    Ok(replace_jwts(&report.to_string()?, "&lt;redacted&gt;").into_owned())
}

/// A failure as text: what it verifies, expected and actual, and what governs it.
fn failure_text(check: &CheckResult) -> String {
    let mut text = format!("verifies: {}\n", check.verifies);
    if let Some(failure) = &check.failure {
        let _ = writeln!(text, "{}", failure.summary);
        if let Some(expected) = &failure.expected {
            let _ = writeln!(text, "expected: {expected}");
        }
        if let Some(actual) = &failure.actual {
            let _ = writeln!(text, "actual:   {actual}");
        }
    }
    let _ = write!(
        text,
        "governed by: {}",
        governed_by(&check.rules).replace('\n', "\n             ")
    );
    redact_jwts(&text).into_owned()
}

/// One target's results, as loaded from its directory.
struct TargetResults {
    summary: Summary,
    checks: Vec<CheckResult>,
}

fn load_targets(root: &Path) -> Result<Vec<TargetResults>, ReportError> {
    let mut targets = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return Ok(targets);
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        if !dir.is_dir() {
            continue;
        }
        let Some(summary) = read_json::<Summary>(&dir.join("summary.json"))? else {
            continue;
        };
        let checks = read_json(&dir.join("checks.json"))?.unwrap_or_default();
        targets.push(TargetResults { summary, checks });
    }
    targets.sort_by(|a, b| a.summary.target.cmp(&b.summary.target));
    Ok(targets)
}

/// Writes `root/report.html` (and a matrix `root/report.md`) if any target has results there.
pub fn write_matrix(root: &Path) -> Result<Option<PathBuf>, ReportError> {
    let targets = load_targets(root)?;
    if targets.is_empty() {
        return Ok(None);
    }
    let path = root.join("report.html");
    write_file(&path, &html_page("Conformance matrix", &matrix_html(&targets)))?;
    write_file(&root.join("report.md"), &matrix_markdown(&targets))?;
    Ok(Some(path))
}

/// Per group: (passed, failed, skipped), in the order groups first appear.
fn groups(checks: &[CheckResult]) -> Vec<(&str, (usize, usize, usize))> {
    let mut order: Vec<&str> = Vec::new();
    let mut counts: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for check in checks {
        if !counts.contains_key(check.group.as_str()) {
            order.push(&check.group);
        }
        let entry = counts.entry(&check.group).or_default();
        match check.outcome {
            Outcome::Passed => entry.0 += 1,
            Outcome::Failed => entry.1 += 1,
            Outcome::Skipped => entry.2 += 1,
        }
    }
    order.into_iter().map(|g| (g, counts[g])).collect()
}

fn unknown(value: Option<&str>) -> String {
    value.map_or_else(|| "unknown (not reported)".to_owned(), str::to_owned)
}

fn header_rows(summary: &Summary) -> Vec<(&'static str, String)> {
    let mut rows = vec![(
        "Verdict",
        format!(
            "{} ({} passed, {} failed, {} skipped)",
            summary.verdict.as_str(),
            summary.passed,
            summary.failed,
            summary.skipped
        ),
    )];
    if let Some(reason) = &summary.reason {
        rows.push(("Reason", reason.clone()));
    }
    rows.extend([
        ("Target", summary.description.clone()),
        ("Kubernetes version", unknown(summary.kubernetes_version.as_deref())),
        ("Probed policy", unknown(summary.probed_policy.as_deref())),
        (
            "Expected policy",
            summary
                .expected_policy
                .clone()
                .unwrap_or_else(|| "none stated (the probed policy is used)".to_owned()),
        ),
        ("Duration", format!("{:.1}s", summary.duration_secs)),
    ]);
    rows
}

/// Failed checks first, then the rest, each group in registry order.
fn failures_first(checks: &[CheckResult]) -> Vec<&CheckResult> {
    let mut ordered: Vec<&CheckResult> = checks.iter().collect();
    ordered.sort_by_key(|c| c.outcome != Outcome::Failed);
    ordered
}

/// A group fails with one failed check, is skipped when none of its checks ran, and passes otherwise.
fn group_result(passed: usize, failed: usize, skipped: usize) -> Outcome {
    if failed > 0 {
        Outcome::Failed
    } else if passed == 0 && skipped > 0 {
        Outcome::Skipped
    } else {
        Outcome::Passed
    }
}

/// The result cell of a check: a skip says why.
fn result_text(check: &CheckResult) -> String {
    match (check.outcome, &check.failure) {
        (Outcome::Skipped, Some(failure)) => failure.summary.clone(),
        (outcome, _) => outcome_label(outcome).1.to_owned(),
    }
}

fn outcome_label(outcome: Outcome) -> (&'static str, &'static str) {
    match outcome {
        Outcome::Passed => ("passed", "pass"),
        Outcome::Failed => ("failed", "FAIL"),
        Outcome::Skipped => ("skipped", "skipped"),
    }
}

/// `report.md` for one target.
pub fn markdown(summary: &Summary, checks: &[CheckResult]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Conformance: {} — {}\n", summary.verdict.as_str(), summary.target);
    md.push_str("| | |\n|---|---|\n");
    for (key, value) in header_rows(summary) {
        let _ = writeln!(md, "| {key} | {} |", md_cell(&value));
    }
    if !checks.is_empty() {
        md.push_str("\n## Groups\n\n| Group | Result | Passed | Failed | Skipped |\n|---|---|---:|---:|---:|\n");
        for (group, (passed, failed, skipped)) in groups(checks) {
            let result = match group_result(passed, failed, skipped) {
                Outcome::Failed => "❌ fail",
                Outcome::Skipped => "⏭ skipped",
                Outcome::Passed => "✅ pass",
            };
            let _ = writeln!(md, "| `{group}` | {result} | {passed} | {failed} | {skipped} |");
        }
    }
    let failures: Vec<&CheckResult> = checks.iter().filter(|c| c.outcome == Outcome::Failed).collect();
    if !failures.is_empty() {
        md.push_str("\n## Failures\n");
        for check in failures {
            let _ = writeln!(
                md,
                "\n### `{}` ({})\n\n```text\n{}\n```",
                check.id,
                check.rules.join(", "),
                failure_text(check).replace("```", "'''")
            );
        }
    }
    if !checks.is_empty() {
        md.push_str("\n## Checks\n\n| Check | Rules | Verifies | Result | Time |\n|---|---|---|---|---:|\n");
        for check in failures_first(checks) {
            let _ = writeln!(
                md,
                "| `{}` | {} | {} | {} | {:.2}s |",
                check.id,
                check.rules.join(", "),
                md_cell(&check.verifies),
                md_cell(&result_text(check)),
                check.duration_secs
            );
        }
    }
    redact_jwts(&md).into_owned()
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
.error{background:#fff8c5}pre{background:#f6f8fa;padding:8px;overflow:auto;max-height:30em}code{font-size:13px}\
td.num{text-align:right}";

fn html_page(title: &str, body: &str) -> String {
    redact_jwts(&format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n",
        esc(title)
    ))
    .into_owned()
}

fn verdict_class(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Passed => "passed",
        Verdict::Failed => "failed",
        Verdict::Error => "error",
        Verdict::Skipped => "skipped",
    }
}

fn target_html(summary: &Summary, checks: &[CheckResult]) -> String {
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<h1>Conformance: <span class=\"{}\">{}</span> — {}</h1>\n<table>",
        verdict_class(summary.verdict),
        summary.verdict.as_str(),
        esc(&summary.target)
    );
    for (key, value) in header_rows(summary) {
        let _ = writeln!(h, "<tr><th>{key}</th><td>{}</td></tr>", esc(&value));
    }
    h.push_str("</table>\n");
    if !checks.is_empty() {
        h.push_str("<h2>Groups</h2>\n<table><tr><th>Group</th><th>Result</th><th>Passed</th><th>Failed</th><th>Skipped</th></tr>\n");
        for (group, (passed, failed, skipped)) in groups(checks) {
            let (class, label) = outcome_label(group_result(passed, failed, skipped));
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"{class}\">{label}</td><td class=\"num\">{passed}</td><td class=\"num\">{failed}</td><td class=\"num\">{skipped}</td></tr>",
                esc(group)
            );
        }
        h.push_str("</table>\n");
    }
    let failures: Vec<&CheckResult> = checks.iter().filter(|c| c.outcome == Outcome::Failed).collect();
    if !failures.is_empty() {
        h.push_str("<h2>Failures</h2>\n");
        for check in failures {
            let _ = writeln!(
                h,
                "<h3><code>{}</code> ({})</h3>\n<pre>{}</pre>",
                esc(&check.id),
                esc(&check.rules.join(", ")),
                esc(&failure_text(check))
            );
        }
    }
    if !checks.is_empty() {
        h.push_str("<h2>Checks</h2>\n<table><tr><th>Check</th><th>Rules</th><th>Verifies</th><th>Result</th><th>Time</th></tr>\n");
        for check in failures_first(checks) {
            let (class, _) = outcome_label(check.outcome);
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td><td class=\"num\">{:.2}s</td></tr>",
                esc(&check.id),
                esc(&check.rules.join(", ")),
                esc(&check.verifies),
                esc(&result_text(check)),
                check.duration_secs
            );
        }
        h.push_str("</table>\n");
    }
    h
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
    let ids: BTreeSet<&str> = targets
        .iter()
        .flat_map(|t| t.checks.iter().map(|c| c.id.as_str()))
        .collect();
    for id in ids {
        let _ = write!(h, "<tr><td><code>{}</code></td>", esc(id));
        for t in targets {
            match t.checks.iter().find(|c| c.id == id) {
                Some(check) => {
                    let (class, label) = outcome_label(check.outcome);
                    let title = check.failure.as_ref().map_or("", |f| f.summary.as_str());
                    let _ = write!(h, "<td class=\"{class}\" title=\"{}\">{label}</td>", esc(title));
                }
                None if t.summary.verdict == Verdict::Skipped => h.push_str("<td class=\"skipped\">skipped</td>"),
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
    use crate::runner::Failure;

    // Built at run time so that no JWT-looking literal is committed.
    fn jwt() -> String {
        [
            "eyJ",
            "hbGciOiJSUzI1NiIsImtpZCI6IngifQ",
            ".",
            "eyJpc3MiOiJodHRwczovL3gifQ",
            ".",
            "QUJD-_x",
        ]
        .concat()
    }

    fn check(id: &str, rules: &[&str], outcome: Outcome, failure: Option<Failure>) -> CheckResult {
        CheckResult {
            id: id.to_owned(),
            group: id.split("::").next().unwrap().to_owned(),
            rules: rules.iter().map(|r| (*r).to_owned()).collect(),
            verifies: format!("what {id} verifies"),
            outcome,
            duration_secs: 0.25,
            failure,
        }
    }

    fn recorded() -> Vec<CheckResult> {
        vec![
            check("audiences::r12_explicit_audience", &["R12"], Outcome::Passed, None),
            check(
                "expiration::r8_clamps_to_max",
                &["R8"],
                Outcome::Failed,
                Some(Failure {
                    summary: "spec.expirationSeconds".into(),
                    expected: Some("86400".into()),
                    actual: Some(format!("100000 (token {})", jwt())),
                }),
            ),
            check("expiration::r4_default_3600", &["R4"], Outcome::Passed, None),
            check(
                "review::r21_malformed_token_refused",
                &["R21"],
                Outcome::Failed,
                Some(Failure {
                    summary: format!("setup failed: namespace: Bearer {} refused", jwt()),
                    expected: None,
                    actual: None,
                }),
            ),
        ]
    }

    fn summary(target: &str, verdict: Verdict, checks: &[CheckResult]) -> Summary {
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
            duration_secs: 12.5,
            passed,
            failed,
            skipped,
        }
    }

    #[test]
    fn a_group_whose_checks_were_all_skipped_says_so_and_each_skip_says_why() {
        let reason = "skipped: no service-account controller";
        let checks = vec![
            check("request::r1_created_response", &["R1"], Outcome::Passed, None),
            check(
                "controllers::r1_new_namespaces_get_a_default_service_account",
                &["R1"],
                Outcome::Skipped,
                Some(Failure {
                    summary: reason.into(),
                    expected: None,
                    actual: None,
                }),
            ),
        ];
        assert_eq!(Verdict::of(&checks), Verdict::Passed);
        let md = markdown(&summary("apiserver-1.37", Verdict::Passed, &checks), &checks);
        assert!(md.contains("| `controllers` | ⏭ skipped | 0 | 0 | 1 |"), "{md}");
        assert!(md.contains(&format!("| {reason} |")), "{md}");
        let page = target_html(&summary("apiserver-1.37", Verdict::Passed, &checks), &checks);
        assert!(page.contains(reason), "{page}");
    }

    #[test]
    fn verdicts() {
        let checks = recorded();
        assert_eq!(Verdict::of(&checks), Verdict::Failed);
        assert_eq!(Verdict::of(&checks[..1]), Verdict::Passed);
        assert_eq!(Verdict::of(&[]), Verdict::Failed, "no check ran is not a pass");
    }

    #[test]
    fn the_markdown_report_leads_with_the_verdict_and_failures_and_holds_no_token() {
        let checks = recorded();
        let md = markdown(&summary("kind-1.37", Verdict::Failed, &checks), &checks);
        assert!(
            tokenrequest_types::token::find_jwt(&md, 0).is_none(),
            "a token reached the report:\n{md}"
        );
        insta::assert_snapshot!("report_md_failures", md);
    }

    #[test]
    fn files_on_disk_are_redacted_and_the_matrix_covers_every_target() {
        let root = tempfile::tempdir().unwrap();
        let checks = recorded();
        let kind = summary("kind-1.37", Verdict::Failed, &checks);
        write(&root.path().join("kind-1.37"), &kind, &checks, Some(root.path())).unwrap();
        let mut skipped = summary("k3s-1.37", Verdict::Skipped, &[]);
        skipped.reason = Some("no container engine: docker info failed".to_owned());
        write(&root.path().join("k3s-1.37"), &skipped, &[], Some(root.path())).unwrap();

        for file in [
            "kind-1.37/junit.xml",
            "kind-1.37/checks.json",
            "kind-1.37/summary.json",
            "kind-1.37/report.md",
            "kind-1.37/report.html",
            "report.html",
            "report.md",
        ] {
            let text = std::fs::read_to_string(root.path().join(file)).unwrap();
            assert!(
                tokenrequest_types::token::find_jwt(&text, 0).is_none(),
                "a token reached {file}"
            );
        }
        let junit = std::fs::read_to_string(root.path().join("kind-1.37/junit.xml")).unwrap();
        let parsed = quick_junit::Report::deserialize_from_str(&junit).unwrap();
        assert_eq!(parsed.test_suites[0].test_cases.len(), 4);
        assert!(junit.contains("&lt;redacted&gt;"), "{junit}");
        let matrix = std::fs::read_to_string(root.path().join("report.html")).unwrap();
        assert!(matrix.contains("skipped: no container engine"), "{matrix}");
        assert!(matrix.contains("<code>expiration::r8_clamps_to_max</code>"), "{matrix}");
        insta::assert_snapshot!(
            "matrix_md",
            std::fs::read_to_string(root.path().join("report.md")).unwrap()
        );
    }
}
