//! `kube-tokenrequest serve` driven by real, unmodified clients, as a new user would: the serve contract
//! (`listening on` line, kubeconfig mode 0600, SIGTERM); then kubectl through a scenario of namespace, service
//! account, secret, pod and node creation, `kubectl create token` with audiences, durations and Pod/Secret/Node
//! binding, `kubectl auth whoami --token`, label/annotate/patch/apply, `get -w`, `wait --for=delete`, get/delete,
//! and kube-apiserver's errors for bad flags, with every versioned kubectl beside the one on PATH (`kubectl.1.27` …
//! `kubectl.1.33`: the client matrix); and the official Python client (`tests/python/client_flow.py`).
//!
//! Skipped, with the reason printed, where kubectl or the Python client is missing (`.ci/run` installs the Python
//! client in a virtualenv and names its interpreter in `TOKENREQUEST_PYTHON`). Every client call is bounded.

#![allow(clippy::print_stderr, reason = "a skipped test says why on stderr, as issue 5 asks")]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const KUBECTL_TIMEOUT: Duration = Duration::from_secs(30);
const API_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";

/// A `serve` process; SIGTERM on drop.
struct Served {
    child: Child,
    url: String,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Served {
    fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let mut child = Command::new(env!("CARGO_BIN_EXE_kube-tokenrequest"))
            .arg("serve")
            .arg("--write-kubeconfig")
            .arg(&kubeconfig)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn kube-tokenrequest serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self {
            child,
            url,
            kubeconfig,
            _dir: dir,
        }
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("serve did not stop within 10 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.terminate();
        }
    }
}

/// kubectl's combined output and whether it succeeded.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn kubectl(bin: &Path, kubeconfig: &Path, args: &[&str]) -> Run {
    // Output goes to files, not pipes: a large answer (kube-apiserver's /metrics) would fill a pipe nobody reads
    // while this waits for the exit.
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = Command::new(bin)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    let deadline = Instant::now() + KUBECTL_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{} {args:?} took longer than {KUBECTL_TIMEOUT:?}", bin.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        ok: status.success(),
        stdout: std::fs::read_to_string(&out).unwrap(),
        stderr: std::fs::read_to_string(&err).unwrap(),
    }
}

fn ok(bin: &Path, kubeconfig: &Path, args: &[&str]) -> String {
    let run = kubectl(bin, kubeconfig, args);
    assert!(run.ok, "{} {args:?} failed: {}", bin.display(), run.stderr);
    run.stdout
}

fn fails_with(bin: &Path, kubeconfig: &Path, args: &[&str], message: &str) {
    let run = kubectl(bin, kubeconfig, args);
    assert!(!run.ok, "{} {args:?} should fail", bin.display());
    assert!(
        run.stderr.contains(message),
        "{} {args:?}: expected {message:?} in {:?}",
        bin.display(),
        run.stderr
    );
}

/// Runs the watching kubectl `args` (in a namespace with objects), then `change`, and waits (at most 20 s) for
/// `expected` in its output.
fn watch_sees(bin: &Path, kubeconfig: &Path, args: &[&str], change: impl FnOnce(), expected: &str) {
    let mut child = Command::new(bin)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    // kubectl lists, prints what exists, then watches from the list's resourceVersion: the change is made after
    // the first line, so that it can only reach kubectl through the watch.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = vec![received.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| {
        let _ = child.kill();
        panic!("{} {args:?} printed nothing", bin.display())
    })];
    change();
    while !seen.iter().any(|l: &String| l.trim() == expected) {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "{} {args:?} did not show {expected} within 20 s: {seen:?}",
                    bin.display()
                );
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn claims(token: &str) -> Value {
    let parsed = tokenrequest_types::token::UnverifiedToken::parse(token.trim()).expect("a JWT");
    serde_json::to_value(parsed.claims()).unwrap()
}

fn lifetime(claims: &Value) -> i64 {
    claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap()
}

