//! Key material for a loopback control plane: a throw-away CA, a serving certificate for
//! `127.0.0.1`/`localhost` signed by it, the service-account signing key and a random admin token.
//!
//! Everything is generated in process, so no `openssl` binary is needed: the certificates by the workspace's one
//! certificate maker (`tokenrequest_server::tls::LoopbackCertificates`), the service-account key with rcgen, or
//! aws-lc-rs for the RSA key that rcgen cannot generate.

use aws_lc_rs::encoding::AsDer;
use rcgen::KeyPair;
use tokenrequest_server::tls::LoopbackCertificates;
use tokenrequest_types::policy::SigningAlg;
use tokenrequest_types::token::Token;

use crate::error::{Context, Result};

/// PEM material for one control plane. Private keys and the token never leave the temp dir.
pub struct Pki {
    /// The CA certificate (PEM): the kubeconfig's `certificate-authority-data`.
    pub ca_pem: String,
    /// The serving certificate (PEM) for `127.0.0.1` and `localhost`.
    pub serving_cert_pem: String,
    /// The serving key (PKCS#8 PEM).
    pub serving_key_pem: String,
    /// The service-account signing key (PKCS#8 PEM): RSA-2048 for RS256, P-256 for ES256, for
    /// `--service-account-signing-key-file`.
    pub sa_key_pem: String,
    /// Its public key (PKIX `PUBLIC KEY` PEM) for `--service-account-key-file`. Seen on v1.37.1:
    /// that flag reads an RSA public key out of a PKCS#8 private-key PEM, but not an EC one ("data
    /// does not contain any valid RSA or ECDSA public keys"), so it always gets the public key.
    pub sa_public_pem: String,
    /// The admin bearer token (64 hex digits).
    pub admin_token: Token,
    /// Retired service-account keys (key rotation): published and verified by kube-apiserver
    /// (`--service-account-key-file`), never used by it to sign.
    pub retired: Vec<RetiredKey>,
}

/// A retired service-account key: the server still verifies tokens signed with it; tests keep the private half to
/// sign tokens "from before the rotation".
#[derive(Clone)]
pub struct RetiredKey {
    /// PKCS#8 PEM.
    pub private_pem: String,
    /// PKIX `PUBLIC KEY` PEM, for `--service-account-key-file` (kube-apiserver reads no EC public key out of a
    /// private-key PEM there).
    pub public_pem: String,
    /// Its key id, as kube-apiserver computes it (R18).
    pub kid: String,
    /// Its algorithm.
    pub alg: SigningAlg,
}

/// `count` fresh retired keys of `alg`.
pub fn retired_keys(alg: SigningAlg, count: usize) -> Result<Vec<RetiredKey>> {
    (0..count)
        .map(|_| {
            let private_pem = service_account_key_pem(alg)?;
            let pair = KeyPair::from_pem(&private_pem).context("re-reading a retired key")?;
            Ok(RetiredKey {
                kid: tokenrequest_types::keyid::key_id(&rcgen::PublicKeyData::subject_public_key_info(&pair)),
                public_pem: pair.public_key_pem(),
                private_pem,
                alg,
            })
        })
        .collect()
}

impl Pki {
    /// Generates fresh material, with `retired` retired keys beside the signing key.
    pub fn generate(alg: SigningAlg, retired: usize) -> Result<Self> {
        let certificates = LoopbackCertificates::generate("tokenrequest-envtest CA", "kube-apiserver")
            .context("making the CA and serving certificate")?;
        let sa_key_pem = service_account_key_pem(alg)?;
        Ok(Self {
            ca_pem: certificates.ca_pem,
            serving_cert_pem: certificates.cert_pem,
            serving_key_pem: certificates.key_pem,
            sa_public_pem: KeyPair::from_pem(&sa_key_pem)
                .context("re-reading the service-account key")?
                .public_key_pem(),
            sa_key_pem,
            admin_token: Token::new(random_hex(32)?),
            retired: retired_keys(alg, retired)?,
        })
    }
}

/// A PKCS#8 PEM private key for signing service-account tokens.
fn service_account_key_pem(alg: SigningAlg) -> Result<String> {
    match alg {
        SigningAlg::RS256 => {
            let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(|_| format_err!("generating an RSA-2048 key failed"))?;
            let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'_>>::as_der(&key)
                .map_err(|_| format_err!("encoding the RSA key as PKCS#8 failed"))?;
            let pair = KeyPair::try_from(der.as_ref()).context("re-reading the RSA key")?;
            Ok(pair.serialize_pem())
        }
        SigningAlg::ES256 => ec_key_pem(&rcgen::PKCS_ECDSA_P256_SHA256),
        SigningAlg::ES384 => ec_key_pem(&rcgen::PKCS_ECDSA_P384_SHA384),
        SigningAlg::ES512 => ec_key_pem(&rcgen::PKCS_ECDSA_P521_SHA512),
    }
}

fn ec_key_pem(alg: &'static rcgen::SignatureAlgorithm) -> Result<String> {
    Ok(KeyPair::generate_for(alg)
        .with_context(|| format!("generating an {alg:?} key"))?
        .serialize_pem())
}

/// `bytes` random bytes from the system RNG, hex encoded.
fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).map_err(|_| format_err!("system RNG failed"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_both_key_kinds() {
        for alg in [SigningAlg::RS256, SigningAlg::ES256] {
            let pki = Pki::generate(alg, 1).unwrap();
            assert!(pki.retired[0].public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
            assert!(pki.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
            assert!(pki.sa_key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
            assert!(pki.sa_public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
            assert_eq!(pki.admin_token.expose().len(), 64);
        }
    }

    #[test]
    fn rsa_key_is_rsa() {
        let pem = service_account_key_pem(SigningAlg::RS256).unwrap();
        let pair = KeyPair::from_pem(&pem).unwrap();
        assert!(pair.is_compatible(&rcgen::PKCS_RSA_SHA256));
    }
}
