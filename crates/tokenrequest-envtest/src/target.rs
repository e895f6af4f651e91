//! The targets as one value: which kind of cluster ([`Cluster`]), at which Kubernetes [`Release`], enforcing
//! which token policy ([`TargetSpec`]); [`TargetSpec::start`] makes it a [`Running`] target with one kubeconfig,
//! and [`Running::stop`] undoes whatever was started.
//!
//! Shared by every target: the pinned releases per target and the kube-apiserver flags that express a token
//! policy ([`policy_flags`]), used by the real control plane, kind's kubeadm patch and k3s' arguments alike.

use std::path::{Path, PathBuf};

use tokenrequest_types::policy::{DEFAULT_ISSUER, PolicyError, SigningAlg, TokenPolicy};

use crate::controlplane::{self, ControlPlane, ControlPlaneConfig};
use crate::error::Result;
use crate::{embedded, existing, k3s, kind};

/// The kinds of cluster a target can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cluster {
    /// `kube-tokenrequest serve` on loopback (no container engine needed).
    Embedded,
    /// A real kube-apiserver and etcd as loopback processes.
    Apiserver,
    /// A kind cluster (needs a container engine and the kind CLI).
    Kind,
    /// A k3s container through testcontainers (needs a container engine).
    K3s,
}

/// A Kubernetes release, as each target names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// `1.37`.
    pub minor: String,
    /// The kind node image, `kindest/node:v1.37.0`.
    pub kind_image: String,
    /// The k3s image tag, `v1.37.1-k3s1`.
    pub k3s_tag: String,
    /// The kube-apiserver release for the `apiserver` target, `v1.37.1`.
    pub apiserver: String,
}

/// Pinned per minor (`docs/APISERVER.md`): kind v0.33.0's node images, the k3s tags in use, and the
/// kube-apiserver releases the control plane builds. Newest first.
const RELEASES: [(&str, &str, &str, &str); 3] = [
    ("1.37", "v1.37.0", "v1.37.1-k3s1", "v1.37.1"),
    ("1.36", "v1.36.4", "v1.36.4-k3s1", "v1.36.4"),
    ("1.35", "v1.35.8", "v1.35.8-k3s1", "v1.35.8"),
];

impl Release {
    /// `1.37` (a pinned minor) or `1.37.2` (used as given, for images the table does not pin).
    pub fn pinned(version: &str) -> Result<Release> {
        let bare = version.strip_prefix('v').unwrap_or(version);
        if let Some((minor, kind, k3s, apiserver)) = RELEASES.iter().find(|(minor, ..)| *minor == bare) {
            return Ok(Release {
                minor: (*minor).to_owned(),
                kind_image: format!("kindest/node:{kind}"),
                k3s_tag: (*k3s).to_owned(),
                apiserver: (*apiserver).to_owned(),
            });
        }
        let parts: Vec<&str> = bare.split('.').collect();
        let numeric = parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if parts.len() == 3 && numeric {
            return Ok(Release {
                minor: format!("{}.{}", parts[0], parts[1]),
                kind_image: format!("kindest/node:v{bare}"),
                k3s_tag: format!("v{bare}-k3s1"),
                apiserver: format!("v{bare}"),
            });
        }
        let pinned: Vec<&str> = RELEASES.iter().map(|(minor, ..)| *minor).collect();
        fail!(
            "--k8s-version {version:?}: expected one of {} or a full version X.Y.Z",
            pinned.join(", ")
        )
    }
}

/// The policy `spec` states (`max=24h,extend=false,audiences=a,b,alg=ES256`) on top of kube-apiserver's
/// defaults; `None` is the defaults.
pub fn policy_from_spec(spec: Option<&str>) -> Result<TokenPolicy, PolicyError> {
    TokenPolicy::defaults_for_issuer(DEFAULT_ISSUER).with_overrides(spec.unwrap_or(""))
}

/// The kube-apiserver flags (name, value) that make a real cluster enforce `policy`.
///
/// The audiences are always set, even when they are the default, because distributions differ:
/// k3s adds `k3s` to the API audiences unless told otherwise.
pub fn policy_flags(policy: &TokenPolicy) -> Vec<(&'static str, String)> {
    let mut flags = vec![("api-audiences", policy.audiences.api_audiences().join(","))];
    if let Some(max) = policy.expiration.max_seconds {
        flags.push(("service-account-max-token-expiration", format!("{max}s")));
    }
    flags.push((
        "service-account-extend-token-expiration",
        policy.expiration.extend.to_string(),
    ));
    flags
}

