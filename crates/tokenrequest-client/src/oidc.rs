//! Where verification keys come from: the OIDC discovery document and the JWKS it points to (R25).
//!
//! [`ClusterKeySource`] reads both through the cluster connection, taking only the *path* of `jwks_uri`: the URI
//! names the API server's external address, which a client behind a tunnel or port-forward cannot reach, while the
//! path is served by every API server. [`IssuerKeySource`] reads a public issuer over HTTPS, the way an external
//! relying party (a cloud IAM, Vault) does.

use std::future::Future;

use http::Method;
use jsonwebtoken::jwk::JwkSet;
use serde::{Deserialize, Serialize};
use tokenrequest_types::token::Token;

use crate::api_call::{ACCEPT_JSON, ACCEPT_JWK_SET, ApiError, call};

/// The path of the discovery document, relative to the issuer or the API server.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// The OIDC discovery document as kube-apiserver serves it (R25).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryDocument {
    /// The issuer; every token's `iss` equals it (R26).
    pub issuer: String,
    /// Where the key set is.
    pub jwks_uri: String,
    /// `["id_token"]`.
    #[serde(default)]
    pub response_types_supported: Vec<String>,
    /// `["public"]`.
    #[serde(default)]
    pub subject_types_supported: Vec<String>,
    /// The algorithms of the signing keys, sorted.
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
}

/// Why the discovery document or the key set could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Through the cluster connection.
    #[error("cannot fetch the {what}")]
    Api {
        /// `discovery document` or `key set`.
        what: &'static str,
        /// What went wrong.
        #[source]
        source: ApiError,
    },
    /// From a public issuer.
    #[error("cannot fetch {url}")]
    Http {
        /// The URL.
        url: String,
        /// What went wrong.
        #[source]
        source: reqwest::Error,
    },
    /// The body is not what OIDC prescribes.
    #[error("the {what} is not valid JSON")]
    Decode {
        /// `discovery document` or `key set`.
        what: &'static str,
        /// The decoder's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// `jwks_uri` is not a URL with a path.
    #[error("jwks_uri {0:?} is not an absolute URL")]
    JwksUri(String),
    /// The extra CA certificate does not parse, or TLS cannot be set up.
    #[error("invalid CA certificate: {0}")]
    CaCertificate(String),
}

/// A place to read the discovery document and key set from.
pub trait KeySource: Send + Sync {
    /// Fetches the discovery document.
    fn discovery(&self) -> impl Future<Output = Result<DiscoveryDocument, FetchError>> + Send;
    /// Fetches the key set named by a discovery document's `jwks_uri`.
    fn key_set(&self, jwks_uri: &str) -> impl Future<Output = Result<JwkSet, FetchError>> + Send;
}

/// Reads discovery and JWKS through the cluster connection (authenticated as the kubeconfig's user).
#[derive(Clone)]
pub struct ClusterKeySource {
    client: kube::Client,
}

impl ClusterKeySource {
    /// A source on an existing connection.
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }
}

impl KeySource for ClusterKeySource {
    async fn discovery(&self) -> Result<DiscoveryDocument, FetchError> {
        let what = "discovery document";
        let response = call(&self.client, Method::GET, DISCOVERY_PATH, ACCEPT_JSON, None)
            .await
            .map_err(|source| FetchError::Api { what, source })?;
        serde_json::from_slice(&response.body).map_err(|source| FetchError::Decode { what, source })
    }

    async fn key_set(&self, jwks_uri: &str) -> Result<JwkSet, FetchError> {
        let what = "key set";
        let path = path_of(jwks_uri)?;
        let response = call(&self.client, Method::GET, &path, ACCEPT_JWK_SET, None)
            .await
            .map_err(|source| FetchError::Api { what, source })?;
        serde_json::from_slice(&response.body).map_err(|source| FetchError::Decode { what, source })
    }
}

