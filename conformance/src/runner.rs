//! Runs the registered checks against one target, in this process (no test harness, no output parsing): each
//! check in a fresh context, several at a time, each bounded in time, its recorded snapshots compared with the
//! committed ones. What it gives back is a [`CheckResult`] per check, ready for [`crate::report`].
//!
//! Only checks of the target run here: the suite's self-tests (fault injection, the policy matrix, redaction)
//! stay in `cargo test`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::failure::CheckFailure;
use crate::registry::{self, Check};
use crate::target::Target;

/// How long one check may take.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(60);
/// How many checks run at once.
pub const CONCURRENCY: usize = 8;

/// One check's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    /// `group::name`.
    pub id: String,
    /// The group.
    pub group: String,
    /// The rule ids of `docs/SPEC.md` it covers.
    pub rules: Vec<String>,
    /// One line: what it verifies.
    pub verifies: String,
    /// Passed, failed, or skipped.
    pub outcome: Outcome,
    /// Wall time, seconds.
    pub duration_secs: f64,
    /// Why it failed (redacted), when it did.
    pub failure: Option<Failure>,
}

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Passed.
    Passed,
    /// Failed (or could not set up, or timed out).
    Failed,
    /// Not run, with the reason in `failure.summary`.
    Skipped,
}

/// A failure as the report shows it: one line, and expected against actual where the check compared values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// One line.
    pub summary: String,
    /// What `tokenrequest-types` predicted.
    pub expected: Option<String>,
    /// What the target did.
    pub actual: Option<String>,
}

impl From<&CheckFailure> for Failure {
    fn from(failure: &CheckFailure) -> Self {
        match failure {
            CheckFailure::Mismatch { what, expected, actual } => Failure {
                summary: what.clone(),
                expected: Some(expected.clone()),
                actual: Some(actual.clone()),
            },
            other => Failure {
                summary: other.to_string(),
                expected: None,
                actual: None,
            },
        }
    }
}

/// The checks whose id contains `filter` (all without one), in registry order.
pub fn selected(filter: Option<&str>) -> Vec<&'static Check> {
    registry::all()
        .filter(|check| filter.is_none_or(|f| check.id().contains(f)))
        .collect()
}

/// Runs `checks` against `target`, at most [`CONCURRENCY`] at a time; `on_result` hears each result as it comes.
/// Results are returned in the order of `checks`.
pub async fn run(
    target: Arc<Target>,
    checks: &[&'static Check],
    mut on_result: impl FnMut(&CheckResult),
) -> Vec<CheckResult> {
    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, check) in checks.iter().copied().enumerate() {
        let (target, permits) = (target.clone(), permits.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (index, run_one(target, check).await)
        });
    }
    let mut results: Vec<Option<CheckResult>> = vec![None; checks.len()];
    while let Some(joined) = tasks.join_next().await {
        // `run_one` catches a check's panic itself; a join error here means the runtime is going away.
        if let Ok((index, result)) = joined {
            on_result(&result);
            results[index] = Some(result);
        }
    }
    results.into_iter().flatten().collect()
}

async fn run_one(target: Arc<Target>, check: &'static Check) -> CheckResult {
    let started = Instant::now();
    let result = match tokio::time::timeout(CHECK_TIMEOUT, registry::run(target, check)).await {
        Ok(outcome) => outcome.result.and_then(|()| {
            outcome
                .snapshots
                .iter()
                .try_for_each(|(name, value)| crate::snapshots::compare(name, value))
        }),
        Err(_) => Err(CheckFailure::setup(
            "timeout",
            format!("the check did not finish within {CHECK_TIMEOUT:?}"),
        )),
    };
    CheckResult {
        id: check.id(),
        group: check.group.to_owned(),
        rules: check.rules.iter().map(|r| (*r).to_owned()).collect(),
        verifies: check.verifies.to_owned(),
        outcome: match &result {
            Ok(()) => Outcome::Passed,
            Err(CheckFailure::Skipped(_)) => Outcome::Skipped,
            Err(_) => Outcome::Failed,
        },
        duration_secs: started.elapsed().as_secs_f64(),
        failure: result.as_ref().err().map(Failure::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_select_by_id_in_registry_order() {
        let all = selected(None);
        assert_eq!(all.len(), registry::all().count());
        let expiration = selected(Some("expiration::"));
        assert!(!expiration.is_empty());
        assert!(expiration.iter().all(|c| c.group == "expiration"));
        assert!(selected(Some("no-such-check")).is_empty());
    }

    #[test]
    fn mismatches_keep_both_sides_and_other_failures_one_line() {
        let mismatch = CheckFailure::mismatch("status code", 409, 201);
        assert_eq!(
            Failure::from(&mismatch),
            Failure {
                summary: "status code".into(),
                expected: Some("409".into()),
                actual: Some("201".into())
            }
        );
        let setup = CheckFailure::setup("namespace", "refused");
        assert_eq!(Failure::from(&setup).summary, "setup failed: namespace: refused");
    }
}