/// Refuses a policy a cluster with an RSA service-account key cannot enforce (kind, k3s).
pub fn rsa_only(target: &str, policy: &TokenPolicy) -> Result<()> {
    if policy.signing_alg != SigningAlg::RS256 {
        fail!(
            "{target}: --policy alg={} is not available: the cluster's service-account signing key is RSA (RS256)",
            policy.signing_alg
        );
    }
    Ok(())
}

/// What to start.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    /// The kind of cluster.
    pub cluster: Cluster,
    /// Its Kubernetes release (ignored by the embedded server).
    pub release: Release,
    /// The token policy it is configured to enforce.
    pub policy: TokenPolicy,
    /// `kube-tokenrequest` (for `serve`), when the embedded target is started as a child process.
    pub server_binary: Option<PathBuf>,
    /// kube-apiserver and etcd for the apiserver target (else `$KUBEBUILDER_ASSETS`, else the build cache).
    pub controlplane_bin: Option<PathBuf>,
    /// The apiserver target with kube-controller-manager beside it (`--controllers`).
    pub controllers: bool,
}

impl TargetSpec {
    /// A spec with the binaries found the default way.
    pub fn new(cluster: Cluster, release: Release, policy: TokenPolicy) -> Self {
        Self {
            cluster,
            release,
            policy,
            server_binary: None,
            controlplane_bin: None,
            controllers: false,
        }
    }

    /// `embedded`, `apiserver-1.37` (`apiserver-controllers-1.37` with kube-controller-manager), `kind-1.37`,
    /// `k3s-1.37`: a short name (a report directory's).
    pub fn name(&self) -> String {
        match self.cluster {
            Cluster::Embedded => "embedded".to_owned(),
            Cluster::Apiserver if self.controllers => format!("apiserver-controllers-{}", self.release.minor),
            Cluster::Apiserver => format!("apiserver-{}", self.release.minor),
            Cluster::Kind => format!("kind-{}", self.release.minor),
            Cluster::K3s => format!("k3s-{}", self.release.minor),
        }
    }

    /// A longer description for reports.
    pub fn description(&self) -> String {
        match self.cluster {
            Cluster::Embedded => "embedded (kube-tokenrequest serve)".to_owned(),
            Cluster::Apiserver if self.controllers => format!(
                "kube-apiserver {} + etcd + kube-controller-manager (loopback processes)",
                self.release.apiserver
            ),
            Cluster::Apiserver => format!("kube-apiserver {} + etcd (loopback processes)", self.release.apiserver),
            Cluster::Kind => format!("kind ({})", self.release.kind_image),
            Cluster::K3s => format!("k3s (rancher/k3s:{})", self.release.k3s_tag),
        }
    }

    /// Fails fast, in one line, when this target cannot run here (no container engine, no kind CLI, a policy
    /// the cluster cannot enforce): before anything is built or started.
    pub fn check_prerequisites(&self) -> Result<()> {
        match self.cluster {
            Cluster::Kind => {
                kind::check_prerequisites()?;
                rsa_only("kind", &self.policy)
            }
            Cluster::K3s => {
                k3s::check_prerequisites()?;
                rsa_only("k3s", &self.policy)
            }
            Cluster::Embedded | Cluster::Apiserver => Ok(()),
        }
    }

    /// Starts the target and waits until it is ready; `progress` hears what is happening.
    pub fn start(&self, progress: &mut dyn FnMut(&str)) -> Result<Running> {
        Ok(match self.cluster {
            Cluster::Embedded => {
                let binary = match &self.server_binary {
                    Some(binary) => binary.clone(),
                    None => PathBuf::from("kube-tokenrequest"),
                };
                Running::Embedded(embedded::Serve::start(&binary, &self.policy, &[])?)
            }
            Cluster::Apiserver => {
                let binaries =
                    controlplane::Binaries::locate(self.controlplane_bin.as_deref(), &self.release.apiserver)?;
                let mut config = ControlPlaneConfig::new(binaries);
                config.policy = self.policy.clone();
                config.controllers = self.controllers;
                Running::Apiserver(Box::new(ControlPlane::start(&config)?))
            }
            Cluster::Kind => Running::Kind(kind::create(&self.release, &self.policy, progress)?),
            Cluster::K3s => Running::K3s(Box::new(k3s::start(&self.release, &self.policy, progress)?)),
        })
    }
}

