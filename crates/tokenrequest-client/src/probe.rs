//! Inferring a cluster's effective token policy through the public API alone, the way a user without access to
//! kube-apiserver's flags can: by requesting tokens and reading what comes back.
//!
//! | fact | how |
//! |---|---|
//! | issuer, signing algorithm | `iss` and header `alg` of a default token; discovery when served |
//! | verification keys | the number of keys in the JWKS, when discovery is served (more than one: key rotation) |
//! | API audiences | `spec.audiences` of a request without audiences (R11) |
//! | max expiration | the granted `spec.expirationSeconds` of a 2^32 s request (R8); 2^32 means none |
//! | extension | `exp - iat` of a pod-bound 3607 s token for the API audiences: one year when on (R9) |
//! | bound kinds | a token bound to a scratch Pod, Secret and Node each (R13) |
//! | min expiration | 599 s refused and 600 s granted (R5) |
//!
//! Everything is created in a scratch namespace and deleted afterwards, also on error and on cancellation.

use std::future::Future;

use serde::Serialize;
use tokenrequest_types::audience::AudiencePolicy;
use tokenrequest_types::binding::BoundKind;
use tokenrequest_types::expiration::{
    EXTENDED_LIFETIME_SECONDS, EXTENDED_REQUEST_SECONDS, ExpirationPolicy, MAX_EXPIRATION_SECONDS,
    MIN_EXPIRATION_SECONDS,
};
use tokenrequest_types::policy::{SigningAlg, TokenPolicy};

use crate::oidc::{ClusterKeySource, KeySource};
use crate::scratch::{Scratch, ScratchError};
use crate::token_client::{BoundObjectRef, IssuedToken, RequestError, TokenClient, TokenRequestOptions};

/// What a probe learned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbedPolicy {
    /// The policy in the form `serve` and xtask's `--policy` state it.
    #[serde(serialize_with = "display")]
    pub policy: TokenPolicy,
    /// The `iss` of issued tokens.
    pub issuer: String,
    /// The API audiences.
    pub api_audiences: Vec<String>,
    /// The max expiration in seconds; `None` when a 2^32 s request is granted in full.
    pub max_expiration_seconds: Option<i64>,
    /// Whether pod-bound 3607 s tokens are extended to a year. When the max is below 3607 s the extension cannot
    /// be seen: then this is kube-apiserver's default (on) and `extension_observable` is false.
    pub extension: bool,
    /// Whether `extension` was observed rather than assumed.
    pub extension_observable: bool,
    /// The `alg` of issued tokens.
    pub token_algorithm: String,
    /// The discovery document's `issuer`, when discovery is served (only for https issuers, R25).
    pub discovery_issuer: Option<String>,
    /// The discovery document's `id_token_signing_alg_values_supported`.
    pub discovery_algorithms: Vec<String>,
    /// The kinds a token could be bound to.
    pub bound_kinds: Vec<BoundKind>,
    /// 600 when 599 s is refused and 600 s granted; `None` when the boundary is elsewhere.
    pub min_expiration_seconds: Option<i64>,
}

fn display<S: serde::Serializer>(value: &TokenPolicy, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Why a probe failed. The scratch objects are deleted either way.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// A scratch object could not be created (RBAC, admission).
    #[error(transparent)]
    Scratch(#[from] ScratchError),
    /// A token request that should have been granted failed.
    #[error("probing the {step} failed")]
    Request {
        /// What was being probed.
        step: &'static str,
        /// What went wrong.
        #[source]
        source: RequestError,
    },
    /// The API answered something a conformant API server does not.
    #[error("probing the {step}: {detail}")]
    Unexpected {
        /// What was being probed.
        step: &'static str,
        /// What was seen.
        detail: String,
    },
    /// Tokens are signed with an algorithm our policy model does not name.
    #[error("tokens are signed with {0}, which the policy model does not know (RS256, ES256)")]
    UnsupportedAlgorithm(String),
    /// The caller cancelled (Ctrl-C).
    #[error("probe cancelled")]
    Cancelled,
}

/// Probes the cluster behind `client`.
pub async fn probe(client: kube::Client) -> Result<ProbedPolicy, ProbeError> {
    probe_until(client, std::future::pending()).await
}

/// Probes until done or until `cancel` completes; the scratch objects are deleted in both cases.
pub async fn probe_until(client: kube::Client, cancel: impl Future<Output = ()>) -> Result<ProbedPolicy, ProbeError> {
    let mut scratch = Scratch::create(client.clone()).await?;
    tracing::info!(namespace = %scratch.namespace, "probing in a scratch namespace");
    let result = tokio::select! {
        result = run(&client, &mut scratch) => result,
        () = cancel => Err(ProbeError::Cancelled),
    };
    scratch.delete().await;
    result
}

async fn run(client: &kube::Client, scratch: &mut Scratch) -> Result<ProbedPolicy, ProbeError> {
    scratch.create_bound_objects().await?;
    let tokens = TokenClient::new(client.clone());
    let probe = Prober {
        tokens: &tokens,
        scratch,
    };
    let default = probe.grant("defaults", TokenRequestOptions::default()).await?;
    let issuer = default.claims().iss.clone();
    let api_audiences = default.audiences().to_vec();
    let token_algorithm = default.header().alg.clone();
    let signing_alg: SigningAlg = token_algorithm
        .parse()
        .map_err(|_| ProbeError::UnsupportedAlgorithm(token_algorithm.clone()))?;
    let max_expiration_seconds = probe.max_expiration().await?;
    let (extension, extension_observable) = probe.extension(&api_audiences, max_expiration_seconds).await?;
    let bound_kinds = probe.bound_kinds().await?;
    let min_expiration_seconds = probe.min_expiration().await?;
    let keys = ClusterKeySource::new(client.clone());
    let (discovery_issuer, discovery_algorithms, verification_keys) = match keys.discovery().await {
        Ok(doc) => {
            // Every key of the JWKS verifies tokens: more than one is key rotation.
            let published = match keys.key_set(&doc.jwks_uri).await {
                Ok(set) => set.keys.len().max(1),
                Err(error) => {
                    tracing::info!(%error, "JWKS not readable; counting one key");
                    1
                }
            };
            (Some(doc.issuer), doc.id_token_signing_alg_values_supported, published)
        }
        Err(error) => {
            tracing::info!(%error, "no OIDC discovery");
            (None, Vec::new(), 1)
        }
    };
    let policy = TokenPolicy {
        expiration: ExpirationPolicy {
            max_seconds: max_expiration_seconds,
            extend: extension,
        },
        audiences: AudiencePolicy::new(api_audiences.clone()),
        signing_alg,
        // Accepted issuers beside the issuing one cannot be seen through the API.
        previous_issuers: Vec::new(),
        keys: verification_keys,
    };
    Ok(ProbedPolicy {
        policy,
        issuer,
        api_audiences,
        max_expiration_seconds,
        extension,
        extension_observable,
        token_algorithm,
        discovery_issuer,
        discovery_algorithms,
        bound_kinds,
        min_expiration_seconds,
    })
}

/// The token requests of one probe.
struct Prober<'a> {
    tokens: &'a TokenClient,
    scratch: &'a Scratch,
}

