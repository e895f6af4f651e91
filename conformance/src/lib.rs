//! The TokenRequest conformance suite as a library: checks that a live Kubernetes API issues and validates
//! service-account tokens as kube-apiserver does (`docs/SPEC.md`, rules R1–R30), usable from tests and from the
//! fault-injection proof alike.
//!
//! - [`target::Target`]: the API under test, named by `TOKENREQUEST_KUBECONFIG` or an embedded server started
//!   in-process; seen only through its kubeconfig.
//! - [`probe`]: learns the target's effective token policy once per run.
//! - [`ctx::Ctx`]: what one check works with: an admin client, its own labelled namespace (deleted on drop), the
//!   probed policy, and the snapshots it recorded.
//! - [`registry`] and [`checks`]: every check, named `group::rule`, with the SPEC rules it covers.
//! - [`predict`]: the answer `tokenrequest-types` predicts for a request under a policy (for property tests).
//! - [`runner`] and [`report`]: run the registered checks against one target in this process and write the
//!   reports (`kube-tokenrequest conformance` is their command line); [`snapshots`] are the committed
//!   expectations they compare with.
//!
//! Architecture invariant: no check branches on which target it runs against, and no rule of TokenRequest is
//! written here a second time: expected answers come from `tokenrequest-types`.

pub mod api;
pub mod check;
pub mod checks;
pub mod cleanup;
pub mod ctx;
pub mod failure;
pub mod jwks;
pub mod objects;
pub mod predict;
pub mod probe;
pub mod probed;
pub mod redact;
pub mod registry;
pub mod report;
pub mod run;
pub mod runner;
pub mod snapshots;
pub mod spki;
pub mod target;

pub use crate::check::Check;
pub use crate::ctx::Ctx;
pub use crate::failure::CheckFailure;
pub use crate::registry::REGISTRY;
pub use crate::target::Target;
