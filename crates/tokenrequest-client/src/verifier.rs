//! Verifying service-account tokens offline, as an external relying party does: with the issuer's OIDC discovery
//! document and JWKS only (R25, R26), without asking the API server about the token.
//!
//! What is checked, in kube-apiserver's order (R21): the algorithm (asymmetric only: `alg: none` and HMAC are
//! refused before any key is looked at), the issuer, the key (`kid`), the signature, the audience, then the times
//! with a leeway. The leeway defaults to 60 s, go-jose's `DefaultLeeway`, which kube-apiserver applies to `exp`,
//! `nbf` and `iat`.
//!
//! Keys come as JWKs (parsed by `jsonwebtoken`) and are turned, once per fetch, into aws-lc-rs `ParsedPublicKey`s
//! for the algorithm each JWK names: `jsonwebtoken::crypto::verify` would rebuild an RSA key from its `n` and `e`
//! on every token, which costs more than the signature check itself (issue 17: the verifier was at 0.67-0.73 of a
//! raw verification). An RSA key's DER is assembled from the JWK's `n` and `e` by `tokenrequest_types::der`.
//!
//! Keys are learnt once and kept. A token with an unknown `kid` is what key rotation looks like, so it triggers a
//! refetch of the key set, but at most one per [`VerifierConfig::refetch_interval`] (go-oidc's remote key set
//! refetches on every unknown `kid`, which lets anyone who can send tokens make the verifier hammer the issuer):
//! 1,000 tokens with an unknown `kid` make at most one request in an interval, and concurrent verifications wait
//! for the same refetch. Verifications with known keys never wait for a lock held across a fetch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use aws_lc_rs::signature::{self as aws_sig, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::EllipticCurve;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use tokenrequest_types::claims::Claims;
use tokenrequest_types::review::LEEWAY_SECONDS;
use tokenrequest_types::token::{JoseHeader, TokenFormatError, UnverifiedToken};

use crate::oidc::{FetchError, KeySource};

/// How tokens are judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    /// A token is accepted when its `aud` contains one of these. Empty: the issuer, which is kube-apiserver's
    /// default API audience (R11).
    pub audiences: Vec<String>,
    /// The expected `iss`. `None`: the discovery document's `issuer`.
    pub issuer: Option<String>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// The least time between two fetches of the key set caused by unknown key ids.
    pub refetch_interval: Duration,
}

/// The default [`VerifierConfig::refetch_interval`]: a rotated key is picked up within 30 s, and an unknown `kid`
/// costs the issuer at most two requests a minute.
pub const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

impl VerifierConfig {
    /// Accepts `audiences` from the discovered issuer with kube-apiserver's 60 s leeway.
    pub fn new(audiences: Vec<String>) -> Self {
        Self {
            audiences,
            issuer: None,
            leeway: Duration::from_secs(LEEWAY_SECONDS.unsigned_abs()),
            refetch_interval: DEFAULT_REFETCH_INTERVAL,
        }
    }
}