/// The value, or `None` after saying on stderr why the test is skipped.
fn or_skip<T>(found: Result<T, String>) -> Option<T> {
    found.map_err(|reason| eprintln!("skipped: {reason}")).ok()
}

/// The real kube-apiserver built by `cargo xtask controlplane build`, started, or why it cannot be.
fn real_control_plane() -> Result<tokenrequest_envtest::controlplane::ControlPlane, String> {
    use tokenrequest_envtest::controlplane::{Binaries, ControlPlane, ControlPlaneConfig, PINNED_K8S_VERSION};
    let bins = Binaries::locate(None, PINNED_K8S_VERSION).map_err(|e| format!("{e:#}"))?;
    Ok(ControlPlane::start(&ControlPlaneConfig::new(bins)).expect("control plane starts"))
}

/// The kubectl on PATH, or the reason to skip.
fn kubectl_on_path() -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").ok_or("PATH is not set")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| "kubectl is not on PATH".to_owned())
}

/// `kubectl.1.NN` beside the real kubectl binary (symlinks resolved), sorted by version.
fn versioned_kubectls(kubectl: &Path) -> Vec<(u32, PathBuf)> {
    let real = std::fs::canonicalize(kubectl).unwrap_or_else(|_| kubectl.to_owned());
    let Some(dir) = real.parent() else { return Vec::new() };
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let minor = name.strip_prefix("kubectl.1.")?.parse().ok()?;
            Some((minor, entry.path()))
        })
        .collect();
    found.sort();
    found
}

