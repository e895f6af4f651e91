//! The one model of the Kubernetes TokenRequest API.
//!
//! Every rule kube-apiserver applies to a `TokenRequest` and to the service-account JWTs it issues lives here once:
//! validation and defaults, the expiration policy (clamping, the 3607 s extension), the audience policy, which
//! objects a token may be bound to, the claims layout, how a token is judged at review time, and the exact
//! `Status` errors. The embedded server, the client and the conformance suite all compute their answers with this
//! crate, so a rule can never drift between them.
//!
//! Architecture invariant: this crate does no I/O, owns no clock and no randomness (callers pass `now`, `jti`,
//! uids), and depends on no async runtime, HTTP stack or Kubernetes client. Rule ids (`R5`, `R16`, ...) refer to
//! `docs/SPEC.md`, catalogued in [`rules`]; each rule cites the kube-apiserver source it comes from.

pub mod admission;
pub mod audience;
pub mod binding;
pub mod claims;
pub mod defaults;
pub mod der;
pub mod encoding;
pub mod evaluation;
pub mod expiration;
pub mod field;
pub mod keyid;
pub mod kubeconfig;
pub mod policy;
pub mod relying_party;
pub mod review;
pub mod rules;
pub mod status;
pub mod token;
pub mod validation;

#[cfg(feature = "proptest")]
pub mod testing;

pub use k8s_openapi::api::authentication::v1::{
    BoundObjectReference, TokenRequest, TokenRequestSpec, TokenRequestStatus, TokenReview, TokenReviewSpec,
    TokenReviewStatus, UserInfo,
};
pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;

/// The API group of `TokenRequest` and `TokenReview`.
pub const AUTHENTICATION_GROUP: &str = "authentication.k8s.io";
