//! `cargo xtask fuzz` and `cargo xtask reliability …` (issue 9): the long forms of the reliability and security
//! checks whose short forms run in `cargo test`, run as processes like everything xtask does.
//!
//! - `fuzz [--seconds N] [--target T]…`: every cargo-fuzz target in `fuzz/` for N seconds each, one at a time,
//!   seeds from `fuzz/corpus/<t>/` (never written to), findings kept in `target/fuzz/corpus/<t>/`; a summary with
//!   time, executions and crashes per target in `target/fuzz/summary.md`.
//! - `reliability barrage|load|leak`: the ignored full forms of the tests in `crates/tokenrequest-server/tests/
//!   reliability_*.rs` and `crates/kube-tokenrequest/tests/leak_tokens.rs`, with their figures; `leak` also runs
//!   the conformance suite against a `serve` traced at `RUST_LOG=trace` and scans its logs and reports.
//! - `reliability interrupt`: SIGINT (to the process group, as Ctrl-C does) during `cargo xtask conformance` must
//!   leave no server process, and after the next run's sweep no namespace of the interrupted run.
//! - `reliability regressions`: tests of known, not yet fixed problems (ignored, named in RELIABILITY-REQUESTS.md).
//!
//! It parses its own flags, so `main.rs` only hands over (as for `bench`).

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::progress;

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Debug, Subcommand)]
enum Top {
    /// Run every fuzz target (cargo-fuzz, nightly) for a while, one after the other.
    Fuzz(FuzzArgs),
    /// The full forms of the reliability and security checks.
    #[command(subcommand)]
    Reliability(Check),
}

