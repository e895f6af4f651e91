//! The `apiserver` target: a real kube-apiserver and etcd on loopback, started by
//! [`xtask::controlplane`] (owned by its own module; this file only translates the policy and
//! finds the binaries).

use std::path::Path;

use tokenrequest_types::policy::{SigningAlg, TokenPolicy};
use xtask::controlplane;

use crate::target::Release;

/// A running control plane.
pub(crate) struct ControlPlane {
    inner: controlplane::ControlPlane,
}

impl ControlPlane {
    /// The kubeconfig the control plane wrote (admin credential).
    pub(crate) fn kubeconfig(&self) -> &Path {
        self.inner.kubeconfig_path()
    }

    /// Stops kube-apiserver, then etcd, and removes their data.
    pub(crate) fn stop(self) -> anyhow::Result<()> {
        self.inner.stop()
    }
}

/// The control plane's flags for `policy`.
pub(crate) fn policy_flags(policy: &TokenPolicy) -> controlplane::TokenPolicyFlags {
    controlplane::TokenPolicyFlags {
        api_audiences: policy.audiences.api_audiences().to_vec(),
        max_token_expiration_seconds: policy.expiration.max_seconds,
        extend_token_expiration: policy.expiration.extend,
        signing_alg: match policy.signing_alg {
            SigningAlg::RS256 => controlplane::SigningAlg::Rs256,
            SigningAlg::ES256 => controlplane::SigningAlg::Es256,
        },
        ..controlplane::TokenPolicyFlags::default()
    }
}

/// Finds the binaries (`--controlplane-bin`, `$KUBEBUILDER_ASSETS`, or the build output for the
/// release; never builds: that is `cargo xtask controlplane build`, minutes when cold) and starts
/// them with `policy`, waiting until the API is ready.
pub(crate) fn start(bin_dir: Option<&Path>, release: &Release, policy: &TokenPolicy) -> anyhow::Result<ControlPlane> {
    let binaries = controlplane::Binaries::locate(bin_dir, &release.apiserver)?;
    let mut config = controlplane::ControlPlaneConfig::new(binaries);
    config.policy = policy_flags(policy);
    let inner = controlplane::ControlPlane::start(&config)?;
    Ok(ControlPlane { inner })
}
