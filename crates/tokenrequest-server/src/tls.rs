//! Serving TLS: a throwaway CA and a serving certificate for 127.0.0.1, ::1 and localhost made at start with
//! rcgen, or a certificate and key loaded from PEM; and the rustls configuration (aws-lc-rs, ALPN h2 + http/1.1).

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::ServerError;

/// What the server needs for TLS: the rustls configuration, and the CA a client must trust.
pub struct TlsMaterial {
    /// PEM of the certificate(s) a client should trust (the generated CA, or the loaded certificate chain).
    pub ca_pem: String,
    /// The rustls server configuration.
    pub server_config: Arc<rustls::ServerConfig>,
}

/// A throwaway CA and a serving certificate signed by it for `localhost`, `127.0.0.1` and `::1`, as PEM: what
/// this server serves with when given no certificate, and what `tokenrequest-envtest` gives a real kube-apiserver.
/// The one place in the workspace that makes certificates.
pub struct LoopbackCertificates {
    /// The CA certificate: what a client trusts (a kubeconfig's `certificate-authority-data`).
    pub ca_pem: String,
    /// The serving certificate.
    pub cert_pem: String,
    /// The serving certificate's private key (PKCS#8).
    pub key_pem: String,
}

impl LoopbackCertificates {
    /// Generates a fresh CA (named `ca_name`) and serving certificate (named `server_name`).
    pub fn generate(ca_name: &str, server_name: &str) -> Result<Self, ServerError> {
        let err = |e: rcgen::Error| ServerError::Tls(e.to_string());
        let ca_key = KeyPair::generate().map_err(err)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca_params.distinguished_name.push(DnType::CommonName, ca_name);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
        let ca = Issuer::new(ca_params, ca_key);

        let serving_key = KeyPair::generate().map_err(err)?;
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
        let mut params = CertificateParams::new(names).map_err(err)?;
        params.distinguished_name.push(DnType::CommonName, server_name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let serving = params.signed_by(&serving_key, &ca).map_err(err)?;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            cert_pem: serving.pem(),
            key_pem: serving_key.serialize_pem(),
        })
    }
}

/// Makes a CA and a serving certificate signed by it, valid for the loopback names.
pub fn generate() -> Result<TlsMaterial, ServerError> {
    let certificates = LoopbackCertificates::generate("kube-tokenrequest-ca", "kube-tokenrequest")?;
    let mut material = from_pem(&certificates.cert_pem, &certificates.key_pem)?;
    material.ca_pem = certificates.ca_pem;
    Ok(material)
}

/// Loads a certificate chain and its private key (`--tls-cert-file`, `--tls-private-key-file`). The chain itself is
/// what a client is told to trust: for a self-signed certificate that is enough; for a CA-issued one, the caller's
/// CA must be in the file.
pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<TlsMaterial, ServerError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| ServerError::Tls(format!("certificate: {e}")))?;
    if chain.is_empty() {
        return Err(ServerError::Tls("certificate: no CERTIFICATE block".to_owned()));
    }
    let key =
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| ServerError::Tls(format!("private key: {e}")))?;
    Ok(TlsMaterial {
        ca_pem: cert_pem.to_owned(),
        server_config: server_config(chain, key)?,
    })
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    // The dependency graph also contains ring (through other crates), so rustls cannot pick a process-wide default
    // provider by itself: name aws-lc-rs explicitly, as DESIGN.md wants one provider for TLS and JWT.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