/// Why a token was not accepted. Never contains the token or its signature.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Not a JWT.
    #[error("malformed token")]
    Malformed(#[source] TokenFormatError),
    /// `alg: none`: an unsigned token.
    #[error("token is unsigned (alg \"none\")")]
    Unsigned,
    /// An HMAC algorithm: the "key" would be public, so anyone could sign.
    #[error("token uses the symmetric algorithm {0}; service-account tokens are signed with a private key")]
    SymmetricAlgorithm(String),
    /// An algorithm that is neither RSA, ECDSA nor EdDSA, or that jsonwebtoken does not know.
    #[error("token uses the unsupported algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// No `kid` in the header.
    #[error("token header has no key id (kid)")]
    MissingKeyId,
    /// No key with the token's `kid`, even after refetching the key set (or within the refetch interval of the
    /// last fetch).
    #[error("no key with id {0:?} in the issuer's key set")]
    UnknownKeyId(String),
    /// The key cannot verify this algorithm (e.g. an RSA key for ES256), or is not a public key.
    #[error("key {kid:?} cannot verify {alg} tokens")]
    KeyMismatch {
        /// The key id.
        kid: String,
        /// The token's algorithm.
        alg: String,
    },
    /// The signature does not verify.
    #[error("invalid signature")]
    BadSignature,
    /// Signed but unreadable claims, or another verification failure.
    #[error("token could not be verified: {0}")]
    Verification(String),
    /// `iss` is not the expected issuer.
    #[error("token issuer {actual:?} is not the expected issuer {expected:?}")]
    ForeignIssuer {
        /// The token's `iss`.
        actual: String,
        /// The issuer expected.
        expected: String,
    },
    /// None of the accepted audiences is in `aud`.
    #[error("token audiences {actual:?} do not include any of {expected:?}")]
    Audience {
        /// The token's `aud`.
        actual: Vec<String>,
        /// The accepted audiences.
        expected: Vec<String>,
    },
    /// `exp` is in the past by more than the leeway.
    #[error("token has expired ({seconds} s ago)")]
    Expired {
        /// How long ago.
        seconds: i64,
    },
    /// `nbf` is in the future by more than the leeway.
    #[error("token is not valid yet (for {seconds} s)")]
    NotYetValid {
        /// For how long still.
        seconds: i64,
    },
    /// `iat` is in the future by more than the leeway.
    #[error("token is issued in the future ({seconds} s from now)")]
    IssuedInFuture {
        /// How far ahead.
        seconds: i64,
    },
    /// The discovery document or key set could not be fetched.
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

/// A token whose signature, issuer, audience and times were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The header.
    pub header: JoseHeader,
    /// The claims.
    pub claims: Claims,
}

/// A public key parsed for the one algorithm its JWK names.
struct VerificationKey {
    alg: Algorithm,
    parsed: ParsedPublicKey,
}

/// The keys of one issuer, as last fetched, ready to verify with: each JWK is turned into a key once per fetch,
/// not once per token. `None` marks a key that must not be used (symmetric, or not a valid public key).
struct KeyCache {
    issuer: String,
    keys: HashMap<String, Option<Arc<VerificationKey>>>,
    fetched_at: Instant,
}

impl KeyCache {
    fn new(issuer: String, set: &JwkSet) -> Self {
        let keys = set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, public_key(jwk))))
            .collect();
        Self {
            issuer,
            keys,
            fetched_at: Instant::now(),
        }
    }
}

/// The verification key of a JWK, for the algorithm it names (else its family's usual one: RS256, the curve's ES
/// algorithm, EdDSA). A symmetric key in a JWKS would let the "public" key sign: never used.
fn public_key(jwk: &Jwk) -> Option<Arc<VerificationKey>> {
    let named = jwk
        .common
        .key_algorithm
        .and_then(|a| a.to_string().parse::<Algorithm>().ok());
    let decode = |b64: &str| URL_SAFE_NO_PAD.decode(b64).ok();
    let (alg, bytes) = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let der = tokenrequest_types::der::rsa_public_key(&decode(&rsa.n)?, &decode(&rsa.e)?);
            (named.unwrap_or(Algorithm::RS256), der)
        }
        AlgorithmParameters::EllipticCurve(ec) => {
            let usual = match ec.curve {
                EllipticCurve::P256 => Algorithm::ES256,
                EllipticCurve::P384 => Algorithm::ES384,
                _ => return None,
            };
            let mut point = vec![0x04];
            point.extend(decode(&ec.x)?);
            point.extend(decode(&ec.y)?);
            (named.unwrap_or(usual), point)
        }
        AlgorithmParameters::OctetKeyPair(okp) => (named.unwrap_or(Algorithm::EdDSA), decode(&okp.x)?),
        // A symmetric key, or a key type this version of jsonwebtoken added since.
        _ => return None,
    };
    let parsed = ParsedPublicKey::new(verification_algorithm(alg)?, bytes).ok()?;
    Some(Arc::new(VerificationKey { alg, parsed }))
}

