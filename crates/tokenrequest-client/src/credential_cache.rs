//! Tokens cached on disk, for processes that live shorter than their token: a kubeconfig credential plugin runs
//! once per `kubectl` call, so an in-memory [`TokenCache`](crate::TokenCache) would request a token every time.
//!
//! - **The refresh rule is the [`TokenCache`](crate::TokenCache)'s**: a token is served until
//!   [`refresh_after`] (80 % of its granted lifetime, at most 24 h, less a jitter drawn once per token); a failed
//!   refresh serves the old token while it is valid and retries after [`CacheConfig::backoff`] (bounded, jittered,
//!   at least the server's `Retry-After`); an expired token is never served.
//! - **One file per key**, named by a SHA-256 of the key, so names leak nothing and never collide. Files are
//!   written atomically (a temporary file in the same directory, mode 0600, renamed over the old one), so a reader
//!   never sees half a file; the directory is created 0700. A file that cannot be read as an entry is treated as
//!   absent, reported, and replaced.
//! - **One request per key across processes**: an exclusive lock on the key's `.lock` file is held while the entry
//!   is read, refreshed and written, so 20 `kubectl` calls started together make one TokenRequest. Waiting for
//!   the lock is bounded ([`LOCK_PATIENCE`]).
//!
//! Times are unix seconds, passed in by the caller ([`CredentialCache::get_at`]) so tests need no clock.

use std::future::Future;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokenrequest_types::token::Token;

use crate::cache::{CacheConfig, CacheKey, TokenSource as _, refresh_after};
use crate::token_client::{IssuedToken, RequestError, TokenClient};

/// How long a process waits for another one that holds the lock of the same key (its request is bounded too).
pub const LOCK_PATIENCE: Duration = Duration::from_secs(60);

/// Why no credential could be given. Never contains a token.
#[derive(Debug, thiserror::Error)]
pub enum CredentialCacheError {
    /// The cache directory or a file in it could not be used.
    #[error("token cache {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Another process held the key's lock for longer than [`LOCK_PATIENCE`].
    #[error("token cache {path}: another process has held the lock for over {} s", LOCK_PATIENCE.as_secs())]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
    },
    /// Nothing valid was cached and the request failed.
    #[error(transparent)]
    Request(#[from] RequestError),
}

/// The entry of one key, as stored.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    token: String,
    /// `status.expirationTimestamp`, unix seconds.
    expiration_timestamp: i64,
    /// When the token was issued (as this machine's clock read it), unix seconds.
    fetched_at: i64,
    /// The granted lifetime, in seconds.
    lifetime_seconds: u64,
    /// This token's share of the refresh jitter, in milliseconds.
    jitter_millis: u64,
    /// Failed refreshes since the last success.
    #[serde(default)]
    failures: u32,
    /// When the next refresh may be tried after a failure, unix seconds.
    #[serde(default)]
    retry_at: Option<i64>,
}

impl Entry {
    fn refresh_at(&self, config: &CacheConfig) -> i64 {
        let after = refresh_after(
            Duration::from_secs(self.lifetime_seconds),
            config.max_age,
            Duration::from_millis(self.jitter_millis),
        );
        self.fetched_at.saturating_add(seconds(after))
    }

    /// Valid until the earlier of its `exp` and the end of its granted lifetime.
    fn valid_until(&self) -> i64 {
        self.expiration_timestamp.min(
            self.fetched_at
                .saturating_add(i64::try_from(self.lifetime_seconds).unwrap_or(i64::MAX)),
        )
    }
}

/// How the credential was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// From the cache, before its refresh time.
    Cached,
    /// Requested now.
    Requested,
    /// From the cache after a failed refresh, still valid.
    CachedAfterFailedRefresh,
}

/// A token to hand out, and when the holder should ask again.
#[derive(Debug)]
pub struct Credential {
    /// The token.
    pub token: Token,
    /// When to ask again (the refresh time, or the next retry), never after the token expires; unix seconds.
    pub renew_at: i64,
    /// Where it came from.
    pub provenance: Provenance,
}

/// Tokens on disk under one directory.
#[derive(Debug, Clone)]
pub struct CredentialCache {
    dir: PathBuf,
    config: CacheConfig,
}

impl CredentialCache {
    /// A cache in `dir` (created on first use) with `config`'s refresh rule.
    pub fn new(dir: impl Into<PathBuf>, config: CacheConfig) -> Self {
        Self {
            dir: dir.into(),
            config,
        }
    }

    /// The file name of a key: the hex SHA-256 of `identity` (where the token comes from: cluster and source user)
    /// and the request.
    pub fn file_stem(identity: &str, key: &CacheKey) -> String {
        let material = serde_json::json!({
            "identity": identity,
            "namespace": key.namespace,
            "serviceAccount": key.service_account,
            "audiences": key.audiences,
            "expirationSeconds": key.expiration_seconds,
            "boundObject": key.bound_object.as_ref().map(|b| (b.kind.kind(), &b.name, &b.uid)),
        });
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, material.to_string().as_bytes());
        digest.as_ref().iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// A credential for `key` now: cached, or requested from `client`.
    pub async fn get(
        &self,
        identity: &str,
        key: &CacheKey,
        client: &TokenClient,
    ) -> Result<Credential, CredentialCacheError> {
        let stem = Self::file_stem(identity, key);
        let options = key.options();
        self.get_at(&stem, unix_now, || {
            client.request(&key.namespace, &key.service_account, &options)
        })
        .await
    }

