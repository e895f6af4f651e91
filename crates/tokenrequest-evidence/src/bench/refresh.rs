//! `--only refresh` (issue 17): the load kubelets put on the TokenRequest API when many pods start together.
//!
//! kubelet refreshes a pod's projected token at 80 % of its lifetime less a random jitter (up to 10 s), so pods
//! started together come back together about 48 minutes later for 1 h tokens: a refresh *wave*
//! (kubernetes/kubernetes#124646, #129623). Here N pods start at a fixed rate, each asks for a pod-bound token
//! (the start wave), and each refreshes it when the token cache's own rule says so
//! ([`tokenrequest_client::cache::refresh_after`], one rule in one place), with a jitter drawn per pod from a
//! seeded generator so that runs are reproducible. Every wave is sent open-loop at its scheduled instants and
//! latency counts from the instant a request was due, so a server that falls behind shows it.
//!
//! The clock is compressed, not scaled: the ~48 quiet minutes between the waves are skipped (nothing happens in
//! them), but each wave runs in real time, 1 simulated second per real second, because what is measured is how
//! the server copes with the wave's real request rate. Scaling the whole simulation down would change that rate.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use tokenrequest_client::cache::{MAX_TOKEN_AGE, refresh_after};
use tokenrequest_envtest::http::{Connection, Endpoint, Request, Response};
use tokenrequest_envtest::progress::{self, Step};

use super::load::{describe, join_load_threads, percentile};
use super::ms;
use super::report::{Row, Verdict};
use super::targets::{self, JSON, NAMESPACE, SERVICE_ACCOUNT};
use crate::flags::BenchArgs;

/// The lifetime kubelet asks for by default (a projected volume's `expirationSeconds`).
const REQUESTED_SECONDS: u64 = 3600;
/// The skipped quiet gap between the waves becomes this pause.
const QUIET_PAUSE: Duration = Duration::from_secs(2);
/// A request due longer ago than this is not sent but counted as an error, so that a stalled server cannot make
/// the wave last much longer than its schedule.
const GIVE_UP_BEHIND: Duration = Duration::from_secs(60);

/// One request of a wave: which pod, and when it is due on the simulated clock (0 = the first pod's start).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Due {
    pod: usize,
    at: Duration,
}

/// What a request gave: the granted lifetime, or why not.
struct Answer {
    latency: Duration,
    outcome: Result<Duration, String>,
}

/// One wave's figures.
struct Wave {
    /// `start`, or `refresh` with its jitter.
    jitter: Option<Duration>,
    requests: usize,
    first: Duration,
    last: Duration,
    real: Duration,
    peak: usize,
    p50: Option<Duration>,
    p99: Option<Duration>,
    /// p99 of the requests due in the busiest second.
    peak_p99: Option<Duration>,
    errors: usize,
    first_error: Option<String>,
}

/// Pod i starts at i / rate.
fn start_schedule(pods: usize, rate: f64) -> Vec<Due> {
    (0..pods)
        .map(|pod| Due {
            pod,
            at: Duration::from_secs_f64(pod as f64 / rate),
        })
        .collect()
}

/// Each pod's share of the jitter, U[0, 1), from `seed`.
fn draws(pods: usize, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..pods).map(|_| rng.random::<f64>()).collect()
}

/// The refreshes of the pods that got a token: start + `refresh_after(granted, MAX_TOKEN_AGE, jitter × draw)`,
/// in the order they are due.
fn refresh_schedule(starts: &[Due], granted: &[Option<Duration>], draws: &[f64], jitter: Duration) -> Vec<Due> {
    let mut wave: Vec<Due> = starts
        .iter()
        .filter_map(|s| {
            let lifetime = granted[s.pod]?;
            let after = refresh_after(lifetime, MAX_TOKEN_AGE, jitter.mul_f64(draws[s.pod]));
            Some(Due {
                pod: s.pod,
                at: s.at + after,
            })
        })
        .collect();
    wave.sort_by_key(|d| d.at);
    wave
}

