//! The command lines of etcd and kube-apiserver for a loopback control plane, as pure functions
//! of ports, file paths and the token policy, so they can be unit tested and printed.
//!
//! Every kube-apiserver flag here was checked against a real v1.37.1 binary; see
//! `docs/CONTROLPLANE.md` for what happens without each one.

use std::path::{Path, PathBuf};

use tokenrequest_types::policy::TokenPolicy;

/// The service-account and PKI file names inside the control plane's temp dir.
#[derive(Debug, Clone)]
pub(crate) struct Files {
    /// `ca.crt`: not passed to the server (no client certificates), only for the kubeconfig.
    pub ca_cert: PathBuf,
    /// `serving.crt` / `serving.key`.
    pub serving_cert: PathBuf,
    /// The serving key.
    pub serving_key: PathBuf,
    /// `sa.key`: PKCS#8 private key, `--service-account-signing-key-file`.
    pub sa_key: PathBuf,
    /// `sa.pub`: its PKIX public key, `--service-account-key-file`.
    pub sa_pub: PathBuf,
    /// `tokens.csv` for `--token-auth-file`.
    pub token_file: PathBuf,
    /// `sa-retired-N.pub`: retired public keys, more `--service-account-key-file`s (key rotation).
    pub retired_pub: Vec<PathBuf>,
}

impl Files {
    /// The layout under `dir`, with `retired` retired public keys.
    pub fn under(dir: &Path, retired: usize) -> Self {
        Self {
            retired_pub: (0..retired).map(|i| dir.join(format!("sa-retired-{i}.pub"))).collect(),
            ca_cert: dir.join("ca.crt"),
            serving_cert: dir.join("serving.crt"),
            serving_key: dir.join("serving.key"),
            sa_key: dir.join("sa.key"),
            sa_pub: dir.join("sa.pub"),
            token_file: dir.join("tokens.csv"),
        }
    }
}

/// The advertised address. Checked on v1.37.1: without `--advertise-address` kube-apiserver
/// takes the address of the default route's interface and exits when there is none ("Unable to
/// find suitable network address ... no default routes found"); `127.0.0.1` alone is refused at
/// start ("cannot use public IP 127.0.0.1 with endpoint reconciler: ... may not be in the loopback
/// range"), but with `--endpoint-reconciler-type=none` nothing writes it into the `kubernetes`
/// Endpoints and loopback is accepted. So: loopback, never a routable address.
pub(crate) const ADVERTISE_ADDRESS: &str = "127.0.0.1";

/// The CSV line of the admin user for `--token-auth-file`: `token,user,uid,"group1,group2"`.
pub(crate) fn token_file_line(token: &str) -> String {
    format!("{token},kube-tokenrequest-admin,kube-tokenrequest-admin,\"system:masters\"\n")
}

/// etcd's arguments: one member on loopback, data in `data_dir`, no fsync (tests only).
pub(crate) fn etcd_args(data_dir: &Path, client_port: u16, peer_port: u16) -> Vec<String> {
    let client = format!("http://127.0.0.1:{client_port}");
    let peer = format!("http://127.0.0.1:{peer_port}");
    vec![
        "--name=default".into(),
        format!("--data-dir={}", data_dir.display()),
        format!("--listen-client-urls={client}"),
        format!("--advertise-client-urls={client}"),
        format!("--listen-peer-urls={peer}"),
        format!("--initial-advertise-peer-urls={peer}"),
        format!("--initial-cluster=default={peer}"),
        // No metrics listener besides the client URL, no fsync, quiet logs.
        "--unsafe-no-fsync=true".into(),
        "--log-level=warn".into(),
    ]
}

