//! A token cache with kubelet's token-manager semantics (`pkg/kubelet/token/token_manager.go`).
//!
//! - Keyed by namespace, service account, audiences, bound object and requested duration.
//! - A token is served until 80 % of its lifetime has passed (`exp - 20 %` in kubelet) or it is older than 24 h
//!   (`maxTTL`), less a random jitter, then refreshed. Lifetime is the duration the API *granted*
//!   (`spec.expirationSeconds` of the response), as kubelet computes it, so an extended 3607 s token is refreshed
//!   after ~48 min, not after a year. The jitter is uniform in `[0, refresh_jitter)`, kubelet's `maxJitter` of 10 s
//!   by default; kubelet draws it anew on every check, this cache once per token, so that the refresh time of a
//!   token is one known instant ([`TokenCache::next_refresh`]) and the spread of a fleet's refreshes is exactly the
//!   jitter's.
//! - One request per key at a time (single-flight): concurrent callers wait for the same request.
//! - If a refresh fails while the old token is still valid, the old token is served and the refresh is retried after
//!   a bounded, jittered exponential backoff, or after the server's `Retry-After` if that is longer (kubelet
//!   retries on every call; backing off spares an API server that is already failing, kubernetes/kubernetes#138689).
//!   The first call after the backoff retries, so the cache recovers within one backoff step of the API answering
//!   again. An expired token is never served: once the old token has expired, the failure is returned.
//! - Bounded: expired entries are dropped when space is needed, then the oldest.
//!
//! All times come from a [`Clock`]: tokio's by default, so tests can pause it, or a [`ManualClock`] that a
//! simulation moves by hand while real requests go over the network.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use tokio::time::Instant;

use crate::token_client::{BoundObjectRef, IssuedToken, RequestError, TokenClient, TokenRequestOptions};

/// kubelet's `maxTTL`: a token older than this is refreshed whatever its lifetime.
pub const MAX_TOKEN_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// Which token a caller wants.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The service account's namespace.
    pub namespace: String,
    /// The service account.
    pub service_account: String,
    /// Requested audiences (order matters: it is the `aud` claim's order).
    pub audiences: Vec<String>,
    /// The bound object.
    pub bound_object: Option<BoundObjectRef>,
    /// The requested duration.
    pub expiration_seconds: Option<i64>,
}

impl CacheKey {
    /// The key of a request. `dry_run` is not part of it: kube-apiserver issues the same token either way (R28).
    pub fn new(namespace: &str, service_account: &str, options: &TokenRequestOptions) -> Self {
        Self {
            namespace: namespace.to_owned(),
            service_account: service_account.to_owned(),
            audiences: options.audiences.clone(),
            bound_object: options.bound_object.clone(),
            expiration_seconds: options.expiration_seconds,
        }
    }

    /// The request this key stands for.
    pub fn options(&self) -> TokenRequestOptions {
        TokenRequestOptions {
            audiences: self.audiences.clone(),
            expiration_seconds: self.expiration_seconds,
            bound_object: self.bound_object.clone(),
            dry_run: false,
        }
    }
}

/// Where the cache gets tokens from: the API ([`TokenClient`]) or a fake in tests.
pub trait TokenSource: Send + Sync {
    /// What is cached.
    type Token: Clone + Send + Sync;
    /// Why a fetch failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Fetches a new token for `key`.
    fn fetch(&self, key: &CacheKey) -> impl Future<Output = Result<Self::Token, Self::Error>> + Send;

    /// How long `token` is valid from the moment it was fetched, as the issuer granted it.
    fn lifetime(token: &Self::Token) -> Duration;

    /// How long the server asked callers to wait before retrying after `error` (`Retry-After`), if it did.
    fn retry_after(_error: &Self::Error) -> Option<Duration> {
        None
    }
}

impl TokenSource for TokenClient {
    type Token = IssuedToken;
    type Error = RequestError;

    async fn fetch(&self, key: &CacheKey) -> Result<IssuedToken, RequestError> {
        self.request(&key.namespace, &key.service_account, &key.options()).await
    }

