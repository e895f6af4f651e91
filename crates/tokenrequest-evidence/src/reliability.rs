//! `reliability …` (`cargo xtask reliability …`, issue 9): the long forms of the reliability and security checks
//! whose short forms run in `cargo test`, run as processes.
//!
//! - `barrage|load|leak`: the ignored full forms of the tests in `crates/tokenrequest-server/tests/
//!   reliability_*.rs` and `crates/kube-tokenrequest/tests/leak_tokens.rs`, with their figures; `leak` also runs
//!   the conformance suite against a `serve` traced at `RUST_LOG=trace` and scans its logs and reports.
//! - `interrupt`: SIGINT (to the process group, as Ctrl-C does) during `cargo xtask conformance` must leave no
//!   server process, and after the next run's sweep no namespace of the interrupted run.
//! - `regressions`: tests of known, not yet fixed problems (ignored, each with its reason).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokenrequest_envtest::http::{Endpoint, Request};
use tokenrequest_envtest::supervisor::Supervised;

use crate::flags::Check;
use crate::workspace_build;
use tokenrequest_envtest::progress;

/// `tokenrequest-evidence reliability CHECK`.
pub(crate) fn run(check: &Check) -> anyhow::Result<()> {
    let root = workspace_build::root();
    match *check {
        Check::Barrage { requests } => {
            let env = [("RELIABILITY_BARRAGE_REQUESTS", requests.to_string())];
            ignored_test(&root, "reliability_barrage", "barrage_full", &env)
                .and_then(|()| figures(&root, "reliability-barrage-full.json"))
        }
        Check::Load { clients, seconds } => {
            let env = [
                ("RELIABILITY_LOAD_CLIENTS", clients.to_string()),
                ("RELIABILITY_LOAD_SECONDS", seconds.to_string()),
            ];
            ignored_test(&root, "reliability_load", "load_full", &env)
                .and_then(|()| figures(&root, "reliability-load-full.json"))
        }
        Check::Leak => leak(&root),
        Check::Interrupt => interrupt(&root),
        Check::Regressions => ignored_test(
            &root,
            "reliability_barrage",
            "deeply_nested_yaml_is_refused_quickly",
            &[],
        ),
    }
}

/// `cargo test --workspace --test FILE -- --include-ignored --exact NAME --nocapture`, with `env` (ignored or
/// not: a regression test stays runnable by name once its fix lands and it is no longer ignored). The workspace,
/// not the package, is built, as the README's test command builds it (see workspace_build): test file names are
/// unique in it.
fn ignored_test(root: &Path, file: &str, name: &str, env: &[(&str, String)]) -> anyhow::Result<()> {
    let status = workspace_build::cargo()
        .args([
            "test",
            "--workspace",
            "--test",
            file,
            "--",
            "--ignored",
            "--exact",
            name,
            "--nocapture",
        ])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(root)
        .status()
        .with_context(|| format!("running {file}::{name}"))?;
    anyhow::ensure!(status.success(), "{file}::{name} failed ({status})");
    Ok(())
}

/// Prints the figures a test wrote under `target/tmp/`.
fn figures(root: &Path, file: &str) -> anyhow::Result<()> {
    let path = workspace_build::target_dir(root).join("tmp").join(file);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    progress::line(&format!("figures ({}):\n{text}", path.display()));
    Ok(())
}

// ---- processes and the API, for leak and interrupt ----

/// `kube-tokenrequest serve` as a supervised child with its output (at `RUST_LOG`) in a log file:
/// `embedded::Serve` takes no environment and keeps its log to itself, and `leak` needs both.
struct Serve {
    process: Supervised,
    dir: tempfile::TempDir,
    endpoint: Endpoint,
}

impl Serve {
    fn start(binary: &Path, rust_log: Option<&str>) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("kube-tokenrequest-reliability-")
            .tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        let mut command = Command::new(binary);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--write-kubeconfig"])
            .arg(&kubeconfig)
            .current_dir(dir.path());
        if let Some(filter) = rust_log {
            command.env("RUST_LOG", filter);
        }
        let log = dir.path().join("serve.log");
        let mut process = Supervised::spawn("kube-tokenrequest serve", command, &log, Duration::from_secs(10))?;
        // `serve` writes its kubeconfig (atomically) once it listens.
        process.wait_until(
            Instant::now() + Duration::from_secs(30),
            "kube-tokenrequest serve",
            || Ok(kubeconfig.is_file()),
        )?;
        let endpoint = Endpoint::read_kubeconfig(&kubeconfig)?;
        Ok(Self { process, dir, endpoint })
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// `GET path` as the admin; the body as JSON.
    fn get(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let r = self.endpoint.send(&Request {
            headers: &[("Accept", "application/json")],
            ..Request::new("GET", path)
        })?;
        Ok(serde_json::from_slice(&r.body)?)
    }

