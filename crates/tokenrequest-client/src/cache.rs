//! A token cache with kubelet's token-manager semantics (`pkg/kubelet/token/token_manager.go`).
//!
//! - Keyed by namespace, service account, audiences, bound object and requested duration.
//! - A token is served until 80 % of its lifetime has passed (`exp - 20 %` in kubelet) or it is older than 24 h
//!   (`maxTTL`), then refreshed. Lifetime is the duration the API *granted* (`spec.expirationSeconds` of the
//!   response), as kubelet computes it, so an extended 3607 s token is refreshed after ~48 min, not after a year.
//! - One request per key at a time (single-flight): concurrent callers wait for the same request.
//! - If a refresh fails while the old token is still valid, the old token is served and the refresh is retried with
//!   exponential backoff (kubelet retries on every call; backing off spares an API server that is already failing).
//!   Once the old token has expired, the failure is returned.
//! - Bounded: expired entries are dropped when space is needed, then the oldest.
//!
//! Unlike kubelet, no random jitter is subtracted from the refresh time: callers of a library cache are not a fleet
//! of nodes, and a deterministic threshold is testable. All times are `tokio::time::Instant`, so tests pause the
//! clock.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
}

/// The cache's limits and timings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Most keys held at once.
    pub max_entries: usize,
    /// Refresh tokens older than this whatever their lifetime.
    pub max_age: Duration,
    /// The wait before the first retry of a failed refresh; doubled per failure.
    pub initial_backoff: Duration,
    /// The longest wait between retries.
    pub max_backoff: Duration,
}

impl CacheConfig {
    /// kubelet's timings (24 h max age) with `max_entries`, retrying after 1 s, 2 s, ... up to 1 min.
    pub fn new(max_entries: usize) -> Self {
        Self {
            max_entries,
            max_age: MAX_TOKEN_AGE,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
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

/// The age past which a token of `lifetime` is refreshed: 80 % of the lifetime, at most `max_age`.
pub fn refresh_after(lifetime: Duration, max_age: Duration) -> Duration {
    (lifetime * 4 / 5).min(max_age)
}

/// One cached token.
struct Entry<T> {
    token: T,
    fetched_at: Instant,
    lifetime: Duration,
    /// Failed refreshes since the last success, and when the next may be tried.
    failures: u32,
    retry_at: Option<Instant>,
}

impl<T> Entry<T> {
    fn is_valid(&self, now: Instant) -> bool {
        now < self.fetched_at + self.lifetime
    }

    fn needs_refresh(&self, now: Instant, max_age: Duration) -> bool {
        now.duration_since(self.fetched_at) > refresh_after(self.lifetime, max_age)
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
}

impl<S: TokenSource> TokenCache<S> {
    /// An empty cache in front of `source`.
    pub fn new(source: S, config: CacheConfig) -> Self {
        Self {
            source,
            config,
            slots: Mutex::new(HashMap::new()),
        }
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
        let now = Instant::now();
        if let Some(token) = self.servable(&state, now) {
            return Ok(token);
        }
        let shared_failure = slot.attempts.load(Ordering::Acquire) != attempts_seen;
        if let (true, Some(error)) = (shared_failure, &state.last_error) {
            return Err(CacheError::Fetch(Arc::clone(error)));
        }
        let result = self.source.fetch(key).await;
        slot.attempts.fetch_add(1, Ordering::Release);
        self.record(&mut state, result)
    }

    /// Drops every entry whose token has expired and that nobody is waiting for.
    pub fn sweep(&self) {
        let now = Instant::now();
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
        let now = Instant::now();
        let error = match result {
            Ok(token) => {
                state.entry = Some(Entry {
                    lifetime: S::lifetime(&token),
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
        match state.entry.as_mut() {
            Some(entry) if entry.is_valid(now) => {
                entry.failures = entry.failures.saturating_add(1);
                entry.retry_at = Some(now + self.backoff(entry.failures));
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

    fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        (self.config.initial_backoff * (1u32 << doublings)).min(self.config.max_backoff)
    }

    /// The slot of `key`, made room for when the cache is full. When every slot is busy, a detached slot is
    /// returned: the caller gets a token, the bound holds, and nothing is cached.
    fn slot(&self, key: &CacheKey) -> Arc<Slot<S::Token, S::Error>> {
        let mut slots = self.lock_slots();
        if let Some(slot) = slots.get(key) {
            return Arc::clone(slot);
        }
        if slots.len() >= self.config.max_entries {
            make_room(&mut slots, self.config.max_entries);
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
fn make_room<T, E>(slots: &mut HashMap<CacheKey, Arc<Slot<T, E>>>, max_entries: usize) {
    let now = Instant::now();
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