/// aws-lc-rs's verification of a JWS algorithm (RFC 7518 3.1); `None` for symmetric ones.
fn verification_algorithm(alg: Algorithm) -> Option<&'static dyn aws_sig::VerificationAlgorithm> {
    Some(match alg {
        Algorithm::RS256 => &aws_sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &aws_sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &aws_sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &aws_sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &aws_sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &aws_sig::RSA_PSS_2048_8192_SHA512,
        Algorithm::ES256 => &aws_sig::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &aws_sig::ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &aws_sig::ED25519,
        // HMAC, or an algorithm this version of jsonwebtoken added since.
        _ => return None,
    })
}

/// Verifies tokens against one issuer's keys, fetched on first use and cached.
pub struct Verifier<S: KeySource = crate::oidc::ClusterKeySource> {
    source: S,
    config: VerifierConfig,
    /// The keys as last fetched: read by every verification, replaced by a fetch.
    keys: RwLock<Option<Arc<KeyCache>>>,
    /// Held across a fetch, so that concurrent callers share one.
    fetching: tokio::sync::Mutex<()>,
    fetches: AtomicU64,
}

impl<S: KeySource> Verifier<S> {
    /// A verifier reading keys from `source`; nothing is fetched until the first token.
    pub fn new(source: S, config: VerifierConfig) -> Self {
        Self {
            source,
            config,
            keys: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(()),
            fetches: AtomicU64::new(0),
        }
    }

    /// How many times the key set was fetched.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Verifies `token` now.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, VerifyError> {
        self.verify_at(token, unix_now()).await
    }

    /// Verifies `token` as of `now` (unix seconds).
    pub async fn verify_at(&self, token: &str, now: i64) -> Result<VerifiedToken, VerifyError> {
        let token = token.trim();
        let unverified = UnverifiedToken::parse(token).map_err(VerifyError::Malformed)?;
        let alg = asymmetric_algorithm(&unverified.header().alg)?;
        let kid = unverified.header().kid.as_deref().ok_or(VerifyError::MissingKeyId)?;
        let issuer = &unverified.claims().iss;
        let key = self.issuer_and_key(issuer, kid).await?;
        let key = key.ok_or_else(|| key_mismatch(kid, alg))?;
        check_signature(token, alg, kid, &key)?;
        // The claims were decoded from the very bytes the signature covers, so they need no second decoding.
        let claims = unverified.claims();
        self.check_audience(claims, issuer)?;
        check_times(claims, now, self.config.leeway)?;
        Ok(VerifiedToken {
            header: unverified.header().clone(),
            claims: claims.clone(),
        })
    }

    /// The expected issuer and the key `kid`. A token from a foreign issuer is reported before its key is looked
    /// up, as kube-apiserver does (R21), so it never causes a refetch.
    async fn issuer_and_key(&self, token_issuer: &str, kid: &str) -> Result<Option<Arc<VerificationKey>>, VerifyError> {
        let cached = match self.cached() {
            Some(cached) => cached,
            None => self.refetch(None).await?,
        };
        if token_issuer != cached.issuer {
            return Err(VerifyError::ForeignIssuer {
                actual: token_issuer.to_owned(),
                expected: cached.issuer.clone(),
            });
        }
        if let Some(key) = cached.keys.get(kid) {
            return Ok(key.clone());
        }
        if cached.fetched_at.elapsed() < self.config.refetch_interval {
            return Err(VerifyError::UnknownKeyId(kid.to_owned()));
        }
        tracing::debug!(kid, "unknown key id, refetching the key set");
        let refetched = self.refetch(Some(&cached)).await?;
        refetched
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| VerifyError::UnknownKeyId(kid.to_owned()))
    }

    fn cached(&self) -> Option<Arc<KeyCache>> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Fetches the key set unless another caller replaced `stale` while this one waited for the fetch lock.
    async fn refetch(&self, stale: Option<&Arc<KeyCache>>) -> Result<Arc<KeyCache>, VerifyError> {
        let _single_flight = self.fetching.lock().await;
        if let Some(current) = self.cached() {
            let replaced = stale.is_none_or(|stale| !Arc::ptr_eq(stale, &current));
            if replaced {
                return Ok(current);
            }
        }
        let fresh = Arc::new(self.fetch().await?);
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&fresh));
        Ok(fresh)
    }

    async fn fetch(&self) -> Result<KeyCache, VerifyError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let discovery = self.source.discovery().await?;
        let keys = self.source.key_set(&discovery.jwks_uri).await?;
        let issuer = self.config.issuer.clone().unwrap_or(discovery.issuer);
        Ok(KeyCache::new(issuer, &keys))
    }

    fn check_audience(&self, claims: &Claims, issuer: &str) -> Result<(), VerifyError> {
        let expected = if self.config.audiences.is_empty() {
            vec![issuer.to_owned()]
        } else {
            self.config.audiences.clone()
        };
        if claims.aud.iter().any(|aud| expected.contains(aud)) {
            return Ok(());
        }
        Err(VerifyError::Audience {
            actual: claims.aud.clone(),
            expected,
        })
    }
}