/// kube-apiserver's arguments for `issuer` and `policy`.
pub(crate) fn apiserver_args(
    files: &Files,
    etcd_client_port: u16,
    secure_port: u16,
    issuer: &str,
    policy: &TokenPolicy,
) -> Vec<String> {
    let mut args = vec![
        format!("--etcd-servers=http://127.0.0.1:{etcd_client_port}"),
        "--bind-address=127.0.0.1".into(),
        format!("--secure-port={secure_port}"),
        format!("--advertise-address={ADVERTISE_ADDRESS}"),
        "--endpoint-reconciler-type=none".into(),
        format!("--tls-cert-file={}", files.serving_cert.display()),
        format!("--tls-private-key-file={}", files.serving_key.display()),
        format!("--token-auth-file={}", files.token_file.display()),
        // RBAC, not AlwaysAllow: AlwaysAllow turns anonymous auth off (no anonymous /readyz) and
        // would hide the authorization step of serviceaccounts/token.
        "--authorization-mode=RBAC".into(),
        "--service-cluster-ip-range=10.0.0.0/24".into(),
        format!("--service-account-issuer={issuer}"),
        format!("--service-account-key-file={}", files.sa_pub.display()),
        format!("--service-account-signing-key-file={}", files.sa_key.display()),
        // Without it jwks_uri would point at the advertise address.
        format!("--service-account-jwks-uri=https://127.0.0.1:{secure_port}/openid/v1/jwks"),
    ];
    // Rotation: the first --service-account-issuer issues, later ones are still accepted; every key file verifies.
    args.extend(
        policy
            .previous_issuers
            .iter()
            .map(|previous| format!("--service-account-issuer={previous}")),
    );
    args.extend(
        files
            .retired_pub
            .iter()
            .map(|file| format!("--service-account-key-file={}", file.display())),
    );
    args.extend(
        crate::target::policy_flags(policy)
            .into_iter()
            .map(|(name, value)| format!("--{name}={value}")),
    );
    args
}

/// kube-controller-manager's arguments, as docs/KIND.md found them to work beside a process control plane: the
/// admin kubeconfig, no leader election, no serving port of its own, the service-account key (the tokens
/// controller signs with it) and the CA it publishes in every namespace's `kube-root-ca.crt`.
pub(crate) fn controller_manager_args(files: &Files, kubeconfig: &Path) -> Vec<String> {
    vec![
        format!("--kubeconfig={}", kubeconfig.display()),
        "--leader-elect=false".into(),
        "--secure-port=0".into(),
        format!("--service-account-private-key-file={}", files.sa_key.display()),
        format!("--root-ca-file={}", files.ca_cert.display()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

    #[test]
    fn rotation_adds_issuers_and_key_files() {
        let files = Files::under(Path::new("/tmp/cp"), 1);
        let policy = TokenPolicy::defaults_for_issuer(ISSUER)
            .with_overrides("issuers=https://old.example,keys=2")
            .unwrap();
        let args = apiserver_args(&files, 2379, 6443, ISSUER, &policy);
        let issuers: Vec<&String> = args
            .iter()
            .filter(|a| a.starts_with("--service-account-issuer="))
            .collect();
        assert_eq!(
            issuers,
            [
                &format!("--service-account-issuer={ISSUER}"),
                &"--service-account-issuer=https://old.example".to_owned()
            ],
            "the first issues"
        );
        assert!(args.contains(&"--service-account-key-file=/tmp/cp/sa-retired-0.pub".to_owned()));
    }

    #[test]
    fn apiserver_flags_for_a_policy() {
        let files = Files::under(Path::new("/tmp/cp"), 0);
        let policy = TokenPolicy::defaults_for_issuer(ISSUER)
            .with_overrides("max=2h,extend=false,audiences=api,vault")
            .unwrap();
        let args = apiserver_args(&files, 2379, 6443, ISSUER, &policy);
        insta::assert_yaml_snapshot!(args);
    }

    #[test]
    fn default_policy_states_kube_apiserver_defaults() {
        let files = Files::under(Path::new("/tmp/cp"), 0);
        let args = apiserver_args(&files, 2379, 6443, ISSUER, &TokenPolicy::defaults_for_issuer(ISSUER));
        assert!(args.contains(&format!("--api-audiences={ISSUER}")));
        assert!(
            !args
                .iter()
                .any(|a| a.starts_with("--service-account-max-token-expiration"))
        );
        assert!(args.contains(&"--service-account-extend-token-expiration=true".to_string()));
    }

    #[test]
    fn controller_manager_flags() {
        let files = Files::under(Path::new("/tmp/cp"), 0);
        let args = controller_manager_args(&files, Path::new("/tmp/cp/kubeconfig"));
        insta::assert_yaml_snapshot!(args);
    }

    #[test]
    fn etcd_flags() {
        let args = etcd_args(Path::new("/tmp/etcd"), 2379, 2380);
        insta::assert_yaml_snapshot!(args);
    }

    #[test]
    fn token_file_groups_are_quoted() {
        assert_eq!(
            token_file_line("t"),
            "t,kube-tokenrequest-admin,kube-tokenrequest-admin,\"system:masters\"\n"
        );
    }
}
