//! The expiration policy (R4, R8–R10): how long a token lives, what the API reports, and when `warnafter` is set.
//!
//! Source: `pkg/registry/core/serviceaccount/storage/token.go` (clamping to `--service-account-max-token-expiration`
//! with a warning; the extension to one year of pod-bound 3607 s tokens under
//! `--service-account-extend-token-expiration`) and `pkg/serviceaccount/claims.go`
//! (`WarnOnlyBoundTokenExpirationSeconds`, `ExpirationExtensionSeconds`).

use std::time::Duration;

use crate::binding::BoundKind;

/// Requests below this are invalid (R5, `may not specify a duration less than 10 minutes`).
pub const MIN_EXPIRATION_SECONDS: i64 = 600;
/// Requests above this are invalid (R6, `may not specify a duration larger than 2^32 seconds`).
pub const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;
/// The lifetime of a request that names none (R4, `pkg/apis/authentication/v1/defaults.go`).
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// The request kubelet makes for projected tokens, which the extension recognises (R9).
pub const EXTENDED_REQUEST_SECONDS: i64 = 3607;
/// The lifetime an extended token really gets: one year (R9).
pub const EXTENDED_LIFETIME_SECONDS: i64 = 365 * 24 * 60 * 60;
/// The lowest max expiration kube-apiserver accepts (`--service-account-max-token-expiration` >= 1h).
pub const MIN_MAX_EXPIRATION_SECONDS: i64 = 3600;

/// The cluster's expiration settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpirationPolicy {
    /// `--service-account-max-token-expiration` in seconds; `None` when unset (0).
    pub max_seconds: Option<i64>,
    /// `--service-account-extend-token-expiration`.
    pub extend: bool,
}

impl Default for ExpirationPolicy {
    /// kube-apiserver's defaults: no maximum, extension on.
    fn default() -> Self {
        Self {
            max_seconds: None,
            extend: true,
        }
    }
}

/// The times of one issued token, relative to its issue time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifetime {
    /// What the API reports: `spec.expirationSeconds` and `status.expirationTimestamp - creationTimestamp`.
    pub expiration_seconds: i64,
    /// `exp - iat` of the JWT: one year when extended, else `expiration_seconds`.
    pub token_seconds: i64,
    /// `warnafter - iat`, set only when extended.
    pub warn_after_seconds: Option<i64>,
    /// The text of the `Warning` header when the request was shortened.
    pub warning: Option<String>,
}

impl ExpirationPolicy {
    /// A policy from a max duration (zero means none) and the extension switch.
    pub fn new(max: Option<Duration>, extend: bool) -> Self {
        let max_seconds = max
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .filter(|s| *s > 0);
        Self { max_seconds, extend }
    }

    /// The lifetime of a token for a *validated* request of `requested_seconds` (R8, R9, R10).
    ///
    /// `bound` is the kind the token is bound to; `audiences_all_api` whether every audience of the token is an
    /// API audience. Both decide the extension, which only pod-bound tokens for the API server get.
    pub fn lifetime(&self, requested_seconds: i64, bound: Option<BoundKind>, audiences_all_api: bool) -> Lifetime {
        let (expiration_seconds, warning) = match self.max_seconds {
            Some(max) if requested_seconds > max => (
                max,
                Some(format!(
                    "requested expiration of {requested_seconds} seconds shortened to {max} seconds"
                )),
            ),
            _ => (requested_seconds, None),
        };
        let extended = self.extend
            && bound == Some(BoundKind::Pod)
            && expiration_seconds == EXTENDED_REQUEST_SECONDS
            && audiences_all_api;
        if extended {
            Lifetime {
                expiration_seconds,
                token_seconds: EXTENDED_LIFETIME_SECONDS,
                warn_after_seconds: Some(expiration_seconds),
                warning,
            }
        } else {
            Lifetime {
                expiration_seconds,
                token_seconds: expiration_seconds,
                warn_after_seconds: None,
                warning,
            }
        }
    }

