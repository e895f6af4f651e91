//! `kube-tokenrequest doctor` against embedded servers started in-process with each misconfiguration a relying
//! party trips over (an ES384 key, a trailing-slash issuer, discovery closed to anonymous callers, a JWKS without
//! `kid`, the wrong `Content-Type`), and with a configuration the OIDC libraries accept; then bad input: an
//! unreachable server (exit 3), an endpoint without the Kubernetes API (exit 4), a user without the permissions
//! (exit 5). Verdicts are read from `-o json`; no output may contain a token.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use tokenrequest_server::{Fault, RunningServer, ServerConfig};
use tokenrequest_types::policy::SigningAlg;
use tokenrequest_types::token::find_jwt;

async fn start(change: impl FnOnce(&mut ServerConfig)) -> (RunningServer, tempfile::TempDir) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut config = ServerConfig::loopback();
    config.signing_alg = SigningAlg::ES256;
    change(&mut config);
    let server = tokenrequest_server::start(config).await.expect("the server starts");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kubeconfig"), server.kubeconfig_yaml()).unwrap();
    (server, dir)
}

/// `doctor ARGS` with `kubeconfig`: exit code, stdout, stderr.
async fn doctor(kubeconfig: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::cargo_bin("kube-tokenrequest").unwrap();
    cmd.env_clear()
        .env("HOME", kubeconfig.parent().unwrap())
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("doctor")
        .args(args)
        .timeout(Duration::from_secs(60));
    let output = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    );
    assert!(
        find_jwt(&stdout, 0).is_none() && find_jwt(&stderr, 0).is_none(),
        "a token in the output"
    );
    (output.status.code(), stdout, stderr)
}

