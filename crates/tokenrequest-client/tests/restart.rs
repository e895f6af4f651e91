//! The token cache through a simulated control-plane restart (kubernetes/kubernetes#138689: after a restart that
//! answered TokenRequests with 403 and EOF for a while, kubelets left projected tokens expired for hours).
//!
//! 50 pods hold pod-bound one-hour tokens from an embedded server started in process. The cache runs on a
//! [`ManualClock`] that the test moves one simulated second at a time, asking for every pod's token each second;
//! the requests themselves are real HTTPS requests. From 40 min to 55 min, around the refresh point (48 min), the
//! server is down, cycling through what a restarting kube-apiserver answers: 403, EOF, 429 with `Retry-After`,
//! 503. Asserted, for kubelet's 10 s refresh jitter and for 5 min: no expired token is ever served, no caller gets
//! an error (the old tokens stay valid until 60 min), every pod has a fresh token within one backoff step of the
//! server coming back, and the retries during the outage stay few. The figures are printed (`--nocapture`).

#![allow(clippy::print_stderr)] // the figures are the test's report (`--nocapture`)

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Namespace, Pod, PodSpec, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::PostParams;
use tokenrequest_client::cache::{CacheConfig, CacheKey, Clock as _, ManualClock, TokenCache, TokenSource};
use tokenrequest_client::{BoundObjectRef, IssuedToken, RequestError, TokenClient, TokenRequestOptions};
use tokenrequest_server::{Outage, ServerConfig};
use tokenrequest_types::binding::BoundKind;
use tokenrequest_types::policy::SigningAlg;
use tokio::time::Instant;

const NAMESPACE: &str = "restart";
const PODS: usize = 50;
const LIFETIME: u64 = 3600;
const OUTAGE_START: u64 = 40 * 60;
const OUTAGE_END: u64 = 55 * 60;
/// Each kind of failure lasts this long, in turn.
const PHASE: u64 = 60;
const PHASES: [Outage; 4] = [
    Outage::Forbidden,
    Outage::ConnectionDropped,
    Outage::TooManyRequests(5),
    Outage::Unavailable,
];

/// The API behind the cache, recording when (on the simulated clock) each token was issued and how each request
/// ended.
struct Recorded {
    tokens: TokenClient,
    clock: Arc<ManualClock>,
    issued_at: Mutex<HashMap<Option<String>, Instant>>,
    requests: AtomicU64,
    /// Requests per simulated second.
    per_second: Mutex<BTreeMap<u64, u64>>,
    outcomes: Mutex<BTreeMap<String, u64>>,
    start: Instant,
}

impl TokenSource for Recorded {
    type Token = IssuedToken;
    type Error = RequestError;

    async fn fetch(&self, key: &CacheKey) -> Result<IssuedToken, RequestError> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let second = self.clock.now().duration_since(self.start).as_secs();
        *self.per_second.lock().unwrap().entry(second).or_default() += 1;
        let result = self.tokens.fetch(key).await;
        let outcome = match &result {
            Ok(token) => {
                self.issued_at
                    .lock()
                    .unwrap()
                    .insert(token.claims().jti.clone(), self.clock.now());
                "201".to_owned()
            }
            Err(RequestError::Api(api)) => api
                .code()
                .map_or_else(|| "connection failed".to_owned(), |code| code.to_string()),
            Err(other) => panic!("unexpected failure: {other}"),
        };
        *self.outcomes.lock().unwrap().entry(outcome).or_default() += 1;
        result
    }

    fn lifetime(token: &IssuedToken) -> Duration {
        TokenClient::lifetime(token)
    }

    fn retry_after(error: &RequestError) -> Option<Duration> {
        TokenClient::retry_after(error)
    }
}

