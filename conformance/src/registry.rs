//! The table of every check, so that the runner, the suite's tests, the fault-injection proof and the policy matrix
//! all run the same checks by name, and how one check is run in a fresh context.

use std::sync::Arc;

use serde_json::Value;

pub use crate::check::{Check, CheckFuture};
use crate::ctx::Ctx;
use crate::failure::CheckFailure;
use crate::target::Target;

/// Every check, group by group.
pub const REGISTRY: &[&[Check]] = &[
    crate::checks::audiences::CHECKS,
    crate::checks::binding::CHECKS,
    crate::checks::invalidation::CHECKS,
    crate::checks::expiration::CHECKS,
    crate::checks::claims::CHECKS,
    crate::checks::review::CHECKS,
    crate::checks::discovery::CHECKS,
    crate::checks::errors::CHECKS,
    crate::checks::request::CHECKS,
    crate::checks::concurrency::CHECKS,
    crate::checks::controllers::CHECKS,
    crate::checks::rotation::CHECKS,
    crate::checks::policy::CHECKS,
];

/// Every check.
pub fn all() -> impl Iterator<Item = &'static Check> {
    REGISTRY.iter().flat_map(|group| group.iter())
}

/// The check `group::name`.
pub fn find(group: &str, name: &str) -> Option<&'static Check> {
    all().find(|c| c.group == group && c.name == name)
}

/// What running a check gave.
#[derive(Debug)]
pub struct Outcome {
    /// The check.
    pub check: &'static Check,
    /// Passed, or why not.
    pub result: Result<(), CheckFailure>,
    /// The redacted values it recorded for snapshots.
    pub snapshots: Vec<(String, Value)>,
}

/// Runs `check` against `target` in a fresh context; a panic inside the check counts as a failure.
pub async fn run(target: Arc<Target>, check: &'static Check) -> Outcome {
    let task = tokio::spawn(async move {
        let ctx = Ctx::new(target).await?;
        let result = (check.run)(&ctx).await;
        Ok::<_, CheckFailure>((result, ctx.take_snapshots()))
    });
    let (result, snapshots) = match task.await {
        Ok(Ok((result, snapshots))) => (result, snapshots),
        Ok(Err(setup)) => (Err(setup), Vec::new()),
        Err(join) => (Err(CheckFailure::setup("check panicked", join)), Vec::new()),
    };
    Outcome {
        check,
        result,
        snapshots,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_check_says_what_it_verifies() {
        for check in all() {
            let verifies = check.verifies;
            assert!(!verifies.trim().is_empty(), "{}: empty `verifies`", check.id());
            assert!(
                !verifies.ends_with('.'),
                "{}: `verifies` ends with a period",
                check.id()
            );
            assert!(!verifies.contains('\n'), "{}: `verifies` is one line", check.id());
        }
    }

    #[test]
    fn every_cited_rule_is_in_the_catalogue() {
        for check in all() {
            assert!(!check.rules.is_empty(), "{} cites no rule", check.id());
            for rule in check.rules {
                assert!(
                    tokenrequest_types::rules::find(rule).is_some(),
                    "{} cites {rule}, which docs/SPEC.md does not have",
                    check.id()
                );
            }
        }
    }

    #[test]
    fn check_ids_are_unique() {
        let ids: Vec<String> = all().map(Check::id).collect();
        let unique: BTreeSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
    }
}
