//! A REAL kube-apiserver and etcd on loopback, the way controller-runtime's envtest runs them:
//! [`build`] compiles them from Go modules (the pinned release's module is committed in `controlplane/` beside
//! this crate and compiled into it, so an installed binary can build too), [`ControlPlane::start`] runs them with
//! a generated CA, serving certificate, service-account key and admin token, and writes a kubeconfig.
//!
//! ```no_run
//! use tokenrequest_envtest::controlplane::{self, ControlPlane, ControlPlaneConfig};
//! let bins = controlplane::build(controlplane::PINNED_K8S_VERSION, &mut |step| eprintln!("{step}"))?;
//! let cp = ControlPlane::start(&ControlPlaneConfig::new(bins))?;
//! println!("{}", cp.kubeconfig_path().display());
//! cp.stop()?;
//! # Ok::<(), tokenrequest_envtest::Error>(())
//! ```
//!
//! Facts about the real server that this code depends on are in `docs/APISERVER.md` and
//! `docs/CONTROLPLANE.md`; raw responses are in `docs/observed/`.

mod build;
mod flags;
mod start;

use std::path::PathBuf;
use std::time::Duration;

use tokenrequest_types::policy::{DEFAULT_ISSUER, TokenPolicy};

pub use build::{Binaries, PINNED_ETCD_VERSION, PINNED_K8S_VERSION, build, cache_dir, normalize_version};
pub use start::ControlPlane;

/// How to start a [`ControlPlane`].
#[derive(Debug, Clone)]
pub struct ControlPlaneConfig {
    /// The executables.
    pub binaries: Binaries,
    /// `--service-account-issuer` (https, for OIDC discovery to be served).
    pub issuer: String,
    /// The token policy, as kube-apiserver flags (`--api-audiences`, `--service-account-max-token-expiration`,
    /// `--service-account-extend-token-expiration`, and the kind of signing key generated).
    pub policy: TokenPolicy,
    /// From start to a ready API (etcd and kube-apiserver together).
    pub start_timeout: Duration,
    /// Where to keep `etcd.log` and `kube-apiserver.log`; `None` = in the temp dir (removed on
    /// stop; a failed start quotes their last lines in its error).
    pub log_dir: Option<PathBuf>,
    /// Bind `system:service-account-issuer-discovery` to `system:unauthenticated`, so OIDC
    /// discovery is readable without credentials (real clusters differ; off by default).
    pub anonymous_discovery: bool,
    /// More kube-apiserver flags, appended last (a repeated flag's last value wins).
    pub extra_apiserver_args: Vec<String>,
    /// Also run kube-controller-manager, as a small cluster has it: a `default` service account in every
    /// namespace, namespaces that finish deleting, garbage collection (envtest has none of it).
    pub controllers: bool,
}

impl ControlPlaneConfig {
    /// kube-apiserver's token policy and the usual cluster issuer, 120 s start timeout, logs in the temp dir.
    pub fn new(binaries: Binaries) -> Self {
        Self {
            binaries,
            issuer: DEFAULT_ISSUER.to_owned(),
            policy: TokenPolicy::defaults_for_issuer(DEFAULT_ISSUER),
            start_timeout: Duration::from_secs(120),
            log_dir: None,
            anonymous_discovery: false,
            extra_apiserver_args: Vec::new(),
            controllers: false,
        }
    }
}
