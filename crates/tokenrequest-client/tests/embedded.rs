//! The client against the embedded API server, started in-process on loopback: requesting (with the clamping
//! warning), reviewing, verifying through the cluster's OIDC keys, caching with one request for many callers, and
//! probing servers started with different policies.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::PostParams;
use tokenrequest_client::cache::{CacheConfig, CacheKey, TokenCache, TokenSource};
use tokenrequest_client::oidc::{ClusterKeySource, IssuerKeySource};
use tokenrequest_client::{
    BoundObjectRef, IssuedToken, ProbeError, ProbedPolicy, RequestError, TokenClient, TokenRequestOptions, Verifier,
    VerifierConfig, VerifyError, probe, probe_until,
};
use tokenrequest_server::{RunningServer, ServerConfig};
use tokenrequest_types::binding::BoundKind;
use tokenrequest_types::policy::{DEFAULT_ISSUER, SigningAlg, TokenPolicy};

const NAMESPACE: &str = "team-a";
const SERVICE_ACCOUNT: &str = "robot";

async fn start(config: ServerConfig) -> (RunningServer, kube::Client) {
    // rustls finds two providers in this graph; the workspace uses aws-lc-rs.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let server = tokenrequest_server::start(config)
        .await
        .expect("the embedded server starts");
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&server.kubeconfig_yaml()).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("client config");
    let client = kube::Client::try_from(config).expect("client");
    (server, client)
}

/// A server with kube-apiserver's defaults and `team-a/robot`.
async fn start_with_service_account(config: ServerConfig) -> (RunningServer, kube::Client) {
    let (server, client) = start(config).await;
    let namespace = Namespace {
        metadata: named(NAMESPACE),
        ..Namespace::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .expect("namespace");
    let service_account = ServiceAccount {
        metadata: named(SERVICE_ACCOUNT),
        ..ServiceAccount::default()
    };
    Api::<ServiceAccount>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &service_account)
        .await
        .expect("service account");
    (server, client)
}

fn named(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        ..ObjectMeta::default()
    }
}

fn expiring_in(seconds: i64) -> TokenRequestOptions {
    TokenRequestOptions {
        expiration_seconds: Some(seconds),
        ..TokenRequestOptions::default()
    }
}

#[tokio::test]
async fn requests_a_token_with_defaults() {
    let (server, client) = start_with_service_account(ServerConfig::loopback()).await;
    let tokens = TokenClient::new(client);
    let issued = tokens
        .request(NAMESPACE, SERVICE_ACCOUNT, &TokenRequestOptions::default())
        .await
        .unwrap();
    assert_eq!(issued.claims().sub, "system:serviceaccount:team-a:robot");
    assert_eq!(issued.audiences(), [DEFAULT_ISSUER.to_owned()]);
    assert_eq!(issued.expiration_seconds(), Some(3600));
    assert_eq!(issued.expiration_timestamp().as_second(), issued.claims().exp);
    assert!(issued.warnings().is_empty(), "an ordinary request has no warning (R28)");
    assert!(!format!("{issued:?}").contains(issued.token().expose()));
    server.shutdown().await;
}