    /// Whether this max is one kube-apiserver accepts (unset, or within [1h, 2^32 s]).
    pub fn max_is_valid(&self) -> bool {
        self.max_seconds
            .is_none_or(|m| (MIN_MAX_EXPIRATION_SECONDS..=MAX_EXPIRATION_SECONDS).contains(&m))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const ONE_DAY: i64 = 86_400;

    #[test]
    fn r8_clamps_with_warning() {
        let p = ExpirationPolicy {
            max_seconds: Some(ONE_DAY),
            extend: false,
        };
        let l = p.lifetime(ONE_DAY * 2, None, true);
        assert_eq!(l.expiration_seconds, ONE_DAY);
        assert_eq!(l.token_seconds, ONE_DAY);
        assert_eq!(
            l.warning.as_deref(),
            Some("requested expiration of 172800 seconds shortened to 86400 seconds")
        );
        assert_eq!(p.lifetime(ONE_DAY, None, true).warning, None);
    }

    #[test]
    fn r9_extension_for_pod_bound_3607() {
        let p = ExpirationPolicy::default();
        let l = p.lifetime(EXTENDED_REQUEST_SECONDS, Some(BoundKind::Pod), true);
        assert_eq!(l.expiration_seconds, 3607);
        assert_eq!(l.token_seconds, EXTENDED_LIFETIME_SECONDS);
        assert_eq!(l.warn_after_seconds, Some(3607));
    }

    #[test]
    fn r9_no_extension_otherwise() {
        let p = ExpirationPolicy::default();
        for (bound, api) in [
            (Some(BoundKind::Secret), true),
            (Some(BoundKind::Node), true),
            (None, true),
            (Some(BoundKind::Pod), false),
        ] {
            let l = p.lifetime(EXTENDED_REQUEST_SECONDS, bound, api);
            assert_eq!((l.token_seconds, l.warn_after_seconds), (3607, None), "{bound:?} {api}");
        }
        let off = ExpirationPolicy {
            max_seconds: None,
            extend: false,
        };
        assert_eq!(off.lifetime(3607, Some(BoundKind::Pod), true).warn_after_seconds, None);
        assert_eq!(p.lifetime(3608, Some(BoundKind::Pod), true).warn_after_seconds, None);
    }

    #[test]
    fn r9_max_3600_prevents_extension_larger_max_does_not_limit_it() {
        let small = ExpirationPolicy {
            max_seconds: Some(3600),
            extend: true,
        };
        let l = small.lifetime(3607, Some(BoundKind::Pod), true);
        assert_eq!(
            (l.expiration_seconds, l.token_seconds, l.warn_after_seconds),
            (3600, 3600, None)
        );
        let large = ExpirationPolicy {
            max_seconds: Some(7200),
            extend: true,
        };
        assert_eq!(
            large.lifetime(3607, Some(BoundKind::Pod), true).token_seconds,
            EXTENDED_LIFETIME_SECONDS
        );
    }

    #[test]
    fn max_flag_bounds() {
        assert!(ExpirationPolicy::new(Some(Duration::from_secs(3600)), true).max_is_valid());
        assert!(!ExpirationPolicy::new(Some(Duration::from_secs(3599)), true).max_is_valid());
        assert_eq!(ExpirationPolicy::new(Some(Duration::ZERO), true).max_seconds, None);
    }

    fn arb_policy() -> impl Strategy<Value = ExpirationPolicy> {
        (
            prop::option::of(MIN_MAX_EXPIRATION_SECONDS..=MAX_EXPIRATION_SECONDS),
            any::<bool>(),
        )
            .prop_map(|(max_seconds, extend)| ExpirationPolicy { max_seconds, extend })
    }

    fn arb_bound() -> impl Strategy<Value = Option<BoundKind>> {
        prop::option::of(prop::sample::select(BoundKind::ALL.to_vec()))
    }

    fn arb_valid_request() -> impl Strategy<Value = i64> {
        prop_oneof![
            MIN_EXPIRATION_SECONDS..=MAX_EXPIRATION_SECONDS,
            Just(EXTENDED_REQUEST_SECONDS),
            Just(MIN_EXPIRATION_SECONDS),
            Just(MAX_EXPIRATION_SECONDS),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn reported_lifetime_within_bounds(p in arb_policy(), req in arb_valid_request(), bound in arb_bound(), api in any::<bool>()) {
            let l = p.lifetime(req, bound, api);
            prop_assert!(l.expiration_seconds <= req);
            if let Some(max) = p.max_seconds { prop_assert!(l.expiration_seconds <= max); }
            prop_assert!(l.expiration_seconds >= MIN_EXPIRATION_SECONDS.min(req));
            prop_assert_eq!(l.warning.is_some(), l.expiration_seconds < req);
        }

        #[test]
        fn monotonic_in_request(p in arb_policy(), a in arb_valid_request(), b in arb_valid_request(), bound in arb_bound(), api in any::<bool>()) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(p.lifetime(lo, bound, api).expiration_seconds <= p.lifetime(hi, bound, api).expiration_seconds);
        }

        #[test]
        fn extension_only_when_spec_says(p in arb_policy(), req in arb_valid_request(), bound in arb_bound(), api in any::<bool>()) {
            let l = p.lifetime(req, bound, api);
            let expected = p.extend && bound == Some(BoundKind::Pod) && api && l.expiration_seconds == EXTENDED_REQUEST_SECONDS;
            prop_assert_eq!(l.warn_after_seconds.is_some(), expected);
            prop_assert_eq!(l.token_seconds, if expected { EXTENDED_LIFETIME_SECONDS } else { l.expiration_seconds });
        }
    }
}