/// The most instants (sorted) in any one-second window `[t, t + 1 s)`, and where that window starts.
fn busiest_second(sorted: &[Duration]) -> (usize, Duration) {
    let (mut best, mut from, mut i) = (0, Duration::ZERO, 0);
    for (j, &t) in sorted.iter().enumerate() {
        while t - sorted[i] >= Duration::from_secs(1) {
            i += 1;
        }
        if j + 1 - i > best {
            (best, from) = (j + 1 - i, sorted[i]);
        }
    }
    (best, from)
}

fn p(sorted: &[Duration], q: f64) -> Option<Duration> {
    (!sorted.is_empty()).then(|| percentile(sorted, q))
}

/// The figures of `wave` (sorted by instant) from its answers (same order).
fn summarize(jitter: Option<Duration>, wave: &[Due], answers: &[Answer], real: Duration) -> Wave {
    let instants: Vec<Duration> = wave.iter().map(|d| d.at).collect();
    let (peak, from) = busiest_second(&instants);
    let mut all = Vec::new();
    let mut in_peak = Vec::new();
    let (mut errors, mut first_error) = (0, None);
    for (d, a) in wave.iter().zip(answers) {
        match &a.outcome {
            Ok(_) => {
                all.push(a.latency);
                if d.at >= from && d.at - from < Duration::from_secs(1) {
                    in_peak.push(a.latency);
                }
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert_with(|| e.clone());
            }
        }
    }
    all.sort_unstable();
    in_peak.sort_unstable();
    Wave {
        jitter,
        requests: wave.len(),
        first: instants.first().copied().unwrap_or_default(),
        last: instants.last().copied().unwrap_or_default(),
        real,
        peak,
        p50: p(&all, 0.50),
        p99: p(&all, 0.99),
        peak_p99: p(&in_peak, 0.99),
        errors,
        first_error,
    }
}

/// Runs `work(w)` on `workers` threads; each returns `(index, item)` pairs, merged into `n` items in index order.
fn pooled<T: Send>(n: usize, workers: usize, work: impl Fn(usize) -> Result<Vec<(usize, T)>> + Sync) -> Result<Vec<T>> {
    let results = std::thread::scope(|s| {
        let work = &work;
        join_load_threads((0..workers).map(|w| s.spawn(move || work(w))).collect())
    });
    let mut slots: Vec<Option<T>> = (0..n).map(|_| None).collect();
    for r in results {
        for (i, item) in r? {
            slots[i] = Some(item);
        }
    }
    slots
        .into_iter()
        .map(|t| t.context("an item was left undone"))
        .collect()
}

/// Sends `wave` in real time from its first instant, from `workers` keep-alive connections taking the requests
/// in order; returns one answer per request (same order) and how long the wave took.
fn send_wave(endpoint: &Endpoint, bodies: &[String], wave: &[Due], workers: usize) -> Result<(Vec<Answer>, Duration)> {
    let path = format!("/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{SERVICE_ACCOUNT}/token");
    let opened = (0..workers)
        .map(|_| Connection::open(endpoint))
        .collect::<Result<Vec<_>, _>>();
    let connections = Mutex::new(opened.context("opening the wave's connections")?);
    let (origin, next) = (wave.first().map_or(Duration::ZERO, |d| d.at), AtomicUsize::new(0));
    let t0 = Instant::now() + Duration::from_millis(20);
    let answers = pooled(wave.len(), workers, |_| {
        let mut conn = connections.lock().ok().and_then(|mut c| c.pop());
        let mut out = Vec::new();
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(d) = wave.get(k) else { break };
            out.push((
                k,
                send_at(endpoint, &mut conn, &path, &bodies[d.pod], t0 + (d.at - origin)),
            ));
        }
        Ok(out)
    })?;
    Ok((answers, t0.elapsed()))
}

