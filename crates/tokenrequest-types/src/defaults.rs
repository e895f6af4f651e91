//! Defaults kube-apiserver applies to a `TokenRequest` before validating it (R4).
//!
//! Source: `pkg/apis/authentication/v1/defaults.go` (`SetDefaults_TokenRequestSpec`).

use k8s_openapi::api::authentication::v1::TokenRequestSpec;

use crate::expiration::DEFAULT_EXPIRATION_SECONDS;

/// R4: a missing or null `expirationSeconds` becomes 3600; an explicit 0 stays 0 (and fails validation).
pub fn default_expiration(spec: &mut TokenRequestSpec) {
    spec.expiration_seconds.get_or_insert(DEFAULT_EXPIRATION_SECONDS);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r4_default_expiration() {
        let mut spec = TokenRequestSpec::default();
        default_expiration(&mut spec);
        assert_eq!(spec.expiration_seconds, Some(3600));
        let mut zero = TokenRequestSpec {
            expiration_seconds: Some(0),
            ..Default::default()
        };
        default_expiration(&mut zero);
        assert_eq!(zero.expiration_seconds, Some(0));
    }
}
