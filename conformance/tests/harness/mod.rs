//! How the test binaries run registered checks: one check with its snapshots compared (the suite), or every check
//! at once against one target (the policy matrix and the fault-injection proof).

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use tokenrequest_conformance::failure::CheckFailure;
use tokenrequest_conformance::registry::{self, Outcome};
use tokenrequest_conformance::{Check, Target};

/// Compares the snapshots a passing check recorded. Names are global (no module prefix, no target suffix):
/// one snapshot must hold on every target and policy.
pub fn assert_snapshots(outcome: Outcome) {
    let mut settings = insta::Settings::clone_current();
    settings.set_sort_maps(true);
    settings.set_prepend_module_to_snapshot(false);
    // The assertion lives in `harness/`; the snapshots belong to the suite, one level up.
    settings.set_snapshot_path("../snapshots");
    settings.bind(|| {
        for (snapshot, value) in outcome.snapshots {
            insta::assert_yaml_snapshot!(snapshot, value);
        }
    });
}

/// What running many checks against one target gave.
pub struct Run {
    /// Failed checks by id, with their reports.
    pub failures: BTreeMap<String, String>,
    /// Checks skipped, with the reason.
    pub skipped: BTreeMap<String, String>,
    /// The outcomes of the checks that passed (with their snapshots).
    pub passed: Vec<Outcome>,
}

/// Runs `checks` concurrently against `target`.
pub async fn run_all(target: Arc<Target>, checks: impl Iterator<Item = &'static Check>) -> Run {
    let mut tasks = tokio::task::JoinSet::new();
    for check in checks {
        tasks.spawn(registry::run(target.clone(), check));
    }
    let mut run = Run {
        failures: BTreeMap::new(),
        skipped: BTreeMap::new(),
        passed: Vec::new(),
    };
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.unwrap_or_else(|e| panic!("check task: {e}"));
        match &outcome.result {
            Err(CheckFailure::Skipped(reason)) => {
                run.skipped.insert(outcome.check.id(), reason.clone());
            }
            Err(failure) => {
                run.failures.insert(outcome.check.id(), failure.to_string());
            }
            Ok(()) => run.passed.push(outcome),
        }
    }
    run
}

/// A readable list of failures for a panic message.
pub fn describe(failures: &BTreeMap<String, String>) -> String {
    failures
        .iter()
        .map(|(id, report)| format!("- {id}: {report}"))
        .collect::<Vec<_>>()
        .join("\n")
}
