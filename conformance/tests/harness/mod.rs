//! How the test binaries run registered checks: one check with its snapshots compared (the suite), or every check
//! at once against one target (the policy matrix and the fault-injection proof).

use std::collections::BTreeMap;
use std::sync::Arc;

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

/// Runs `checks` concurrently against `target`; returns the failures by check id, with their reports.
pub async fn failures(target: Arc<Target>, checks: impl Iterator<Item = &'static Check>) -> BTreeMap<String, String> {
    let mut tasks = tokio::task::JoinSet::new();
    for check in checks {
        tasks.spawn(registry::run(target.clone(), check));
    }
    let mut failed = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.unwrap_or_else(|e| panic!("check task: {e}"));
        if let Err(failure) = outcome.result {
            failed.insert(outcome.check.id(), failure.to_string());
        }
    }
    failed
}

/// A readable list of failures for a panic message.
pub fn describe(failures: &BTreeMap<String, String>) -> String {
    failures
        .iter()
        .map(|(id, report)| format!("- {id}: {report}"))
        .collect::<Vec<_>>()
        .join("\n")
}