/// Sends one TokenRequest at `due` on `conn` (opened again after a failure); latency counts from `due`.
fn send_at(endpoint: &Endpoint, conn: &mut Option<Connection>, path: &str, body: &str, due: Instant) -> Answer {
    let now = Instant::now();
    if due > now {
        std::thread::sleep(due - now);
    } else if now - due > GIVE_UP_BEHIND {
        let outcome = Err(format!("not sent: the wave was over {GIVE_UP_BEHIND:?} behind"));
        return Answer {
            latency: now - due,
            outcome,
        };
    }
    let request = Request {
        headers: JSON,
        body: Some(body.as_bytes()),
        ..Request::new("POST", path)
    };
    let sent = conn
        .take()
        .map_or_else(|| Connection::open(endpoint), Ok)
        .and_then(|mut c| {
            let r = c.send(&request)?;
            Ok((c, r))
        });
    let latency = Instant::now().saturating_duration_since(due);
    let outcome = match sent {
        Ok((c, r)) => {
            *conn = Some(c);
            granted(&r)
        }
        Err(e) => Err(e.to_string()),
    };
    Answer { latency, outcome }
}

/// The lifetime a 201 TokenRequest answer granted (`spec.expirationSeconds`); anything else is an error.
fn granted(r: &Response<Vec<u8>>) -> Result<Duration, String> {
    if r.status != 201 {
        return Err(describe(r));
    }
    serde_json::from_slice::<serde_json::Value>(&r.body)
        .ok()
        .and_then(|v| v["spec"]["expirationSeconds"].as_u64())
        .map(Duration::from_secs)
        .ok_or_else(|| "HTTP 201 without spec.expirationSeconds".to_owned())
}

/// Creates the pods (setup, not measured) on `workers` connections; returns each pod's TokenRequest body.
fn create_pods(endpoint: &Endpoint, pods: usize, workers: usize) -> Result<Vec<String>> {
    pooled(pods, workers, |w| {
        let mut conn = Connection::open(endpoint)?;
        (w..pods)
            .step_by(workers)
            .map(|i| Ok((i, create_pod(&mut conn, i)?)))
            .collect()
    })
}

/// Creates pod `i` and returns its TokenRequest body, bound to the pod's name and uid.
fn create_pod(conn: &mut Connection, i: usize) -> Result<String> {
    let name = format!("refresh-pod-{i:05}");
    let container = serde_json::json!({"name": "app", "image": "registry.k8s.io/pause:3.10"});
    let spec = serde_json::json!({"serviceAccountName": SERVICE_ACCOUNT, "containers": [container]});
    let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec});
    let body = pod.to_string();
    let path = format!("/api/v1/namespaces/{NAMESPACE}/pods");
    let r = conn.send(&Request {
        headers: JSON,
        body: Some(body.as_bytes()),
        ..Request::new("POST", &path)
    })?;
    if r.status != 201 {
        bail!("creating pod {name}: {}", describe(&r));
    }
    let created: serde_json::Value = serde_json::from_slice(&r.body).context("a created pod's JSON")?;
    let uid = created["metadata"]["uid"]
        .as_str()
        .context("a created pod without metadata.uid")?;
    let bound = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "name": name, "uid": uid});
    let spec = serde_json::json!({"expirationSeconds": REQUESTED_SECONDS, "boundObjectRef": bound});
    Ok(serde_json::json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}).to_string())
}

