//! The targets the suite can run against, each ending up as one kubeconfig file: the embedded
//! server, a real kube-apiserver (the control plane a colleague's module builds), kind, k3s, or
//! an existing cluster.
//!
//! What is shared lives here: the pinned Kubernetes releases per target and the kube-apiserver
//! flags that express a token policy. Each target module knows only how to start and stop its
//! own kind of cluster.

pub(crate) mod apiserver;
pub(crate) mod embedded;
pub(crate) mod engine;
pub(crate) mod k3s;
pub(crate) mod kind;
pub(crate) mod kubeconfig;
mod process;

use std::path::{Path, PathBuf};

use tokenrequest_types::policy::{SigningAlg, TokenPolicy};

/// A Kubernetes release, as each target names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Release {
    /// `1.37`.
    pub(crate) minor: String,
    /// The kind node image, `kindest/node:v1.37.0`.
    pub(crate) kind_image: String,
    /// The k3s image tag, `v1.37.1-k3s1`.
    pub(crate) k3s_tag: String,
    /// The kube-apiserver release for the `apiserver` target, `v1.37.1`.
    pub(crate) apiserver: String,
}

/// Pinned per minor (APISERVER.md): kind v0.33.0's node images, the k3s tags in use, and the
/// kube-apiserver releases the control plane builds. Newest first.
const RELEASES: [(&str, &str, &str, &str); 3] = [
    ("1.37", "v1.37.0", "v1.37.1-k3s1", "v1.37.1"),
    ("1.36", "v1.36.4", "v1.36.4-k3s1", "v1.36.4"),
    ("1.35", "v1.35.8", "v1.35.8-k3s1", "v1.35.8"),
];

/// `1.37` (a pinned minor) or `1.37.2` (used as given, for images the table does not pin).
pub(crate) fn release(version: &str) -> anyhow::Result<Release> {
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
    Err(anyhow::format_err!(
        "--k8s-version {version:?}: expected one of {} or a full version X.Y.Z",
        pinned.join(", ")
    ))
}

/// The kube-apiserver flags (name, value) that make a real cluster enforce `policy`, for the
/// targets configured through flags (kind's kubeadm patch, k3s' `--kube-apiserver-arg`).
///
/// The audiences are always set, even when they are the default, because distributions differ:
/// k3s adds `k3s` to the API audiences unless told otherwise.
pub(crate) fn apiserver_flags(target: &str, policy: &TokenPolicy) -> anyhow::Result<Vec<(&'static str, String)>> {
    if policy.signing_alg != SigningAlg::RS256 {
        return Err(anyhow::format_err!(
            "{target}: --policy alg={} is not available: the cluster's service-account signing key is RSA (RS256)",
            policy.signing_alg
        ));
    }
    let mut flags = vec![("api-audiences", policy.audiences.api_audiences().join(","))];
    if let Some(max) = policy.expiration.max_seconds {
        flags.push(("service-account-max-token-expiration", format!("{max}s")));
    }
    flags.push((
        "service-account-extend-token-expiration",
        policy.expiration.extend.to_string(),
    ));
    Ok(flags)
}

/// A started (or existing) target, ready for the suite.
pub(crate) enum Running {
    /// `kube-tokenrequest serve`.
    Embedded(embedded::Server),
    /// kube-apiserver + etcd.
    Apiserver(apiserver::ControlPlane),
    /// A kind cluster.
    Kind(kind::Cluster),
    /// A k3s container (boxed: it holds a runtime and a container handle, much larger than the rest).
    K3s(Box<k3s::Cluster>),
    /// `--kubeconfig`: not ours to stop.
    Existing(PathBuf),
}

impl Running {
    /// The kubeconfig the suite gets.
    pub(crate) fn kubeconfig(&self) -> &Path {
        match self {
            Running::Embedded(server) => server.kubeconfig(),
            Running::Apiserver(cp) => cp.kubeconfig(),
            Running::Kind(cluster) => cluster.kubeconfig(),
            Running::K3s(cluster) => cluster.kubeconfig(),
            Running::Existing(path) => path,
        }
    }

    /// Stops what xtask started (nothing for an existing cluster). With `keep`, kind and k3s
    /// clusters are left running and a note says how to reach and remove them.
    pub(crate) fn stop(self, keep: bool) -> anyhow::Result<Option<String>> {
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
        let r = release("1.36").unwrap();
        assert_eq!(
            (r.kind_image.as_str(), r.k3s_tag.as_str()),
            ("kindest/node:v1.36.4", "v1.36.4-k3s1")
        );
        let r = release("v1.37.3").unwrap();
        assert_eq!(
            (r.minor.as_str(), r.kind_image.as_str()),
            ("1.37", "kindest/node:v1.37.3")
        );
        assert_eq!(
            release("1.20").unwrap_err().to_string(),
            r#"--k8s-version "1.20": expected one of 1.37, 1.36, 1.35 or a full version X.Y.Z"#
        );
    }

    #[test]
    fn es256_cannot_be_asked_of_a_real_cluster() {
        let policy = crate::policy::parse(Some("alg=ES256")).unwrap();
        assert_eq!(
            apiserver_flags("kind", &policy).unwrap_err().to_string(),
            "kind: --policy alg=ES256 is not available: the cluster's service-account signing key is RSA (RS256)"
        );
    }
}
