//! Starts the REAL kube-apiserver and etcd built by `cargo xtask controlplane build` (or found via
//! `KUBEBUILDER_ASSETS`), issues a token through them, and stops them. Skips, saying why, when no
//! binaries are there: building them takes ~10 minutes and is not part of `cargo test`. Under cargo, the
//! control-plane cache is the repository's `target/controlplane` (`.cargo/config.toml`).

#![allow(clippy::print_stderr)]

use tokenrequest_envtest::controlplane::{Binaries, ControlPlane, ControlPlaneConfig, PINNED_K8S_VERSION};
use tokenrequest_envtest::target::policy_from_spec;

#[test]
fn real_apiserver_issues_clamped_tokens_and_serves_discovery() {
    let bins = match Binaries::locate(None, PINNED_K8S_VERSION) {
        Ok(bins) => bins,
        Err(e) => {
            eprintln!("SKIPPED real_apiserver_issues_clamped_tokens_and_serves_discovery: {e:#}");
            return;
        }
    };
    let mut config = ControlPlaneConfig::new(bins);
    config.policy = policy_from_spec(Some("max=24h,audiences=api,vault")).unwrap();
    let cp = ControlPlane::start(&config).expect("control plane starts");
    eprintln!("control plane ready in {:?}", cp.started_in());

    // The kubeconfig follows the contract: one cluster/user/context, current-context set.
    let kubeconfig: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(cp.kubeconfig_path()).unwrap()).unwrap();
    assert_eq!(kubeconfig["clusters"][0]["cluster"]["server"], cp.server_url());
    assert_eq!(kubeconfig["current-context"], "kube-apiserver");

    let created = |path: &str, body: &str| {
        let r = cp.api_request("POST", path, Some(body)).unwrap();
        assert_eq!(r.status, 201, "{path}: {}", r.body);
        r
    };
    created("/api/v1/namespaces", r#"{"metadata":{"name":"envtest-it"}}"#);
    created(
        "/api/v1/namespaces/envtest-it/serviceaccounts",
        r#"{"metadata":{"name":"sa"}}"#,
    );
    let r = created(
        "/api/v1/namespaces/envtest-it/serviceaccounts/sa/token",
        r#"{"spec":{"expirationSeconds":172800}}"#,
    );
    assert_eq!(
        r.header_values("warning"),
        ["299 - \"requested expiration of 172800 seconds shortened to 86400 seconds\""]
    );
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["spec"]["expirationSeconds"], 86_400);
    assert_eq!(body["spec"]["audiences"], serde_json::json!(["api", "vault"]));

    let r = cp
        .api_request("GET", "/.well-known/openid-configuration", None)
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let discovery: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(discovery["issuer"], cp.issuer());
    assert_eq!(discovery["jwks_uri"], format!("{}/openid/v1/jwks", cp.server_url()));

    let dir = cp.kubeconfig_path().parent().unwrap().to_path_buf();
    cp.stop().expect("stops cleanly");
    assert!(!dir.exists(), "the temp dir is removed on stop");
}

/// With kube-controller-manager beside it, the control plane behaves as a small cluster: a new namespace gets its
/// `default` service account, and a deleted namespace finishes deleting. Skips, saying why, without the binaries.
#[test]
fn controllers_make_default_service_accounts_and_finish_namespace_deletion() {
    let bins = match Binaries::locate(None, PINNED_K8S_VERSION) {
        Ok(bins) if bins.have_controllers() => bins,
        Ok(bins) => {
            eprintln!(
                "SKIPPED: no {}: run `cargo xtask controlplane build`",
                bins.kube_controller_manager.display()
            );
            return;
        }
        Err(e) => {
            eprintln!("SKIPPED: {e:#}");
            return;
        }
    };
    let mut config = ControlPlaneConfig::new(bins);
    config.controllers = true;
    let cp = ControlPlane::start(&config).expect("control plane with controllers starts");
    let status = |method: &str, path: &str, body: Option<&str>| cp.api_request(method, path, body).unwrap().status;
    assert_eq!(
        status("POST", "/api/v1/namespaces", Some(r#"{"metadata":{"name":"team"}}"#)),
        201
    );
    let until = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !done() {
            assert!(
                std::time::Instant::now() < deadline,
                "{what} did not happen within 60 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    until("the default service account in team", &|| {
        status("GET", "/api/v1/namespaces/team/serviceaccounts/default", None) == 200
    });
    assert_eq!(status("DELETE", "/api/v1/namespaces/team", None), 200);
    until("the deletion of namespace team", &|| {
        status("GET", "/api/v1/namespaces/team", None) == 404
    });
    cp.stop().expect("stops cleanly");
}
