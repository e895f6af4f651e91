//! No token anywhere it should not be: `kube-tokenrequest serve` and every CLI command (create, inspect, verify,
//! review, probe; good and bad input; arguments and stdin) run with `RUST_LOG=trace`; every log, stderr, non-`create`
//! stdout, error message, and every committed snapshot (`**/snapshots/*.snap`) is collected, and none may contain a
//! token issued in the run: not the whole token, not its signature segment, not its payload segment. The admin
//! bearer token may appear only in the kubeconfig. `create`'s stdout is the one place a token is printed
//! (DESIGN.md), so it is where the tokens to search for come from.
//!
//! Also here, because they are about what `serve` writes and logs: the kubeconfig is mode 0600, `serve` listens on
//! loopback by default, and `--listen` beyond loopback logs a warning.
//!
//! The conformance suite's own logs and reports are scanned by `cargo xtask reliability leak`, which runs the
//! suite against a traced `serve` (too slow for `cargo test`).

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, ServiceAccount};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_kube-tokenrequest");

/// A `serve` process with its log going to a file; killed on drop whatever happens.
struct Serve {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Serve {
    fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = std::fs::File::create(dir.path().join("serve.log")).expect("log file");
        let mut child = Command::new(BIN)
            .arg("serve")
            .arg("--write-kubeconfig")
            .arg(dir.path().join("kubeconfig"))
            .args(extra)
            .env_clear()
            .env("RUST_LOG", "trace")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let url = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        // The rest of stdout is kept for the scan.
        let rest = dir.path().join("serve.stdout");
        std::thread::spawn(move || {
            let mut out = std::fs::File::create(rest).expect("stdout file");
            for line in lines.map_while(Result::ok) {
                let _ = writeln!(out, "{line}");
            }
        });
        Serve { child, url, dir }
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// SIGTERM (what xtask sends), then wait; the log is complete afterwards.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one CLI run left behind.
struct Run {
    name: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the CLI with `RUST_LOG=trace` and nothing else from the environment.
fn cli(serve: &Serve, name: &str, args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(BIN)
        .arg("--kubeconfig")
        .arg(serve.kubeconfig())
        .args(["-n", "leak"])
        .args(args)
        .env_clear()
        .env("HOME", serve.dir.path())
        .env("RUST_LOG", "trace")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the CLI runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    let output = child.wait_with_output().expect("the CLI finishes");
    Run {
        name: name.to_owned(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

async fn admin_client(kubeconfig: &Path) -> kube::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let yaml = std::fs::read_to_string(kubeconfig).expect("kubeconfig");
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&yaml).expect("kubeconfig YAML");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    kube::Client::try_from(config).expect("client")
}

/// Namespace `leak` with service account `robot`, pod `web` (running as robot) and secret `key`.
async fn populate(client: kube::Client) {
    let create = PostParams::default();
    let object = |value: serde_json::Value| value;
    Api::<Namespace>::all(client.clone())
        .create(
            &create,
            &serde_json::from_value(object(json!({"metadata": {"name": "leak"}}))).expect("namespace"),
        )
        .await
        .expect("namespace created");
    Api::<ServiceAccount>::namespaced(client.clone(), "leak")
        .create(
            &create,
            &serde_json::from_value(json!({"metadata": {"name": "robot"}})).expect("sa"),
        )
        .await
        .expect("service account created");
    let pod = json!({"metadata": {"name": "web"}, "spec": {"serviceAccountName": "robot",
        "containers": [{"name": "web", "image": "registry.k8s.io/pause:3.10"}]}});
    Api::<Pod>::namespaced(client.clone(), "leak")
        .create(&create, &serde_json::from_value(pod).expect("pod"))
        .await
        .expect("pod created");
    Api::<Secret>::namespaced(client, "leak")
        .create(
            &create,
            &serde_json::from_value(json!({"metadata": {"name": "key"}})).expect("secret"),
        )
        .await
        .expect("secret created");
}

/// The forms of a token that must never show: the whole token, its signature and its payload segment.
fn forms(token: &str) -> Vec<(&'static str, String)> {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "create printed something that is not a JWT");
    vec![
        ("token", token.to_owned()),
        ("signature", parts[2].to_owned()),
        ("payload", parts[1].to_owned()),
    ]
}

/// Every committed snapshot in the workspace.
fn snapshots() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut found = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(name.as_str(), "target" | ".git" | "node_modules") {
                    stack.push(path);
                }
            } else if name.ends_with(".snap") && path.parent().is_some_and(|p| p.ends_with("snapshots")) {
                found.push((
                    path.display().to_string(),
                    std::fs::read_to_string(&path).unwrap_or_default(),
                ));
            }
        }
    }
    found
}