    fn lifetime(token: &IssuedToken) -> Duration {
        let seconds = token
            .expiration_seconds()
            .unwrap_or_else(|| token.expiration_timestamp().as_second() - token.claims().iat);
        Duration::from_secs(seconds.max(0).unsigned_abs())
    }

    fn retry_after(error: &RequestError) -> Option<Duration> {
        match error {
            RequestError::Api(api) => api.retry_after(),
            _ => None,
        }
    }
}

/// Where the cache reads the time.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Instant;
}

/// tokio's clock: real time, or paused and advanced by tests (`tokio::time::pause`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to, for simulations that send real requests (tokio's paused clock would
/// also jump network timeouts forward whenever the runtime waits for a socket).
#[derive(Debug)]
pub struct ManualClock(Mutex<Instant>);

impl ManualClock {
    /// A clock standing at the real now.
    pub fn new() -> Self {
        Self(Mutex::new(Instant::now()))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Instant {
        (**self).now()
    }
}

/// The cache's limits and timings.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    /// Most keys held at once.
    pub max_entries: usize,
    /// Refresh tokens older than this whatever their lifetime.
    pub max_age: Duration,
    /// The wait before the first retry of a failed refresh; doubled per failure.
    pub initial_backoff: Duration,
    /// The longest wait between retries.
    pub max_backoff: Duration,
    /// A token is refreshed up to this much before its refresh threshold (uniformly at random), so that tokens
    /// fetched together are not all refreshed together.
    pub refresh_jitter: Duration,
    /// The fraction of each backoff step that is random: a step of `d` waits between `d * (1 - backoff_jitter)`
    /// and `d`, so that callers that failed together do not retry together.
    pub backoff_jitter: f64,
    /// Seeds the jitter for a reproducible run; `None` draws the seed from the operating system.
    pub seed: Option<u64>,
}

/// kubelet's `maxJitter` (pkg/kubelet/token/token_manager.go).
pub const KUBELET_REFRESH_JITTER: Duration = Duration::from_secs(10);

impl CacheConfig {
    /// kubelet's timings (24 h max age, up to 10 s of refresh jitter) with `max_entries`, retrying after about
    /// 1 s, 2 s, ... up to 1 min, each step up to half shorter at random.
    pub fn new(max_entries: usize) -> Self {
        Self {
            max_entries,
            max_age: MAX_TOKEN_AGE,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            refresh_jitter: KUBELET_REFRESH_JITTER,
            backoff_jitter: 0.5,
            seed: None,
        }
    }

    /// The same without randomness: refreshes exactly at the threshold, backoff steps exactly doubling.
    pub fn deterministic(max_entries: usize) -> Self {
        Self {
            refresh_jitter: Duration::ZERO,
            backoff_jitter: 0.0,
            ..Self::new(max_entries)
        }
    }

    /// The wait after the `failures`-th failure in a row: `initial_backoff` doubled per failure, at most
    /// `max_backoff`, shortened by `jitter` (a fraction of `backoff_jitter`, in `[0, 1]`), and at least the
    /// server's `retry_after` (itself at most `max_backoff`, so the wait stays bounded).
    pub fn backoff(&self, failures: u32, jitter: f64, retry_after: Option<Duration>) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        let step = self
            .initial_backoff
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff);
        let shortening = (self.backoff_jitter * jitter).clamp(0.0, 1.0);
        let wait = step.mul_f64(1.0 - shortening);
        wait.max(retry_after.unwrap_or_default().min(self.max_backoff))
    }
}

