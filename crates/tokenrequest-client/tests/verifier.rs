//! Verifier against a fake key source with locally generated EC keys: what is accepted, each distinct reason for a
//! refusal, and the JWKS cache (one fetch, one refetch on an unknown kid).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use tokenrequest_client::oidc::{DiscoveryDocument, FetchError, KeySource};
use tokenrequest_client::{Verifier, VerifierConfig, VerifyError};

const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
const NOW: i64 = 1_760_000_000;

/// An EC P-256 key with its kid and JWK.
struct TestKey {
    kid: String,
    encoding: EncodingKey,
    jwk: serde_json::Value,
}

impl TestKey {
    fn generate(kid: &str) -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("EC key");
        let point = pair.public_key_raw();
        // An uncompressed point: 0x04 || x || y.
        let (x, y) = point[1..].split_at(32);
        Self {
            kid: kid.to_owned(),
            encoding: EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("PEM"),
            jwk: json!({"use": "sig", "kty": "EC", "kid": kid, "alg": "ES256", "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y)}),
        }
    }

    fn sign(&self, claims: &serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = None;
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }
}

/// Serves a key set that tests can swap, counting fetches.
struct FakeKeys {
    jwks: Mutex<serde_json::Value>,
    fetches: AtomicU64,
}

impl FakeKeys {
    fn new(keys: &[&TestKey]) -> Self {
        let fake = Self {
            jwks: Mutex::new(json!({})),
            fetches: AtomicU64::new(0),
        };
        fake.serve(keys);
        fake
    }

    fn serve(&self, keys: &[&TestKey]) {
        let keys: Vec<_> = keys.iter().map(|k| k.jwk.clone()).collect();
        *self.jwks.lock().unwrap() = json!({ "keys": keys });
    }

    fn serve_raw(&self, jwks: serde_json::Value) {
        *self.jwks.lock().unwrap() = jwks;
    }
}

impl KeySource for &FakeKeys {
    async fn discovery(&self) -> Result<DiscoveryDocument, FetchError> {
        Ok(DiscoveryDocument {
            issuer: ISSUER.to_owned(),
            jwks_uri: "https://127.0.0.1:6443/openid/v1/jwks".to_owned(),
            response_types_supported: vec!["id_token".to_owned()],
            subject_types_supported: vec!["public".to_owned()],
            id_token_signing_alg_values_supported: vec!["ES256".to_owned()],
        })
    }

    async fn key_set(&self, jwks_uri: &str) -> Result<JwkSet, FetchError> {
        assert_eq!(jwks_uri, "https://127.0.0.1:6443/openid/v1/jwks");
        self.fetches.fetch_add(1, Ordering::SeqCst);
        // A fetch takes time, as over the network, so that concurrent verifications find it in flight.
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let jwks = self.jwks.lock().unwrap().clone();
        serde_json::from_value(jwks).map_err(|source| FetchError::Decode {
            what: "key set",
            source,
        })
    }
}

fn claims() -> serde_json::Value {
    json!({
        "iss": ISSUER, "sub": "system:serviceaccount:team-a:robot", "aud": [ISSUER],
        "iat": NOW, "nbf": NOW, "exp": NOW + 3600, "jti": "1",
        "kubernetes.io": {"namespace": "team-a", "serviceaccount": {"name": "robot", "uid": "u"}}
    })
}

fn with(mut claims: serde_json::Value, key: &str, value: serde_json::Value) -> serde_json::Value {
    claims[key] = value;
    claims
}

fn verifier(keys: &FakeKeys) -> Verifier<&FakeKeys> {
    Verifier::new(keys, VerifierConfig::new(vec![]))
}

fn unsigned(header: serde_json::Value) -> String {
    let part = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.", part(&header), part(&claims()))
}

#[tokio::test]
async fn accepts_a_good_token_and_fetches_keys_once() {
    let key = TestKey::generate("k1");
    let keys = FakeKeys::new(&[&key]);
    let verifier = verifier(&keys);
    let token = key.sign(&claims());
    let verified = verifier.verify_at(&token, NOW).await.unwrap();
    assert_eq!(verified.claims.sub, "system:serviceaccount:team-a:robot");
    assert_eq!(verified.header.alg, "ES256");
    verifier.verify_at(&token, NOW + 10).await.unwrap();
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 1, "the key set is cached");
}