/// The scenario, in its own namespace (and node name) so that several kubectls can share one server.
/// `minor` is the client's minor version, for what older clients cannot do (documented at each use).
fn scenario(bin: &Path, kubeconfig: &Path, ns: &str, minor: Option<u32>) {
    let dir = tempfile::tempdir().unwrap();
    let node = format!("node-{ns}");
    ok(bin, kubeconfig, &["create", "namespace", ns]);
    // The service-account controller of `serve --controllers all` gives the namespace its `default` account
    // within moments, as kind's and k3s' controller managers do: `kubectl create token default` works.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !kubectl(bin, kubeconfig, &["-n", ns, "get", "serviceaccount", "default"]).ok {
        assert!(Instant::now() < deadline, "no default service account in {ns}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let token = ok(bin, kubeconfig, &["-n", ns, "create", "token", "default"]);
    assert_eq!(claims(&token)["sub"], format!("system:serviceaccount:{ns}:default"));
    ok(bin, kubeconfig, &["-n", ns, "create", "serviceaccount", "robot"]);
    ok(
        bin,
        kubeconfig,
        &["-n", ns, "create", "secret", "generic", "creds", "--from-literal=k=v"],
    );
    let manifests = dir.path().join("objects.yaml");
    std::fs::write(
        &manifests,
        format!(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: {node}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: {ns}\n  labels:\n    app: web\nspec:\n  serviceAccountName: robot\n  nodeName: {node}\n  containers:\n  - name: c\n    image: busybox\n"
        ),
    )
    .unwrap();
    // kubectl < 1.29 learns about server-side field validation from the OpenAPI v2 document (protobuf), which this
    // server does not serve (it serves a minimal OpenAPI v3 index): those clients are told not to validate locally.
    let mut create = vec!["create", "-f", manifests.to_str().unwrap()];
    if minor.is_some_and(|m| m < 29) {
        create.push("--validate=false");
    }
    ok(bin, kubeconfig, &create);
    let pod_uid = ok(
        bin,
        kubeconfig,
        &["-n", ns, "get", "pod", "web", "-o", "jsonpath={.metadata.uid}"],
    );
    let secret_uid = ok(
        bin,
        kubeconfig,
        &["-n", ns, "get", "secret", "creds", "-o", "jsonpath={.metadata.uid}"],
    );
    let node_uid = ok(
        bin,
        kubeconfig,
        &["get", "node", &node, "-o", "jsonpath={.metadata.uid}"],
    );
    assert!(ok(bin, kubeconfig, &["-n", ns, "get", "pods", "-l", "app=web"]).contains("web"));
    assert!(ok(bin, kubeconfig, &["-n", ns, "get", "serviceaccounts"]).contains("robot"));

    // In-place updates: label and annotate (merge patches), patch of each type, apply twice.
    ok(bin, kubeconfig, &["-n", ns, "label", "pod", "web", "tier=front"]);
    ok(
        bin,
        kubeconfig,
        &["-n", ns, "annotate", "serviceaccount", "robot", "owner=team-a"],
    );
    ok(
        bin,
        kubeconfig,
        &[
            "-n",
            ns,
            "patch",
            "pod",
            "web",
            "-p",
            r#"{"spec":{"containers":[{"name":"c","image":"busybox:2"}]}}"#,
        ],
    );
    ok(
        bin,
        kubeconfig,
        &[
            "-n",
            ns,
            "patch",
            "secret",
            "creds",
            "--type",
            "json",
            "-p",
            r#"[{"op":"add","path":"/data/extra","value":"eA=="}]"#,
        ],
    );
    ok(
        bin,
        kubeconfig,
        &[
            "-n",
            ns,
            "patch",
            "serviceaccount",
            "robot",
            "--type",
            "merge",
            "-p",
            r#"{"automountServiceAccountToken":false}"#,
        ],
    );
    assert_eq!(
        ok(
            bin,
            kubeconfig,
            &[
                "-n",
                ns,
                "get",
                "pod",
                "web",
                "-o",
                "jsonpath={.metadata.labels.tier} {.spec.containers[0].image}"
            ]
        ),
        "front busybox:2"
    );
    let applied = dir.path().join("applied.yaml");
    for value in ["one", "two"] {
        std::fs::write(
            &applied,
            format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: applied\n  namespace: {ns}\nstringData:\n  k: {value}\n"),
        )
        .unwrap();
        let mut apply = vec!["apply", "-f", applied.to_str().unwrap()];
        if minor.is_some_and(|m| m < 29) {
            apply.push("--validate=false");
        }
        ok(bin, kubeconfig, &apply);
    }
    assert_eq!(
        ok(
            bin,
            kubeconfig,
            &["-n", ns, "get", "secret", "applied", "-o", "jsonpath={.data.k}"]
        ),
        "dHdv"
    );

    // Audiences and duration.
    let token = ok(
        bin,
        kubeconfig,
        &[
            "-n",
            ns,
            "create",
            "token",
            "robot",
            "--audience",
            "vault",
            "--audience",
            API_AUDIENCE,
            "--duration",
            "2h",
        ],
    );
    let c = claims(&token);
    assert_eq!(c["aud"], serde_json::json!(["vault", API_AUDIENCE]));
    assert_eq!(lifetime(&c), 7200);
    assert_eq!(c["sub"], format!("system:serviceaccount:{ns}:robot"));

    // Binding to a pod (with its uid), a secret and, where the client supports it, a node.
    let token = ok(
        bin,
        kubeconfig,
        &[
            "-n",
            ns,
            "create",
            "token",
            "robot",
            "--bound-object-kind",
            "Pod",
            "--bound-object-name",
            "web",
            "--bound-object-uid",
            &pod_uid,
        ],
    );
    let private = &claims(&token)["kubernetes.io"];
    assert_eq!(private["pod"]["uid"], pod_uid.as_str());
    assert_eq!(private["node"]["uid"], node_uid.as_str());
    let token = ok(
        bin,
        kubeconfig,
        &[
            "-n",
            ns,
            "create",
            "token",
            "robot",
            "--bound-object-kind",
            "Secret",
            "--bound-object-name",
            "creds",
        ],
    );
    assert_eq!(claims(&token)["kubernetes.io"]["secret"]["uid"], secret_uid.as_str());
    // kubectl < 1.31 refuses Node binding itself ("supported --bound-object-kind values are Pod, Secret").
    if minor.is_none_or(|m| m >= 31) {
        let token = ok(
            bin,
            kubeconfig,
            &[
                "-n",
                ns,
                "create",
                "token",
                "robot",
                "--bound-object-kind",
                "Node",
                "--bound-object-name",
                &node,
            ],
        );
        assert_eq!(claims(&token)["kubernetes.io"]["node"]["uid"], node_uid.as_str());
    }

    // Who am I, with an issued token.
    let token = ok(bin, kubeconfig, &["-n", ns, "create", "token", "robot"]);
    if minor.is_some_and(|m| m < 28) {
        // kubectl 1.27 knows only v1alpha1/v1beta1 SelfSubjectReview, which kube-apiserver 1.37 does not serve by
        // default either: the same error as against a real cluster.
        fails_with(
            bin,
            kubeconfig,
            &["auth", "whoami", "--token", token.trim()],
            "the selfsubjectreviews API is not enabled in the cluster",
        );
    } else {
        let whoami = ok(
            bin,
            kubeconfig,
            &["auth", "whoami", "--token", token.trim(), "-o", "json"],
        );
        let whoami: Value = serde_json::from_str(&whoami).unwrap();
        assert_eq!(
            whoami["status"]["userInfo"]["username"],
            format!("system:serviceaccount:{ns}:robot")
        );
    }

    // Bad flags: kube-apiserver's errors.
    fails_with(
        bin,
        kubeconfig,
        &["-n", ns, "create", "token", "robot", "--duration", "5m"],
        "may not specify a duration less than 10 minutes",
    );
    fails_with(
        bin,
        kubeconfig,
        &[
            "-n",
            ns,
            "create",
            "token",
            "robot",
            "--bound-object-kind",
            "Pod",
            "--bound-object-name",
            "web",
            "--bound-object-uid",
            "not-the-uid",
        ],
        "does not match the UID in record",
    );
    fails_with(
        bin,
        kubeconfig,
        &["-n", ns, "create", "token", "nobody"],
        "serviceaccounts \"nobody\" not found",
    );
    fails_with(
        bin,
        kubeconfig,
        &[
            "-n",
            ns,
            "create",
            "token",
            "robot",
            "--bound-object-kind",
            "Pod",
            "--bound-object-name",
            "ghost",
        ],
        "pods \"ghost\" not found",
    );
    fails_with(
        bin,
        kubeconfig,
        &["-n", ns, "create", "serviceaccount", "robot"],
        "serviceaccounts \"robot\" already exists",
    );

    // A token of a deleted pod no longer works; delete cleans up.
    let pod_token = ok(
        bin,
        kubeconfig,
        &[
            "-n",
            ns,
            "create",
            "token",
            "robot",
            "--bound-object-kind",
            "Pod",
            "--bound-object-name",
            "web",
        ],
    );
    ok(bin, kubeconfig, &["-n", ns, "delete", "pod", "web"]);
    fails_with(
        bin,
        kubeconfig,
        &["get", "namespaces", "--token", pod_token.trim()],
        "Unauthorized",
    );
    ok(bin, kubeconfig, &["-n", ns, "delete", "secret", "creds"]);
    ok(bin, kubeconfig, &["delete", "node", &node]);
    // A watch sees a new object (`get -w`), and one ends when the namespace controller removes the namespace
    // (`wait --for=delete`, then `delete` waiting, which watch as well).
    watch_sees(
        bin,
        kubeconfig,
        &["-n", ns, "get", "serviceaccounts", "-w", "-o", "name"],
        || {
            ok(bin, kubeconfig, &["-n", ns, "create", "serviceaccount", "watched"]);
        },
        "serviceaccount/watched",
    );
    ok(bin, kubeconfig, &["delete", "namespace", ns, "--wait=false"]);
    ok(
        bin,
        kubeconfig,
        &["wait", "--for=delete", &format!("namespace/{ns}"), "--timeout=60s"],
    );
    fails_with(
        bin,
        kubeconfig,
        &["get", "namespace", ns],
        &format!("namespaces \"{ns}\" not found"),
    );
}

#[test]
fn serve_contract_and_sigterm() {
    let mut served = Served::start(&[]);
    assert!(served.url.starts_with("https://127.0.0.1:"), "{}", served.url);
    let kubeconfig = std::fs::read_to_string(&served.kubeconfig).unwrap();
    assert!(kubeconfig.contains(&served.url));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&served.kubeconfig).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let status = served.terminate();
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
}