#[derive(Debug, Args)]
struct FuzzArgs {
    /// Seconds per target.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Only these targets (default: all of `fuzz/fuzz_targets/`).
    #[arg(long = "target", value_name = "NAME")]
    targets: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum Check {
    /// 10,000+ malformed requests against a loopback server: no 5xx, no panic, store unchanged.
    Barrage {
        /// Requests to send.
        #[arg(long, default_value_t = 10_000)]
        requests: u64,
    },
    /// 200+ concurrent clients creating, deleting, issuing and reviewing: nothing lost, nothing stale.
    Load {
        /// Concurrent clients.
        #[arg(long, default_value_t = 200)]
        clients: u64,
        /// How long.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// No token in any log, report, snapshot or error message (serve, CLI and the conformance suite, traced).
    Leak,
    /// Ctrl-C during `cargo xtask conformance` leaves no server and, after the next run, no namespace.
    Interrupt,
    /// Regression tests of problems found here (see RELIABILITY-REQUESTS.md), by name.
    Regressions,
}

/// Entry point from `main.rs` for `fuzz` and `reliability`.
pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = crate::project_root();
    let result = match cli.command {
        Top::Fuzz(args) => fuzz(&root, &args),
        Top::Reliability(Check::Barrage { requests }) => {
            let env = [("RELIABILITY_BARRAGE_REQUESTS", requests.to_string())];
            ignored_test(&root, "reliability_barrage", "barrage_full", &env)
                .and_then(|()| figures(&root, "reliability-barrage-full.json"))
        }
        Top::Reliability(Check::Load { clients, seconds }) => {
            let env = [
                ("RELIABILITY_LOAD_CLIENTS", clients.to_string()),
                ("RELIABILITY_LOAD_SECONDS", seconds.to_string()),
            ];
            ignored_test(&root, "reliability_load", "load_full", &env)
                .and_then(|()| figures(&root, "reliability-load-full.json"))
        }
        Top::Reliability(Check::Leak) => leak(&root),
        Top::Reliability(Check::Interrupt) => interrupt(&root),
        Top::Reliability(Check::Regressions) => ignored_test(
            &root,
            "reliability_barrage",
            "deeply_nested_yaml_is_refused_quickly",
            &[],
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            progress::error_line(&format!("{err:#}"));
            ExitCode::FAILURE
        }
    }
}

/// `cargo test --workspace --test FILE -- --include-ignored --exact NAME --nocapture`, with `env` (ignored or
/// not: a regression test stays runnable by name once its fix lands and it is no longer ignored). The workspace,
/// not the package, is built, as the README's test command builds it (see cargo_build): test file names are
/// unique in it.
fn ignored_test(root: &Path, file: &str, name: &str, env: &[(&str, String)]) -> anyhow::Result<()> {
    let status = crate::cargo_build::cargo()
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
    let path = crate::suite::target_dir(root).join("tmp").join(file);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    progress::line(&format!("figures ({}):\n{text}", path.display()));
    Ok(())
}

// ---- fuzz ----

/// One target's outcome, from libFuzzer's final statistics.
#[derive(Debug, Default)]
struct FuzzOutcome {
    target: String,
    seconds: f64,
    executions: u64,
    crashed: bool,
    note: String,
}

fn fuzz(root: &Path, args: &FuzzArgs) -> anyhow::Result<()> {
    let fuzz_dir = root.join("fuzz");
    let probe = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .current_dir(&fuzz_dir)
        .output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        anyhow::bail!(
            "cargo-fuzz on a nightly toolchain is needed: `rustup toolchain install nightly` and `cargo install cargo-fuzz --locked`"
        );
    }
    // The fuzz workspace uses the main workspace's versions (its own lock starts as a copy).
    std::fs::copy(root.join("Cargo.lock"), fuzz_dir.join("Cargo.lock")).context("copying Cargo.lock into fuzz/")?;
    let targets = if args.targets.is_empty() {
        fuzz_targets(&fuzz_dir)?
    } else {
        args.targets.clone()
    };
    let step = progress::Step::start("build", "fuzz targets (nightly, release)");
    let status = Command::new("cargo")
        .args(["+nightly", "fuzz", "build", "-s", "none"])
        .current_dir(&fuzz_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if !status.success() {
        step.fail("cargo fuzz build failed (run it in fuzz/ to see why)");
        anyhow::bail!("cargo fuzz build failed");
    }
    step.done("");
    let work = crate::suite::target_dir(root).join("fuzz");
    let mut outcomes = Vec::new();
    for target in &targets {
        let step = progress::Step::start("fuzz", &format!("{target} for {} s", args.seconds));
        let outcome = fuzz_one(&fuzz_dir, &work, target, args.seconds)?;
        let line = format!("{} executions in {:.0} s", outcome.executions, outcome.seconds);
        if outcome.crashed {
            step.fail(&format!("CRASH after {line}: {}", outcome.note))
        } else {
            step.done(&line)
        }
        outcomes.push(outcome);
    }
    let mut summary = String::from("| target | seconds | executions | exec/s | crashes |\n|---|---|---|---|---|\n");
    for o in &outcomes {
        let rate = o.executions as f64 / o.seconds.max(1.0);
        summary.push_str(&format!(
            "| {} | {:.0} | {} | {:.0} | {} |\n",
            o.target,
            o.seconds,
            o.executions,
            rate,
            if o.crashed {
                format!("1 ({})", o.note)
            } else {
                "0".to_owned()
            }
        ));
    }
    std::fs::create_dir_all(&work)?;
    std::fs::write(work.join("summary.md"), &summary)?;
    progress::line(&summary);
    let crashed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.crashed)
        .map(|o| o.target.as_str())
        .collect();
    anyhow::ensure!(
        crashed.is_empty(),
        "crashes in {crashed:?}: inputs under fuzz/artifacts/<target>/"
    );
    Ok(())
}

fn fuzz_targets(fuzz_dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut targets: Vec<String> = std::fs::read_dir(fuzz_dir.join("fuzz_targets"))?
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().strip_suffix(".rs").map(str::to_owned))
        .collect();
    targets.sort();
    Ok(targets)
}