#[tokio::test]
async fn refuses_alg_none() {
    let keys = FakeKeys::new(&[&TestKey::generate("k1")]);
    let err = verifier(&keys)
        .verify_at(&unsigned(json!({"alg": "none", "kid": "k1"})), NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, VerifyError::Unsigned), "{err}");
    assert_eq!(
        keys.fetches.load(Ordering::SeqCst),
        0,
        "refused before any key is fetched"
    );
}

#[tokio::test]
async fn refuses_hmac() {
    let keys = FakeKeys::new(&[&TestKey::generate("k1")]);
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".to_owned());
    let token = jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(b"public")).unwrap();
    let err = verifier(&keys).verify_at(&token, NOW).await.unwrap_err();
    assert!(
        matches!(err, VerifyError::SymmetricAlgorithm(ref alg) if alg == "HS256"),
        "{err}"
    );
}

#[tokio::test]
async fn refuses_a_symmetric_key_in_the_key_set() {
    let key = TestKey::generate("k1");
    let keys = FakeKeys::new(&[]);
    keys.serve_raw(json!({"keys": [{"kty": "oct", "kid": "k1", "k": URL_SAFE_NO_PAD.encode("public")}]}));
    let err = verifier(&keys).verify_at(&key.sign(&claims()), NOW).await.unwrap_err();
    assert!(matches!(err, VerifyError::KeyMismatch { .. }), "{err}");
}

/// Past the refetch interval since the last fetch.
async fn after_the_refetch_interval() {
    tokio::time::advance(tokenrequest_client::verifier::DEFAULT_REFETCH_INTERVAL).await;
}

#[tokio::test(start_paused = true)]
async fn refuses_an_unknown_kid_after_one_refetch() {
    let known = TestKey::generate("k1");
    let stranger = TestKey::generate("k2");
    let keys = FakeKeys::new(&[&known]);
    let verifier = verifier(&keys);
    verifier.verify_at(&known.sign(&claims()), NOW).await.unwrap();
    after_the_refetch_interval().await;
    let err = verifier.verify_at(&stranger.sign(&claims()), NOW).await.unwrap_err();
    assert!(
        matches!(err, VerifyError::UnknownKeyId(ref kid) if kid == "k2"),
        "{err}"
    );
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 2, "exactly one refetch");
}

#[tokio::test(start_paused = true)]
async fn follows_key_rotation_old_key_removed_new_key_added() {
    let old = TestKey::generate("old");
    let new = TestKey::generate("new");
    let keys = FakeKeys::new(&[&old]);
    let verifier = verifier(&keys);
    let old_token = old.sign(&claims());
    verifier.verify_at(&old_token, NOW).await.unwrap();
    keys.serve(&[&new]);
    after_the_refetch_interval().await;
    verifier.verify_at(&new.sign(&claims()), NOW).await.unwrap();
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 2);
    let err = verifier.verify_at(&old_token, NOW).await.unwrap_err();
    assert!(
        matches!(err, VerifyError::UnknownKeyId(ref kid) if kid == "old"),
        "the removed key's tokens are refused: {err}"
    );
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 2, "no refetch within the interval");
}

/// 1,000 tokens signed by a key the issuer does not publish, sent at once and then over two minutes: one fetch
/// of the key set per refetch interval, never one per token.
#[tokio::test(start_paused = true)]
async fn unknown_kids_cannot_cause_a_refetch_storm() {
    let known = TestKey::generate("k1");
    let forged = TestKey::generate("forged");
    let keys = FakeKeys::new(&[&known]);
    let verifier = std::sync::Arc::new(Verifier::new(&keys, VerifierConfig::new(vec![])));
    verifier.verify_at(&known.sign(&claims()), NOW).await.unwrap();
    after_the_refetch_interval().await;
    let token = forged.sign(&claims());
    let concurrent = futures_util::future::join_all((0..1000).map(|_| verifier.verify_at(&token, NOW))).await;
    assert!(
        concurrent
            .iter()
            .all(|r| matches!(r, Err(VerifyError::UnknownKeyId(_))))
    );
    assert_eq!(
        keys.fetches.load(Ordering::SeqCst),
        2,
        "1,000 concurrent unknown kids: one refetch"
    );
    for second in 0..120 {
        for _ in 0..10 {
            assert!(verifier.verify_at(&token, NOW + second).await.is_err());
        }
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
    }
    let intervals = 120 / tokenrequest_client::verifier::DEFAULT_REFETCH_INTERVAL.as_secs();
    // A fetch takes 10 ms, so the intervals start at 0.01 s, 30.02 s, ...: one fewer can fit into 120 s.
    let fetched = keys.fetches.load(Ordering::SeqCst);
    assert!(
        (2 + intervals - 1..=2 + intervals).contains(&fetched),
        "then at most one refetch per interval: {fetched}"
    );
    assert_eq!(verifier.fetches(), keys.fetches.load(Ordering::SeqCst));
}

