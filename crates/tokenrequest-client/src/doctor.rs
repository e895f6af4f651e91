//! What `kube-tokenrequest doctor` looks at, gathered through the public API into
//! [`tokenrequest_types::relying_party::Observations`], which the relying-party profiles judge.
//!
//! In a scratch namespace (deleted afterwards, also on error): a service account, a token for the API audiences
//! and one per relying party's audience (600 s, the least kube-apiserver grants), a TokenReview of each; the
//! discovery document and the JWKS read as that service account and without credentials. Every request is bounded
//! by the client's timeouts; the caller bounds the whole.

use http::{HeaderMap, Method};
use tokenrequest_types::relying_party::{AudienceOutcome, Fetch, Observations, PublishedKey};

use crate::api_call::{ACCEPT_JSON, ACCEPT_JWK_SET, call};
use crate::oidc::{DISCOVERY_PATH, DiscoveryDocument};
use crate::scratch::{Scratch, ScratchError};
use crate::token_client::{RequestError, TokenClient, TokenRequestOptions};

/// Where kube-apiserver serves the JWKS (pkg/routes/openidmetadata.go).
const JWKS_PATH: &str = "/openid/v1/jwks";

/// Why nothing could be judged. The scratch namespace is deleted either way.
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    /// The scratch namespace or service account could not be created.
    #[error(transparent)]
    Scratch(#[from] ScratchError),
    /// Even a token for the API audiences was refused.
    #[error("cannot request a token")]
    Token(#[source] RequestError),
    /// The kube-rs client could not be built for a credential.
    #[error("cannot build a client")]
    Client(#[source] kube::Error),
}

/// Gathers the observations with the kubeconfig's `config` (whose user may create namespaces, service accounts
/// and tokens). `audiences` are the relying parties' audiences to request tokens for.
pub async fn observe(config: kube::Config, audiences: &[String]) -> Result<Observations, DoctorError> {
    let client = kube::Client::try_from(config.clone()).map_err(DoctorError::Client)?;
    let scratch = Scratch::create(client.clone()).await?;
    tracing::info!(namespace = %scratch.namespace, "doctor works in a scratch namespace");
    let observed = observe_in(&scratch, client, config, audiences).await;
    scratch.delete().await;
    observed
}

async fn observe_in(
    scratch: &Scratch,
    client: kube::Client,
    config: kube::Config,
    audiences: &[String],
) -> Result<Observations, DoctorError> {
    let tokens = TokenClient::new(client);
    let request = |audiences: Vec<String>| TokenRequestOptions {
        audiences,
        expiration_seconds: Some(600),
        ..TokenRequestOptions::default()
    };
    let issued = tokens
        .request(&scratch.namespace, &scratch.service_account, &request(Vec::new()))
        .await
        .map_err(DoctorError::Token)?;

    let mut outcomes = Vec::new();
    for audience in audiences {
        let outcome = match tokens
            .request(
                &scratch.namespace,
                &scratch.service_account,
                &request(vec![audience.clone()]),
            )
            .await
        {
            Ok(token) => {
                let review = match tokens.review(token.token(), std::slice::from_ref(audience)).await {
                    Ok(status) => Some((
                        status.authenticated.unwrap_or(false),
                        status.audiences.unwrap_or_default(),
                    )),
                    Err(e) => {
                        tracing::warn!(error = %error_line(&e), audience, "TokenReview failed");
                        None
                    }
                };
                AudienceOutcome {
                    audience: audience.clone(),
                    refused: None,
                    review,
                }
            }
            Err(e) => AudienceOutcome {
                audience: audience.clone(),
                refused: Some(error_line(&e)),
                review: None,
            },
        };
        outcomes.push(outcome);
    }

    let as_service_account = with_credentials(&config, Some(issued.token().expose()))?;
    let anonymous = with_credentials(&config, None)?;
    let (discovery, document) = get::<DiscoveryDocument>(&as_service_account, DISCOVERY_PATH, ACCEPT_JSON).await;
    // The keys are read where kube-apiserver serves them, whatever `jwks_uri` announces: with
    // --service-account-jwks-uri pointing at a public copy, the API server still serves the original, and the
    // public one is beyond what this machine may reach (the `issuer-public` rule says so).
    let (jwks, key_set) = get::<serde_json::Value>(&as_service_account, JWKS_PATH, ACCEPT_JWK_SET).await;
    let (anonymous_discovery, _) = get::<serde_json::Value>(&anonymous, DISCOVERY_PATH, ACCEPT_JSON).await;
    let (anonymous_jwks, _) = get::<serde_json::Value>(&anonymous, JWKS_PATH, ACCEPT_JWK_SET).await;

    Ok(Observations {
        api_server: config.cluster_url.to_string(),
        token_issuer: issued.claims().iss.clone(),
        token_alg: issued.header().alg.clone(),
        token_kid: issued.header().kid.clone(),
        discovery,
        discovery_issuer: document.as_ref().map(|d| d.issuer.clone()),
        jwks_uri: document.as_ref().map(|d| d.jwks_uri.clone()),
        discovery_algorithms: document
            .map(|d| d.id_token_signing_alg_values_supported)
            .unwrap_or_default(),
        jwks,
        keys: key_set.as_ref().map(published_keys).unwrap_or_default(),
        anonymous_discovery,
        anonymous_jwks,
        audiences: outcomes,
        gcp_audience: None,
    })
}

/// The keys of a JWKS as published, read as plain JSON so that a key `jsonwebtoken` would refuse (no `kid`, an
/// unknown curve) is still seen.
fn published_keys(set: &serde_json::Value) -> Vec<PublishedKey> {
    let text = |key: &serde_json::Value, field: &str| key[field].as_str().map(str::to_owned);
    set["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .map(|key| PublishedKey {
                    kid: text(key, "kid"),
                    key_use: text(key, "use"),
                    alg: text(key, "alg"),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The kubeconfig's cluster with another credential: a bearer token, or none at all (anonymous).
fn with_credentials(config: &kube::Config, token: Option<&str>) -> Result<kube::Client, DoctorError> {
    let mut config = config.clone();
    config.auth_info = kube::config::AuthInfo {
        token: token.map(|t| t.to_owned().into()),
        ..kube::config::AuthInfo::default()
    };
    kube::Client::try_from(config).map_err(DoctorError::Client)
}

/// GETs `path`: what came back, and the body decoded when it was a success.
async fn get<T: serde::de::DeserializeOwned>(
    client: &kube::Client,
    path: &str,
    accept: &'static str,
) -> (Fetch, Option<T>) {
    match call(client, Method::GET, path, accept, None).await {
        Ok(response) => {
            let decoded = serde_json::from_slice::<T>(&response.body);
            let fetch = Fetch {
                code: Some(response.code.as_u16()),
                content_type: header(&response.headers, http::header::CONTENT_TYPE),
                cache_control: header(&response.headers, http::header::CACHE_CONTROL),
                error: decoded.as_ref().err().map(|e| format!("unreadable body: {e}")),
            };
            (fetch, decoded.ok())
        }
        Err(error) => (
            Fetch {
                code: error.code(),
                content_type: None,
                cache_control: None,
                error: Some(error_line(&error)),
            },
            None,
        ),
    }
}

fn header(headers: &HeaderMap, name: http::header::HeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// An error and its causes on one line (never a token: errors here carry the API's `Status` or a transport
/// failure).
fn error_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let text = inner.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = inner.source();
    }
    line
}