/// One server's simulation: the pods, the start wave, then one refresh wave per jitter.
fn simulate(server: &str, endpoint: &Endpoint, flags: &BenchArgs, draws: &[f64]) -> Result<Vec<Wave>> {
    let workers = flags.connections.max(1);
    targets::prepare(endpoint)?;
    let step = Step::start("pods", &format!("{server}: creating {} pods", flags.pods));
    let bodies = create_pods(endpoint, flags.pods, workers)?;
    step.done("created");

    let starts = start_schedule(flags.pods, flags.pod_start_rate);
    let step = Step::start("wave", &format!("{server}: start wave at {}/s", flags.pod_start_rate));
    let (answers, real) = send_wave(endpoint, &bodies, &starts, workers)?;
    let start = summarize(None, &starts, &answers, real);
    step.done(&wave_line(&start));
    let granted: Vec<Option<Duration>> = answers.iter().map(|a| a.outcome.clone().ok()).collect();
    let mut waves = vec![start];
    for &jitter in &flags.refresh_jitter {
        let wave = refresh_schedule(&starts, &granted, draws, jitter);
        let (Some(first), Some(last)) = (wave.first(), wave.last()) else {
            bail!("no pod got a token in the start wave");
        };
        if first.at <= waves[0].last {
            bail!("the refresh wave overlaps the start wave (start the pods faster or lower --refresh-jitter)");
        }
        let name = format!("{server}: refresh wave, jitter {}", humantime::format_duration(jitter));
        progress::note_line(&format!(
            "{name}: simulated {}–{}, run in {:.0} s real ({} quiet simulated minutes skipped, {QUIET_PAUSE:?} pause)",
            clock(first.at),
            clock(last.at),
            (last.at - first.at).as_secs_f64().ceil(),
            (first.at - waves[0].last).as_secs() / 60,
        ));
        std::thread::sleep(QUIET_PAUSE);
        let step = Step::start("wave", &name);
        let (answers, real) = send_wave(endpoint, &bodies, &wave, workers)?;
        let w = summarize(Some(jitter), &wave, &answers, real);
        step.done(&wave_line(&w));
        waves.push(w);
    }
    Ok(waves)
}

/// The rows and the Markdown table of the refresh waves, embedded server and real kube-apiserver.
pub(crate) fn run(bin: &Path, flags: &BenchArgs) -> (Vec<Row>, String) {
    let draws = draws(flags.pods, flags.seed);
    let step = Step::start("embedded", "kube-tokenrequest serve --signing-alg RS256");
    let embedded: Result<Vec<Wave>, Verdict> = match targets::start_embedded(bin, "RS256") {
        Ok((server, endpoint)) => {
            step.done(server.url());
            let waves = simulate("embedded", &endpoint, flags, &draws);
            let stopped = server.stop();
            waves
                .and_then(|w| stopped.map(|()| w).context("stopping the embedded server"))
                .map_err(|e| Verdict::Error(format!("{e:#}")))
        }
        Err(e) => {
            step.fail("not started");
            Err(Verdict::Error(format!("{e:#}")))
        }
    };
    let step = Step::start("real", &format!("kube-apiserver {} + etcd", flags.k8s_version));
    let real: Result<Vec<Wave>, Verdict> = match targets::start_real(&flags.k8s_version) {
        Ok((cp, endpoint)) => {
            step.done(&format!("ready in {}", progress::elapsed(cp.started_in())));
            let waves = simulate("kube-apiserver", &endpoint, flags, &draws);
            let _ = cp.stop();
            waves.map_err(|e| Verdict::Error(format!("{e:#}")))
        }
        Err(why) => {
            step.fail("not started");
            Err(Verdict::Skipped(why))
        }
    };
    let servers = [("embedded", &embedded), ("kube-apiserver", &real)];
    let mut rows = Vec::new();
    let mut md = String::from(
        "| server | wave | jitter | requests | simulated | width | peak/s | p50 | p99 | p99 in peak second | \
         errors |\n|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for (server, result) in servers {
        match result {
            Ok(waves) => {
                for w in waves {
                    rows.push(wave_row(server, w));
                    md.push_str(&wave_md(server, w));
                }
            }
            Err(verdict) => {
                let row = Row::new(
                    &format!("refresh: {server}"),
                    "-".into(),
                    "(info)",
                    verdict.clone(),
                    String::new(),
                );
                md.push_str(&format!(
                    "| {server} | - | - | - | - | - | - | - | - | - | {} |\n",
                    cell(verdict)
                ));
                rows.push(row);
            }
        }
    }
    md.push('\n');
    for &jitter in &flags.refresh_jitter {
        let name = format!(
            "refresh wave p99 embedded ÷ real, jitter {}",
            humantime::format_duration(jitter)
        );
        let pick = |r: &Result<Vec<Wave>, Verdict>| match r {
            Ok(waves) => waves
                .iter()
                .find(|w| w.jitter == Some(jitter))
                .and_then(|w| w.p99.zip(w.peak_p99)),
            Err(_) => None,
        };
        match (pick(&embedded), pick(&real)) {
            (Some((ours, ours_peak)), Some((theirs, theirs_peak))) => {
                let (ratio, peak_ratio) = (
                    ours.as_secs_f64() / theirs.as_secs_f64(),
                    ours_peak.as_secs_f64() / theirs_peak.as_secs_f64(),
                );
                let detail = format!(
                    "{} ÷ {}; in the busiest second {} ÷ {} = {peak_ratio:.2}",
                    ms(ours),
                    ms(theirs),
                    ms(ours_peak),
                    ms(theirs_peak)
                );
                md.push_str(&format!("- {name}: **{ratio:.2}** ({detail})\n"));
                rows.push(Row::new(&name, format!("{ratio:.2}"), "(info)", Verdict::Info, detail));
            }
            _ => {
                md.push_str(&format!("- {name}: not measured (a server has no result, see above)\n"));
                rows.push(Row::skipped(&name, "(info)", "a server has no result for this jitter"));
            }
        }
    }
    (rows, md)
}

