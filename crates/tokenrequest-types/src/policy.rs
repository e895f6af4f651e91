//! A cluster's token policy as one value: what `serve` is started with, what xtask's `--policy` states, and what
//! `probe` learns from a live API. Comparing two of them is the "policy mismatch" check.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::audience::AudiencePolicy;
use crate::expiration::ExpirationPolicy;

/// The issuer kube-apiserver's documentation and kubeadm use, and our default.
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// The JWS algorithm of the signing key (R18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SigningAlg {
    /// RSA PKCS#1 v1.5 with SHA-256 (an RSA key; kube-apiserver's usual).
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// ECDSA P-384 with SHA-384.
    ES384,
    /// ECDSA P-521 with SHA-512.
    ES512,
}

impl SigningAlg {
    /// Every algorithm kube-apiserver signs service-account tokens with: one per key type it accepts
    /// (pkg/serviceaccount/jwt.go: RSA → RS256, ECDSA P-256/P-384/P-521 → ES256/ES384/ES512).
    pub const ALL: [SigningAlg; 4] = [Self::RS256, Self::ES256, Self::ES384, Self::ES512];

    /// The `alg` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::ES512 => "ES512",
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlg {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match Self::ALL.into_iter().find(|alg| alg.as_str() == s) {
            Some(alg) => Ok(alg),
            None => Err(PolicyError::Value {
                key: "alg",
                value: s.to_owned(),
                expected: "RS256, ES256, ES384 or ES512",
            }),
        }
    }
}

/// Why a policy string does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    /// An unknown key.
    #[error("unknown policy key {0:?}: expected max, extend, audiences, alg, issuers or keys")]
    Key(String),
    /// A key without `=value`.
    #[error("policy entry {0:?} has no value: write key=value")]
    MissingValue(String),
    /// A value that does not parse.
    #[error("invalid policy value {value:?} for {key}: expected {expected}")]
    Value {
        /// The key.
        key: &'static str,
        /// The value given.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
}

/// The token policy of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPolicy {
    /// Max expiration and extension.
    pub expiration: ExpirationPolicy,
    /// API audiences.
    pub audiences: AudiencePolicy,
    /// Signing algorithm.
    pub signing_alg: SigningAlg,
    /// Issuers accepted beside the one that issues (kube-apiserver's second and later
    /// `--service-account-issuer`): issuer rotation.
    pub previous_issuers: Vec<String>,
    /// How many keys verify tokens: the signing key and `keys - 1` retired ones (key rotation).
    pub keys: usize,
}

impl TokenPolicy {
    /// kube-apiserver's defaults for an issuer: no max, extension on, API audiences = [issuer], RS256.
    pub fn defaults_for_issuer(issuer: &str) -> Self {
        Self {
            expiration: ExpirationPolicy::default(),
            audiences: AudiencePolicy::for_issuer(issuer),
            signing_alg: SigningAlg::RS256,
            previous_issuers: Vec::new(),
            keys: 1,
        }
    }

    /// Applies `max=24h,extend=false,audiences=a,b,alg=ES256,issuers=https://old,keys=2` on top of `self`.
    ///
    /// `audiences` and `issuers` take every following comma-separated item that is not itself `key=value`, so
    /// `audiences=a,b,extend=false` works. `max=0` means no max. `issuers` are the previous issuers still accepted
    /// (the target's own issuer issues); `keys` counts the verification keys, the signing key included.
    pub fn with_overrides(mut self, spec: &str) -> Result<Self, PolicyError> {
        let mut items = spec.split(',').map(str::trim).filter(|s| !s.is_empty()).peekable();
        while let Some(item) = items.next() {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| PolicyError::MissingValue(item.to_owned()))?;
            match key {
                "max" => self.expiration.max_seconds = parse_max(value)?,
                "extend" => self.expiration.extend = parse_bool(value)?,
                "alg" => self.signing_alg = value.parse()?,
                "audiences" => {
                    let mut audiences = vec![value.to_owned()];
                    while let Some(next) = items.next_if(|s| !s.contains('=')) {
                        audiences.push(next.to_owned());
                    }
                    self.audiences = AudiencePolicy::new(audiences);
                }
                "issuers" => {
                    let mut issuers = vec![value.to_owned()];
                    while let Some(next) = items.next_if(|s| !s.contains('=')) {
                        issuers.push(next.to_owned());
                    }
                    self.previous_issuers = issuers;
                }
                "keys" => {
                    self.keys =
                        value
                            .parse()
                            .ok()
                            .filter(|n| (1..=4).contains(n))
                            .ok_or_else(|| PolicyError::Value {
                                key: "keys",
                                value: value.to_owned(),
                                expected: "1 to 4",
                            })?;
                }
                other => return Err(PolicyError::Key(other.to_owned())),
            }
        }
        Ok(self)
    }
}

