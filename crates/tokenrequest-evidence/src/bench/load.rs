//! The load generator: N keep-alive connections, one thread each, sending one kind of request.
//!
//! - [`closed_loop`] finds the peak rate: every connection sends its next request as soon as the previous answer
//!   arrived, so the server is never idle; requests finished during the warm-up are not counted.
//! - [`open_loop`] measures latency at a fixed offered rate: request k is *due* at `start + k / rate` whether or
//!   not earlier answers came back, and its latency is counted from when it was due, not from when it was sent.
//!   A closed-loop client waiting on a slow answer would otherwise stop offering load exactly when the server is
//!   slow, and hide that slowness from the percentiles (coordinated omission).

use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tokenrequest_envtest::http::{Connection, Endpoint, Request, Response};

use super::targets::JSON;

/// The token pool is capped: enough distinct tokens that a TokenReview run does not review the same few over and
/// over (kube-apiserver caches authentication results per token for 10 s), small enough to hold in memory.
pub(crate) const TOKEN_POOL: usize = 4096;

/// One kind of request: the path, and the bodies to cycle through.
pub(crate) struct Workload {
    pub(crate) name: &'static str,
    pub(crate) path: String,
    pub(crate) bodies: Arc<Vec<String>>,
    /// The status every answer must have (201 for TokenRequest and TokenReview).
    pub(crate) status: u16,
    /// A string every answer's body must contain, so that a fast wrong answer (an unauthenticated review) is an
    /// error rather than a rate.
    pub(crate) must_contain: &'static str,
}

impl Workload {
    /// Connection `conn`'s `k`-th body: connections start at different offsets of the pool.
    fn body(&self, conn: usize, k: usize) -> &str {
        let n = self.bodies.len();
        &self.bodies[(conn * n / 8 + k) % n]
    }

    /// Sends connection `conn`'s `k`-th request.
    fn send(
        &self,
        connection: &mut Connection,
        conn: usize,
        k: usize,
    ) -> tokenrequest_envtest::Result<Response<Vec<u8>>> {
        connection.send(&Request {
            headers: JSON,
            body: Some(self.body(conn, k).as_bytes()),
            ..Request::new("POST", &self.path)
        })
    }

    fn accepts(&self, r: &Response<Vec<u8>>) -> bool {
        r.status == self.status && contains(&r.body, self.must_contain.as_bytes())
    }
}

/// What a closed-loop run achieved.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peak {
    /// Successful requests per second over the measured window.
    pub(crate) rate: f64,
    pub(crate) ok: u64,
}

/// Latency percentiles of an open-loop run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Latency {
    pub(crate) offered_rate: f64,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    pub(crate) max: Duration,
    pub(crate) samples: usize,
}

/// Counts of one connection's run, merged after the threads end.
#[derive(Default)]
struct Tally {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }
}

/// Sends `work` on `connections` connections as fast as answers come back, for `warmup + measure`; the rate is
/// what finished inside the `measure` window. When `harvest` is given, tokens from the answers (TokenRequest) are
/// kept there, up to [`TOKEN_POOL`], for a later TokenReview workload.
pub(crate) fn closed_loop(
    endpoint: &Endpoint,
    work: &Workload,
    connections: usize,
    warmup: Duration,
    measure: Duration,
    harvest: Option<&Mutex<Vec<String>>>,
) -> Result<Peak> {
    let barrier = Barrier::new(connections + 1);
    let tallies: Vec<Result<Tally>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..connections)
            .map(|c| {
                let barrier = &barrier;
                s.spawn(move || -> Result<Tally> {
                    // Every thread reaches the barrier, even when its connection failed, or the others would wait.
                    let opened = Connection::open(endpoint);
                    barrier.wait();
                    let mut conn = opened?;
                    let start = Instant::now();
                    let (from, until) = (start + warmup, start + warmup + measure);
                    let mut tally = Tally::default();
                    let mut k = 0;
                    let mut kept = Vec::new();
                    loop {
                        let now = Instant::now();
                        if now >= until {
                            break;
                        }
                        let result = work.send(&mut conn, c, k);
                        k += 1;
                        let done = Instant::now();
                        let counted = done >= from && done < until;
                        match result {
                            Ok(r) if work.accepts(&r) => {
                                if counted {
                                    tally.ok += 1;
                                }
                                if harvest.is_some() && kept.len() < TOKEN_POOL / connections {
                                    kept.extend(token_of(&r.body));
                                }
                            }
                            Ok(r) => tally.error(describe(&r)),
                            Err(e) => {
                                tally.error(e.to_string());
                                conn = Connection::open(endpoint)?;
                            }
                        }
                    }
                    if let Some(pool) = harvest {
                        pool.lock().expect("token pool lock").extend(kept);
                    }
                    Ok(tally)
                })
            })
            .collect();
        barrier.wait();
        join_load_threads(handles)
    });
    let tally = merge(tallies, work.name)?;
    Ok(Peak {
        rate: tally.ok as f64 / measure.as_secs_f64(),
        ok: tally.ok,
    })
}