/// Why the cache has no token to give. The source's error is shared by every caller that waited for the request.
#[derive(Debug, thiserror::Error)]
pub enum CacheError<E: std::error::Error + 'static> {
    /// There was no token for the key and fetching one failed.
    #[error("cannot fetch a token")]
    Fetch(#[source] Arc<E>),
    /// The cached token has expired and refreshing it failed.
    #[error("the cached token expired and refreshing it failed")]
    ExpiredAndRefreshFailed(#[source] Arc<E>),
}

/// The age past which a token of `lifetime` is refreshed: 80 % of the lifetime, at most `max_age`, less `jitter`.
pub fn refresh_after(lifetime: Duration, max_age: Duration, jitter: Duration) -> Duration {
    (lifetime * 4 / 5).min(max_age).saturating_sub(jitter)
}

/// One cached token.
struct Entry<T> {
    token: T,
    fetched_at: Instant,
    lifetime: Duration,
    /// This token's share of the refresh jitter.
    jitter: Duration,
    /// Failed refreshes since the last success, and when the next may be tried.
    failures: u32,
    retry_at: Option<Instant>,
}

impl<T> Entry<T> {
    fn is_valid(&self, now: Instant) -> bool {
        now < self.fetched_at + self.lifetime
    }

    fn refresh_at(&self, max_age: Duration) -> Instant {
        self.fetched_at + refresh_after(self.lifetime, max_age, self.jitter)
    }

    fn needs_refresh(&self, now: Instant, max_age: Duration) -> bool {
        now > self.refresh_at(max_age)
    }

    fn backing_off(&self, now: Instant) -> bool {
        self.retry_at.is_some_and(|at| now < at)
    }
}

/// The state of one key, behind an async lock held across the fetch: that lock is the single flight.
struct SlotState<T, E> {
    entry: Option<Entry<T>>,
    last_error: Option<Arc<E>>,
}

struct Slot<T, E> {
    state: tokio::sync::Mutex<SlotState<T, E>>,
    /// Completed fetches, readable without the lock: a caller that sees it change while waiting shares the result.
    attempts: AtomicU64,
}

impl<T, E> Slot<T, E> {
    fn new() -> Self {
        Self {
            state: tokio::sync::Mutex::new(SlotState {
                entry: None,
                last_error: None,
            }),
            attempts: AtomicU64::new(0),
        }
    }
}

type Slots<S> = HashMap<CacheKey, Arc<Slot<<S as TokenSource>::Token, <S as TokenSource>::Error>>>;

/// A cache of tokens from `S`.
pub struct TokenCache<S: TokenSource> {
    source: S,
    config: CacheConfig,
    slots: Mutex<Slots<S>>,
    clock: Box<dyn Clock>,
    random: Mutex<StdRng>,
}

impl<S: TokenSource> TokenCache<S> {
    /// An empty cache in front of `source`, on tokio's clock.
    pub fn new(source: S, config: CacheConfig) -> Self {
        Self::with_clock(source, config, TokioClock)
    }

    /// An empty cache in front of `source`, reading the time from `clock`.
    pub fn with_clock(source: S, config: CacheConfig, clock: impl Clock + 'static) -> Self {
        let random = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Self {
            source,
            config,
            slots: Mutex::new(HashMap::new()),
            clock: Box::new(clock),
            random: Mutex::new(random),
        }
    }

    /// When the token cached for `key` is due for refresh (or, after a failed refresh, for the next retry);
    /// `None` when nothing is cached for it.
    pub async fn next_refresh(&self, key: &CacheKey) -> Option<Instant> {
        let slot = self.lock_slots().get(key).cloned()?;
        let state = slot.state.lock().await;
        let entry = state.entry.as_ref()?;
        Some(entry.retry_at.unwrap_or_else(|| entry.refresh_at(self.config.max_age)))
    }

    /// The source, for calls that bypass the cache.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.lock_slots().len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A token for `key`: the cached one while it is fresh, else a new one.
    pub async fn get(&self, key: &CacheKey) -> Result<S::Token, CacheError<S::Error>> {
        let slot = self.slot(key);
        let attempts_seen = slot.attempts.load(Ordering::Acquire);
        let mut state = slot.state.lock().await;
        let now = self.clock.now();
        if let Some(token) = self.servable(&state, now) {
            return Ok(token);
        }
        let shared_failure = slot.attempts.load(Ordering::Acquire) != attempts_seen;
        if let (true, Some(error)) = (shared_failure, &state.last_error) {
            return Err(CacheError::Fetch(Arc::clone(error)));
        }
        let result = self.source.fetch(key).await;
        slot.attempts.fetch_add(1, Ordering::Release);
        tracing::debug!(ok = result.is_ok(), "token fetched");
        self.record(&mut state, result)
    }

    /// Drops every entry whose token has expired and that nobody is waiting for.
    pub fn sweep(&self) {
        let now = self.clock.now();
        self.lock_slots().retain(|_, slot| !is_disposable(slot, now));
    }

    /// The cached token, if it is fresh or if a failed refresh is backing off while it is still valid.
    fn servable(&self, state: &SlotState<S::Token, S::Error>, now: Instant) -> Option<S::Token> {
        let entry = state.entry.as_ref()?;
        let fresh = !entry.needs_refresh(now, self.config.max_age);
        let waiting_to_retry = entry.is_valid(now) && entry.backing_off(now);
        (fresh || waiting_to_retry).then(|| entry.token.clone())
    }

    /// Stores the outcome of a fetch and decides what the caller gets.
    fn record(
        &self,
        state: &mut SlotState<S::Token, S::Error>,
        result: Result<S::Token, S::Error>,
    ) -> Result<S::Token, CacheError<S::Error>> {
        let now = self.clock.now();
        let error = match result {
            Ok(token) => {
                let jitter = self.config.refresh_jitter.mul_f64(self.random());
                state.entry = Some(Entry {
                    lifetime: S::lifetime(&token),
                    jitter,
                    token: token.clone(),
                    fetched_at: now,
                    failures: 0,
                    retry_at: None,
                });
                state.last_error = None;
                return Ok(token);
            }
            Err(error) => Arc::new(error),
        };
        state.last_error = Some(Arc::clone(&error));
        let retry_after = S::retry_after(&error);
        let jitter = self.random();
        match state.entry.as_mut() {
            Some(entry) if entry.is_valid(now) => {
                entry.failures = entry.failures.saturating_add(1);
                entry.retry_at = Some(now + self.config.backoff(entry.failures, jitter, retry_after));
                tracing::warn!(error = %error, failures = entry.failures, "token refresh failed, serving the cached token");
                Ok(entry.token.clone())
            }
            Some(_) => {
                state.entry = None;
                Err(CacheError::ExpiredAndRefreshFailed(error))
            }
            None => Err(CacheError::Fetch(error)),
        }
    }

    /// A uniform draw in `[0, 1)`.
    fn random(&self) -> f64 {
        self.random
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .random()
    }

    /// The slot of `key`, made room for when the cache is full. When every slot is busy, a detached slot is
    /// returned: the caller gets a token, the bound holds, and nothing is cached.
    fn slot(&self, key: &CacheKey) -> Arc<Slot<S::Token, S::Error>> {
        let mut slots = self.lock_slots();
        if let Some(slot) = slots.get(key) {
            return Arc::clone(slot);
        }
        if slots.len() >= self.config.max_entries {
            make_room(&mut slots, self.config.max_entries, self.clock.now());
        }
        let slot = Arc::new(Slot::new());
        if slots.len() < self.config.max_entries {
            slots.insert(key.clone(), Arc::clone(&slot));
        }
        slot
    }

    fn lock_slots(&self) -> std::sync::MutexGuard<'_, Slots<S>> {
        // A panic while holding this lock leaves the map consistent (every operation is a single map call).
        self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Whether a slot holds nothing worth keeping and nobody else uses it.
fn is_disposable<T, E>(slot: &Arc<Slot<T, E>>, now: Instant) -> bool {
    if Arc::strong_count(slot) > 1 {
        return false;
    }
    slot.state
        .try_lock()
        .is_ok_and(|state| state.entry.as_ref().is_none_or(|entry| !entry.is_valid(now)))
}

/// Drops expired entries, then the oldest idle ones, until there is room for one more.
fn make_room<T, E>(slots: &mut HashMap<CacheKey, Arc<Slot<T, E>>>, max_entries: usize, now: Instant) {
    slots.retain(|_, slot| !is_disposable(slot, now));
    while slots.len() >= max_entries {
        let oldest = slots
            .iter()
            .filter(|(_, slot)| Arc::strong_count(slot) == 1)
            .filter_map(|(key, slot)| {
                let state = slot.state.try_lock().ok()?;
                Some((state.entry.as_ref().map(|e| e.fetched_at), key.clone()))
            })
            .min_by_key(|(fetched_at, _)| *fetched_at)
            .map(|(_, key)| key);
        let Some(oldest) = oldest else { return };
        slots.remove(&oldest);
    }
}