/// A started (or existing) target, ready for a client.
pub enum Running {
    /// `kube-tokenrequest serve`.
    Embedded(embedded::Serve),
    /// kube-apiserver + etcd (boxed: it holds the PKI and TLS configuration, much larger than the rest).
    Apiserver(Box<ControlPlane>),
    /// A kind cluster.
    Kind(kind::Cluster),
    /// A k3s container (boxed: it holds a runtime and a container handle, much larger than the rest).
    K3s(Box<k3s::Cluster>),
    /// `--kubeconfig`: not ours to stop.
    Existing(PathBuf),
}

impl Running {
    /// An existing cluster by its kubeconfig (checked to look like one).
    pub fn existing(kubeconfig: &Path) -> Result<Running> {
        Ok(Running::Existing(existing::check(kubeconfig)?))
    }

    /// The kubeconfig of the target.
    pub fn kubeconfig(&self) -> &Path {
        match self {
            Running::Embedded(server) => server.kubeconfig(),
            Running::Apiserver(cp) => cp.kubeconfig_path(),
            Running::Kind(cluster) => cluster.kubeconfig(),
            Running::K3s(cluster) => cluster.kubeconfig(),
            Running::Existing(path) => path,
        }
    }

    /// The private keys of the retired service-account keys the target verifies with (key rotation, `keys=N`):
    /// known only for the targets this process started (none for kind, k3s and existing clusters).
    pub fn retired_keys(&self) -> &[crate::pki::RetiredKey] {
        match self {
            Running::Embedded(server) => server.retired_keys(),
            Running::Apiserver(cp) => cp.retired_keys(),
            Running::Kind(_) | Running::K3s(_) | Running::Existing(_) => &[],
        }
    }

    /// Stops what was started (nothing for an existing cluster). With `keep`, kind and k3s
    /// clusters are left running and a note says how to reach and remove them.
    pub fn stop(self, keep: bool) -> Result<Option<String>> {
        match self {
            Running::Embedded(server) => server.stop().map(|()| None),
            Running::Apiserver(cp) => cp.stop().map(|()| None),
            Running::Kind(cluster) if keep => Ok(Some(cluster.keep())),
            Running::Kind(cluster) => cluster.delete().map(|()| None),
            Running::K3s(cluster) if keep => Ok(Some(cluster.keep())),
            Running::K3s(cluster) => cluster.remove().map(|()| None),
            Running::Existing(_) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_minors_and_full_versions() {
        let r = Release::pinned("1.36").unwrap();
        assert_eq!(
            (r.kind_image.as_str(), r.k3s_tag.as_str()),
            ("kindest/node:v1.36.4", "v1.36.4-k3s1")
        );
        let r = Release::pinned("v1.37.3").unwrap();
        assert_eq!(
            (r.minor.as_str(), r.kind_image.as_str()),
            ("1.37", "kindest/node:v1.37.3")
        );
        assert_eq!(
            Release::pinned("1.20").unwrap_err().to_string(),
            r#"--k8s-version "1.20": expected one of 1.37, 1.36, 1.35 or a full version X.Y.Z"#
        );
    }

    #[test]
    fn es256_cannot_be_asked_of_a_real_cluster() {
        let policy = policy_from_spec(Some("alg=ES256")).unwrap();
        assert_eq!(
            rsa_only("kind", &policy).unwrap_err().to_string(),
            "kind: --policy alg=ES256 is not available: the cluster's service-account signing key is RSA (RS256)"
        );
    }

    #[test]
    fn names_and_descriptions() {
        let release = Release::pinned("1.37").unwrap();
        let spec = TargetSpec::new(Cluster::Kind, release, policy_from_spec(None).unwrap());
        assert_eq!(spec.name(), "kind-1.37");
        assert_eq!(spec.description(), "kind (kindest/node:v1.37.0)");
    }
}