fn wave_name(w: &Wave) -> String {
    w.jitter.map_or_else(
        || "start wave".to_owned(),
        |j| format!("refresh wave (jitter {})", humantime::format_duration(j)),
    )
}

fn wave_line(w: &Wave) -> String {
    format!(
        "peak {}/s, p50 {}, p99 {}, {} errors",
        w.peak,
        opt_ms(w.p50),
        opt_ms(w.p99),
        w.errors
    )
}

fn wave_row(server: &str, w: &Wave) -> Row {
    let verdict = match &w.first_error {
        Some(first) => Verdict::Error(format!(
            "{} of {} requests failed; first: {first}",
            w.errors, w.requests
        )),
        None => Verdict::Info,
    };
    Row::new(
        &format!("refresh: {server}, {} p99 (p50)", wave_name(w)),
        format!("{} ({})", opt_ms(w.p99), opt_ms(w.p50)),
        "(info)",
        verdict,
        format!(
            "{} requests, simulated {}–{}, run in {:.1} s; peak {}/s, p99 in that second {}",
            w.requests,
            clock(w.first),
            clock(w.last),
            w.real.as_secs_f64(),
            w.peak,
            opt_ms(w.peak_p99)
        ),
    )
}

fn wave_md(server: &str, w: &Wave) -> String {
    format!(
        "| {server} | {} | {} | {} | {}–{} | {:.1} s | {} | {} | {} | {} | {} |\n",
        if w.jitter.is_some() { "refresh" } else { "start" },
        w.jitter
            .map_or_else(|| "-".to_owned(), |j| humantime::format_duration(j).to_string()),
        w.requests,
        clock(w.first),
        clock(w.last),
        (w.last - w.first).as_secs_f64(),
        w.peak,
        opt_ms(w.p50),
        opt_ms(w.p99),
        opt_ms(w.peak_p99),
        w.errors
    )
}

fn cell(v: &Verdict) -> String {
    match v {
        Verdict::Skipped(why) => format!("skipped: {why}").replace('|', "\\|"),
        Verdict::Error(why) => format!("ERROR: {why}").replace('|', "\\|"),
        _ => String::new(),
    }
}

fn opt_ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".to_owned(), ms)
}