impl Prober<'_> {
    async fn request(&self, options: &TokenRequestOptions) -> Result<IssuedToken, RequestError> {
        self.tokens
            .request(&self.scratch.namespace, &self.scratch.service_account, options)
            .await
    }

    async fn grant(&self, step: &'static str, options: TokenRequestOptions) -> Result<IssuedToken, ProbeError> {
        self.request(&options)
            .await
            .map_err(|source| ProbeError::Request { step, source })
    }

    /// The granted duration of a 2^32 s request; 2^32 itself means no max.
    async fn max_expiration(&self) -> Result<Option<i64>, ProbeError> {
        let step = "max expiration";
        let options = TokenRequestOptions {
            expiration_seconds: Some(MAX_EXPIRATION_SECONDS),
            ..TokenRequestOptions::default()
        };
        let granted = self
            .grant(step, options)
            .await?
            .expiration_seconds()
            .ok_or_else(|| ProbeError::Unexpected {
                step,
                detail: "the response has no spec.expirationSeconds".to_owned(),
            })?;
        Ok((granted < MAX_EXPIRATION_SECONDS).then_some(granted))
    }

    /// Whether a pod-bound 3607 s token for the API audiences lives a year, and whether that could be seen.
    async fn extension(&self, api_audiences: &[String], max: Option<i64>) -> Result<(bool, bool), ProbeError> {
        if max.is_some_and(|m| m < EXTENDED_REQUEST_SECONDS) {
            // The request is clamped below 3607 s, so the extension never applies (R9).
            return Ok((ExpirationPolicy::default().extend, false));
        }
        let options = TokenRequestOptions {
            audiences: api_audiences.to_vec(),
            expiration_seconds: Some(EXTENDED_REQUEST_SECONDS),
            bound_object: self.bound(BoundKind::Pod),
            dry_run: false,
        };
        let token = self.grant("extension", options).await?;
        let lifetime = token.claims().exp - token.claims().iat;
        Ok((lifetime == EXTENDED_LIFETIME_SECONDS, true))
    }

    /// The kinds a token could be bound to: 201 yes, 400 no, anything else is an error.
    async fn bound_kinds(&self) -> Result<Vec<BoundKind>, ProbeError> {
        let mut accepted = Vec::new();
        for kind in BoundKind::ALL {
            let options = TokenRequestOptions {
                bound_object: self.bound(kind),
                ..TokenRequestOptions::default()
            };
            match self.request(&options).await {
                Ok(_) => accepted.push(kind),
                Err(e) if e.status().and_then(|s| s.code) == Some(400) => {}
                Err(source) => {
                    return Err(ProbeError::Request {
                        step: "bound kinds",
                        source,
                    });
                }
            }
        }
        Ok(accepted)
    }

    /// 600 when 599 s is refused with 422 and 600 s granted.
    async fn min_expiration(&self) -> Result<Option<i64>, ProbeError> {
        let below = TokenRequestOptions {
            expiration_seconds: Some(MIN_EXPIRATION_SECONDS - 1),
            ..TokenRequestOptions::default()
        };
        let below_refused = match self.request(&below).await {
            Ok(_) => false,
            Err(e) if e.status().and_then(|s| s.code) == Some(422) => true,
            Err(source) => {
                return Err(ProbeError::Request {
                    step: "min expiration",
                    source,
                });
            }
        };
        let at = TokenRequestOptions {
            expiration_seconds: Some(MIN_EXPIRATION_SECONDS),
            ..TokenRequestOptions::default()
        };
        let at_granted = self.request(&at).await.is_ok();
        Ok((below_refused && at_granted).then_some(MIN_EXPIRATION_SECONDS))
    }

    fn bound(&self, kind: BoundKind) -> Option<BoundObjectRef> {
        let object = match kind {
            BoundKind::Pod => &self.scratch.pod,
            BoundKind::Secret => &self.scratch.secret,
            BoundKind::Node => &self.scratch.node,
        };
        object.as_ref().map(|(name, uid)| BoundObjectRef {
            kind,
            name: name.clone(),
            uid: Some(uid.clone()),
        })
    }
}
