//! The embedded reference API server: the ServiceAccount token subsystem of kube-apiserver, over HTTPS, in memory.
//!
//! It serves what `kubectl` and kube-rs need to create namespaces, service accounts, pods, secrets and nodes,
//! request tokens for them (`POST .../serviceaccounts/{name}/token`), review them (`tokenreviews`,
//! `selfsubjectreviews`) and verify them (OIDC discovery and JWKS). Every TokenRequest rule is computed by
//! `tokenrequest-types`; this crate only does HTTP, storage, signing and authentication.
//!
//! Entry points: [`start`] binds a socket and serves HTTPS; [`router`] builds the same application for
//! socket-less tests (`tower::ServiceExt::oneshot`).

mod authn;
mod authz;
mod config;
mod controllers;
mod decode;
mod discovery;
mod error;
mod fault;
mod handlers;
mod managed_fields;
mod metrics;
mod object_defaults;
mod oidc;
mod outage;
mod patch;
mod protobuf;
mod request_info;
mod selector;
mod server;
mod signer;
mod state;
mod store;
pub mod tls;

pub use crate::config::ServerConfig;
pub use crate::controllers::{Controllers, SYSTEM_NAMESPACES, UnknownControllers};
pub use crate::error::{ApiError, ServerError};
pub use crate::fault::{Fault, UnknownFault};
pub use crate::handlers::router;
pub use crate::outage::{Outage, UnknownOutage};
pub use crate::server::{CLUSTER_NAME, RunningServer, start};
pub use crate::state::AppState;
pub use crate::store::HISTORY as WATCH_HISTORY;
