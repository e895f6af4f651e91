//! Turns the plain output of a libtest binary (`cargo test`'s harness) into JUnit, for machines
//! without cargo-nextest. Stable Rust has no machine-readable libtest output (`--format json` is
//! nightly-only), so this reads the human format, which has been stable for years:
//!
//! ```text
//! test group::check ... ok
//! test group::other ... FAILED
//! failures:
//!
//! ---- group::other stdout ----
//! thread 'group::other' panicked at ...
//!
//! failures:
//!     group::other
//! ```
//!
//! Checks a binary listed but never reported (it crashed or was interrupted) become failures with
//! that reason, so a crash can never look like a pass.

use std::collections::BTreeMap;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

/// The outcome of one check, as libtest printed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// `... ok`
    Passed,
    /// `... FAILED`
    Failed,
    /// `... ignored`
    Ignored,
}

/// One `test NAME ... RESULT` line, if `line` is one.
pub(crate) fn result_line(line: &str) -> Option<(&str, Outcome)> {
    let rest = line.strip_prefix("test ")?;
    let (name, result) = rest.rsplit_once(" ... ")?;
    let outcome = match result.trim() {
        "ok" => Outcome::Passed,
        "FAILED" => Outcome::Failed,
        r if r == "ignored" || r.starts_with("ignored,") => Outcome::Ignored,
        _ => return None,
    };
    Some((name, outcome))
}

/// The names printed by `BINARY --list --format terse` (`name: test` lines).
pub(crate) fn listed_tests(list_output: &str) -> Vec<String> {
    list_output
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_owned)
        .collect()
}

/// The `---- NAME stdout ----` sections, by test name.
pub(crate) fn failure_sections(output: &str) -> BTreeMap<String, String> {
    let mut sections = BTreeMap::new();
    let mut current: Option<(String, Vec<&str>)> = None;
    for line in output.lines() {
        let header = line.strip_prefix("---- ").and_then(|l| {
            l.strip_suffix(" stdout ----")
                .or_else(|| l.strip_suffix(" stderr ----"))
        });
        if let Some(name) = header {
            if let Some((name, lines)) = current.take() {
                sections.insert(name, lines.join("\n").trim_end().to_owned());
            }
            current = Some((name.to_owned(), Vec::new()));
            continue;
        }
        // The list of failed names after the sections ends the last one.
        if line == "failures:" {
            if let Some((name, lines)) = current.take() {
                sections.insert(name, lines.join("\n").trim_end().to_owned());
            }
            continue;
        }
        if let Some((_, lines)) = current.as_mut() {
            lines.push(line);
        }
    }
    if let Some((name, lines)) = current.take() {
        sections.insert(name, lines.join("\n").trim_end().to_owned());
    }
    sections
}

/// A JUnit test suite for one binary's run.
///
/// `listed` are the checks the binary said it would run; `exit` describes how it ended when that
/// was not a normal exit (a signal, a crash), used as the reason for checks it never reported.
pub(crate) fn junit_suite(suite_name: &str, listed: &[String], output: &str, exit: Option<&str>) -> TestSuite {
    let mut reported: BTreeMap<&str, Outcome> = BTreeMap::new();
    for line in output.lines() {
        if let Some((name, outcome)) = result_line(line) {
            reported.insert(name, outcome);
        }
    }
    let sections = failure_sections(output);
    let mut names: Vec<&str> = listed.iter().map(String::as_str).collect();
    // A check that ran but was not listed (should not happen) is still reported.
    names.extend(reported.keys().filter(|n| !listed.iter().any(|l| l == *n)));

    let mut suite = TestSuite::new(suite_name);
    for name in names {
        let status = match reported.get(name) {
            Some(Outcome::Passed) => TestCaseStatus::success(),
            Some(Outcome::Ignored) => TestCaseStatus::skipped(),
            Some(Outcome::Failed) => {
                let text = sections.get(name).map(String::as_str).unwrap_or("(no output captured)");
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status
                    .set_message(crate::report::failure_summary(text))
                    .set_description(text);
                status
            }
            None => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                let reason = format!(
                    "the test binary ended ({}) before reporting this check",
                    exit.unwrap_or("without a result line")
                );
                status.set_message(reason.clone()).set_description(reason);
                status
            }
        };
        let mut case = TestCase::new(name, status);
        case.set_classname(suite_name);
        suite.add_test_case(case);
    }
    suite
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines() {
        assert_eq!(
            result_line("test audiences::defaulted ... ok"),
            Some(("audiences::defaulted", Outcome::Passed))
        );
        assert_eq!(result_line("test a::b ... FAILED"), Some(("a::b", Outcome::Failed)));
        assert_eq!(
            result_line("test a::c ... ignored, needs nodes"),
            Some(("a::c", Outcome::Ignored))
        );
        assert_eq!(result_line("test result: ok. 3 passed; 0 failed"), None);
        assert_eq!(result_line("test a::d has been running for over 60 seconds"), None);
    }

    #[test]
    fn a_recorded_run_with_failures_and_a_crash() {
        let output = include_str!("../tests/fixtures/libtest-output.txt");
        let listed = listed_tests(include_str!("../tests/fixtures/libtest-list.txt"));
        assert_eq!(listed.len(), 6);
        let suite = junit_suite("tokenrequest-conformance::suite", &listed, output, Some("signal 6"));
        let summary: Vec<String> = suite
            .test_cases
            .iter()
            .map(|case| {
                let status = match &case.status {
                    TestCaseStatus::Success { .. } => "passed".to_owned(),
                    TestCaseStatus::Skipped { .. } => "skipped".to_owned(),
                    TestCaseStatus::NonSuccess { message, .. } => {
                        format!("failed: {}", message.as_ref().map(|m| m.as_str()).unwrap_or_default())
                    }
                };
                format!("{} {status}", case.name.as_str())
            })
            .collect();
        insta::assert_snapshot!("libtest_recorded_run", summary.join("\n"));
    }
}
