//! TokenCache against a fake token source on a paused clock: the refresh threshold (80 % of the lifetime, at most
//! 24 h, less the jitter), single flight, serving the old token with backoff while refreshes fail (and the
//! server's Retry-After), and the size bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use tokenrequest_client::TokenRequestOptions;
use tokenrequest_client::cache::{CacheConfig, CacheError, CacheKey, TokenCache, TokenSource, refresh_after};

/// A token from the fake: its serial number and lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FakeToken {
    serial: u64,
    lifetime: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("the fake API is down")]
struct FakeError {
    retry_after: Option<Duration>,
}

/// Issues tokens living `key.expiration_seconds` (default 3600 s), after `delay`; fails while `failing`.
struct FakeSource {
    calls: AtomicU64,
    failing: AtomicBool,
    /// Seconds of `Retry-After` in failures (0: none).
    retry_after: AtomicU64,
    delay: Duration,
}

impl FakeSource {
    fn new(delay: Duration) -> Self {
        Self {
            calls: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            retry_after: AtomicU64::new(0),
            delay,
        }
    }
}

impl TokenSource for FakeSource {
    type Token = FakeToken;
    type Error = FakeError;

    async fn fetch(&self, key: &CacheKey) -> Result<FakeToken, FakeError> {
        let serial = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(self.delay).await;
        if self.failing.load(Ordering::SeqCst) {
            let seconds = self.retry_after.load(Ordering::SeqCst);
            return Err(FakeError {
                retry_after: (seconds > 0).then(|| Duration::from_secs(seconds)),
            });
        }
        let seconds = key.expiration_seconds.unwrap_or(3600).unsigned_abs();
        Ok(FakeToken {
            serial,
            lifetime: Duration::from_secs(seconds),
        })
    }

    fn lifetime(token: &FakeToken) -> Duration {
        token.lifetime
    }

    fn retry_after(error: &FakeError) -> Option<Duration> {
        error.retry_after
    }
}

fn key(service_account: &str, seconds: i64) -> CacheKey {
    let options = TokenRequestOptions {
        expiration_seconds: Some(seconds),
        ..TokenRequestOptions::default()
    };
    CacheKey::new("team-a", service_account, &options)
}

fn cache(max_entries: usize) -> TokenCache<FakeSource> {
    TokenCache::new(FakeSource::new(Duration::ZERO), CacheConfig::deterministic(max_entries))
}

fn calls(cache: &TokenCache<FakeSource>) -> u64 {
    cache.source().calls.load(Ordering::SeqCst)
}

async fn advance(seconds: u64) {
    tokio::time::advance(Duration::from_secs(seconds)).await;
}

#[tokio::test(start_paused = true)]
async fn serves_the_cached_token_until_80_percent_of_its_lifetime() {
    let cache = cache(10);
    let k = key("robot", 1000);
    assert_eq!(cache.get(&k).await.unwrap().serial, 1);
    advance(800).await;
    assert_eq!(
        cache.get(&k).await.unwrap().serial,
        1,
        "at exactly 80 % the token is still served"
    );
    advance(1).await;
    assert_eq!(cache.get(&k).await.unwrap().serial, 2);
    assert_eq!(calls(&cache), 2);
}

#[tokio::test(start_paused = true)]
async fn refreshes_tokens_older_than_24_hours() {
    let cache = cache(10);
    let k = key("robot", 7 * 24 * 3600);
    assert_eq!(cache.get(&k).await.unwrap().serial, 1);
    advance(24 * 3600).await;
    assert_eq!(cache.get(&k).await.unwrap().serial, 1);
    advance(1).await;
    assert_eq!(cache.get(&k).await.unwrap().serial, 2);
}

#[tokio::test(start_paused = true)]
async fn keys_differ_by_audience_binding_and_duration() {
    let cache = cache(10);
    let base = key("robot", 3600);
    let mut audience = base.clone();
    audience.audiences = vec!["vault".to_owned()];
    let mut duration = base.clone();
    duration.expiration_seconds = Some(7200);
    for k in [&base, &audience, &duration, &base] {
        cache.get(k).await.unwrap();
    }
    assert_eq!(calls(&cache), 3);
}