impl fmt::Display for TokenPolicy {
    /// The same `key=value` form [`TokenPolicy::with_overrides`] reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = match self.expiration.max_seconds {
            Some(s) => humantime::format_duration(Duration::from_secs(s.unsigned_abs())).to_string(),
            None => "0".to_owned(),
        };
        write!(
            f,
            "max={max},extend={},audiences={},alg={}",
            self.expiration.extend,
            self.audiences.api_audiences().join(","),
            self.signing_alg
        )?;
        if !self.previous_issuers.is_empty() {
            write!(f, ",issuers={}", self.previous_issuers.join(","))?;
        }
        if self.keys != 1 {
            write!(f, ",keys={}", self.keys)?;
        }
        Ok(())
    }
}

fn parse_max(value: &str) -> Result<Option<i64>, PolicyError> {
    let invalid = || PolicyError::Value {
        key: "max",
        value: value.to_owned(),
        expected: "a duration like 24h, or 0",
    };
    if value == "0" {
        return Ok(None);
    }
    let d = humantime::parse_duration(value).map_err(|_| invalid())?;
    let policy = ExpirationPolicy::new(Some(d), true);
    if !policy.max_is_valid() {
        return Err(PolicyError::Value {
            key: "max",
            value: value.to_owned(),
            expected: "between 1h and 2^32 seconds",
        });
    }
    Ok(policy.max_seconds)
}

fn parse_bool(value: &str) -> Result<bool, PolicyError> {
    value.parse().map_err(|_| PolicyError::Value {
        key: "extend",
        value: value.to_owned(),
        expected: "true or false",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_parses_and_prints_back() {
        let p = TokenPolicy::defaults_for_issuer(DEFAULT_ISSUER)
            .with_overrides("issuers=https://old.example,https://older.example,keys=2,alg=ES256")
            .unwrap();
        assert_eq!(p.previous_issuers, ["https://old.example", "https://older.example"]);
        assert_eq!(p.keys, 2);
        let printed = p.to_string();
        assert!(
            printed.ends_with(",issuers=https://old.example,https://older.example,keys=2"),
            "{printed}"
        );
        assert_eq!(
            TokenPolicy::defaults_for_issuer(DEFAULT_ISSUER)
                .with_overrides(&printed)
                .unwrap(),
            p
        );
        assert!(
            TokenPolicy::defaults_for_issuer(DEFAULT_ISSUER)
                .with_overrides("keys=9")
                .is_err()
        );
    }

    #[test]
    fn overrides_parse_and_print_back() {
        let p = TokenPolicy::defaults_for_issuer(DEFAULT_ISSUER)
            .with_overrides("max=24h,extend=false,audiences=a,b,alg=ES256")
            .unwrap();
        assert_eq!(
            p.expiration,
            ExpirationPolicy {
                max_seconds: Some(86_400),
                extend: false
            }
        );
        assert_eq!(p.audiences.api_audiences(), ["a".to_owned(), "b".to_owned()]);
        assert_eq!(p.signing_alg, SigningAlg::ES256);
        assert_eq!(p.to_string(), "max=1day,extend=false,audiences=a,b,alg=ES256");
        let again = TokenPolicy::defaults_for_issuer(DEFAULT_ISSUER)
            .with_overrides(&p.to_string())
            .unwrap();
        assert_eq!(again, p);
    }

    #[test]
    fn defaults_follow_kube_apiserver() {
        let p = TokenPolicy::defaults_for_issuer(DEFAULT_ISSUER);
        assert_eq!(
            p.to_string(),
            format!("max=0,extend=true,audiences={DEFAULT_ISSUER},alg=RS256")
        );
    }

    #[test]
    fn bad_policies_say_why() {
        let base = || TokenPolicy::defaults_for_issuer(DEFAULT_ISSUER);
        assert_eq!(base().with_overrides("speed=1"), Err(PolicyError::Key("speed".into())));
        assert_eq!(
            base().with_overrides("extend"),
            Err(PolicyError::MissingValue("extend".into()))
        );
        assert!(
            base()
                .with_overrides("max=10m")
                .unwrap_err()
                .to_string()
                .contains("between 1h and 2^32 seconds")
        );
        assert!(base().with_overrides("extend=maybe").is_err());
        assert!(base().with_overrides("alg=HS256").is_err());
    }
}