fn fuzz_one(fuzz_dir: &Path, work: &Path, target: &str, seconds: u64) -> anyhow::Result<FuzzOutcome> {
    let corpus = work.join("corpus").join(target);
    let logs = work.join("logs");
    std::fs::create_dir_all(&corpus)?;
    std::fs::create_dir_all(&logs)?;
    let log_path = logs.join(format!("{target}.log"));
    let log = std::fs::File::create(&log_path)?;
    let started = Instant::now();
    // The writable corpus first: libFuzzer adds what it finds to the first directory only.
    let status = Command::new("cargo")
        .args(["+nightly", "fuzz", "run", "-s", "none", target])
        .arg(&corpus)
        .arg(fuzz_dir.join("corpus").join(target))
        .args(["--", &format!("-max_total_time={seconds}"), "-print_final_stats=1"])
        .current_dir(fuzz_dir)
        .stdout(log.try_clone()?)
        .stderr(log)
        .status()?;
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let mut outcome = libfuzzer_stats(target, &text);
    if outcome.seconds == 0.0 {
        outcome.seconds = started.elapsed().as_secs_f64();
    }
    outcome.crashed = !status.success();
    if outcome.crashed {
        outcome.note = text
            .lines()
            .find(|l| l.contains("panicked at") || l.contains("==ERROR") || l.contains("Test unit written"))
            .unwrap_or("see the log")
            .to_owned();
    }
    Ok(outcome)
}

/// `stat::number_of_executed_units: N` and `Done N runs in S second(s)` from libFuzzer's output.
fn libfuzzer_stats(target: &str, text: &str) -> FuzzOutcome {
    let mut outcome = FuzzOutcome {
        target: target.to_owned(),
        ..FuzzOutcome::default()
    };
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("stat::number_of_executed_units:") {
            outcome.executions = n.trim().parse().unwrap_or(outcome.executions);
        }
        if let Some(rest) = line.strip_prefix("Done ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            if let [runs, "runs", "in", secs, ..] = words[..] {
                outcome.executions = outcome.executions.max(runs.parse().unwrap_or(0));
                outcome.seconds = secs.parse().unwrap_or(0.0);
            }
        }
    }
    outcome
}

// ---- processes and the API, for leak and interrupt ----

/// `kube-tokenrequest serve` started here; stopped (SIGTERM, then SIGKILL) on drop.
struct Serve {
    child: std::process::Child,
    dir: tempfile::TempDir,
    url: String,
}

