//! The `k3s` target: a k3s server in a container (testcontainers-modules' K3s image) whose
//! kube-apiserver gets the policy through `--kube-apiserver-arg` flags.
//!
//! The container itself is started by testcontainers, compiled in with the `containers` feature
//! ([`container`]); without it, the target reports that it is not built in. The configuration below is always
//! compiled and tested.

use tokenrequest_types::policy::TokenPolicy;

use crate::engine;
use crate::error::{Context, Error, Result};

#[cfg(feature = "containers")]
mod container;
#[cfg(feature = "containers")]
pub use container::{Cluster, start};

/// A running k3s container: none can exist in a binary built without the `containers` feature.
#[cfg(not(feature = "containers"))]
pub enum Cluster {}

#[cfg(not(feature = "containers"))]
impl Cluster {
    /// The kubeconfig of the container.
    pub fn kubeconfig(&self) -> &std::path::Path {
        match *self {}
    }

    /// Stops and removes the container.
    pub fn remove(self) -> Result<()> {
        match self {}
    }

    /// Leaves the container running.
    pub fn keep(self) -> String {
        match self {}
    }
}

/// Without the `containers` feature, k3s cannot be started: says so.
#[cfg(not(feature = "containers"))]
pub fn start(
    _release: &crate::target::Release,
    _policy: &TokenPolicy,
    _progress: &mut dyn FnMut(&str),
) -> Result<Cluster> {
    Err(not_built_in())
}

fn not_built_in() -> Error {
    Error::NotBuiltIn {
        target: "k3s",
        feature: "containers",
    }
}

/// Fails fast, in one line, when no container engine answers or the target is not built in.
pub fn check_prerequisites() -> Result<()> {
    engine::require("k3s")?;
    if cfg!(feature = "containers") {
        Ok(())
    } else {
        Err(not_built_in())
    }
}

/// The container command: `server` plus the flags for `policy`.
pub fn container_args(policy: &TokenPolicy) -> Result<Vec<String>> {
    let mut args = vec![
        "server".to_owned(),
        // testcontainers-modules' default; overlayfs does not work inside every CI container.
        "--snapshotter=native".to_owned(),
        // Not needed by the suite, and they slow startup and pull more images.
        "--disable=traefik,servicelb,metrics-server".to_owned(),
    ];
    crate::target::rsa_only("k3s", policy)?;
    for (name, value) in crate::target::policy_flags(policy) {
        args.push(format!("--kube-apiserver-arg={name}={value}"));
    }
    Ok(args)
}

/// k3s writes `server: https://127.0.0.1:6443`, the port inside the container; the suite must
/// use the published port.
#[cfg_attr(
    not(feature = "containers"),
    allow(dead_code, reason = "only the container module (and the tests) use it")
)]
pub(crate) fn rewrite_server(kubeconfig: &str, port: u16) -> Result<String> {
    let mut yaml: serde_yaml::Value = serde_yaml::from_str(kubeconfig).context("k3s.yaml")?;
    let clusters = yaml
        .get_mut("clusters")
        .and_then(|c| c.as_sequence_mut())
        .ok_or_else(|| format_err!("k3s.yaml has no clusters"))?;
    for cluster in clusters {
        if let Some(server) = cluster.get_mut("cluster").and_then(|c| c.get_mut("server")) {
            *server = serde_yaml::Value::String(format!("https://127.0.0.1:{port}"));
        }
    }
    serde_yaml::to_string(&yaml).context("k3s.yaml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k3s_args_for_the_matrix_policy() {
        let policy = crate::target::policy_from_spec(Some(
            "max=24h,extend=false,audiences=https://kubernetes.default.svc.cluster.local,extra",
        ))
        .unwrap();
        insta::assert_yaml_snapshot!("k3s_args_matrix_policy", container_args(&policy).unwrap());
    }

    #[test]
    fn k3s_args_for_the_default_policy() {
        let policy = crate::target::policy_from_spec(None).unwrap();
        insta::assert_yaml_snapshot!("k3s_args_default_policy", container_args(&policy).unwrap());
    }

    #[cfg(not(feature = "containers"))]
    #[test]
    fn without_the_feature_k3s_says_how_to_build_it_in() {
        let policy = crate::target::policy_from_spec(None).unwrap();
        let release = crate::target::Release::pinned("1.37").unwrap();
        // No `Cluster` can exist without the feature, so `start` can only fail.
        let Err(err) = start(&release, &policy, &mut |_| {});
        assert!(matches!(err, Error::NotBuiltIn { .. }), "{err}");
        let reason = err.unavailable().expect("reported as unavailable, not failed");
        assert!(reason.contains("--features containers"), "{reason}");
    }

    #[test]
    fn the_kubeconfig_points_at_the_published_port() {
        let raw = "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: Q0E=\n    server: https://127.0.0.1:6443\n  name: default\n";
        let rewritten = rewrite_server(raw, 32768).unwrap();
        assert!(rewritten.contains("server: https://127.0.0.1:32768"), "{rewritten}");
    }
}
