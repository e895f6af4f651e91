//! The server's configuration: the kube-apiserver flags that shape the token subsystem.

use std::net::SocketAddr;
use std::time::Duration;

use tokenrequest_types::policy::{DEFAULT_ISSUER, SigningAlg};

use crate::controllers::Controllers;
use crate::fault::Fault;

/// How to run the server; each field mirrors a kube-apiserver flag (named in the field's doc).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen (`--secure-port`/`--bind-address`); port 0 picks a free port.
    pub listen: SocketAddr,
    /// `--service-account-issuer`: the `iss` claim and OIDC discovery's `issuer`.
    pub issuer: String,
    /// Further `--service-account-issuer` values: tokens of these issuers are still accepted (issuer rotation).
    pub previous_issuers: Vec<String>,
    /// `--api-audiences`; `None` means kube-apiserver's default, the issuer alone.
    pub api_audiences: Option<Vec<String>>,
    /// `--service-account-max-token-expiration`; `None` or zero means no maximum.
    pub max_token_expiration: Option<Duration>,
    /// `--service-account-extend-token-expiration` (default true).
    pub extend_token_expiration: bool,
    /// The algorithm of the key generated at start; ignored when `signing_key_pem` is given (the key decides).
    pub signing_alg: SigningAlg,
    /// `--service-account-signing-key-file`, as PEM (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub signing_key_pem: Option<String>,
    /// `--service-account-key-file` keys beside the signing key, as private-key PEM (kube-apiserver accepts private
    /// or public keys there; this server private ones): still verified and published, never used to sign (key
    /// rotation).
    pub retired_keys_pem: Vec<String>,
    /// `--tls-cert-file`/`--tls-private-key-file`, as PEM (certificate chain, private key); `None` makes a CA and a
    /// serving certificate for 127.0.0.1, ::1 and localhost at start.
    pub tls: Option<(String, String)>,
    /// `--service-account-jwks-uri`; `None` means `https://{listen address}/openid/v1/jwks`.
    pub jwks_uri: Option<String>,
    /// Whether anonymous callers may read OIDC discovery and the JWKS, as after
    /// `kubectl create clusterrolebinding oidc-reviewer --clusterrole=system:service-account-issuer-discovery
    /// --group=system:unauthenticated` (off by default, as in kube-apiserver's bootstrap policy).
    pub anonymous_issuer_discovery: bool,
    /// Which of kube-controller-manager's controllers run beside the API (`default` service accounts, namespace
    /// deletion); [`Controllers::None`] is a bare kube-apiserver.
    pub controllers: Controllers,
    /// With the controllers: how long a deleted namespace stays Terminating before it and its content go.
    pub namespace_finalize_after: Duration,
    /// A deliberately broken rule, to prove that the conformance suite can fail (hidden `--inject-fault`).
    pub fault: Option<Fault>,
}

/// A few seconds, as a small cluster's namespace controller takes for an emptied namespace.
pub const DEFAULT_NAMESPACE_FINALIZE_AFTER: Duration = Duration::from_secs(5);

impl ServerConfig {
    /// kube-apiserver's defaults, listening on `listen`.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            issuer: DEFAULT_ISSUER.to_owned(),
            previous_issuers: Vec::new(),
            api_audiences: None,
            max_token_expiration: None,
            extend_token_expiration: true,
            signing_alg: SigningAlg::RS256,
            signing_key_pem: None,
            retired_keys_pem: Vec::new(),
            tls: None,
            jwks_uri: None,
            anonymous_issuer_discovery: false,
            controllers: Controllers::All,
            namespace_finalize_after: DEFAULT_NAMESPACE_FINALIZE_AFTER,
            fault: None,
        }
    }

    /// kube-apiserver's defaults on `127.0.0.1:0`, as tests want them.
    pub fn loopback() -> Self {
        Self::new(SocketAddr::from(([127, 0, 0, 1], 0)))
    }
}