impl Serve {
    fn start(binary: &Path, rust_log: Option<&str>) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("kube-tokenrequest-reliability-")
            .tempdir()?;
        let log = std::fs::File::create(dir.path().join("serve.log"))?;
        let mut cmd = Command::new(binary);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--write-kubeconfig"])
            .arg(dir.path().join("kubeconfig"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        if let Some(filter) = rust_log {
            cmd.env("RUST_LOG", filter);
        }
        let mut child = cmd.spawn().context("starting kube-tokenrequest serve")?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let first = lines.next().transpose()?.unwrap_or_default();
        let url = first
            .strip_prefix("listening on ")
            .context("serve printed no `listening on` line")?
            .to_owned();
        let rest = dir.path().join("serve.stdout");
        std::thread::spawn(move || {
            if let Ok(mut out) = std::fs::File::create(rest) {
                for line in lines.map_while(Result::ok) {
                    let _ = writeln!(out, "{line}");
                }
            }
        });
        Ok(Self { child, dir, url })
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// The kubeconfig's CA (PEM) and admin token.
    fn credentials(&self) -> anyhow::Result<(Vec<u8>, String)> {
        let yaml: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(self.kubeconfig())?)?;
        let ca = yaml["clusters"][0]["cluster"]["certificate-authority-data"]
            .as_str()
            .context("CA data")?;
        let token = yaml["users"][0]["user"]["token"].as_str().context("token")?.to_owned();
        use base64::Engine as _;
        Ok((base64::engine::general_purpose::STANDARD.decode(ca)?, token))
    }

    /// `GET path` as the admin, over TLS trusting only the server's CA; the body as JSON.
    fn get(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let (ca_pem, token) = self.credentials()?;
        let config = xtask::controlplane::client_config_trusting_pem(&ca_pem)?;
        let addr = self.url.trim_start_matches("https://");
        let server_name = rustls::pki_types::ServerName::try_from("127.0.0.1")?.to_owned();
        let connection = rustls::ClientConnection::new(std::sync::Arc::new(config), server_name)?;
        let tcp = std::net::TcpStream::connect(addr)?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut tls = rustls::StreamOwned::new(connection, tcp);
        // HTTP/1.0: the answer ends when the connection does, so no chunked decoding is needed.
        write!(
            tls,
            "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: application/json\r\n\r\n"
        )?;
        let mut raw = Vec::new();
        let _ = tls.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        Ok(serde_json::from_str(body)?)
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

    fn stop(mut self) -> anyhow::Result<String> {
        signal(self.child.id(), rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && self.child.try_wait()?.is_none() {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Ok(std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The suite's label on every namespace it creates (conformance/src/target.rs `RUN_LABEL`).
const RUN_LABEL: &str = "tokenrequest.dev/conformance-run";

fn signal(pid: u32, signal: rustix::process::Signal) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

fn build_cli(root: &Path) -> anyhow::Result<PathBuf> {
    let step = progress::Step::start("build", "kube-tokenrequest");
    let bin = crate::cargo_build::build(root, &step)?.binary("kube-tokenrequest", "kube-tokenrequest")?;
    step.done("");
    Ok(bin)
}

/// `cargo xtask conformance ARGS` in a process group of its own, so that SIGINT can reach all of it at once, as a
/// terminal's Ctrl-C reaches the foreground group.
fn conformance(root: &Path, args: &[&str], log: &Path, rust_log: Option<&str>) -> anyhow::Result<std::process::Child> {
    use std::os::unix::process::CommandExt as _;
    let out = std::fs::File::create(log)?;
    let mut cmd = crate::cargo_build::cargo();
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
    let work = crate::suite::target_dir(root).join("reliability").join("interrupt");
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

/// A JWT-shaped run of characters with a real signature's length: the suite's tokens are not known here, so any
/// such string in a log or report is a leak.
fn jwt_shapes(text: &str) -> usize {
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.split(|c: char| !(is_b64(c) || c == '.'))
        .filter(|word| {
            let parts: Vec<&str> = word.split('.').collect();
            parts.len() == 3 && parts[0].starts_with("eyJ") && parts[1].starts_with("eyJ") && parts[2].len() >= 40
        })
        .count()
}

fn leak(root: &Path) -> anyhow::Result<()> {
    // The CLI and serve, with their issued tokens known (the test searches for each by value).
    let status = crate::cargo_build::cargo()
        .args([
            // The workspace, as the README's test command builds it (see cargo_build): no second feature set.
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
    let work = crate::suite::target_dir(root).join("reliability").join("leak");
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
    let target = crate::suite::target_dir(root);
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
        let found = jwt_shapes(&text);
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
    fn libfuzzer_final_stats_are_read() {
        let log = "#123 DONE cov: 1\nstat::number_of_executed_units: 595987\nstat::average_exec_per_sec: 37249\nDone 595987 runs in 16 second(s)\n";
        let outcome = libfuzzer_stats("jwt_verify", log);
        assert_eq!((outcome.executions, outcome.seconds as u64), (595_987, 16));
    }

    #[test]
    fn jwt_shapes_are_found_and_redactions_are_not() {
        let sig = "s".repeat(43);
        assert_eq!(
            jwt_shapes(&format!("token: eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.{sig}\n")),
            1
        );
        assert_eq!(jwt_shapes("token: <redacted>, header eyJhbGciOiJSUzI1NiJ9"), 0);
    }
}