/// N concurrent callers for one key while the request is in flight: exactly one request.
#[tokio::test(start_paused = true)]
async fn single_flight_per_key() {
    let cache = Arc::new(TokenCache::new(
        FakeSource::new(Duration::from_secs(2)),
        CacheConfig::deterministic(10),
    ));
    let mut callers = tokio::task::JoinSet::new();
    for i in 0..100 {
        let cache = Arc::clone(&cache);
        let k = key(if i % 2 == 0 { "robot" } else { "other" }, 3600);
        callers.spawn(async move { cache.get(&k).await.unwrap().serial });
    }
    let serials = callers.join_all().await;
    assert_eq!(serials.len(), 100);
    assert_eq!(calls(&cache), 2, "one request per key for 100 callers on 2 keys");
}

#[tokio::test(start_paused = true)]
async fn a_failure_is_shared_by_the_callers_that_waited_for_it() {
    let source = FakeSource::new(Duration::from_secs(1));
    source.failing.store(true, Ordering::SeqCst);
    let cache = Arc::new(TokenCache::new(source, CacheConfig::deterministic(10)));
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let cache = Arc::clone(&cache);
        callers.spawn(async move { matches!(cache.get(&key("robot", 3600)).await, Err(CacheError::Fetch(_))) });
    }
    assert!(callers.join_all().await.into_iter().all(|failed| failed));
    assert_eq!(calls(&cache), 1);
}

#[tokio::test(start_paused = true)]
async fn keeps_serving_the_old_token_while_refresh_fails_and_backs_off() {
    let cache = cache(10);
    let k = key("robot", 1000);
    cache.get(&k).await.unwrap();
    advance(801).await;
    cache.source().failing.store(true, Ordering::SeqCst);
    assert_eq!(
        cache.get(&k).await.unwrap().serial,
        1,
        "old token served after a failed refresh"
    );
    assert_eq!(calls(&cache), 2);
    assert_eq!(cache.get(&k).await.unwrap().serial, 1);
    assert_eq!(calls(&cache), 2, "no retry during the 1 s backoff");
    advance(1).await;
    cache.get(&k).await.unwrap();
    assert_eq!(calls(&cache), 3, "retried after 1 s");
    advance(1).await;
    cache.get(&k).await.unwrap();
    assert_eq!(calls(&cache), 3, "the second backoff is 2 s");
    advance(1).await;
    cache.source().failing.store(false, Ordering::SeqCst);
    assert_eq!(cache.get(&k).await.unwrap().serial, 4, "recovered");
}

#[tokio::test(start_paused = true)]
async fn a_retry_waits_at_least_what_retry_after_says_but_no_longer_than_the_longest_backoff() {
    let cache = cache(10);
    let k = key("robot", 1000);
    cache.get(&k).await.unwrap();
    advance(801).await;
    cache.source().failing.store(true, Ordering::SeqCst);
    cache.source().retry_after.store(5, Ordering::SeqCst);
    cache.get(&k).await.unwrap();
    advance(4).await;
    cache.get(&k).await.unwrap();
    assert_eq!(calls(&cache), 2, "Retry-After: 5 outweighs the 1 s step");
    advance(1).await;
    cache.get(&k).await.unwrap();
    assert_eq!(calls(&cache), 3);
    cache.source().retry_after.store(3600, Ordering::SeqCst);
    advance(5).await;
    cache.get(&k).await.unwrap();
    assert_eq!(calls(&cache), 4);
    let next = cache.next_refresh(&k).await.unwrap();
    assert_eq!(
        next - tokio::time::Instant::now(),
        Duration::from_secs(60),
        "an hour's Retry-After is capped at max_backoff"
    );
}

