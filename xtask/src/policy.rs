//! `--policy`: the token policy a target is expected to enforce, parsed by `tokenrequest-types`
//! (the one place the policy's text form is defined) on top of kube-apiserver's defaults.
//!
//! Each target turns the policy into its own flags (see the target modules); the suite receives
//! its text form in `TOKENREQUEST_EXPECTED_POLICY` and compares it with what it probes.

use tokenrequest_types::policy::{DEFAULT_ISSUER, TokenPolicy};

/// The environment variable through which the suite learns the expected policy.
pub(crate) const EXPECTED_POLICY_ENV: &str = "TOKENREQUEST_EXPECTED_POLICY";

/// The policy stated by `--policy`, or kube-apiserver's defaults when `spec` is `None`.
pub(crate) fn parse(spec: Option<&str>) -> anyhow::Result<TokenPolicy> {
    let defaults = TokenPolicy::defaults_for_issuer(DEFAULT_ISSUER);
    let Some(spec) = spec else {
        return Ok(defaults);
    };
    match defaults.with_overrides(spec) {
        Ok(policy) => Ok(policy),
        Err(err) => Err(anyhow::format_err!("--policy {spec:?}: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_policy_means_kube_apiserver_defaults() {
        assert_eq!(
            parse(None).unwrap().to_string(),
            "max=0,extend=true,audiences=https://kubernetes.default.svc.cluster.local,alg=RS256"
        );
    }

    #[test]
    fn the_matrix_policy_parses() {
        let policy = parse(Some(
            "max=24h,extend=false,audiences=https://kubernetes.default.svc.cluster.local,extra",
        ))
        .unwrap();
        assert_eq!(policy.expiration.max_seconds, Some(86_400));
        assert!(!policy.expiration.extend);
        assert_eq!(
            policy.audiences.api_audiences(),
            ["https://kubernetes.default.svc.cluster.local", "extra"]
        );
    }

    #[test]
    fn bad_policies_name_the_flag_and_the_problem() {
        let cases = [
            (
                "speed=1",
                r#"--policy "speed=1": unknown policy key "speed": expected max, extend, audiences or alg"#,
            ),
            (
                "extend",
                r#"--policy "extend": policy entry "extend" has no value: write key=value"#,
            ),
            (
                "max=10m",
                r#"--policy "max=10m": invalid policy value "10m" for max: expected between 1h and 2^32 seconds"#,
            ),
            (
                "extend=maybe",
                r#"--policy "extend=maybe": invalid policy value "maybe" for extend: expected true or false"#,
            ),
            (
                "alg=HS256",
                r#"--policy "alg=HS256": invalid policy value "HS256" for alg: expected RS256 or ES256"#,
            ),
        ];
        for (spec, expected) in cases {
            assert_eq!(parse(Some(spec)).unwrap_err().to_string(), expected);
        }
    }
}
