//! `kube-tokenrequest conformance` as a user meets it, run as a process: where a target cannot run, one clear
//! line and a non-zero exit, fast, before anything starts; against a server that breaks a rule, a failed verdict
//! whose reports name the check; against a good one, a pass whose JUnit holds only checks of the target.

use std::process::Command;
use std::time::{Duration, Instant};

fn conformance(args: &[&str], report_dir: &std::path::Path) -> (i32, String, String, Duration) {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_kube-tokenrequest"))
        .arg("conformance")
        .args(args)
        .arg("--report-dir")
        .arg(report_dir)
        .current_dir(report_dir)
        // No engine can answer here, also on machines (CI) that have one.
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("CI", "true")
        .output()
        .expect("kube-tokenrequest runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn kind_and_k3s_without_a_container_engine_fail_in_one_line() {
    for cluster in ["kind", "k3s"] {
        let dir = tempfile::tempdir().unwrap();
        let (code, stdout, stderr, took) = conformance(&["--cluster", cluster], dir.path());
        assert_ne!(code, 0, "{cluster}: must not pass");
        assert_eq!(stdout, "", "{cluster}");
        assert_eq!(stderr.lines().count(), 1, "{cluster}: one line, got:\n{stderr}");
        assert!(
            stderr.starts_with(&format!("error: {cluster}: no container engine: docker")),
            "{cluster}: {stderr}"
        );
        assert!(took < Duration::from_secs(10), "{cluster}: took {took:?}");
        // The matrix records the cell as skipped, never as a pass.
        let summary = std::fs::read_to_string(dir.path().join("summary.json")).unwrap();
        assert!(summary.contains(r#""verdict": "skipped""#), "{summary}");
    }
}

#[test]
fn a_bad_policy_is_rejected_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr, took) = conformance(&["--policy", "max=10m"], dir.path());
    assert_ne!(code, 0);
    assert_eq!(
        stderr.trim(),
        r#"error: --policy "max=10m": invalid policy value "10m" for max: expected between 1h and 2^32 seconds"#
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn controllers_apply_to_the_apiserver_target_only() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr, _) = conformance(&["--cluster", "kind", "--controllers"], dir.path());
    assert_ne!(code, 0);
    assert_eq!(
        stderr.trim(),
        "error: --controllers applies to --cluster apiserver (the embedded server, kind and k3s have their controllers)"
    );
}

/// `kube-tokenrequest serve` with `extra` flags, as a target given by `--kubeconfig`.
fn serve(extra: &[&str]) -> tokenrequest_envtest::embedded::Serve {
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_kube-tokenrequest"));
    let policy = tokenrequest_envtest::target::policy_from_spec(None).unwrap();
    tokenrequest_envtest::embedded::Serve::start(binary, &policy, extra).expect("serve starts")
}

#[test]
fn an_existing_server_that_passes_gets_a_report_of_its_checks_only() {
    let server = serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = server.kubeconfig().to_str().unwrap().to_owned();
    let (code, stdout, stderr, _) = conformance(&["--kubeconfig", &kubeconfig], dir.path());
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.starts_with("PASSED kubeconfig: "), "{stdout}");
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    let report = quick_junit::Report::deserialize_from_str(&junit).unwrap();
    let cases = &report.test_suites[0].test_cases;
    assert_eq!(cases.len(), tokenrequest_conformance::registry::all().count());
    // Only checks of the target: every case is a registered `group::check`, none a unit test of the suite.
    for case in cases {
        let name = case.name.as_str();
        assert!(
            tokenrequest_conformance::registry::all().any(|c| c.id() == name),
            "not a registered check: {name}"
        );
    }
    server.stop().unwrap();
}

#[test]
fn a_server_that_breaks_a_rule_fails_and_the_report_says_which_check_and_why() {
    let server = serve(&["--inject-fault", "always-extend"]);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = server.kubeconfig().to_str().unwrap().to_owned();
    let (code, stdout, stderr, _) = conformance(&["--kubeconfig", &kubeconfig, "--filter", "expiration::"], dir.path());
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stdout.starts_with("FAILED kubeconfig: "), "{stdout}");
    assert!(
        stdout.contains("FAIL expiration::r9_no_extension_for_secret (R9)"),
        "{stdout}"
    );
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    let failures = md.find("## Failures").expect("a failures section");
    let checks = md.find("## Checks").expect("a checks section");
    assert!(failures < checks, "failures come first:\n{md}");
    assert!(
        md.contains("--service-account-extend-token-expiration"),
        "the governing flag is named:\n{md}"
    );
    assert!(md.contains("expected: "), "{md}");
    server.stop().unwrap();
}
