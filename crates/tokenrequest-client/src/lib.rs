//! A Kubernetes client for the ServiceAccount TokenRequest API, for Rust code that requests, checks and caches
//! service-account tokens.
//!
//! - [`TokenClient`] requests tokens (`POST .../serviceaccounts/{name}/token`) and reviews them (TokenReview).
//! - [`Verifier`] verifies tokens offline against the cluster's OIDC discovery document and JWKS.
//! - [`TokenCache`] hands out cached tokens and refreshes them the way kubelet's token manager does;
//!   [`CredentialCache`] does the same on disk, for short-lived processes such as a kubeconfig credential plugin.
//! - [`probe()`] infers a cluster's effective token policy through the public API alone.
//!
//! Architecture invariant: every TokenRequest rule (defaults, bounds, claim layout, the 3607 s extension) comes from
//! `tokenrequest-types`; this crate only moves bytes and keeps state. Tokens never appear in `Debug`, `Display` or
//! an error message.

mod api_call;
pub mod cache;
pub mod credential_cache;
pub mod doctor;
pub mod oidc;
pub mod probe;
mod scratch;
pub mod token_client;
pub mod verifier;
mod warning;

pub use crate::api_call::ApiError;
pub use crate::cache::{CacheConfig, CacheError, CacheKey, Clock, ManualClock, TokenCache, TokenSource};
pub use crate::credential_cache::{Credential, CredentialCache, CredentialCacheError, Provenance};
pub use crate::oidc::{ClusterKeySource, DiscoveryDocument, FetchError, IssuerKeySource, KeySource};
pub use crate::probe::{ProbeError, ProbedPolicy, probe, probe_until};
pub use crate::scratch::{PROBE_LABEL, ScratchError};
pub use crate::token_client::{
    BoundObjectRef, IssuedToken, RequestError, ReviewError, TokenClient, TokenRequestOptions,
};
pub use crate::verifier::{VerifiedToken, Verifier, VerifierConfig, VerifyError};
