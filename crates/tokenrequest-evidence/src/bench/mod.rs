//! `bench` (`cargo xtask bench`): how close the issuer is to its signing limit, how it compares with a real
//! kube-apiserver, and how fast the product is where a person waits (start, suite, cache, verification); every
//! ratio measured in one run, printed with its goal and whether it is met (issue 10, BENCHMARKS.md).
//!
//! Measurements need optimized code on both sides of each ratio, so a debug build of this binary builds
//! `kube-tokenrequest` and itself in release and hands over to its release build. Load phases run one at a time;
//! the servers and the load generator share the machine's cores, as they would on a developer's machine.

mod crypto;
mod load;
mod micro;
mod refresh;
mod report;
mod startup;
mod suite;
mod targets;

use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context as _, Result};

use self::crypto::Op;
use self::load::{Latency, Peak};
use self::report::{Row, Verdict};
use crate::flags::{BenchArgs, Part};
use crate::workspace_build;
use tokenrequest_envtest::progress::{self, Step};

/// `tokenrequest-evidence bench [FLAGS]`.
pub(crate) fn run(flags: &BenchArgs) -> Result<ExitCode> {
    let root = workspace_build::root();
    let target_dir = workspace_build::target_dir(&root);
    if cfg!(debug_assertions) {
        return hand_over_to_release(&root, &target_dir);
    }
    let bin = target_dir.join("release/kube-tokenrequest");
    let wants = |p: Part| flags.only.is_empty() || flags.only.contains(&p);
    let measure = Duration::from_secs_f64(flags.seconds);
    let warmup = Duration::from_secs(1);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let load_before = load_average();
    progress::line(&format!(
        "machine: {cores} cores, {}; load average before: {load_before}",
        cpu_model()
    ));

    let mut rows = Vec::new();
    let mut embedded_rates = None;
    if wants(Part::Issuer) || wants(Part::Real) {
        match issuer(&bin, flags, cores, warmup, measure, wants(Part::Issuer)) {
            Ok((r, rates)) => {
                rows.extend(r);
                embedded_rates = Some(rates);
            }
            Err(e) => rows.push(Row::error("issuer efficiency RS256", ">= 0.75", &e)),
        }
    }
    if wants(Part::Real) {
        rows.extend(real(flags, embedded_rates, warmup, measure));
    }
    if wants(Part::Start) {
        let step = Step::start("start", "serve start to kubeconfig written (7 runs)");
        match startup::measure(&bin, 7) {
            Ok((median, slowest)) => {
                step.done(&format!("median {}", ms(median)));
                rows.push(Row::new(
                    "start: serve → kubeconfig written",
                    ms(median),
                    "< 200 ms",
                    Verdict::of(median < Duration::from_millis(200)),
                    format!("median of 7, slowest {}", ms(slowest)),
                ));
            }
            Err(e) => {
                step.fail("failed");
                rows.push(Row::error("start", "< 200 ms", &e));
            }
        }
    }
    if wants(Part::Micro) {
        rows.extend(micro_rows(&root, &target_dir));
    }
    if wants(Part::Suite) {
        let step = Step::start(
            "suite",
            "tokenrequest-conformance test executables (built first, untimed)",
        );
        let log = target_dir.join("bench/suite.log");
        let measured = std::fs::create_dir_all(target_dir.join("bench"))
            .map_err(anyhow::Error::from)
            .and_then(|()| suite::measure(&root, &log));
        match measured {
            Ok(suite::SuiteRun { wall, each, passed }) => {
                step.done(&progress::elapsed(wall));
                let verdict = if passed {
                    Verdict::of(wall < Duration::from_secs(20))
                } else {
                    Verdict::Error(format!("the suite failed (see {})", log.display()))
                };
                let parts: Vec<String> = each
                    .iter()
                    .map(|(name, t)| format!("{name} {:.1} s", t.as_secs_f64()))
                    .collect();
                rows.push(Row::new(
                    "suite: conformance vs embedded, wall",
                    format!("{:.1} s", wall.as_secs_f64()),
                    "< 20 s",
                    verdict,
                    format!("compile excluded; {}", parts.join(", ")),
                ));
            }
            Err(e) => {
                step.fail("failed");
                rows.push(Row::error("suite", "< 20 s", &e));
            }
        }
    }

    let mut refresh_md = None;
    if wants(Part::Refresh) {
        let (r, md) = refresh::run(&bin, flags);
        rows.extend(r);
        refresh_md = Some(md);
    }

    let load_after = load_average();
    progress::line("");
    progress::line(&report::text(&rows));
    if let Some(md) = &refresh_md {
        progress::line(&format!("Refresh waves:\n\n{md}"));
    }
    progress::line(&format!("load average before: {load_before}; after: {load_after}"));
    let md_path = flags
        .markdown
        .clone()
        .unwrap_or_else(|| target_dir.join("bench/results.md"));
    if let Some(dir) = md_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut md = format!(
        "Command: `cargo xtask bench {}`\n\nMachine: {cores} cores, {}; load average before: {load_before}; after: \
         {load_after}\n\n{}",
        std::env::args().skip(2).collect::<Vec<_>>().join(" "),
        cpu_model(),
        report::markdown(&rows)
    );
    if let Some(refresh) = refresh_md {
        md.push_str(&format!("\n### Refresh waves\n\n{refresh}"));
    }
    std::fs::write(&md_path, md).with_context(|| format!("writing {}", md_path.display()))?;
    progress::line(&format!("table written to {}", md_path.display()));
    let failed = rows.iter().any(|r| matches!(r.verdict, Verdict::Error(_)));
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Peak rates of the embedded RS256 server, for the comparison with the real kube-apiserver.
#[derive(Debug, Clone, Copy)]
struct EmbeddedRates {
    token_request: f64,
    token_review: f64,
}

/// Issuer efficiency (RS256, ES256) and, when `latency`, the latency at half the peak.
fn issuer(
    bin: &Path,
    flags: &BenchArgs,
    cores: usize,
    warmup: Duration,
    measure: Duration,
    full: bool,
) -> Result<(Vec<Row>, EmbeddedRates)> {
    let mut rows = Vec::new();
    let step = Step::start("raw", &format!("raw RS256 signatures on {cores} threads"));
    let raw_rs = crypto::rate(Op::Rs256Sign, cores, measure)?;
    step.done(&format!("{raw_rs:.0}/s"));

    let step = Step::start("embedded", "kube-tokenrequest serve --signing-alg RS256");
    let (server, endpoint) = targets::start_embedded(bin, "RS256")?;
    targets::prepare(&endpoint)?;
    step.done(server.url());
    let tr = targets::token_requests();
    let pool = Mutex::new(Vec::new());
    let step = Step::start("load", "TokenRequest peak (closed loop)");
    let tr_peak = load::closed_loop(&endpoint, &tr, flags.connections, warmup, measure, Some(&pool))?;
    step.done(&format!("{:.0}/s", tr_peak.rate));
    let tokens = pool.into_inner().unwrap_or_default();
    let tv = targets::token_reviews(&tokens)?;
    let step = Step::start("load", "TokenReview peak (closed loop)");
    let tv_peak = load::closed_loop(&endpoint, &tv, flags.connections, warmup, measure, None)?;
    step.done(&format!("{:.0}/s", tv_peak.rate));
    let rates = EmbeddedRates {
        token_request: tr_peak.rate,
        token_review: tv_peak.rate,
    };
    if !full {
        server.stop()?;
        return Ok((rows, rates));
    }
    rows.push(efficiency_row("issuer efficiency RS256", tr_peak, raw_rs, flags));

    for (work, peak) in [(&tr, tr_peak), (&tv, tv_peak)] {
        let step = Step::start("load", &format!("{} at half the peak (open loop)", work.name));
        let rate = peak.rate / 2.0;
        match load::open_loop(&endpoint, work, flags.connections, rate, warmup, measure) {
            Ok(lat) => {
                step.done(&format!("p99 {}", ms(lat.p99)));
                rows.push(latency_row(work.name, &lat));
            }
            Err(e) => {
                step.fail("failed");
                rows.push(Row::error(&format!("latency {}", work.name), "p99 < 5 ms", &e));
            }
        }
    }
    let step = Step::start("raw", &format!("raw RS256 verifications on {cores} threads"));
    let raw_verify = crypto::rate(Op::Rs256Verify, cores, measure)?;
    step.done(&format!("{raw_verify:.0}/s"));
    rows.push(Row::new(
        "TokenReview/s ÷ raw RS256 verify/s",
        format!("{:.2}", tv_peak.rate / raw_verify),
        "(info)",
        Verdict::Info,
        format!("{:.0}/s ÷ {raw_verify:.0}/s", tv_peak.rate),
    ));
    server.stop()?;

    let step = Step::start("raw", &format!("raw ES256 signatures on {cores} threads"));
    let raw_es = crypto::rate(Op::Es256Sign, cores, measure)?;
    step.done(&format!("{raw_es:.0}/s"));
    let step = Step::start("embedded", "kube-tokenrequest serve --signing-alg ES256");
    let (server, endpoint) = targets::start_embedded(bin, "ES256")?;
    targets::prepare(&endpoint)?;
    let es_peak = load::closed_loop(&endpoint, &tr, flags.connections, warmup, measure, None)?;
    step.done(&format!("TokenRequest peak {:.0}/s", es_peak.rate));
    rows.push(efficiency_row("issuer efficiency ES256", es_peak, raw_es, flags));
    server.stop()?;
    Ok((rows, rates))
}

fn efficiency_row(name: &str, peak: Peak, raw: f64, flags: &BenchArgs) -> Row {
    let ratio = peak.rate / raw;
    Row::new(
        name,
        format!("{ratio:.2}"),
        ">= 0.75",
        Verdict::of(ratio >= 0.75),
        format!(
            "{:.0} TokenRequests/s ({} conns, {} in {:.0} s) ÷ {raw:.0} raw signatures/s",
            peak.rate, flags.connections, peak.ok, flags.seconds
        ),
    )
}

fn latency_row(name: &str, lat: &Latency) -> Row {
    Row::new(
        &format!("latency {name} p99 (p50)"),
        format!("{} ({})", ms(lat.p99), ms(lat.p50)),
        "p99 < 5 ms",
        Verdict::of(lat.p99 < Duration::from_millis(5)),
        format!(
            "open loop at {:.0}/s (half the peak), {} samples, max {}",
            lat.offered_rate,
            lat.samples,
            ms(lat.max)
        ),
    )
}

/// The embedded server's peak rates ÷ a real kube-apiserver's, same load generator, same key type.
fn real(flags: &BenchArgs, embedded: Option<EmbeddedRates>, warmup: Duration, measure: Duration) -> Vec<Row> {
    let names = [
        "vs real kube-apiserver: TokenRequest/s",
        "vs real kube-apiserver: TokenReview/s",
    ];
    let Some(embedded) = embedded else {
        return names
            .iter()
            .map(|n| Row::skipped(n, ">= 3x", "the embedded server was not measured"))
            .collect();
    };
    let step = Step::start("real", &format!("kube-apiserver {} + etcd", flags.k8s_version));
    let (cp, endpoint) = match targets::start_real(&flags.k8s_version) {
        Ok(started) => started,
        Err(why) => {
            step.fail("not started");
            return names.iter().map(|n| Row::skipped(n, ">= 3x", &why)).collect();
        }
    };
    step.done(&format!("ready in {}", progress::elapsed(cp.started_in())));
    let measured = (|| -> Result<(Peak, Peak)> {
        targets::prepare(&endpoint)?;
        let tr = targets::token_requests();
        let pool = Mutex::new(Vec::new());
        let step = Step::start("load", "real: TokenRequest peak (closed loop)");
        let tr_peak = load::closed_loop(&endpoint, &tr, flags.connections, warmup, measure, Some(&pool))?;
        step.done(&format!("{:.0}/s", tr_peak.rate));
        let tv = targets::token_reviews(&pool.into_inner().unwrap_or_default())?;
        let step = Step::start("load", "real: TokenReview peak (closed loop)");
        let tv_peak = load::closed_loop(&endpoint, &tv, flags.connections, warmup, measure, None)?;
        step.done(&format!("{:.0}/s", tv_peak.rate));
        Ok((tr_peak, tv_peak))
    })();
    let version = flags.k8s_version.clone();
    let _ = cp.stop();
    match measured {
        Ok((tr, tv)) => [
            (names[0], embedded.token_request, tr),
            (names[1], embedded.token_review, tv),
        ]
        .into_iter()
        .map(|(name, ours, theirs)| {
            let ratio = ours / theirs.rate;
            Row::new(
                name,
                format!("{ratio:.1}x"),
                ">= 3x",
                Verdict::of(ratio >= 3.0),
                format!(
                    "embedded {ours:.0}/s ÷ kube-apiserver {version} {:.0}/s (RS256)",
                    theirs.rate
                ),
            )
        })
        .collect(),
        Err(e) => names.iter().map(|n| Row::error(n, ">= 3x", &e)).collect(),
    }
}

/// Cache, verifier, crypto backends and the in-process request path, from the crates' criterion benches.
fn micro_rows(root: &Path, target_dir: &Path) -> Vec<Row> {
    let log_dir = target_dir.join("bench");
    let mut rows = Vec::new();
    let _ = std::fs::create_dir_all(&log_dir);
    let step = Step::start(
        "micro",
        "cargo bench (token cache, verifier, crypto backends, request path)",
    );
    if let Err(e) = micro::run(root, &log_dir.join("micro.log")) {
        step.fail("failed");
        rows.push(Row::error("criterion benches", "-", &e));
        return rows;
    }
    step.done("done");
    let mean = |g: &str, f: &str| micro::mean_ns(target_dir, g, f);
    rows.push(
        match (
            mean("token_cache", "cache_hit"),
            mean("token_cache", "hashmap_get_clone"),
        ) {
            (Ok(hit), Ok(map)) => {
                let ratio = hit / map;
                let bare =
                    mean("token_cache", "hashmap_get").map_or_else(|_| "?".to_owned(), |ns| format!("{ns:.0} ns"));
                Row::new(
                    "cache: TokenCache hit ÷ HashMap get",
                    format!("{ratio:.1}x, {hit:.0} ns"),
                    "< 5x and < 1 µs",
                    Verdict::of(ratio < 5.0 && hit < 1000.0),
                    format!("hit {hit:.0} ns, HashMap get + Arc<str> clone {map:.0} ns (bare get {bare}), 1 core"),
                )
            }
            (Err(e), _) | (_, Err(e)) => Row::error("cache", "< 5x and < 1 µs", &e),
        },
    );
    rows.push(
        match (mean("verify_rs256", "verifier"), mean("verify_rs256", "raw_verify")) {
            (Ok(verifier), Ok(raw)) => {
                let ratio = raw / verifier;
                Row::new(
                    "verify: Verifier/s ÷ raw verify/s (RS256)",
                    format!("{ratio:.2}"),
                    ">= 0.8",
                    Verdict::of(ratio >= 0.8),
                    format!("Verifier {:.0}/s, raw {:.0}/s (1 core)", 1e9 / verifier, 1e9 / raw),
                )
            }
            (Err(e), _) | (_, Err(e)) => Row::error("verify", ">= 0.8", &e),
        },
    );
    let per_s = |g: &str, f: &str| mean(g, f).map(|ns| 1e9 / ns);
    for (group, what) in [
        ("rsa2048_sign", "RSA-2048 sign/s, 1 core"),
        ("rsa2048_verify", "RSA-2048 verify/s, 1 core"),
        ("p256_sign", "P-256 sign/s, 1 core"),
    ] {
        let found: Vec<String> = ["aws-lc-rs", "ring", "rustcrypto-rsa"]
            .iter()
            .filter_map(|lib| per_s(group, lib).ok().map(|r| format!("{lib} {r:.0}")))
            .collect();
        rows.push(Row::new(
            &format!("crypto backends: {what}"),
            found.first().cloned().unwrap_or_default(),
            "(info)",
            Verdict::Info,
            found.join(", "),
        ));
    }
    for alg in ["rs256", "es256"] {
        let group = format!("request_path_{alg}");
        if let (Ok(tr), Ok(sign), Ok(tv), Ok(verify)) = (
            per_s(&group, "token_request"),
            per_s(&group, "raw_sign"),
            per_s(&group, "token_review"),
            per_s(&group, "raw_verify"),
        ) {
            rows.push(Row::new(
                &format!("in-process router {}: TokenRequest ÷ raw sign", alg.to_uppercase()),
                format!("{:.2}", tr / sign),
                "(info)",
                Verdict::Info,
                format!("no TLS, 1 core: TokenRequest {tr:.0}/s, sign {sign:.0}/s; TokenReview {tv:.0}/s, verify {verify:.0}/s"),
            ));
        }
    }
    rows
}

/// Builds the release binaries and runs this binary's release build with the same arguments.
fn hand_over_to_release(root: &Path, target_dir: &Path) -> Result<ExitCode> {
    let step = Step::start(
        "build",
        "cargo build --release -p kube-tokenrequest -p tokenrequest-evidence",
    );
    let status = workspace_build::cargo()
        .current_dir(root)
        .args([
            "build",
            "--release",
            "-p",
            "kube-tokenrequest",
            "-p",
            "tokenrequest-evidence",
        ])
        .status()
        .context("running cargo build --release")?;
    if !status.success() {
        step.fail("failed");
        anyhow::bail!("the release build failed");
    }
    step.done("built");
    let status = Command::new(target_dir.join("release/tokenrequest-evidence"))
        .current_dir(root)
        .args(std::env::args().skip(1))
        .status()
        .context("running the release tokenrequest-evidence")?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// `/proc/loadavg`'s three averages: other work on the machine skews every number here.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}