#[tokio::test]
async fn r8_reports_the_clamping_warning() {
    let mut config = ServerConfig::loopback();
    config.max_token_expiration = Some(Duration::from_secs(3600));
    let (server, client) = start_with_service_account(config).await;
    let issued = TokenClient::new(client)
        .request(NAMESPACE, SERVICE_ACCOUNT, &expiring_in(7200))
        .await
        .unwrap();
    assert_eq!(issued.expiration_seconds(), Some(3600));
    assert_eq!(
        issued.warnings(),
        ["requested expiration of 7200 seconds shortened to 3600 seconds"]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn api_errors_carry_the_status() {
    let (server, client) = start_with_service_account(ServerConfig::loopback()).await;
    let tokens = TokenClient::new(client);
    let err = tokens
        .request(NAMESPACE, "nobody", &TokenRequestOptions::default())
        .await
        .unwrap_err();
    let status = err.status().expect("a Status");
    assert_eq!(status.code, Some(404));
    assert_eq!(status.message.as_deref(), Some(r#"serviceaccounts "nobody" not found"#));
    let err = tokens
        .request(NAMESPACE, SERVICE_ACCOUNT, &expiring_in(599))
        .await
        .unwrap_err();
    assert_eq!(err.status().and_then(|s| s.reason.as_deref()), Some("Invalid"));
    let unbindable = TokenRequestOptions {
        bound_object: Some(BoundObjectRef {
            kind: BoundKind::Pod,
            name: "missing".to_owned(),
            uid: None,
        }),
        ..TokenRequestOptions::default()
    };
    let err = tokens
        .request(NAMESPACE, SERVICE_ACCOUNT, &unbindable)
        .await
        .unwrap_err();
    assert!(matches!(err, RequestError::Api(_)));
    assert_eq!(err.status().and_then(|s| s.code), Some(404));
    server.shutdown().await;
}

#[tokio::test]
async fn reviews_and_verifies_an_issued_token() {
    let (server, client) = start_with_service_account(ServerConfig::loopback()).await;
    let tokens = TokenClient::new(client.clone());
    let issued = tokens
        .request(NAMESPACE, SERVICE_ACCOUNT, &TokenRequestOptions::default())
        .await
        .unwrap();
    let review = tokens.review(issued.token(), &[]).await.unwrap();
    assert_eq!(review.authenticated, Some(true));
    let user = review.user.unwrap();
    assert_eq!(user.username.as_deref(), Some("system:serviceaccount:team-a:robot"));

    let verifier = Verifier::new(ClusterKeySource::new(client), VerifierConfig::new(vec![]));
    let verified = verifier.verify(issued.token().expose()).await.unwrap();
    assert_eq!(verified.claims.sub, "system:serviceaccount:team-a:robot");
    let vault = tokens
        .request(
            NAMESPACE,
            SERVICE_ACCOUNT,
            &TokenRequestOptions {
                audiences: vec!["vault".to_owned()],
                ..TokenRequestOptions::default()
            },
        )
        .await
        .unwrap();
    let err = verifier.verify(vault.token().expose()).await.unwrap_err();
    assert!(matches!(err, VerifyError::Audience { .. }), "{err}");
    let review = tokens.review(vault.token(), &[]).await.unwrap();
    assert_ne!(review.authenticated, Some(true));
    server.shutdown().await;
}

/// Counts the requests the cache makes to the real API.
struct CountingClient {
    tokens: TokenClient,
    requests: AtomicU64,
}

impl TokenSource for CountingClient {
    type Token = IssuedToken;
    type Error = RequestError;

    async fn fetch(&self, key: &CacheKey) -> Result<IssuedToken, RequestError> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.tokens.fetch(key).await
    }

    fn lifetime(token: &IssuedToken) -> Duration {
        TokenClient::lifetime(token)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cache_makes_one_request_for_many_callers() {
    let (server, client) = start_with_service_account(ServerConfig::loopback()).await;
    let source = CountingClient {
        tokens: TokenClient::new(client),
        requests: AtomicU64::new(0),
    };
    let cache = Arc::new(TokenCache::new(source, CacheConfig::new(16)));
    let key = CacheKey::new(NAMESPACE, SERVICE_ACCOUNT, &TokenRequestOptions::default());
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let cache = Arc::clone(&cache);
        let key = key.clone();
        callers.spawn(async move { cache.get(&key).await.map(|t| t.claims().jti.clone()) });
    }
    let jtis: Vec<_> = callers.join_all().await.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        cache.source().requests.load(Ordering::SeqCst),
        1,
        "50 callers, 1 request"
    );
    assert!(jtis.windows(2).all(|w| w[0] == w[1]), "everyone got the same token");
    server.shutdown().await;
}

async fn probe_server(config: ServerConfig) -> ProbedPolicy {
    let (server, client) = start(config).await;
    let probed = probe(client).await.expect("probe");
    server.shutdown().await;
    probed
}

#[tokio::test]
async fn probe_reports_kube_apiserver_defaults() {
    let probed = probe_server(ServerConfig::loopback()).await;
    assert_eq!(probed.policy, TokenPolicy::defaults_for_issuer(DEFAULT_ISSUER));
    assert_eq!(probed.issuer, DEFAULT_ISSUER);
    assert!(probed.extension_observable);
    assert_eq!(probed.bound_kinds, BoundKind::ALL);
    assert_eq!(probed.min_expiration_seconds, Some(600));
    assert_eq!(probed.discovery_issuer.as_deref(), Some(DEFAULT_ISSUER));
    assert_eq!(probed.discovery_algorithms, ["RS256"]);
}

#[tokio::test]
async fn probe_reports_the_max_expiration() {
    let mut config = ServerConfig::loopback();
    config.max_token_expiration = Some(Duration::from_secs(24 * 3600));
    let probed = probe_server(config).await;
    assert_eq!(probed.max_expiration_seconds, Some(86_400));
    assert_eq!(probed.policy.expiration.max_seconds, Some(86_400));
    assert!(probed.extension, "a max above 3607 s leaves the extension visible");
}

#[tokio::test]
async fn probe_cannot_see_the_extension_below_3607_seconds() {
    let mut config = ServerConfig::loopback();
    config.max_token_expiration = Some(Duration::from_secs(3600));
    let probed = probe_server(config).await;
    assert_eq!(probed.max_expiration_seconds, Some(3600));
    assert!(!probed.extension_observable);
}

#[tokio::test]
async fn probe_reports_the_extension_off() {
    let mut config = ServerConfig::loopback();
    config.extend_token_expiration = false;
    let probed = probe_server(config).await;
    assert!(!probed.extension);
    assert!(probed.extension_observable);
}

#[tokio::test]
async fn probe_reports_the_api_audiences() {
    let mut config = ServerConfig::loopback();
    config.api_audiences = Some(vec!["api".to_owned(), "other".to_owned()]);
    let probed = probe_server(config).await;
    assert_eq!(probed.api_audiences, ["api", "other"]);
    assert_eq!(probed.policy.audiences.api_audiences(), ["api", "other"]);
    assert!(
        probed.extension,
        "the extension is seen with the configured API audiences"
    );
}

#[tokio::test]
async fn probe_reports_the_signing_algorithm() {
    let mut config = ServerConfig::loopback();
    config.signing_alg = SigningAlg::ES256;
    let probed = probe_server(config).await;
    assert_eq!(probed.policy.signing_alg, SigningAlg::ES256);
    assert_eq!(probed.token_algorithm, "ES256");
}

#[tokio::test]
async fn probe_leaves_nothing_behind() {
    let (server, client) = start(ServerConfig::loopback()).await;
    probe(client.clone()).await.expect("probe");
    let nodes = Api::<k8s_openapi::api::core::v1::Node>::all(client.clone())
        .list(&Default::default())
        .await
        .unwrap();
    assert!(nodes.items.is_empty(), "the scratch node is deleted");
    let namespaces = Api::<Namespace>::all(client).list(&Default::default()).await.unwrap();
    let live: Vec<_> = namespaces
        .items
        .iter()
        .filter(|ns| {
            ns.metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(tokenrequest_client::PROBE_LABEL))
        })
        .filter(|ns| ns.metadata.deletion_timestamp.is_none())
        .collect();
    assert!(live.is_empty(), "the scratch namespace is deleted or terminating");
    server.shutdown().await;
}

/// A relying party outside the cluster: discovery and JWKS over plain HTTPS from the issuer URL, authenticated
/// with a service-account token because the API server does not serve them to anonymous callers (R25).
#[tokio::test]
async fn verifies_through_the_issuer_url() {
    let (server, client) = start_with_service_account(ServerConfig::loopback()).await;
    let tokens = TokenClient::new(client);
    let issued = tokens
        .request(NAMESPACE, SERVICE_ACCOUNT, &TokenRequestOptions::default())
        .await
        .unwrap();
    let source = IssuerKeySource::new(&server.url(), Some(server.ca_pem().as_bytes()))
        .unwrap()
        .with_bearer_token(issued.token().clone());
    let verifier = Verifier::new(source, VerifierConfig::new(vec![]));
    let verified = verifier.verify(issued.token().expose()).await.unwrap();
    assert_eq!(verified.claims.iss, DEFAULT_ISSUER);
    let anonymous = Verifier::new(
        IssuerKeySource::new(&server.url(), Some(server.ca_pem().as_bytes())).unwrap(),
        VerifierConfig::new(vec![]),
    );
    let err = anonymous.verify(issued.token().expose()).await.unwrap_err();
    assert!(matches!(err, VerifyError::Fetch(_)), "{err}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_cancelled_probe_still_cleans_up() {
    let (server, client) = start(ServerConfig::loopback()).await;
    let err = probe_until(client.clone(), std::future::ready(())).await.unwrap_err();
    assert!(matches!(err, ProbeError::Cancelled), "{err}");
    let namespaces = Api::<Namespace>::all(client).list(&Default::default()).await.unwrap();
    assert!(
        namespaces
            .items
            .iter()
            .filter(|ns| ns
                .metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(tokenrequest_client::PROBE_LABEL)))
            .all(|ns| ns.metadata.deletion_timestamp.is_some()),
        "the scratch namespace is deleted or terminating"
    );
    server.shutdown().await;
}