    /// A credential from the entry `stem`, reading the time from `now`, fetching with `fetch` when needed.
    pub async fn get_at<F, Fut>(
        &self,
        stem: &str,
        now: impl Fn() -> i64,
        fetch: F,
    ) -> Result<Credential, CredentialCacheError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<IssuedToken, RequestError>>,
    {
        self.create_dir()?;
        let lock_path = self.dir.join(format!("{stem}.lock"));
        let _lock = lock(&lock_path).await?;
        let path = self.dir.join(format!("{stem}.json"));
        let cached = self.read(&path);
        let time = now();
        if let Some(entry) = &cached {
            let waiting_to_retry = entry.retry_at.is_some_and(|at| time < at) && time < entry.valid_until();
            if time <= entry.refresh_at(&self.config) || waiting_to_retry {
                return Ok(self.credential(entry, Provenance::Cached));
            }
        }
        match fetch().await {
            Ok(issued) => {
                let entry = Entry {
                    token: issued.token().expose().to_owned(),
                    expiration_timestamp: issued.expiration_timestamp().as_second(),
                    fetched_at: now(),
                    lifetime_seconds: seconds(TokenClient::lifetime(&issued)).unsigned_abs(),
                    jitter_millis: u64::try_from(self.config.refresh_jitter.mul_f64(rand::random()).as_millis())
                        .unwrap_or(u64::MAX),
                    failures: 0,
                    retry_at: None,
                };
                self.write(&path, &entry)?;
                Ok(self.credential(&entry, Provenance::Requested))
            }
            Err(error) => match cached {
                Some(mut entry) if time < entry.valid_until() => {
                    entry.failures = entry.failures.saturating_add(1);
                    let wait = self
                        .config
                        .backoff(entry.failures, rand::random(), TokenClient::retry_after(&error));
                    entry.retry_at = Some(time.saturating_add(seconds(wait).max(1)));
                    tracing::warn!(error = %error, failures = entry.failures, "token refresh failed, serving the cached token");
                    self.write(&path, &entry)?;
                    Ok(self.credential(&entry, Provenance::CachedAfterFailedRefresh))
                }
                _ => Err(error.into()),
            },
        }
    }

    fn credential(&self, entry: &Entry, provenance: Provenance) -> Credential {
        let renew_at = entry.retry_at.unwrap_or_else(|| entry.refresh_at(&self.config));
        Credential {
            token: Token::new(entry.token.clone()),
            renew_at: renew_at.min(entry.valid_until()),
            provenance,
        }
    }

    fn create_dir(&self) -> Result<(), CredentialCacheError> {
        let io = |source| CredentialCacheError::Io {
            path: self.dir.clone(),
            source,
        };
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&self.dir).map_err(io)
    }

    /// The entry at `path`; a missing file is `None`, and so is a corrupt one (reported, then replaced).
    fn read(&self, path: &Path) -> Option<Entry> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the cached token; requesting a new one");
                return None;
            }
        };
        match serde_json::from_slice(&bytes) {
            Ok(entry) => Some(entry),
            Err(e) => {
                // serde_json's message names a position, never the content.
                tracing::warn!(path = %path.display(), error = %e, "the cached token file is corrupt; it will be replaced");
                None
            }
        }
    }

    /// Writes `entry` to `path` atomically, readable by the owner only.
    fn write(&self, path: &Path, entry: &Entry) -> Result<(), CredentialCacheError> {
        let io = |source| CredentialCacheError::Io {
            path: path.to_owned(),
            source,
        };
        // tempfile creates the file with mode 0600 on unix.
        let mut file = tempfile::NamedTempFile::new_in(&self.dir).map_err(io)?;
        let json = serde_json::to_vec(entry).map_err(|e| io(std::io::Error::other(e)))?;
        file.write_all(&json).map_err(io)?;
        file.as_file().sync_all().map_err(io)?;
        file.persist(path).map_err(|e| io(e.error))?;
        Ok(())
    }
}

/// Takes the exclusive lock of `path`, waiting at most [`LOCK_PATIENCE`] for another holder.
async fn lock(path: &Path) -> Result<std::fs::File, CredentialCacheError> {
    let io = |source| CredentialCacheError::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path).map_err(io)?;
    let deadline = tokio::time::Instant::now() + LOCK_PATIENCE;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(CredentialCacheError::LockTimeout { path: path.to_owned() });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
    }
}

fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// The system clock in unix seconds.
pub fn unix_now() -> i64 {
    Timestamp::now().as_second()
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec, TokenRequestStatus};

    use super::*;
    use crate::api_call::ApiError;

    const NOW: i64 = 1_800_000_000;

    /// A TokenRequest answer for a token issued at `iat`, living `lifetime` seconds.
    fn issued(iat: i64, lifetime: i64, jti: &str) -> IssuedToken {
        let part = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let token = format!(
            "{}.{}.c2ln",
            part(serde_json::json!({"alg": "ES256", "kid": "k"})),
            part(serde_json::json!({
                "iss": "https://kubernetes.default.svc", "sub": "system:serviceaccount:ns:sa", "aud": ["x"],
                "iat": iat, "nbf": iat, "exp": iat + lifetime, "jti": jti,
                "kubernetes.io": {"namespace": "ns", "serviceaccount": {"name": "sa", "uid": "u"}}
            }))
        );
        let response = TokenRequest {
            spec: Some(TokenRequestSpec {
                expiration_seconds: Some(lifetime),
                ..TokenRequestSpec::default()
            }),
            status: Some(TokenRequestStatus {
                token: Some(token),
                expiration_timestamp: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    Timestamp::from_second(iat + lifetime).unwrap(),
                )),
            }),
            ..TokenRequest::default()
        };
        crate::token_client::issued_token(response, Vec::new(), 201).unwrap()
    }

    fn refused() -> RequestError {
        RequestError::Api(ApiError::NotStatus {
            code: 503,
            retry_after: None,
        })
    }

    fn jti(credential: &Credential) -> String {
        tokenrequest_types::token::UnverifiedToken::parse(credential.token.expose())
            .ok()
            .and_then(|t| t.claims().jti.clone())
            .unwrap_or_default()
    }

    fn cache(dir: &Path) -> CredentialCache {
        CredentialCache::new(dir, CacheConfig::deterministic(1))
    }

    #[tokio::test]
    async fn serves_the_file_until_the_refresh_time_then_requests_once() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache(dir.path());
        let first = cache
            .get_at("k", || NOW, || async { Ok(issued(NOW, 1000, "1")) })
            .await
            .unwrap();
        assert_eq!((first.provenance, first.renew_at), (Provenance::Requested, NOW + 800));
        let again = cache
            .get_at(
                "k",
                || NOW + 800,
                || async { panic!("no request before the refresh time") },
            )
            .await
            .unwrap();
        assert_eq!((again.provenance, jti(&again)), (Provenance::Cached, "1".to_owned()));
        let renewed = cache
            .get_at("k", || NOW + 801, || async { Ok(issued(NOW + 801, 1000, "2")) })
            .await
            .unwrap();
        assert_eq!(
            (renewed.provenance, jti(&renewed)),
            (Provenance::Requested, "2".to_owned())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("k.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[tokio::test]
    async fn a_failed_refresh_serves_the_valid_token_backs_off_and_never_serves_an_expired_one() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache(dir.path());
        cache
            .get_at("k", || NOW, || async { Ok(issued(NOW, 1000, "1")) })
            .await
            .unwrap();
        let stale = cache
            .get_at("k", || NOW + 900, || async { Err(refused()) })
            .await
            .unwrap();
        assert_eq!(stale.provenance, Provenance::CachedAfterFailedRefresh);
        assert_eq!(stale.renew_at, NOW + 901, "retry after the first backoff step (1 s)");
        let waiting = cache
            .get_at("k", || NOW + 900, || async { panic!("no retry during the backoff") })
            .await
            .unwrap();
        assert_eq!(waiting.provenance, Provenance::Cached);
        let expired = cache.get_at("k", || NOW + 1000, || async { Err(refused()) }).await;
        assert!(matches!(expired, Err(CredentialCacheError::Request(_))), "{expired:?}");
    }

    #[tokio::test]
    async fn a_corrupt_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache(dir.path());
        std::fs::write(dir.path().join("k.json"), b"{\"token\": 12").unwrap();
        let credential = cache
            .get_at("k", || NOW, || async { Ok(issued(NOW, 1000, "1")) })
            .await
            .unwrap();
        assert_eq!(credential.provenance, Provenance::Requested);
        let text = std::fs::read_to_string(dir.path().join("k.json")).unwrap();
        assert!(serde_json::from_str::<Entry>(&text).is_ok());
    }

    #[tokio::test]
    async fn concurrent_callers_of_one_key_make_one_request() {
        let dir = tempfile::tempdir().unwrap();
        let requests = std::sync::atomic::AtomicU32::new(0);
        let caches: Vec<_> = (0..20).map(|_| cache(dir.path())).collect();
        let calls = caches.iter().map(|cache| {
            cache.get_at(
                "k",
                || NOW,
                || async {
                    requests.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok(issued(NOW, 1000, "1"))
                },
            )
        });
        let credentials = futures_util::future::join_all(calls).await;
        assert!(credentials.iter().all(Result::is_ok));
        assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn file_names_differ_by_identity_and_request() {
        let options = crate::TokenRequestOptions::default();
        let key = CacheKey::new("ns", "sa", &options);
        let other = CacheKey::new("ns", "other", &options);
        let stem = CredentialCache::file_stem("https://a/ admin", &key);
        assert_eq!(stem.len(), 64);
        assert_ne!(stem, CredentialCache::file_stem("https://b/ admin", &key));
        assert_ne!(stem, CredentialCache::file_stem("https://a/ admin", &other));
    }
}
