//! Why a check failed: expected against actual, with every token-shaped string redacted, so a failure report can
//! be printed, stored in JUnit and read by anyone.

use std::fmt::Debug;

/// `text` with every token redacted (the workspace's one scanner).
fn redacted(text: &str) -> String {
    tokenrequest_types::token::redact_jwts(text).into_owned()
}

/// A failed check. Built only through the constructors, which redact tokens from every string they keep.
#[derive(Debug, thiserror::Error)]
pub enum CheckFailure {
    /// The API answered, but not as SPEC.md says.
    #[error("{what}\n  expected: {expected}\n  actual:   {actual}")]
    Mismatch {
        /// What was compared.
        what: String,
        /// What SPEC.md (through `tokenrequest-types`) predicts.
        expected: String,
        /// What the API did.
        actual: String,
    },
    /// The API could not be reached or an answer could not be read at all.
    #[error("{what}: {detail}")]
    Transport {
        /// The request or step.
        what: String,
        /// The underlying error, redacted.
        detail: String,
    },
    /// The check could not prepare what it needs (namespace, objects, the probe).
    #[error("setup failed: {what}: {detail}")]
    Setup {
        /// The step.
        what: String,
        /// Why.
        detail: String,
    },
    /// The target lacks what the check is about (e.g. controllers): reported as skipped, with this reason, never
    /// as passed.
    #[error("skipped: {0}")]
    Skipped(String),
}

impl CheckFailure {
    /// `what` differs: shows both sides with `Debug`, redacted.
    pub fn mismatch(what: impl Into<String>, expected: impl Debug, actual: impl Debug) -> Self {
        Self::Mismatch {
            what: redacted(&what.into()),
            expected: redacted(&format!("{expected:?}")),
            actual: redacted(&format!("{actual:?}")),
        }
    }

    /// A request failed below the API (connection, TLS, unreadable body).
    pub fn transport(what: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        Self::Transport {
            what: redacted(&what.into()),
            detail: redacted(&detail.to_string()),
        }
    }

    /// A precondition of the check could not be established.
    pub fn setup(what: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        Self::Setup {
            what: redacted(&what.into()),
            detail: redacted(&detail.to_string()),
        }
    }
}

/// `Ok` when `actual == expected`, else a [`CheckFailure::Mismatch`] about `what`.
pub fn expect_eq<T: PartialEq + Debug>(what: &str, expected: T, actual: T) -> Result<(), CheckFailure> {
    if expected == actual {
        Ok(())
    } else {
        Err(CheckFailure::mismatch(what, expected, actual))
    }
}

/// `Ok` when `condition` holds, else a mismatch showing what was expected in words and what was seen.
pub fn ensure(condition: bool, what: &str, expected: &str, actual: impl Debug) -> Result<(), CheckFailure> {
    if condition {
        Ok(())
    } else {
        Err(CheckFailure::Mismatch {
            what: redacted(what),
            expected: expected.to_owned(),
            actual: redacted(&format!("{actual:?}")),
        })
    }
}