/// The token's algorithm if it is an asymmetric one jsonwebtoken verifies.
fn asymmetric_algorithm(alg: &str) -> Result<Algorithm, VerifyError> {
    if alg.eq_ignore_ascii_case("none") {
        return Err(VerifyError::Unsigned);
    }
    if alg.to_ascii_uppercase().starts_with("HS") {
        return Err(VerifyError::SymmetricAlgorithm(alg.to_owned()));
    }
    match alg.parse::<Algorithm>() {
        Ok(Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) => {
            Err(VerifyError::SymmetricAlgorithm(alg.to_owned()))
        }
        Ok(parsed) => Ok(parsed),
        Err(_) => Err(VerifyError::UnsupportedAlgorithm(alg.to_owned())),
    }
}

fn key_mismatch(kid: &str, alg: Algorithm) -> VerifyError {
    VerifyError::KeyMismatch {
        kid: kid.to_owned(),
        alg: format!("{alg:?}"),
    }
}

/// Checks the signature over `header.claims` with `key`, which must be a key for the token's algorithm.
fn check_signature(token: &str, alg: Algorithm, kid: &str, key: &VerificationKey) -> Result<(), VerifyError> {
    if key.alg != alg {
        return Err(key_mismatch(kid, alg));
    }
    let Some((message, signature)) = token.rsplit_once('.') else {
        return Err(VerifyError::Malformed(TokenFormatError::Parts(1)));
    };
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| VerifyError::BadSignature)?;
    key.parsed
        .verify_sig(message.as_bytes(), &signature)
        .map_err(|_| VerifyError::BadSignature)
}

/// `exp`, `nbf` and `iat` with `leeway`, in kube-apiserver's order.
fn check_times(claims: &Claims, now: i64, leeway: Duration) -> Result<(), VerifyError> {
    let leeway = i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX);
    if now.saturating_sub(leeway) > claims.exp {
        return Err(VerifyError::Expired {
            seconds: now - claims.exp,
        });
    }
    if now.saturating_add(leeway) < claims.nbf {
        return Err(VerifyError::NotYetValid {
            seconds: claims.nbf - now,
        });
    }
    if now.saturating_add(leeway) < claims.iat {
        return Err(VerifyError::IssuedInFuture {
            seconds: claims.iat - now,
        });
    }
    Ok(())
}

fn unix_now() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::KeyPair as _;

    #[test]
    fn rsa_public_key_der_is_what_aws_lc_encodes() {
        let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let public = key.public_key();
        let der = tokenrequest_types::der::rsa_public_key(
            public.modulus().big_endian_without_leading_zero(),
            public.exponent().big_endian_without_leading_zero(),
        );
        assert_eq!(der, public.as_ref());
    }
}
