//! The shared state behind every handler: the token policy, the signer, the object store and the admin credential.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokenrequest_types::audience::AudiencePolicy;
use tokenrequest_types::evaluation::Deviations;
use tokenrequest_types::expiration::ExpirationPolicy;
use tokenrequest_types::policy::TokenPolicy;
use tokenrequest_types::token::Token;

use crate::config::ServerConfig;
use crate::controllers;
use crate::error::ServerError;
use crate::fault::Fault;
use crate::metrics::RequestCounter;
use crate::outage::Outage;
use crate::signer::{KeySet, Signer};
use crate::store::Store;

/// Cheap to clone; everything lives behind one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    /// The issuing issuer first, then the previous ones still accepted.
    issuers: Vec<String>,
    policy: TokenPolicy,
    jwks_uri: String,
    anonymous_issuer_discovery: bool,
    fault: Option<Fault>,
    keys: KeySet,
    store: RwLock<Store>,
    admin_token: Token,
    outage: Mutex<Option<Outage>>,
    requests: RequestCounter,
}

impl AppState {
    /// Builds the state for `config`, as if served at `config.listen` (which matters only for the default
    /// `jwks_uri`). Generates the signing key unless one is configured, and a fresh admin token.
    pub fn new(config: &ServerConfig) -> Result<Self, ServerError> {
        Self::for_address(config, config.listen)
    }

    /// As [`AppState::new`], for a server actually bound to `addr`.
    pub(crate) fn for_address(config: &ServerConfig, addr: SocketAddr) -> Result<Self, ServerError> {
        let expiration = ExpirationPolicy::new(config.max_token_expiration, config.extend_token_expiration);
        if !expiration.max_is_valid() {
            // kube-apiserver refuses to start likewise (pkg/kubeapiserver/options/authentication.go).
            return Err(ServerError::Config(
                "the service-account-max-token-expiration must be between 1 hour and 2^32 seconds".to_owned(),
            ));
        }
        let audiences = match &config.api_audiences {
            Some(list) if !list.is_empty() => AudiencePolicy::new(list.clone()),
            _ => AudiencePolicy::for_issuer(&config.issuer),
        };
        let signer = match &config.signing_key_pem {
            Some(pem) => Signer::from_pem(pem)?,
            None => Signer::generate(config.signing_alg)?,
        };
        let retired = config
            .retired_keys_pem
            .iter()
            .map(|pem| Signer::from_pem(pem))
            .collect::<Result<Vec<_>, _>>()?;
        let policy = TokenPolicy {
            expiration,
            audiences,
            signing_alg: signer.alg(),
            previous_issuers: config.previous_issuers.clone(),
            keys: 1 + retired.len(),
        };
        let jwks_uri = config
            .jwks_uri
            .clone()
            .unwrap_or_else(|| format!("https://{addr}/openid/v1/jwks"));
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::fill(&mut secret)
            .map_err(|_| ServerError::Config("no randomness for the admin token".to_owned()))?;
        let mut store = Store::default();
        controllers::boot(&mut store);
        Ok(Self(Arc::new(Inner {
            issuers: std::iter::once(config.issuer.clone())
                .chain(config.previous_issuers.iter().cloned())
                .collect(),
            policy,
            jwks_uri,
            anonymous_issuer_discovery: config.anonymous_issuer_discovery,
            fault: config.fault,
            keys: KeySet::new(signer, retired),
            store: RwLock::new(store),
            admin_token: Token::new(URL_SAFE_NO_PAD.encode(secret)),
            outage: Mutex::new(None),
            requests: RequestCounter::default(),
        })))
    }

    /// `--service-account-issuer`: the issuer of new tokens.
    pub fn issuer(&self) -> &str {
        &self.0.issuers[0]
    }

    /// Every accepted issuer, the issuing one first.
    pub fn issuers(&self) -> &[String] {
        &self.0.issuers
    }

    /// The effective token policy (expiration, API audiences, algorithm).
    pub fn policy(&self) -> &TokenPolicy {
        &self.0.policy
    }

    /// The `jwks_uri` announced by OIDC discovery.
    pub fn jwks_uri(&self) -> &str {
        &self.0.jwks_uri
    }

    /// Whether anonymous callers may read OIDC discovery and the JWKS.
    pub fn anonymous_issuer_discovery(&self) -> bool {
        self.0.anonymous_issuer_discovery
    }

    /// The bearer token of the `system:masters` admin user written into the kubeconfig.
    pub fn admin_token(&self) -> &Token {
        &self.0.admin_token
    }

    pub(crate) fn signer(&self) -> &Signer {
        self.0.keys.signing()
    }

    pub(crate) fn keys(&self) -> &KeySet {
        &self.0.keys
    }

    /// The rules the injected fault bends in the evaluation of a TokenRequest.
    pub(crate) fn deviations(&self) -> Deviations {
        self.0.fault.map(Fault::deviations).unwrap_or_default()
    }

    /// Whether `fault` was injected.
    pub(crate) fn faulty(&self, fault: Fault) -> bool {
        self.0.fault == Some(fault)
    }

    /// Starts (`Some`) or ends (`None`) an outage: while it lasts, every API request fails as `outage` says.
    pub fn set_outage(&self, outage: Option<Outage>) {
        *self.0.outage.lock().unwrap_or_else(PoisonError::into_inner) = outage;
    }

    /// The outage in progress, if any.
    pub fn outage(&self) -> Option<Outage> {
        *self.0.outage.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The counter of answered requests behind `/metrics`.
    pub(crate) fn requests(&self) -> &RequestCounter {
        &self.0.requests
    }

    // A panicking handler cannot leave the store half-written (every change is one map operation after all
    // checks), so a poisoned lock is still consistent: keep serving rather than fail every later request.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Store> {
        self.0.store.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Store> {
        self.0.store.write().unwrap_or_else(PoisonError::into_inner)
    }
}