    /// Values of the conformance run label on the namespaces that are not being deleted.
    fn run_labels(&self) -> anyhow::Result<BTreeSet<String>> {
        let list = self.get("/api/v1/namespaces")?;
        Ok(list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|ns| ns["metadata"]["deletionTimestamp"].is_null())
            .filter_map(|ns| ns["metadata"]["labels"][RUN_LABEL].as_str().map(str::to_owned))
            .collect())
    }

    /// Stops the server (SIGTERM, then SIGKILL) and returns its log.
    fn stop(self) -> anyhow::Result<String> {
        self.process.stop()?;
        Ok(std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default())
    }
}

/// The suite's label on every namespace it creates (conformance/src/target.rs `RUN_LABEL`).
const RUN_LABEL: &str = "tokenrequest.dev/conformance-run";

fn build_cli(root: &Path) -> anyhow::Result<PathBuf> {
    let step = progress::Step::start("build", "kube-tokenrequest");
    let bin = workspace_build::build(root)?.binary("kube-tokenrequest", "kube-tokenrequest")?;
    step.done("");
    Ok(bin)
}

/// `cargo xtask conformance ARGS` in a process group of its own, so that SIGINT can reach all of it at once, as a
/// terminal's Ctrl-C reaches the foreground group.
fn conformance(root: &Path, args: &[&str], log: &Path, rust_log: Option<&str>) -> anyhow::Result<std::process::Child> {
    use std::os::unix::process::CommandExt as _;
    let out = std::fs::File::create(log)?;
    let mut cmd = workspace_build::cargo();
    cmd.args(["xtask", "conformance"])
        .args(args)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    cmd.process_group(0);
    if let Some(filter) = rust_log {
        cmd.env("RUST_LOG", filter);
    }
    Ok(cmd.spawn()?)
}

/// The `kube-tokenrequest serve` processes that descend from `ancestor` (read from /proc). Only descendants count:
/// other people's runs on the same machine have servers of their own, which are none of this check's business.
fn served_by(ancestor: u32) -> BTreeSet<u32> {
    let mut found = BTreeSet::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if is_serve(pid) && descends_from(pid, ancestor) {
            found.insert(pid);
        }
    }
    found
}

fn is_serve(pid: u32) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    cmdline.contains("kube-tokenrequest") && cmdline.contains(" serve")
}

fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`; comm may hold spaces and parentheses, so read after the last ')'.
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

fn descends_from(mut pid: u32, ancestor: u32) -> bool {
    for _ in 0..64 {
        if pid == ancestor {
            return true;
        }
        match parent(pid) {
            Some(p) if p > 1 => pid = p,
            _ => return false,
        }
    }
    false
}

fn wait_exit(child: &mut std::process::Child, limit: Duration) -> anyhow::Result<Option<std::process::ExitStatus>> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(None)
}

// ---- interrupt ----

fn interrupt(root: &Path) -> anyhow::Result<()> {
    let work = workspace_build::target_dir(root).join("reliability").join("interrupt");
    std::fs::create_dir_all(&work)?;
    let mut failures = Vec::new();

    // 1. Embedded target: xtask starts `serve`; Ctrl-C while the suite runs must leave no server behind. Only
    //    processes of this run's own process group are ever signalled.
    let step = progress::Step::start("interrupt", "embedded run: Ctrl-C while the suite runs");
    let mut run = conformance(
        root,
        &["--report-dir", &work.join("embedded").display().to_string()],
        &work.join("embedded.log"),
        None,
    )?;
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut server = None;
    while Instant::now() < deadline && run.try_wait()?.is_none() {
        if let Some(pid) = served_by(run.id()).first() {
            server = Some(*pid);
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let Some(server_pid) = server else {
        let _ = rustix::process::kill_process_group(group(&run), rustix::process::Signal::KILL);
        anyhow::bail!(
            "the embedded server never started (see {})",
            work.join("embedded.log").display()
        );
    };
    // Let the suite get going (it creates namespaces within its first seconds).
    std::thread::sleep(Duration::from_secs(5));
    let _ = rustix::process::kill_process_group(group(&run), rustix::process::Signal::INT);
    let exited = wait_exit(&mut run, Duration::from_secs(60))?;
    std::thread::sleep(Duration::from_millis(500));
    // The server is an orphan now if it survived; its pid (and command line, against reuse) tells.
    let survived = is_serve(server_pid);
    let line = format!("xtask exited: {exited:?}; its server (pid {server_pid}) still running: {survived}");
    if exited.is_none() || survived {
        failures.push(format!("embedded run: {line}"));
        // Everything this run started is in its process group, the surviving server included.
        let _ = rustix::process::kill_process_group(group(&run), rustix::process::Signal::KILL);
        step.fail(&line);
    } else {
        step.done(&line);
    }

    // 2. An existing cluster (a `serve` started here and kept): the interrupted run's namespaces must be gone
    //    after the next run, whose sweep deletes leftovers of earlier runs.
    let step = progress::Step::start("interrupt", "existing cluster: Ctrl-C, then the next run's sweep");
    let serve = Serve::start(&build_cli(root)?, None)?;
    let kubeconfig = serve.kubeconfig().display().to_string();
    let mut run = conformance(
        root,
        &[
            "--kubeconfig",
            &kubeconfig,
            "--report-dir",
            &work.join("existing-1").display().to_string(),
        ],
        &work.join("existing-1.log"),
        None,
    )?;
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut interrupted = BTreeSet::new();
    while Instant::now() < deadline && run.try_wait()?.is_none() && interrupted.is_empty() {
        interrupted = serve.run_labels().unwrap_or_default();
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = rustix::process::kill_process_group(group(&run), rustix::process::Signal::INT);
    let _ = wait_exit(&mut run, Duration::from_secs(60))?;
    std::thread::sleep(Duration::from_secs(2));
    let right_after = serve.run_labels()?;
    let leftover_now: Vec<&String> = right_after.intersection(&interrupted).collect();
    let mut next = conformance(
        root,
        &[
            "--kubeconfig",
            &kubeconfig,
            "--filter",
            "discovery::",
            "--report-dir",
            &work.join("existing-2").display().to_string(),
        ],
        &work.join("existing-2.log"),
        None,
    )?;
    let next_status = wait_exit(&mut next, Duration::from_secs(900))?;
    let after_next = serve.run_labels()?;
    let leftover: Vec<&String> = after_next.intersection(&interrupted).collect();
    let line = format!(
        "runs seen {}, left right after Ctrl-C {}, left after the next run ({next_status:?}) {}",
        interrupted.len(),
        leftover_now.len(),
        leftover.len()
    );
    let _ = serve.stop();
    if interrupted.is_empty() {
        failures.push("existing cluster: the interrupted run created no namespace before it ended".to_owned());
        step.fail(&line);
    } else if !leftover.is_empty() {
        failures.push(format!(
            "existing cluster: namespaces of the interrupted run remain after the next run: {line}"
        ));
        step.fail(&line);
    } else {
        step.done(&line);
    }
    anyhow::ensure!(
        failures.is_empty(),
        "interrupted runs: {failures:?} (logs in {})",
        work.display()
    );
    Ok(())
}

fn group(child: &std::process::Child) -> rustix::process::Pid {
    rustix::process::Pid::from_child(child)
}

// ---- leak ----

fn leak(root: &Path) -> anyhow::Result<()> {
    // The CLI and serve, with their issued tokens known (the test searches for each by value).
    let status = workspace_build::cargo()
        .args([
            // The workspace, as the README's test command builds it (see workspace_build): no second feature set.
            "test",
            "--workspace",
            "--test",
            "leak_tokens",
            "--",
            "--nocapture",
        ])
        .current_dir(root)
        .status()?;
    anyhow::ensure!(status.success(), "leak_tokens failed");

    // The suite against a traced serve: its logs and reports must hold no JWT.
    let work = workspace_build::target_dir(root).join("reliability").join("leak");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let serve = Serve::start(&build_cli(root)?, Some("trace"))?;
    let kubeconfig = serve.kubeconfig().display().to_string();
    let step = progress::Step::start("leak", "conformance suite against serve, RUST_LOG=trace");
    let mut run = conformance(
        root,
        &[
            "--kubeconfig",
            &kubeconfig,
            "--report-dir",
            &work.join("report").display().to_string(),
        ],
        &work.join("suite.log"),
        Some("trace"),
    )?;
    let status = wait_exit(&mut run, Duration::from_secs(1800))?;
    let server_log = serve.stop()?;
    std::fs::write(work.join("serve.log"), &server_log)?;
    step.done(&format!("{status:?}"));

    let mut files = vec![work.join("serve.log"), work.join("suite.log")];
    let mut stack = vec![work.join("report")];
    let target = workspace_build::target_dir(root);
    stack.push(target.join("nextest"));
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    let mut leaks = Vec::new();
    let mut bytes = 0;
    for file in &files {
        let text = String::from_utf8_lossy(&std::fs::read(file).unwrap_or_default()).into_owned();
        bytes += text.len();
        // The suite's tokens are not known here, so any token-shaped string in a log or report is a leak.
        let found = tokenrequest_types::token::find_jwts(&text).count();
        if found > 0 {
            leaks.push(format!("{found} in {}", file.display()));
        }
    }
    progress::line(&format!(
        "leak scan of the suite run: {} files, {bytes} bytes (serve log at trace: {} bytes); JWT-shaped strings found: {}",
        files.len(),
        server_log.len(),
        leaks.len()
    ));
    anyhow::ensure!(leaks.is_empty(), "JWTs in logs or reports: {leaks:?}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_descendants_count() {
        let me = std::process::id();
        assert!(descends_from(me, me));
        assert!(parent(me).is_some_and(|p| descends_from(me, p)));
        assert!(!descends_from(me, u32::MAX));
        assert!(!is_serve(me));
    }
}