#[test]
fn serve_kubectl_scenario() {
    let Some(kubectl) = or_skip(kubectl_on_path()) else {
        return;
    };
    let served = Served::start(&[]);
    scenario(&kubectl, &served.kubeconfig, "scenario", None);
}

#[test]
fn serve_kubectl_client_matrix() {
    let Some(kubectl) = or_skip(kubectl_on_path()) else {
        return;
    };
    let versions = versioned_kubectls(&kubectl);
    if versions.is_empty() {
        eprintln!("skipped: no kubectl.1.NN beside {}", kubectl.display());
        return;
    }
    let served = Served::start(&[]);
    // One server, one namespace per client, the clients in parallel (each scenario is sequential).
    std::thread::scope(|scope| {
        for (minor, bin) in &versions {
            let kubeconfig = served.kubeconfig.clone();
            scope.spawn(move || scenario(bin, &kubeconfig, &format!("kubectl-1-{minor}"), Some(*minor)));
        }
    });
    eprintln!(
        "client matrix passed: {}",
        versions
            .iter()
            .map(|(m, _)| format!("1.{m}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// The Python interpreter with the `kubernetes` package (`TOKENREQUEST_PYTHON`, else `python3`), or the reason to
/// skip.
fn python_with_client() -> Result<PathBuf, String> {
    let python = PathBuf::from(std::env::var_os("TOKENREQUEST_PYTHON").unwrap_or_else(|| "python3".into()));
    match Command::new(&python)
        .args(["-c", "import kubernetes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => Ok(python),
        Ok(_) => Err(format!("{} has no `kubernetes` package", python.display())),
        Err(e) => Err(format!("no {}: {e}", python.display())),
    }
}

/// Runs the Python client flow against `kubeconfig` and asserts that it ends in `ok` without printing a token.
fn python_flow(python: &Path, kubeconfig: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/client_flow.py");
    let mut child = Command::new(python)
        .arg(&script)
        .arg(kubeconfig)
        .arg("python-client")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", python.display()));
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the Python client flow took longer than 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.lines().last() == Some("ok"),
        "the Python client flow failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The flow prints its steps, never the token it was issued.
    assert_eq!(
        tokenrequest_types::token::find_jwts(&stdout).count(),
        0,
        "a token in the Python client's output"
    );
}

#[test]
fn serve_python_client() {
    let Some(python) = or_skip(python_with_client()) else {
        return;
    };
    let served = Served::start(&[]);
    python_flow(&python, &served.kubeconfig);
}

/// The same flow, with the same expectations, against the real kube-apiserver built by `cargo xtask controlplane
/// build` (skipped, saying why, when it is not built).
#[test]
fn apiserver_python_client() {
    let Some(python) = or_skip(python_with_client()) else {
        return;
    };
    let Some(control_plane) = or_skip(real_control_plane()) else {
        return;
    };
    python_flow(&python, control_plane.kubeconfig_path());
}

/// The TokenRequests a server answered with 201, from its `/metrics` (`apiserver_request_total`), read as admin.
fn tokens_issued(kubectl_bin: &Path, admin: &Path) -> u64 {
    let metrics = ok(kubectl_bin, admin, &["get", "--raw", "/metrics"]);
    metrics
        .lines()
        .filter(|line| line.starts_with("apiserver_request_total{"))
        .filter(|line| {
            [
                "code=\"201\"",
                "resource=\"serviceaccounts\"",
                "subresource=\"token\"",
                "verb=\"POST\"",
            ]
            .iter()
            .all(|label| line.contains(label))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// `kube-tokenrequest ARGS` with `env`: (success, stdout, stderr).
fn plugin(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_kube-tokenrequest"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run kube-tokenrequest");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The client-go program `whoami` (controlplane/clients/whoami, built from the control plane's pinned Go module),
/// or why it cannot be had.
fn client_go_whoami(dir: &Path) -> Result<PathBuf, String> {
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tokenrequest-envtest/controlplane");
    let binary = dir.join("whoami");
    let output = Command::new("go")
        .args(["build", "-o"])
        .arg(&binary)
        .arg("./clients/whoami")
        .current_dir(&module)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("go is not available: {e}"))?;
    if !output.status.success() {
        return Err(format!("go build failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    Ok(binary)
}

/// A kube-rs program: the plugin's kubeconfig loaded by kube-rs (which runs the exec plugin), then a
/// SelfSubjectReview; returns the username.
fn kube_rs_whoami(kubeconfig: &Path) -> String {
    use k8s_openapi::api::authentication::v1::SelfSubjectReview;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
        let client = kube::Client::try_from(config).unwrap();
        let reviews = kube::Api::<SelfSubjectReview>::all(client);
        let review = tokio::time::timeout(
            KUBECTL_TIMEOUT,
            reviews.create(&Default::default(), &SelfSubjectReview::default()),
        )
        .await
        .expect("kube-rs answered in time")
        .expect("kube-rs authenticated through the plugin");
        review.status.unwrap().user_info.unwrap().username.unwrap()
    })
}

/// The credential plugin against the server behind `admin`: `credential setup` writes a kubeconfig; kubectl,
/// a kube-rs program and a client-go program authenticate as the service account through it; a second call in
/// the refresh window and 20 parallel kubectl calls on an empty cache make one TokenRequest each (counted by the
/// server's `/metrics`); bad input gets one line and a non-zero exit; no token ever shows outside the
/// `ExecCredential`.
fn credential_plugin_flow(kubectl_bin: &Path, admin: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let robot = dir.path().join("robot.yaml");
    let admin_flags = ["--kubeconfig", admin.to_str().unwrap(), "-n", "plugin"];
    ok(kubectl_bin, admin, &["create", "namespace", "plugin"]);
    ok(
        kubectl_bin,
        admin,
        &["-n", "plugin", "create", "serviceaccount", "robot"],
    );
    let setup = [
        &admin_flags[..],
        &["credential", "setup", "--service-account", "robot", "--duration", "1h"],
        &[
            "--cache-dir",
            cache.to_str().unwrap(),
            "--write-kubeconfig",
            robot.to_str().unwrap(),
        ],
    ]
    .concat();
    let (written, _, stderr) = plugin(&setup, &[]);
    assert!(written, "setup: {stderr}");
    let expected = "system:serviceaccount:plugin:robot";
    let whoami = ["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"];

    let before = tokens_issued(kubectl_bin, admin);
    assert_eq!(ok(kubectl_bin, &robot, &whoami), expected);
    assert_eq!(
        tokens_issued(kubectl_bin, admin),
        before + 1,
        "the first call requests a token"
    );
    assert_eq!(ok(kubectl_bin, &robot, &whoami), expected);
    assert_eq!(
        tokens_issued(kubectl_bin, admin),
        before + 1,
        "a second call within the refresh window is served from the cache"
    );
    assert_eq!(kube_rs_whoami(&robot), expected, "kube-rs through the plugin");
    match client_go_whoami(dir.path()) {
        Ok(program) => {
            let output = Command::new(&program)
                .arg(&robot)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "client-go: {stderr}");
            assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), expected);
        }
        Err(reason) => eprintln!("skipped: client-go through the plugin: {reason}"),
    }
    assert_eq!(
        tokens_issued(kubectl_bin, admin),
        before + 1,
        "every client shared the cached token"
    );

    std::fs::remove_dir_all(&cache).unwrap();
    let parallel: Vec<_> = (0..20)
        .map(|_| {
            let (bin, robot) = (kubectl_bin.to_owned(), robot.clone());
            std::thread::spawn(move || kubectl(&bin, &robot, &["auth", "whoami", "-o", "name"]))
        })
        .collect();
    for run in parallel.into_iter().map(|t| t.join().unwrap()) {
        assert!(run.ok, "parallel kubectl: {}", run.stderr);
    }
    assert_eq!(
        tokens_issued(kubectl_bin, admin),
        before + 2,
        "20 parallel kubectl calls on an empty cache: one TokenRequest"
    );

    // The plugin's own answer: an ExecCredential in the version kubectl asked for, and the only place a token is.
    let plugin_flags = [&admin_flags[..], &["credential", "--service-account", "robot"]].concat();
    let exec_info =
        r#"{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","spec":{"interactive":false}}"#;
    let cached = [
        &plugin_flags[..],
        &["--duration", "1h", "--cache-dir", cache.to_str().unwrap()],
    ]
    .concat();
    let (answered, stdout, stderr) = plugin(&cached, &[("KUBERNETES_EXEC_INFO", exec_info)]);
    assert!(answered, "{stderr}");
    let credential: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(credential["apiVersion"], "client.authentication.k8s.io/v1beta1");
    assert_eq!(credential["kind"], "ExecCredential");
    assert!(credential["status"]["expirationTimestamp"].is_string());
    assert_eq!(claims(credential["status"]["token"].as_str().unwrap())["sub"], expected);
    assert_eq!(tokens_issued(kubectl_bin, admin), before + 2);

    // A corrupt cache file is reported in one line and replaced.
    let entry = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap();
    std::fs::write(&entry, "{\"token\": \"half a").unwrap();
    let (answered, _, stderr) = plugin(&cached, &[]);
    assert!(answered, "{stderr}");
    assert!(stderr.contains("corrupt"), "{stderr}");
    assert!(serde_json::from_slice::<Value>(&std::fs::read(&entry).unwrap()).is_ok());

    // Bad input: one line on stderr, a non-zero exit, never a token.
    let scratch = dir.path().join("scratch");
    let scratch_flags = ["--cache-dir", scratch.to_str().unwrap()];
    let no_context = [
        &["--kubeconfig", admin.to_str().unwrap(), "--context", "nope"][..],
        &["credential", "--service-account", "robot"],
        &scratch_flags,
    ]
    .concat();
    let ghost = [
        &admin_flags[..],
        &["credential", "--service-account", "ghost"],
        &scratch_flags,
    ]
    .concat();
    // The service account itself as the source: it may not create tokens (403).
    let refused = [
        &["--kubeconfig", robot.to_str().unwrap()][..],
        &["credential", "--service-account", "robot"],
        &scratch_flags,
    ]
    .concat();
    for (args, message) in [
        (&no_context, "nope"),
        (&ghost, "serviceaccounts \"ghost\" not found"),
        (&refused, "forbidden"),
    ] {
        let (answered, stdout, stderr) = plugin(args, &[]);
        assert!(!answered, "{args:?} should fail");
        assert!(stdout.is_empty(), "{args:?}: nothing on stdout");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: one line: {stderr}");
        assert!(stderr.contains(message), "{args:?}: expected {message:?} in {stderr}");
        assert!(
            tokenrequest_types::token::find_jwt(&stderr, 0).is_none(),
            "{args:?}: a token on stderr"
        );
    }
}

#[test]
fn serve_credential_plugin() {
    let Some(kubectl_bin) = or_skip(kubectl_on_path()) else {
        return;
    };
    let served = Served::start(&[]);
    credential_plugin_flow(&kubectl_bin, &served.kubeconfig);
}

/// The same flow against the real kube-apiserver built by `cargo xtask controlplane build` (skipped, saying why,
/// when it is not built).
#[test]
fn apiserver_credential_plugin() {
    let Some(kubectl_bin) = or_skip(kubectl_on_path()) else {
        return;
    };
    let Some(control_plane) = or_skip(real_control_plane()) else {
        return;
    };
    credential_plugin_flow(&kubectl_bin, control_plane.kubeconfig_path());
}