/// A simulated instant as `mm:ss.s`.
fn clock(d: Duration) -> String {
    let s = d.as_secs_f64();
    format!("{}:{:04.1}", (s / 60.0).floor(), s % 60.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_start_at_the_start_rate() {
        let s = start_schedule(5, 200.0);
        assert_eq!(s.len(), 5);
        assert_eq!(
            s[0],
            Due {
                pod: 0,
                at: Duration::ZERO
            }
        );
        assert_eq!(s[4].at, Duration::from_millis(20));
    }

    #[test]
    fn draws_are_reproducible_and_in_the_unit_interval() {
        let a = draws(1000, 1);
        assert_eq!(a, draws(1000, 1));
        assert_ne!(a, draws(1000, 2));
        assert!(a.iter().all(|u| (0.0..1.0).contains(u)));
    }

    #[test]
    fn refreshes_follow_the_cache_rule_and_skip_pods_without_a_token() {
        let starts = start_schedule(3, 1.0);
        let hour = Some(Duration::from_secs(3600));
        let granted = [hour, None, hour];
        let wave = refresh_schedule(&starts, &granted, &[0.5, 0.0, 0.0], Duration::from_secs(10));
        // 80 % of 1 h = 48 min; pod 0 less 5 s of jitter, pod 2 starts 2 s later without jitter.
        assert_eq!(
            wave,
            [
                Due {
                    pod: 0,
                    at: Duration::from_secs(2880 - 5)
                },
                Due {
                    pod: 2,
                    at: Duration::from_secs(2 + 2880)
                },
            ]
        );
        // Sorted by instant: pod 2's 9 s of jitter move it ahead of pods 0 and 1, started 2 s and 1 s earlier.
        let wave = refresh_schedule(&starts, &[hour, hour, hour], &[0.0, 0.0, 0.9], Duration::from_secs(10));
        assert_eq!(wave.iter().map(|d| d.pod).collect::<Vec<_>>(), [2, 0, 1]);
    }

    #[test]
    fn the_busiest_second_is_a_sliding_window() {
        let at = |ms: &[u64]| ms.iter().map(|&m| Duration::from_millis(m)).collect::<Vec<_>>();
        assert_eq!(busiest_second(&[]), (0, Duration::ZERO));
        // Aligned buckets would see 2 + 2; the window [0.6 s, 1.6 s) holds 4 (1.6 s itself is outside).
        assert_eq!(
            busiest_second(&at(&[100, 600, 900, 1200, 1500, 1600])),
            (4, Duration::from_millis(600))
        );
        // 2,000 pods at 200/s: 200 in any one second.
        let instants: Vec<Duration> = start_schedule(2000, 200.0).iter().map(|d| d.at).collect();
        assert_eq!(busiest_second(&instants).0, 200);
    }

    #[test]
    fn the_kubelet_jitter_barely_lowers_a_ten_second_start_wave() {
        let starts = start_schedule(2000, 200.0);
        let granted = vec![Some(Duration::from_secs(3600)); 2000];
        let u = draws(2000, 1);
        let peak = |jitter| {
            let wave = refresh_schedule(&starts, &granted, &u, jitter);
            busiest_second(&wave.iter().map(|d| d.at).collect::<Vec<_>>()).0
        };
        let (ten_s, five_min) = (peak(Duration::from_secs(10)), peak(Duration::from_secs(300)));
        assert!((150..=220).contains(&ten_s), "{ten_s}");
        assert!(five_min < 30, "{five_min}");
    }

    #[test]
    fn a_wave_is_summarized_from_its_answers() {
        let wave = start_schedule(4, 2.0);
        let ok = |m| Answer {
            latency: Duration::from_millis(m),
            outcome: Ok(Duration::from_secs(3600)),
        };
        let answers = [
            ok(1),
            ok(3),
            Answer {
                latency: Duration::ZERO,
                outcome: Err("HTTP 403".into()),
            },
            ok(2),
        ];
        let w = summarize(None, &wave, &answers, Duration::from_secs(2));
        assert_eq!((w.requests, w.peak, w.errors), (4, 2, 1));
        assert_eq!(
            (w.p50, w.p99),
            (Some(Duration::from_millis(2)), Some(Duration::from_millis(3)))
        );
        assert_eq!(w.peak_p99, Some(Duration::from_millis(3)));
        assert_eq!(w.first_error.as_deref(), Some("HTTP 403"));
        assert_eq!(clock(Duration::from_secs_f64(2875.5)), "47:55.5");
    }
}
