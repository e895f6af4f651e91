//! A REAL kube-apiserver and etcd on loopback, the way controller-runtime's envtest runs them:
//! [`build`] compiles them from the Go modules in `xtask/controlplane/`, [`ControlPlane::start`]
//! runs them with a generated CA, serving certificate, service-account key and admin token, and
//! writes a kubeconfig for the conformance suite.
//!
//! ```no_run
//! use xtask::controlplane::{self, ControlPlane, ControlPlaneConfig};
//! let bins = controlplane::build(controlplane::PINNED_K8S_VERSION)?;
//! let cp = ControlPlane::start(&ControlPlaneConfig::new(bins))?;
//! println!("{}", cp.kubeconfig_path().display());
//! cp.stop()?;
//! # anyhow::Ok(())
//! ```
//!
//! Facts about the real server that this code depends on (and what it answers) are written in
//! `xtask/controlplane/README.md`; raw responses are in `xtask/controlplane/observed/`.

mod build;
mod flags;
mod http;
mod kubeconfig;
mod pki;
mod process;

use std::path::PathBuf;
use std::time::Duration;

pub use build::{
    Binaries, PINNED_ETCD_VERSION, PINNED_K8S_VERSION, build, normalize_version, output_dir, workspace_root,
};
pub use http::{Response, client_config_trusting_pem};
pub use process::ControlPlane;

/// The service-account signing algorithm, i.e. the kind of key generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SigningAlg {
    /// RSA-2048.
    #[default]
    Rs256,
    /// EC P-256.
    Es256,
}

/// The token policy, as kube-apiserver flags.
// `target::apiserver::policy_flags` (main.rs side) translates `tokenrequest_types::policy::TokenPolicy`
// into this, so this module stays usable without the types crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPolicyFlags {
    /// `--service-account-issuer` (must be https for OIDC discovery to be served).
    pub issuer: String,
    /// `--api-audiences`; empty = kube-apiserver's default (the issuer).
    pub api_audiences: Vec<String>,
    /// `--service-account-max-token-expiration` in seconds; `None` = no maximum. kube-apiserver
    /// accepts 3600..=2^32.
    pub max_token_expiration_seconds: Option<i64>,
    /// `--service-account-extend-token-expiration`.
    pub extend_token_expiration: bool,
    /// The signing key kind.
    pub signing_alg: SigningAlg,
}

impl Default for TokenPolicyFlags {
    /// kube-apiserver's defaults, with the issuer a Kubernetes cluster usually has.
    fn default() -> Self {
        Self {
            issuer: "https://kubernetes.default.svc.cluster.local".into(),
            api_audiences: Vec::new(),
            max_token_expiration_seconds: None,
            extend_token_expiration: true,
            signing_alg: SigningAlg::Rs256,
        }
    }
}

/// How to start a [`ControlPlane`].
#[derive(Debug, Clone)]
pub struct ControlPlaneConfig {
    /// The executables.
    pub binaries: Binaries,
    /// The token policy.
    pub policy: TokenPolicyFlags,
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
}

impl ControlPlaneConfig {
    /// Defaults: kube-apiserver's token policy, 120 s start timeout, logs in the temp dir.
    pub fn new(binaries: Binaries) -> Self {
        Self {
            binaries,
            policy: TokenPolicyFlags::default(),
            start_timeout: Duration::from_secs(120),
            log_dir: None,
            anonymous_discovery: false,
            extra_apiserver_args: Vec::new(),
        }
    }
}