#[tokio::test(start_paused = true)]
async fn refreshes_spread_over_the_jitter_and_never_later_than_the_threshold() {
    let config = CacheConfig {
        seed: Some(7),
        refresh_jitter: Duration::from_secs(300),
        ..CacheConfig::new(1000)
    };
    let cache = TokenCache::new(FakeSource::new(Duration::ZERO), config);
    let start = tokio::time::Instant::now();
    let mut offsets = Vec::new();
    for i in 0..200 {
        let k = key(&format!("pod-{i}"), 3600);
        cache.get(&k).await.unwrap();
        offsets.push((cache.next_refresh(&k).await.unwrap() - start).as_secs_f64());
    }
    let threshold = 2880.0;
    assert!(
        offsets.iter().all(|&at| (threshold - 300.0..=threshold).contains(&at)),
        "{offsets:?}"
    );
    let early = offsets.iter().filter(|&&at| at < threshold - 150.0).count();
    assert!(
        (60..=140).contains(&early),
        "about half in the first half of the window: {early}"
    );
}

#[test]
fn backoff_steps_double_up_to_the_bound_and_jitter_only_shortens_them() {
    let config = CacheConfig::new(1);
    let seconds = |failures, jitter| config.backoff(failures, jitter, None).as_secs_f64();
    assert_eq!(
        [1, 2, 3, 7, 8, 40].map(|failures| seconds(failures, 0.0)),
        [1.0, 2.0, 4.0, 60.0, 60.0, 60.0]
    );
    assert_eq!(seconds(3, 1.0), 2.0, "at most half of a step is random");
    assert_eq!(seconds(3, 0.5), 3.0);
    assert_eq!(
        config.backoff(1, 1.0, Some(Duration::from_secs(10))),
        Duration::from_secs(10)
    );
}

#[tokio::test(start_paused = true)]
async fn an_expired_token_is_not_served_when_refresh_fails() {
    let cache = cache(10);
    let k = key("robot", 1000);
    cache.get(&k).await.unwrap();
    advance(1000).await;
    cache.source().failing.store(true, Ordering::SeqCst);
    let err = cache.get(&k).await.unwrap_err();
    assert!(matches!(err, CacheError::ExpiredAndRefreshFailed(_)), "{err}");
    assert_eq!(err.to_string(), "the cached token expired and refreshing it failed");
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(source.as_deref(), Some("the fake API is down"));
}

#[tokio::test(start_paused = true)]
async fn the_size_is_bounded_and_expired_entries_go_first() {
    let cache = cache(2);
    cache.get(&key("short", 600)).await.unwrap();
    cache.get(&key("long", 7200)).await.unwrap();
    advance(600).await;
    cache.get(&key("new", 3600)).await.unwrap();
    assert_eq!(cache.len(), 2);
    cache.get(&key("long", 7200)).await.unwrap();
    assert_eq!(calls(&cache), 3, "the live entry was kept, the expired one dropped");
    cache.get(&key("newest", 3600)).await.unwrap();
    assert_eq!(cache.len(), 2, "full of live entries: the oldest goes");
    cache.get(&key("new", 3600)).await.unwrap();
    assert_eq!(calls(&cache), 4, "`new` survived, `long` (the oldest) was evicted");
}

#[tokio::test(start_paused = true)]
async fn sweep_drops_expired_entries() {
    let cache = cache(10);
    cache.get(&key("short", 600)).await.unwrap();
    cache.get(&key("long", 7200)).await.unwrap();
    advance(600).await;
    cache.sweep();
    assert_eq!(cache.len(), 1);
}

/// Requests made when a token of `lifetime` is asked for again after `age`.
fn requests_after(lifetime: u64, age: u64) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(async {
        let cache = cache(1);
        let k = key("robot", i64::try_from(lifetime).expect("small"));
        cache.get(&k).await.unwrap();
        advance(age).await;
        cache.get(&k).await.unwrap();
        calls(&cache)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Refresh happens exactly when the age passes min(80 % of the lifetime, 24 h).
    #[test]
    fn refresh_threshold(lifetime in 600u64..=4 * 24 * 3600, fraction in 0.0f64..1.2) {
        let age = (lifetime as f64 * fraction) as u64;
        let threshold = refresh_after(Duration::from_secs(lifetime), Duration::from_secs(24 * 3600), Duration::ZERO);
        let expected = if Duration::from_secs(age) > threshold { 2 } else { 1 };
        prop_assert_eq!(requests_after(lifetime, age), expected);
    }
}
