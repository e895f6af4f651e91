//! The one error type of the crate: what went wrong while starting, waiting for or stopping a target, with the
//! context a person needs to act on it (which process, which file, the last lines of its log).
//!
//! Callers match on the variants that change what they do next (a missing container engine is reported as a
//! skipped target, an interrupt ends the run); the rest carry a message and, where there is one, a source.

use std::fmt::Display;

use crate::engine::NoContainerEngine;

/// Why a target could not be built, started, reached or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// kind or k3s cannot run here: no container engine answers.
    #[error(transparent)]
    NoContainerEngine(#[from] NoContainerEngine),
    /// The target is not compiled into this binary: it needs a cargo feature that was off at build time.
    #[error(
        "the {target} target is not built into this binary; rebuild with the `{feature}` feature \
         (cargo install --locked --path crates/kube-tokenrequest --features {feature})"
    )]
    NotBuiltIn {
        /// The target, e.g. `k3s`.
        target: &'static str,
        /// The cargo feature that builds it.
        feature: &'static str,
    },
    /// Ctrl-C or SIGTERM arrived while waiting; whatever was started has been stopped.
    #[error("interrupted")]
    Interrupted,
    /// A step failed; the message names the step and what was seen (e.g. a log's last lines).
    #[error("{0}")]
    Failed(String),
    /// A step failed because of an underlying error.
    #[error("{context}: {source}")]
    Context {
        /// What was being done.
        context: String,
        /// Why it failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// An I/O error without more context.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Why the target cannot run here at all (no container engine, not built in), as a report's skip reason;
    /// `None` for every other error, which is a failure.
    pub fn unavailable(&self) -> Option<String> {
        match self {
            Error::NoContainerEngine(no_engine) => Some(format!("no container engine: {}", no_engine.reason)),
            Error::NotBuiltIn { .. } => Some(self.to_string()),
            _ => None,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds what was being done to an error, as `anyhow::Context` does for binaries.
pub trait Context<T> {
    /// Wraps the error with `context`.
    fn context(self, context: impl Display) -> Result<T>;
    /// Wraps the error with the context `f` makes (only on error).
    fn with_context<C: Display>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Display) -> Result<T> {
        self.map_err(|source| Error::Context {
            context: context.to_string(),
            source: Box::new(source),
        })
    }

    fn with_context<C: Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|source| Error::Context {
            context: f().to_string(),
            source: Box::new(source),
        })
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, context: impl Display) -> Result<T> {
        self.ok_or_else(|| Error::Failed(context.to_string()))
    }

    fn with_context<C: Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.ok_or_else(|| Error::Failed(f().to_string()))
    }
}
