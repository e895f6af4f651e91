//! The `kube-tokenrequest` binary against the embedded API server started in-process: what each command prints,
//! its exit code, and one clear line on stderr for bad input. Output is snapshotted with every token, time, uid and
//! key id filtered out; no real token is ever stored in a snapshot.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use k8s_openapi::api::core::v1::{Container, Namespace, Pod, PodSpec, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::PostParams;
use tokenrequest_server::{RunningServer, ServerConfig};

const JWT: &str = r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+";

/// A running embedded server with `team-a/robot` and its kubeconfig on disk.
struct Cluster {
    server: RunningServer,
    dir: tempfile::TempDir,
}

impl Cluster {
    async fn start(config: ServerConfig) -> Self {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let server = tokenrequest_server::start(config)
            .await
            .expect("the embedded server starts");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("kubeconfig"), server.kubeconfig_yaml()).expect("kubeconfig");
        std::fs::write(dir.path().join("ca.pem"), server.ca_pem()).expect("CA");
        let cluster = Self { server, dir };
        cluster.create_service_account().await;
        cluster
    }

    async fn create_service_account(&self) {
        let kubeconfig = kube::config::Kubeconfig::from_yaml(&self.server.kubeconfig_yaml()).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
        let client = kube::Client::try_from(config).unwrap();
        let namespace = Namespace {
            metadata: named("team-a"),
            ..Namespace::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap();
        let service_account = ServiceAccount {
            metadata: named("robot"),
            ..ServiceAccount::default()
        };
        Api::<ServiceAccount>::namespaced(client, "team-a")
            .create(&PostParams::default(), &service_account)
            .await
            .unwrap();
    }

    /// A pod `web` running as `robot`.
    async fn create_pod(&self) {
        let kubeconfig = kube::config::Kubeconfig::from_yaml(&self.server.kubeconfig_yaml()).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
        let pod = Pod {
            metadata: named("web"),
            spec: Some(PodSpec {
                service_account_name: Some("robot".to_owned()),
                containers: vec![Container {
                    name: "web".to_owned(),
                    image: Some("registry.k8s.io/pause:3.10".to_owned()),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
            ..Pod::default()
        };
        Api::<Pod>::namespaced(kube::Client::try_from(config).unwrap(), "team-a")
            .create(&PostParams::default(), &pod)
            .await
            .unwrap();
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// The binary with this cluster's kubeconfig, namespace `team-a`, and nothing from the environment.
    fn cli(&self) -> Command {
        let mut cmd = bare_cli(self.dir.path());
        cmd.arg("--kubeconfig").arg(self.kubeconfig()).args(["-n", "team-a"]);
        cmd
    }
}

fn named(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        ..ObjectMeta::default()
    }
}

/// The binary with an empty environment: no KUBECONFIG, HOME in `home`, no RUST_LOG.
fn bare_cli(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("kube-tokenrequest").expect("the binary is built");
    cmd.env_clear().env("HOME", home).timeout(Duration::from_secs(60));
    cmd
}

/// Runs a blocking command off the async runtime, where the server lives.
async fn run(mut cmd: Command) -> Output {
    let output = tokio::task::spawn_blocking(move || cmd.output().expect("the binary runs"))
        .await
        .expect("the command thread");
    Output {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
    }
}

#[derive(Debug)]
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Output {
    fn success(&self) -> &Self {
        assert_eq!(self.code, Some(0), "{self:?}");
        self
    }

    /// Exit 1 with exactly one line on stderr, which is returned.
    fn one_line_failure(&self) -> &str {
        assert_eq!(self.code, Some(1), "{self:?}");
        assert_eq!(self.stderr.lines().count(), 1, "one line on stderr: {self:?}");
        assert!(!self.stderr.contains("panicked"), "{self:?}");
        self.stderr.trim_end()
    }
}

fn assert_no_token(text: &str) {
    assert!(!contains_jwt(text), "a token leaked: {text}");
}

/// Whether `text` has a word that looks like a JWT: `eyJ` and three dot-separated base64url parts.
fn contains_jwt(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .any(|word| word.starts_with("eyJ") && word.split('.').filter(|p| !p.is_empty()).count() == 3)
}

/// The filters that make CLI output reviewable and free of secrets.
fn redacting() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(JWT, "[JWT]");
    settings.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[TIME]");
    settings.add_filter(
        r"\((expires |expired )?(in )?[0-9dhms]+( ago)?\)|\(now\)",
        "([RELATIVE])",
    );
    settings.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[UUID]",
    );
    settings.add_filter(r"kid:  [A-Za-z0-9_-]{43}", "kid:  [KID]");
    settings
}

#[tokio::test(flavor = "multi_thread")]
async fn create_prints_a_token_that_verify_and_review_accept() {
    let cluster = Cluster::start(ServerConfig::loopback()).await;
    let created = run({
        let mut cmd = cluster.cli();
        cmd.args(["create", "robot"]);
        cmd
    })
    .await;
    created.success();
    assert!(created.stderr.is_empty(), "{created:?}");
    let token = created.stdout.trim().to_owned();
    assert_eq!(token.split('.').count(), 3);

    let verified = run({
        let mut cmd = cluster.cli();
        cmd.args(["verify", &token]);
        cmd
    })
    .await;
    assert_eq!(verified.success().stdout, "system:serviceaccount:team-a:robot\n");

    let reviewed = run({
        let mut cmd = cluster.cli();
        cmd.args(["review", "-"]).write_stdin(token.clone());
        cmd
    })
    .await;
    reviewed.success();
    assert_no_token(&reviewed.stdout);
    redacting().bind(|| insta::assert_snapshot!("review_text", reviewed.stdout));
    cluster.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_accepts_a_created_token() {
    let cluster = Cluster::start(ServerConfig::loopback()).await;
    let created = run({
        let mut cmd = cluster.cli();
        cmd.args(["create", "robot"]);
        cmd
    })
    .await;
    let token = created.success().stdout.trim().to_owned();
    let probe = std::process::Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output();
    if probe.is_err() {
        let _ = writeln!(std::io::stderr(), "SKIPPED: kubectl is not installed");
        cluster.server.shutdown().await;
        return;
    }
    let mut kubectl = Command::new("kubectl");
    kubectl
        .env_clear()
        .env("HOME", cluster.dir.path())
        .env("KUBECONFIG", cluster.dir.path().join("none"))
        .arg(format!("--server={}", cluster.server.url()))
        .arg(format!(
            "--certificate-authority={}",
            cluster.dir.path().join("ca.pem").display()
        ))
        .arg(format!("--token={token}"))
        .args(["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"])
        .timeout(Duration::from_secs(60));
    let whoami = run(kubectl).await;
    assert_eq!(whoami.success().stdout, "system:serviceaccount:team-a:robot");
    cluster.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn create_json_is_the_token_request() {
    let cluster = Cluster::start(ServerConfig::loopback()).await;
    let created = run({
        let mut cmd = cluster.cli();
        cmd.args([
            "create",
            "robot",
            "--audience",
            "vault",
            "--duration",
            "20m",
            "-o",
            "json",
        ]);
        cmd
    })
    .await;
    let request: serde_json::Value = serde_json::from_str(&created.success().stdout).expect("JSON");
    insta::assert_json_snapshot!("create_json", request, {
        ".metadata.uid" => "[UID]",
        ".metadata.creationTimestamp" => "[TIME]",
        ".status.expirationTimestamp" => "[TIME]",
        ".status.token" => insta::dynamic_redaction(|value, _path| {
            let token = value.as_str().expect("a string");
            assert_eq!(token.split('.').count(), 3, "a JWT");
            "[JWT]"
        }),
    });
    cluster.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn create_relays_the_clamping_warning() {
    let mut config = ServerConfig::loopback();
    config.max_token_expiration = Some(Duration::from_secs(3600));
    let cluster = Cluster::start(config).await;
    let created = run({
        let mut cmd = cluster.cli();
        cmd.args(["create", "robot", "--duration", "2h"]);
        cmd
    })
    .await;
    created.success();
    assert_eq!(
        created.stderr,
        "Warning: requested expiration of 7200 seconds shortened to 3600 seconds\n"
    );
    cluster.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn inspect_shows_header_claims_and_binding_but_no_signature() {
    let cluster = Cluster::start(ServerConfig::loopback()).await;
    let created = run({
        let mut cmd = cluster.cli();
        cmd.args(["create", "robot", "--audience", "vault", "--audience", "api"]);
        cmd
    })
    .await;
    let token = created.success().stdout.trim().to_owned();
    let signature = token.rsplit('.').next().unwrap().to_owned();
    let text = run({
        let mut cmd = cluster.cli();
        cmd.arg("inspect").write_stdin(token.clone());
        cmd
    })
    .await;
    assert!(!text.success().stdout.contains(&signature));
    assert!(text.stdout.contains("(expires in "), "{}", text.stdout);
    redacting().bind(|| insta::assert_snapshot!("inspect_text", text.stdout));
    let json = run({
        let mut cmd = cluster.cli();
        cmd.args(["inspect", &token, "-o", "json"]);
        cmd
    })
    .await;
    assert!(!json.success().stdout.contains(&signature));
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    insta::assert_json_snapshot!("inspect_json", value, {
        ".header.kid" => "[KID]",
        ".claims.iat" => "[TIME]",
        ".claims.nbf" => "[TIME]",
        ".claims.exp" => "[TIME]",
        ".claims.jti" => "[UUID]",
        r#".claims["kubernetes.io"].serviceaccount.uid"# => "[UID]",
    });
    cluster.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_rejects_with_one_line() {
    let cluster = Cluster::start(ServerConfig::loopback()).await;
    let other = Cluster::start(ServerConfig::loopback()).await;
    let created = run({
        let mut cmd = cluster.cli();
        cmd.args(["create", "robot"]);
        cmd
    })
    .await;
    let token = created.success().stdout.trim().to_owned();
    let wrong_audience = run({
        let mut cmd = cluster.cli();
        cmd.args(["verify", &token, "--audience", "vault"]);
        cmd
    })
    .await;
    let line = wrong_audience.one_line_failure().to_owned();
    assert!(line.starts_with("invalid: token audiences"), "{line}");
    let foreign_key = run({
        let mut cmd = other.cli();
        cmd.args(["verify", &token]);
        cmd
    })
    .await;
    let line = foreign_key.one_line_failure();
    assert!(line.starts_with("invalid: no key with id"), "{line}");
    assert_no_token(line);
    other.server.shutdown().await;
    cluster.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gives_one_line_and_no_token() {
    let cluster = Cluster::start(ServerConfig::loopback()).await;
    let missing_sa = run({
        let mut cmd = cluster.cli();
        cmd.args(["create", "nobody"]);
        cmd
    })
    .await;
    assert_eq!(
        missing_sa.one_line_failure(),
        r#"error: token request failed: serviceaccounts "nobody" not found (HTTP 404 NotFound)"#
    );
    let too_short = run({
        let mut cmd = cluster.cli();
        cmd.args(["create", "robot", "--duration", "1m"]);
        cmd
    })
    .await;
    assert!(
        too_short
            .one_line_failure()
            .contains("may not specify a duration less than 10 minutes")
    );
    let garbage = run({
        let mut cmd = cluster.cli();
        cmd.args(["inspect", "not-a-token"]);
        cmd
    })
    .await;
    assert_eq!(
        garbage.one_line_failure(),
        "error: not a JWT: expected 3 dot-separated parts, found 1"
    );
    let tampered = run({
        let mut cmd = cluster.cli();
        cmd.args(["verify", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.c2ln"]); // synthetic, unsigned: tidy:allow-jwt
        cmd
    })
    .await;
    let line = tampered.one_line_failure();
    assert!(line.starts_with("invalid: "), "{line}");
    assert_no_token(line);

    let home = tempfile::tempdir().unwrap();
    let no_config = run({
        let mut cmd = bare_cli(home.path());
        cmd.args(["create", "robot"]);
        cmd
    })
    .await;
    assert!(no_config.one_line_failure().starts_with("error: no cluster configured"));
    let kubeconfig = cluster.kubeconfig();
    let dir = cluster.dir.path().to_owned();
    cluster.server.shutdown().await;
    let unreachable = run({
        let mut cmd = bare_cli(&dir);
        cmd.arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["create", "robot", "-n", "team-a"]);
        cmd
    })
    .await;
    assert!(
        unreachable
            .one_line_failure()
            .starts_with("error: token request failed: cannot reach the API server"),
        "{unreachable:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn probe_prints_the_policy_it_was_started_with() {
    let mut config = ServerConfig::loopback();
    config.max_token_expiration = Some(Duration::from_secs(86_400));
    config.api_audiences = Some(vec!["api".to_owned()]);
    let cluster = Cluster::start(config).await;
    let table = run({
        let mut cmd = cluster.cli();
        cmd.arg("probe");
        cmd
    })
    .await;
    redacting().bind(|| insta::assert_snapshot!("probe_table", table.success().stdout));
    let json = run({
        let mut cmd = cluster.cli();
        cmd.args(["probe", "-o", "json"]);
        cmd
    })
    .await;
    let value: serde_json::Value = serde_json::from_str(&json.success().stdout).unwrap();
    assert_eq!(value["max_expiration_seconds"], 86_400);
    assert_eq!(value["policy"], "max=1day,extend=true,audiences=api,alg=RS256");
    cluster.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn completions_for_each_shell() {
    let home = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = run({
            let mut cmd = bare_cli(home.path());
            cmd.args(["completions", shell]);
            cmd
        })
        .await;
        assert!(out.success().stdout.contains("kube-tokenrequest"), "{shell}");
    }
}

/// `--issuer-url` needs no kubeconfig; the embedded server, like a default cluster, refuses anonymous readers of
/// its OIDC metadata (R25), which must come out as one line.
#[tokio::test(flavor = "multi_thread")]
async fn verify_from_an_issuer_url_reports_an_unreadable_issuer() {
    let cluster = Cluster::start(ServerConfig::loopback()).await;
    let created = run({
        let mut cmd = cluster.cli();
        cmd.args(["create", "robot"]);
        cmd
    })
    .await;
    let token = created.success().stdout.trim().to_owned();
    let verified = run({
        let mut cmd = bare_cli(cluster.dir.path());
        cmd.args(["verify", "-", "--issuer-url", &cluster.server.url(), "--issuer-ca"])
            .arg(cluster.dir.path().join("ca.pem"))
            .write_stdin(token);
        cmd
    })
    .await;
    let line = verified.one_line_failure();
    assert!(
        line.starts_with("error: cannot read the issuer's keys: cannot fetch https://127.0.0.1:"),
        "{line}"
    );
    assert!(line.contains("403 Forbidden"), "{line}");
    cluster.server.shutdown().await;
}

/// A pod-bound 3607 s token: inspect shows the binding, the one-year `exp` and `warnafter` (R9).
#[tokio::test(flavor = "multi_thread")]
async fn inspect_shows_a_pod_binding_and_the_extension() {
    let cluster = Cluster::start(ServerConfig::loopback()).await;
    cluster.create_pod().await;
    let created = run({
        let mut cmd = cluster.cli();
        cmd.args([
            "create",
            "robot",
            "--duration",
            "3607s",
            "--bound-object-kind",
            "Pod",
            "--bound-object-name",
            "web",
        ]);
        cmd
    })
    .await;
    let token = created.success().stdout.trim().to_owned();
    let text = run({
        let mut cmd = cluster.cli();
        cmd.arg("inspect").write_stdin(token);
        cmd
    })
    .await;
    let stdout = &text.success().stdout;
    assert!(
        stdout.contains("(expires in 364d23h)") || stdout.contains("(expires in 365d)"),
        "{stdout}"
    );
    redacting().bind(|| insta::assert_snapshot!("inspect_pod_bound", stdout));
    cluster.server.shutdown().await;
}
