//! What a check is: group, name, the SPEC rules it covers, one line saying what it verifies, and the function
//! (declared by each group's `checks!` table, listed by `registry`).

use std::future::Future;
use std::pin::Pin;

use crate::ctx::Ctx;
use crate::failure::CheckFailure;

/// The future a check returns.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<(), CheckFailure>> + Send + 'a>>;

/// One check.
#[derive(Clone, Copy)]
pub struct Check {
    /// The group, e.g. `expiration`.
    pub group: &'static str,
    /// The name, e.g. `r8_clamps_to_max`.
    pub name: &'static str,
    /// The SPEC.md rules it covers, e.g. `["R8"]` (`tokenrequest_types::rules` has each).
    pub rules: &'static [&'static str],
    /// One line: the behaviour this check verifies, as a reader of the report needs it.
    pub verifies: &'static str,
    /// Runs the check in its context.
    pub run: for<'a> fn(&'a Ctx) -> CheckFuture<'a>,
}

impl Check {
    /// `group::name`, as the test is named.
    pub fn id(&self) -> String {
        format!("{}::{}", self.group, self.name)
    }
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}::{} {:?}", self.group, self.name, self.rules)
    }
}