/// What one run through the restart measured.
#[derive(Debug)]
struct Figures {
    expired_served: u64,
    errors_to_callers: u64,
    /// Requests made during the outage.
    requests_during_outage: u64,
    /// The most requests in one simulated second during the outage.
    peak_per_second_during_outage: u64,
    /// Seconds from the end of the outage until the last pod had a new token.
    recovery_seconds: u64,
    /// The longest backoff step in force when the outage ended, in seconds.
    longest_step_at_recovery: u64,
    /// Seconds between the first and the last pod's first refresh attempt.
    first_attempt_spread: u64,
    outcomes: BTreeMap<String, u64>,
}

async fn client_for(server: &tokenrequest_server::RunningServer) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&server.kubeconfig_yaml()).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    // kube-rs retries 429 and 503 itself by default (up to 15 times, sleeping in real time); the cache is what is
    // under test, so every failure reaches it.
    config.default_retry = false;
    kube::Client::try_from(config).unwrap()
}

fn named(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(NAMESPACE.to_owned()),
        ..ObjectMeta::default()
    }
}

/// The pods' cache keys, after creating the namespace, its service account and the pods.
async fn pods(client: &kube::Client) -> Vec<CacheKey> {
    let post = PostParams::default();
    Api::<Namespace>::all(client.clone())
        .create(
            &post,
            &Namespace {
                metadata: ObjectMeta {
                    name: Some(NAMESPACE.to_owned()),
                    ..ObjectMeta::default()
                },
                ..Namespace::default()
            },
        )
        .await
        .unwrap();
    Api::<ServiceAccount>::namespaced(client.clone(), NAMESPACE)
        .create(
            &post,
            &ServiceAccount {
                metadata: named("app"),
                ..ServiceAccount::default()
            },
        )
        .await
        .unwrap();
    let pods = Api::<Pod>::namespaced(client.clone(), NAMESPACE);
    let mut keys = Vec::new();
    for i in 0..PODS {
        let pod = Pod {
            metadata: named(&format!("app-{i}")),
            spec: Some(PodSpec {
                service_account_name: Some("app".to_owned()),
                containers: vec![Container {
                    name: "app".to_owned(),
                    image: Some("app".to_owned()),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
            ..Pod::default()
        };
        let created = pods.create(&post, &pod).await.unwrap();
        let options = TokenRequestOptions {
            audiences: vec!["vault".to_owned()],
            expiration_seconds: Some(i64::try_from(LIFETIME).unwrap()),
            bound_object: Some(BoundObjectRef {
                kind: BoundKind::Pod,
                name: created.metadata.name.unwrap(),
                uid: created.metadata.uid,
            }),
            dry_run: false,
        };
        keys.push(CacheKey::new(NAMESPACE, "app", &options));
    }
    keys
}

async fn ride_out_a_restart(refresh_jitter: Duration) -> Figures {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut config = ServerConfig::loopback();
    config.signing_alg = SigningAlg::ES256;
    let server = tokenrequest_server::start(config).await.unwrap();
    let client = client_for(&server).await;
    let keys = pods(&client).await;
    let clock = Arc::new(ManualClock::new());
    let start = clock.now();
    let source = Recorded {
        tokens: TokenClient::new(client),
        clock: Arc::clone(&clock),
        issued_at: Mutex::new(HashMap::new()),
        requests: AtomicU64::new(0),
        per_second: Mutex::new(BTreeMap::new()),
        outcomes: Mutex::new(BTreeMap::new()),
        start,
    };
    let cache_config = CacheConfig {
        refresh_jitter,
        seed: Some(42),
        ..CacheConfig::new(PODS)
    };
    let max_backoff = cache_config.max_backoff;
    let cache = TokenCache::with_clock(source, cache_config, Arc::clone(&clock));

    let lifetime = Duration::from_secs(LIFETIME);
    let mut expired_served = 0;
    let mut errors_to_callers = 0;
    let mut longest_step_at_recovery = Duration::ZERO;
    let mut refreshed_after_outage: HashMap<usize, u64> = HashMap::new();
    let mut first_attempt: HashMap<usize, u64> = HashMap::new();
    let mut issued_first = HashMap::new();
    for second in 0..LIFETIME + 10 * 60 {
        let outage = (OUTAGE_START..OUTAGE_END)
            .contains(&second)
            .then(|| PHASES[usize::try_from((second - OUTAGE_START) / PHASE).unwrap() % PHASES.len()]);
        if second == OUTAGE_END {
            for key in &keys {
                let next = cache.next_refresh(key).await.unwrap();
                longest_step_at_recovery = longest_step_at_recovery.max(next.saturating_duration_since(clock.now()));
            }
        }
        server.state().set_outage(outage);
        for (pod, key) in keys.iter().enumerate() {
            let requests_before = cache.source().requests.load(Ordering::SeqCst);
            match cache.get(key).await {
                Ok(token) => {
                    let issued = cache.source().issued_at.lock().unwrap()[&token.claims().jti];
                    if clock.now() >= issued + lifetime {
                        expired_served += 1;
                    }
                    let first = issued_first
                        .entry(pod)
                        .or_insert_with(|| token.claims().jti.clone())
                        .clone();
                    if second >= OUTAGE_END && token.claims().jti != first {
                        refreshed_after_outage.entry(pod).or_insert(second);
                    }
                }
                Err(_) => errors_to_callers += 1,
            }
            if second > 0 && cache.source().requests.load(Ordering::SeqCst) > requests_before {
                first_attempt.entry(pod).or_insert(second);
            }
        }
        clock.advance(Duration::from_secs(1));
    }
    server.shutdown().await;

    let source = cache.source();
    let per_second = source.per_second.lock().unwrap();
    let during_outage = per_second.range(OUTAGE_START..OUTAGE_END);
    assert_eq!(
        refreshed_after_outage.len(),
        PODS,
        "every pod got a new token after the outage"
    );
    let figures = Figures {
        expired_served,
        errors_to_callers,
        requests_during_outage: during_outage.clone().map(|(_, n)| n).sum(),
        peak_per_second_during_outage: during_outage.map(|(_, n)| *n).max().unwrap_or(0),
        recovery_seconds: refreshed_after_outage.values().max().unwrap() - OUTAGE_END,
        // Retries happen on whole simulated seconds: a step of 53.2 s is retried 54 s later.
        longest_step_at_recovery: longest_step_at_recovery.as_secs_f64().ceil() as u64,
        first_attempt_spread: first_attempt.values().max().unwrap() - first_attempt.values().min().unwrap(),
        outcomes: source.outcomes.lock().unwrap().clone(),
    };
    assert!(longest_step_at_recovery <= max_backoff);
    figures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_rides_out_a_control_plane_restart_with_kubelet_jitter_and_with_five_minutes() {
    let kubelet = ride_out_a_restart(Duration::from_secs(10)).await;
    let wide = ride_out_a_restart(Duration::from_secs(300)).await;
    eprintln!("10 s jitter: {kubelet:#?}\n5 min jitter: {wide:#?}");
    for figures in [&kubelet, &wide] {
        assert_eq!(figures.expired_served, 0);
        assert_eq!(figures.errors_to_callers, 0, "the old tokens were valid throughout");
        assert!(
            figures.recovery_seconds <= figures.longest_step_at_recovery,
            "recovered within one backoff step: {figures:?}"
        );
        for outcome in ["403", "connection failed", "429", "503", "201"] {
            assert!(
                figures.outcomes.contains_key(outcome),
                "{outcome} seen: {:?}",
                figures.outcomes
            );
        }
        // Backoff doubles from 1 s to 60 s: 7 steps, then one about every 45 s (60 s less up to half) for the
        // rest of the 15 minutes; never a request per caller per second (which would be 45,000).
        let most = u64::try_from(PODS).unwrap() * (7 + (OUTAGE_END - OUTAGE_START) / 30);
        assert!(figures.requests_during_outage <= most, "{figures:?}");
    }
    assert!(kubelet.first_attempt_spread <= 10, "{kubelet:?}");
    assert!(wide.first_attempt_spread > 60, "{wide:?}");
    assert!(wide.peak_per_second_during_outage < kubelet.peak_per_second_during_outage);
}
