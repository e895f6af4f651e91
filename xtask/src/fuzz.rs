//! `cargo xtask fuzz`: every cargo-fuzz target in `fuzz/` (nightly toolchain; its own workspace) for a while, one
//! after the other, each with the committed corpus and a writable one under `target/fuzz/`; the figures go to
//! `target/fuzz/summary.md` and a crash fails the command with where libFuzzer left its input.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the command's progress and summary"
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context;

/// One target's outcome, from libFuzzer's final statistics.
#[derive(Debug, Default)]
struct FuzzOutcome {
    target: String,
    seconds: f64,
    executions: u64,
    crashed: bool,
    note: String,
}

/// Runs every fuzz target (or `targets`) for `seconds` each; fails on a crash.
pub(crate) fn run(root: &Path, seconds: u64, targets: &[String]) -> anyhow::Result<()> {
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
    let targets = if targets.is_empty() {
        fuzz_targets(&fuzz_dir)?
    } else {
        targets.to_vec()
    };
    eprintln!("==> build: fuzz targets (nightly, release)");
    let status = Command::new("cargo")
        .args(["+nightly", "fuzz", "build", "-s", "none"])
        .current_dir(&fuzz_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if !status.success() {
        anyhow::bail!("cargo fuzz build failed (run it in fuzz/ to see why)");
    }
    let work = crate::run::target_dir(root).join("fuzz");
    let mut outcomes = Vec::new();
    for target in &targets {
        eprintln!("==> fuzz: {target} for {seconds} s");
        let outcome = fuzz_one(&fuzz_dir, &work, target, seconds)?;
        let line = format!("{} executions in {:.0} s", outcome.executions, outcome.seconds);
        if outcome.crashed {
            eprintln!("✗ fuzz {target}: CRASH after {line}: {}", outcome.note);
        } else {
            eprintln!("✓ fuzz {target}: {line}");
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
    println!("{summary}");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libfuzzer_final_stats_are_read() {
        let log = "#123 DONE cov: 1\nstat::number_of_executed_units: 595987\nstat::average_exec_per_sec: 37249\nDone 595987 runs in 16 second(s)\n";
        let outcome = libfuzzer_stats("jwt_verify", log);
        assert_eq!((outcome.executions, outcome.seconds as u64), (595_987, 16));
    }
}