/// Profile → (verdict, the rules that did not pass).
async fn verdicts(kubeconfig: &Path, args: &[&str]) -> (Option<i32>, BTreeMap<String, (String, Vec<String>)>) {
    let (code, stdout, stderr) = doctor(kubeconfig, &[&["-o", "json"], args].concat()).await;
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout} {stderr}"));
    let judged = report["judgements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            let failing = j["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["outcome"] != "pass")
                .map(|f| format!("{}:{}", f["rule"].as_str().unwrap(), f["outcome"].as_str().unwrap()))
                .collect();
            (
                j["profile"].as_str().unwrap().to_owned(),
                (j["verdict"].as_str().unwrap().to_owned(), failing),
            )
        })
        .collect();
    (code, judged)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_default_server_gets_a_verdict_for_every_profile() {
    let (_server, dir) = start(|c| c.signing_alg = SigningAlg::RS256).await;
    let kubeconfig = dir.path().join("kubeconfig");
    let (code, judged) = verdicts(&kubeconfig, &[]).await;
    assert_eq!(code, Some(1), "not every profile works");
    assert_eq!(judged.len(), 7);
    for profile in ["conformance", "vault", "spire"] {
        assert_eq!(judged[profile].0, "works", "{profile}: {:?}", judged[profile]);
    }
    assert_eq!(
        judged["go-oidc"].1,
        ["discovery-readable:fail"],
        "anonymous discovery is closed by default"
    );
    for cloud in ["aws", "azure", "gcp"] {
        assert_eq!(judged[cloud].0, "will-not-work");
        assert!(
            judged[cloud].1.contains(&"issuer-public:fail".to_owned()),
            "{cloud}: {:?}",
            judged[cloud]
        );
    }
    assert!(judged["gcp"].1.contains(&"audience-issued:unknown".to_owned()));

    let (code, table, _) = doctor(&kubeconfig, &["--for", "vault,spire"]).await;
    assert_eq!(code, Some(0), "{table}");
    assert!(table.contains("vault        works"), "{table}");
    let (_, markdown, _) = doctor(&kubeconfig, &["--for", "go-oidc", "-o", "markdown"]).await;
    assert!(
        markdown.contains("| go-oidc (generic OIDC (go-oidc defaults)) | will not work | discovery-readable"),
        "{markdown}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_es384_key_fails_go_oidc_and_the_conformance_test_naming_the_algorithm() {
    let (_server, dir) = start(|c| c.signing_alg = SigningAlg::ES384).await;
    let kubeconfig = dir.path().join("kubeconfig");
    let (code, judged) = verdicts(&kubeconfig, &["--for", "go-oidc,conformance,vault"]).await;
    assert_eq!(code, Some(1));
    assert_eq!(
        judged["conformance"],
        ("will-not-work".to_owned(), vec!["algorithm-allowed:fail".to_owned()])
    );
    assert!(judged["go-oidc"].1.contains(&"algorithm-allowed:fail".to_owned()));
    assert_eq!(
        judged["vault"].0, "works",
        "TokenReview does not care about the algorithm"
    );
    let (_, table, _) = doctor(&kubeconfig, &["--for", "conformance"]).await;
    assert!(
        table.contains("tokens are signed ES384 but it accepts only RS256 and ES256"),
        "{table}"
    );
    assert!(table.contains("fix: sign with an RS256 or ES256 key"), "{table}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trailing_slash_issuer_fails_azure() {
    let (_server, dir) = start(|c| c.issuer = "https://oidc.example.com/cluster-1/".to_owned()).await;
    let (_, judged) = verdicts(&dir.path().join("kubeconfig"), &["--for", "azure,conformance"]).await;
    assert!(
        judged["azure"].1.contains(&"issuer-trailing-slash:fail".to_owned()),
        "{:?}",
        judged["azure"]
    );
    assert_eq!(judged["conformance"].0, "works");
}

#[tokio::test(flavor = "multi_thread")]
async fn open_discovery_with_a_public_issuer_satisfies_the_libraries() {
    let (_server, dir) = start(|c| {
        c.signing_alg = SigningAlg::RS256;
        c.issuer = "https://oidc.example.com/cluster-1".to_owned();
        c.jwks_uri = Some("https://oidc.example.com/cluster-1/openid/v1/jwks".to_owned());
        c.anonymous_issuer_discovery = true;
    })
    .await;
    let (code, judged) = verdicts(
        &dir.path().join("kubeconfig"),
        &["--for", "go-oidc,conformance,vault,spire,aws"],
    )
    .await;
    for profile in ["go-oidc", "conformance", "vault", "spire"] {
        assert_eq!(judged[profile].0, "works", "{profile}: {:?}", judged[profile]);
    }
    assert_eq!(
        judged["aws"],
        ("cannot-tell".to_owned(), vec!["issuer-public:unknown".to_owned()])
    );
    assert_eq!(code, Some(1), "aws cannot be told from here");
    let (code, _) = verdicts(
        &dir.path().join("kubeconfig"),
        &["--for", "go-oidc,conformance,vault,spire"],
    )
    .await;
    assert_eq!(code, Some(0), "every selected profile works");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_jwks_without_kid_and_a_wrong_content_type_are_diagnosed() {
    let (_server, dir) = start(|c| c.fault = Some(Fault::JwksWithoutKid)).await;
    let (_, judged) = verdicts(&dir.path().join("kubeconfig"), &["--for", "aws,go-oidc"]).await;
    assert!(
        judged["aws"].1.contains(&"jwks-kid:fail".to_owned()),
        "{:?}",
        judged["aws"]
    );
    assert!(judged["go-oidc"].1.contains(&"token-kid-resolves:fail".to_owned()));

    let (_server, dir) = start(|c| c.fault = Some(Fault::WrongDiscoveryContentType)).await;
    let (_, judged) = verdicts(&dir.path().join("kubeconfig"), &["--for", "aws"]).await;
    assert!(
        judged["aws"].1.contains(&"content-type:unknown".to_owned()),
        "{:?}",
        judged["aws"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_one_line_and_a_distinct_exit_code() {
    let (server, dir) = start(|_| {}).await;
    let kubeconfig = std::fs::read_to_string(dir.path().join("kubeconfig")).unwrap();
    let url = server.url();
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    // Nothing listens on port 1.
    let unreachable = write("unreachable", kubeconfig.replace(&url, "https://127.0.0.1:1"));
    // The same server under a path where no Kubernetes API is.
    let not_kubernetes = write(
        "not-kubernetes",
        kubeconfig.replace(&url, &format!("{url}/not-kubernetes")),
    );
    // A user who may not create namespaces.
    let stranger = write(
        "stranger",
        kubeconfig.replace(server.admin_token().expose(), "not-a-valid-token"),
    );
    for (path, code, message) in [
        (&unreachable, 3, "cannot reach the API server"),
        (&not_kubernetes, 4, "not a Kubernetes API server with TokenRequest"),
        (&stranger, 5, "not allowed"),
    ] {
        let (exit, stdout, stderr) = doctor(path, &[]).await;
        assert_eq!(exit, Some(code), "{stderr}");
        assert!(stdout.is_empty());
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
        assert!(!stderr.contains("panicked"));
    }
}

/// The same diagnosis of a real kube-apiserver built by `cargo xtask controlplane build` (skipped, saying why,
/// when it is not built): every profile gets a verdict, and those that need no public issuer work.
#[tokio::test(flavor = "multi_thread")]
async fn a_real_kube_apiserver_gets_a_verdict_for_every_profile() {
    use tokenrequest_envtest::controlplane::{Binaries, ControlPlane, ControlPlaneConfig, PINNED_K8S_VERSION};
    let bins = match Binaries::locate(None, PINNED_K8S_VERSION) {
        Ok(bins) => bins,
        Err(e) => {
            #[allow(clippy::print_stderr, reason = "a skipped test says why")]
            {
                eprintln!("skipped: {e:#}");
            }
            return;
        }
    };
    let control_plane = tokio::task::spawn_blocking(move || ControlPlane::start(&ControlPlaneConfig::new(bins)))
        .await
        .unwrap()
        .expect("control plane starts");
    let (code, judged) = verdicts(control_plane.kubeconfig_path(), &[]).await;
    assert_eq!(code, Some(1));
    assert_eq!(judged.len(), 7);
    for profile in ["conformance", "vault", "spire"] {
        assert_eq!(judged[profile].0, "works", "{profile}: {:?}", judged[profile]);
    }
    assert!(
        judged["go-oidc"].1.contains(&"discovery-readable:fail".to_owned()),
        "kube-apiserver keeps discovery from anonymous callers: {:?}",
        judged["go-oidc"]
    );
}