/// JWT-shaped runs of characters (the workspace's one scanner): a token nobody listed (e.g. issued by a command
/// itself) would still be caught.
fn jwt_shapes(text: &str) -> usize {
    tokenrequest_types::token::find_jwts(text).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_in_logs_errors_or_snapshots() {
    let mut serve = Serve::start(&[]);
    populate(admin_client(&serve.kubeconfig()).await).await;

    let mut runs = Vec::new();
    let mut tokens = Vec::new();
    for (name, args) in [
        ("create", vec!["create", "robot"]),
        (
            "create bound to pod",
            vec![
                "create",
                "robot",
                "--bound-object-kind",
                "Pod",
                "--bound-object-name",
                "web",
                "--duration",
                "3607s",
            ],
        ),
        (
            "create bound to secret",
            vec![
                "create",
                "robot",
                "--bound-object-kind",
                "Secret",
                "--bound-object-name",
                "key",
            ],
        ),
        (
            "create with audience",
            vec!["create", "robot", "--audience", "vault", "--duration", "10m"],
        ),
    ] {
        let run = cli(&serve, name, &args, None);
        assert_eq!(run.code, Some(0), "{name} failed: {}", run.stderr);
        tokens.push(run.stdout.trim().to_owned());
        // The control: the scanner does see a token where one is (create's stdout).
        assert_eq!(
            jwt_shapes(&run.stdout),
            1,
            "{name}: the JWT scanner missed the printed token"
        );
        // create's stdout is the token by contract; its stderr (logs at trace) is scanned like everything else.
        runs.push(Run {
            stdout: String::new(),
            ..run
        });
    }
    let json_create = cli(&serve, "create -o json", &["create", "robot", "-o", "json"], None);
    assert_eq!(
        json_create.code,
        Some(0),
        "create -o json failed: {}",
        json_create.stderr
    );
    let issued: serde_json::Value = serde_json::from_str(&json_create.stdout).expect("create -o json prints JSON");
    tokens.push(
        issued["status"]["token"]
            .as_str()
            .expect("a token in the JSON")
            .to_owned(),
    );
    runs.push(Run {
        stdout: String::new(),
        ..json_create
    });

    let token = tokens[0].clone();
    let bound = tokens[1].clone();
    let [header, payload, signature]: [&str; 3] = token.split('.').collect::<Vec<_>>().try_into().expect("a JWT");
    let tampered = format!("{header}.{payload}.{}", signature.chars().rev().collect::<String>());
    let none_alg = format!("eyJhbGciOiJub25lIn0.{payload}.");
    let truncated = token[..token.len() - 7].to_owned();
    let runs_spec: Vec<(&str, Vec<&str>, Option<&str>)> = vec![
        ("inspect arg", vec!["inspect", &token], None),
        ("inspect stdin", vec!["inspect", "-"], Some(&bound)),
        ("inspect json", vec!["inspect", "-o", "json", &bound], None),
        ("inspect truncated", vec!["inspect", &truncated], None),
        ("inspect garbage", vec!["inspect", "not.a.token"], None),
        ("verify", vec!["verify", &token], None),
        ("verify stdin", vec!["verify", "-"], Some(&bound)),
        (
            "verify wrong audience",
            vec!["verify", "--audience", "elsewhere", &token],
            None,
        ),
        ("verify tampered", vec!["verify", &tampered], None),
        ("verify alg none", vec!["verify", &none_alg], None),
        ("verify truncated", vec!["verify", &truncated], None),
        ("review", vec!["review", &token], None),
        ("review stdin json", vec!["review", "-o", "json", "-"], Some(&bound)),
        (
            "review audience",
            vec!["review", "--audience", "vault", &tokens[3]],
            None,
        ),
        ("review tampered", vec!["review", &tampered], None),
        ("review truncated", vec!["review", &truncated], None),
        ("probe", vec!["probe"], None),
        ("probe json", vec!["probe", "-o", "json"], None),
        ("create missing sa", vec!["create", "nobody"], None),
        (
            "create bad binding",
            vec![
                "create",
                "robot",
                "--bound-object-kind",
                "Pod",
                "--bound-object-name",
                "ghost",
            ],
            None,
        ),
    ];
    for (name, args, stdin) in runs_spec {
        runs.push(cli(&serve, name, &args, stdin));
    }
    // The happy paths must have worked, or the scan would prove little.
    for run in &runs {
        if matches!(
            run.name.as_str(),
            "inspect arg" | "inspect stdin" | "verify" | "verify stdin" | "review" | "probe"
        ) {
            assert_eq!(run.code, Some(0), "{} failed: {}", run.name, run.stderr);
        }
        // inspect decodes without verifying (a truncated signature is still readable); verify and review must refuse.
        let bad = run.name.contains("tampered") || run.name.contains("alg none") || run.name.contains("truncated");
        if bad && !run.name.starts_with("inspect") {
            assert_ne!(run.code, Some(0), "{} succeeded", run.name);
        }
    }
    serve.stop();

    let admin = {
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(serve.kubeconfig()).expect("kubeconfig")).expect("YAML");
        yaml["users"][0]["user"]["token"]
            .as_str()
            .expect("admin token")
            .to_owned()
    };
    let mut collected: Vec<(String, String)> = vec![
        ("serve log (RUST_LOG=trace)".to_owned(), serve.log()),
        (
            "serve stdout".to_owned(),
            std::fs::read_to_string(serve.dir.path().join("serve.stdout")).unwrap_or_default(),
        ),
    ];
    for run in &runs {
        collected.push((format!("{} stdout", run.name), run.stdout.clone()));
        collected.push((format!("{} stderr", run.name), run.stderr.clone()));
    }
    let snapshot_files = snapshots();
    collected.extend(snapshot_files.iter().cloned());
    assert!(
        collected[0].1.contains("TRACE") || collected[0].1.contains("DEBUG"),
        "serve did not log at trace level"
    );

    let mut searched = Vec::new();
    for token in &tokens {
        searched.extend(forms(token));
    }
    searched.push(("admin token", admin));
    let mut leaks = Vec::new();
    for (source, text) in &collected {
        for (form, secret) in &searched {
            if text.contains(secret.as_str()) {
                leaks.push(format!("a {form} in {source}"));
            }
        }
        if jwt_shapes(text) > 0 {
            leaks.push(format!("a JWT-shaped string in {source}"));
        }
    }
    let bytes: usize = collected.iter().map(|(_, t)| t.len()).sum();
    #[allow(
        clippy::print_stderr,
        reason = "the figures are the test's report; --nocapture shows them"
    )]
    {
        eprintln!(
            "leak scan: {} tokens ({} forms incl. the admin token) searched in {} sources ({} bytes: serve log, {} CLI runs, \
             {} snapshots); found {}",
            tokens.len(),
            searched.len(),
            collected.len(),
            bytes,
            runs.len(),
            snapshot_files.len(),
            leaks.len()
        );
    }
    assert!(leaks.is_empty(), "tokens where they must not be: {leaks:?}");
}

#[tokio::test]
async fn serve_writes_a_private_kubeconfig_and_listens_on_loopback() {
    let serve = Serve::start(&[]);
    let url = serve.url.clone();
    assert!(url.starts_with("https://127.0.0.1:"), "default listen address: {url}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(serve.kubeconfig())
            .expect("kubeconfig")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "kubeconfig mode {mode:o}");
    }
    assert!(!serve.log().contains("beyond loopback"), "a loopback server warned");
}

#[tokio::test]
async fn serve_warns_when_listening_beyond_loopback() {
    let mut serve = Serve::start(&["--listen", "0.0.0.0:0"]);
    serve.stop();
    let log = serve.log();
    assert!(
        log.contains("WARN") && log.contains("beyond loopback"),
        "no warning for 0.0.0.0 in the log"
    );
}