/// Offers `rate` requests per second of `work`, spread evenly over `connections`, for `warmup + measure`, and
/// reports the latency percentiles of the requests due inside the `measure` window.
pub(crate) fn open_loop(
    endpoint: &Endpoint,
    work: &Workload,
    connections: usize,
    rate: f64,
    warmup: Duration,
    measure: Duration,
) -> Result<Latency> {
    let barrier = Barrier::new(connections + 1);
    // Each connection sends every `period`; connection c is offset by c/connections of a period, so the
    // aggregate schedule is one request every 1/rate seconds.
    let period = Duration::from_secs_f64(connections as f64 / rate);
    let results: Vec<Result<(Tally, Vec<Duration>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..connections)
            .map(|c| {
                let barrier = &barrier;
                s.spawn(move || -> Result<(Tally, Vec<Duration>)> {
                    let opened = Connection::open(endpoint);
                    barrier.wait();
                    let mut conn = opened?;
                    let start = Instant::now() + period.mul_f64(c as f64 / connections as f64);
                    let (from, until) = (start + warmup, start + warmup + measure);
                    let mut tally = Tally::default();
                    let mut latencies = Vec::new();
                    for k in 0u32.. {
                        let due = start + period * k;
                        if due >= until {
                            break;
                        }
                        let now = Instant::now();
                        if due > now {
                            std::thread::sleep(due - now);
                        }
                        let result = work.send(&mut conn, c, k as usize);
                        let latency = Instant::now().saturating_duration_since(due);
                        match result {
                            Ok(r) if work.accepts(&r) => {
                                tally.ok += 1;
                                if due >= from {
                                    latencies.push(latency);
                                }
                            }
                            Ok(r) => tally.error(describe(&r)),
                            Err(e) => {
                                tally.error(e.to_string());
                                conn = Connection::open(endpoint)?;
                            }
                        }
                    }
                    Ok((tally, latencies))
                })
            })
            .collect();
        barrier.wait();
        join_load_threads(handles)
    });
    let mut all = Vec::new();
    let mut tallies = Vec::new();
    for r in results {
        let (tally, latencies) = r?;
        all.extend(latencies);
        tallies.push(Ok(tally));
    }
    merge(tallies, work.name)?;
    if all.is_empty() {
        bail!("{}: no request finished in the measured window", work.name);
    }
    all.sort_unstable();
    Ok(Latency {
        offered_rate: rate,
        p50: percentile(&all, 0.50),
        p99: percentile(&all, 0.99),
        max: *all.last().expect("not empty"),
        samples: all.len(),
    })
}

/// The nearest-rank percentile of sorted samples.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Sums the connections' counts. Any failed request fails the measurement: a rate that includes errors (or
/// excludes them silently) would not be comparable between the two servers.
fn merge(tallies: Vec<Result<Tally>>, name: &str) -> Result<Tally> {
    let mut total = Tally::default();
    for t in tallies {
        let t = t.with_context(|| format!("{name}: a connection failed"))?;
        total.ok += t.ok;
        total.errors += t.errors;
        if total.first_error.is_none() {
            total.first_error = t.first_error;
        }
    }
    if total.errors > 0 {
        bail!(
            "{name}: {} of {} requests failed; first: {}",
            total.errors,
            total.ok + total.errors,
            total.first_error.unwrap_or_default()
        );
    }
    Ok(total)
}

/// The token of a TokenRequest answer (the one token-shaped string in it), found by scanning rather than parsing:
/// the client must stay cheap next to the server it measures. The token never leaves memory.
fn token_of(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    tokenrequest_types::token::find_jwt(text, 0).map(|range| text[range].to_owned())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// An unexpected answer, for the one error line: the status, and the body only when it is not a success (a
/// success body may hold a token; error bodies are `Status` objects).
pub(crate) fn describe(r: &Response<Vec<u8>>) -> String {
    if (200..300).contains(&r.status) {
        format!("HTTP {} without the expected content", r.status)
    } else {
        format!(
            "HTTP {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body[..r.body.len().min(200)])
        )
    }
}

/// Waits for every load thread; a panicked one counts as an error.
pub(crate) fn join_load_threads<T>(handles: Vec<std::thread::ScopedJoinHandle<'_, Result<T>>>) -> Vec<Result<T>> {
    handles
        .into_iter()
        .map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("a load thread panicked")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 0.50), Duration::from_millis(50));
        assert_eq!(percentile(&samples, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&samples[..1], 0.99), Duration::from_millis(1));
    }

    #[test]
    fn the_token_is_found_in_a_token_request_answer() {
        let body = br#"{"kind":"TokenRequest","status":{"token":"eyJa.eyJb.c-_","expirationTimestamp":"x"}}"#; // tidy:allow-jwt
        assert_eq!(token_of(body).as_deref(), Some("eyJa.eyJb.c-_")); // tidy:allow-jwt: a toy token shape
        assert_eq!(token_of(b"{}"), None);
    }
}