#[tokio::test]
async fn refuses_a_foreign_issuer_without_refetching() {
    let key = TestKey::generate("k1");
    let keys = FakeKeys::new(&[&key]);
    let verifier = verifier(&keys);
    let token = key.sign(&with(claims(), "iss", json!("https://evil.example")));
    let err = verifier.verify_at(&token, NOW).await.unwrap_err();
    assert!(matches!(err, VerifyError::ForeignIssuer { .. }), "{err}");
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn refuses_a_bad_signature() {
    let key = TestKey::generate("k1");
    let impostor = TestKey::generate("k1");
    let keys = FakeKeys::new(&[&key]);
    let err = verifier(&keys)
        .verify_at(&impostor.sign(&claims()), NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, VerifyError::BadSignature), "{err}");
}

#[tokio::test]
async fn checks_the_audience() {
    let key = TestKey::generate("k1");
    let keys = FakeKeys::new(&[&key]);
    let token = key.sign(&with(claims(), "aud", json!(["vault"])));
    let err = verifier(&keys).verify_at(&token, NOW).await.unwrap_err();
    assert!(matches!(err, VerifyError::Audience { .. }), "{err}");
    let vault = Verifier::new(&keys, VerifierConfig::new(vec!["vault".to_owned()]));
    vault.verify_at(&token, NOW).await.unwrap();
}

#[tokio::test]
async fn checks_times_with_leeway() {
    let key = TestKey::generate("k1");
    let keys = FakeKeys::new(&[&key]);
    let verifier = verifier(&keys);
    let token = key.sign(&claims());
    verifier.verify_at(&token, NOW + 3600 + 60).await.unwrap();
    let err = verifier.verify_at(&token, NOW + 3600 + 61).await.unwrap_err();
    assert!(matches!(err, VerifyError::Expired { seconds: 61 }), "{err}");
    verifier.verify_at(&token, NOW - 60).await.unwrap();
    let err = verifier.verify_at(&token, NOW - 61).await.unwrap_err();
    assert!(matches!(err, VerifyError::NotYetValid { seconds: 61 }), "{err}");
    let early_nbf = with(claims(), "nbf", json!(NOW - 1000));
    let future_iat = key.sign(&with(early_nbf, "iat", json!(NOW + 1000)));
    let err = verifier.verify_at(&future_iat, NOW).await.unwrap_err();
    assert!(matches!(err, VerifyError::IssuedInFuture { .. }), "{err}");
    let strict = Verifier::new(
        &keys,
        VerifierConfig {
            leeway: Duration::ZERO,
            ..VerifierConfig::new(vec![])
        },
    );
    assert!(strict.verify_at(&token, NOW + 3601).await.is_err());
}

#[tokio::test]
async fn refuses_garbage_without_echoing_it() {
    let keys = FakeKeys::new(&[]);
    let err = verifier(&keys).verify_at("secret-garbage", NOW).await.unwrap_err();
    assert!(matches!(err, VerifyError::Malformed(_)), "{err}");
    assert!(!err.to_string().contains("secret-garbage"));
}

#[tokio::test]
async fn refuses_a_key_of_another_family() {
    let key = TestKey::generate("k1");
    let keys = FakeKeys::new(&[&key]);
    let header = json!({"alg": "RS256", "kid": "k1"});
    let part = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let token = format!(
        "{}.{}.{}",
        part(&header),
        part(&claims()),
        URL_SAFE_NO_PAD.encode("sig")
    );
    let err = verifier(&keys).verify_at(&token, NOW).await.unwrap_err();
    assert!(matches!(err, VerifyError::KeyMismatch { .. }), "{err}");
}