/// The path and query of an absolute URL.
fn path_of(uri: &str) -> Result<String, FetchError> {
    let parsed: http::Uri = uri.parse().map_err(|_| FetchError::JwksUri(uri.to_owned()))?;
    if parsed.scheme().is_none() {
        return Err(FetchError::JwksUri(uri.to_owned()));
    }
    let path = parsed.path_and_query().map_or("/", |p| p.as_str());
    Ok(path.to_owned())
}

/// Reads discovery and JWKS from a public issuer URL over HTTPS (system roots, plus an optional extra CA).
#[derive(Clone)]
pub struct IssuerKeySource {
    http: reqwest::Client,
    issuer: String,
    bearer_token: Option<Token>,
}

impl IssuerKeySource {
    /// A source for `issuer` (e.g. `https://oidc.example.com/cluster-1`). `extra_ca_pem` adds a trusted CA.
    pub fn new(issuer: &str, extra_ca_pem: Option<&[u8]>) -> Result<Self, FetchError> {
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls_config(extra_ca_pem)?)
            .https_only(true)
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|source| FetchError::Http {
                url: issuer.to_owned(),
                source,
            })?;
        Ok(Self {
            http,
            issuer: issuer.trim_end_matches('/').to_owned(),
            bearer_token: None,
        })
    }

    /// Sends `token` as a bearer token: an API server serves discovery only to authenticated callers unless a
    /// cluster binds `system:service-account-issuer-discovery` to anonymous users (R25).
    pub fn with_bearer_token(mut self, token: Token) -> Self {
        self.bearer_token = Some(token);
        self
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, url: &str, what: &'static str) -> Result<T, FetchError> {
        let http_error = |source| FetchError::Http {
            url: url.to_owned(),
            source,
        };
        let accept = if what == "key set" { ACCEPT_JWK_SET } else { ACCEPT_JSON };
        let mut request = self.http.get(url).header(http::header::ACCEPT, accept);
        if let Some(token) = &self.bearer_token {
            request = request.bearer_auth(token.expose());
        }
        let response = request.send().await.map_err(http_error)?;
        let body = response
            .error_for_status()
            .map_err(http_error)?
            .bytes()
            .await
            .map_err(http_error)?;
        serde_json::from_slice(&body).map_err(|source| FetchError::Decode { what, source })
    }
}

impl KeySource for IssuerKeySource {
    async fn discovery(&self) -> Result<DiscoveryDocument, FetchError> {
        self.get(&format!("{}{DISCOVERY_PATH}", self.issuer), "discovery document")
            .await
    }

    async fn key_set(&self, jwks_uri: &str) -> Result<JwkSet, FetchError> {
        self.get(jwks_uri, "key set").await
    }
}

/// rustls with the aws-lc-rs provider (the one provider of this workspace), the system roots and `extra_ca_pem`.
fn tls_config(extra_ca_pem: Option<&[u8]>) -> Result<rustls::ClientConfig, FetchError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    // Unreadable system certificates are skipped, as every rustls-native-certs user does.
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(pem) = extra_ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| FetchError::CaCertificate(e.to_string()))?;
            roots.add(cert).map_err(|e| FetchError::CaCertificate(e.to_string()))?;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FetchError::CaCertificate(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_uri_keeps_only_path_and_query() {
        assert_eq!(
            path_of("https://10.0.0.1:6443/openid/v1/jwks").unwrap(),
            "/openid/v1/jwks"
        );
        assert_eq!(path_of("https://h/keys?x=1").unwrap(), "/keys?x=1");
        assert!(matches!(path_of("/openid/v1/jwks"), Err(FetchError::JwksUri(_))));
    }

    #[test]
    fn discovery_reads_kube_apiserver_document() {
        let doc: DiscoveryDocument = serde_json::from_str(
            r#"{"issuer":"https://kubernetes.default.svc.cluster.local","jwks_uri":"https://127.0.0.1:6443/openid/v1/jwks","response_types_supported":["id_token"],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["RS256"]}"#,
        )
        .unwrap();
        assert_eq!(doc.id_token_signing_alg_values_supported, ["RS256"]);
    }
}
