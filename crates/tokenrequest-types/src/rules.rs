//! The rule catalogue as data: every rule of `docs/SPEC.md` (R1–R30) with a one-line title, the kube-apiserver
//! source it comes from and the kube-apiserver flag that governs it, so that tests, the conformance suite and its
//! reports name rules from one table instead of repeating them.
//!
//! `source` is the `kubernetes/kubernetes` path SPEC.md gives in the rule; for a rule that gives none, the path
//! SPEC.md gives for the neighbouring rules it belongs with (R2, R3, R8–R17, R28–R30: the TokenRequest storage;
//! R6, R7: validation; R20: the claims; R24: the validator; R26: OIDC metadata). The tests below keep this table
//! and SPEC.md in step: the same ids, and every source quoted there.

/// One rule of SPEC.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The stable id, `R1` to `R30`; tests are named after it (`r16_uid_mismatch_conflict`).
    pub id: &'static str,
    /// One line: what the rule says.
    pub title: &'static str,
    /// The main `kubernetes/kubernetes` source path the rule follows.
    pub source: &'static str,
    /// The kube-apiserver flag that governs the rule, if one does.
    pub flag: Option<&'static str>,
}

const TOKEN_STORAGE: &str = "pkg/registry/core/serviceaccount/storage/token.go";
const DEFAULTS: &str = "pkg/apis/authentication/v1/defaults.go";
const VALIDATION: &str = "pkg/apis/authentication/validation/validation.go";
const JWT: &str = "pkg/serviceaccount/jwt.go";
const CLAIMS: &str = "pkg/serviceaccount/claims.go";
const USER_INFO: &str = "pkg/serviceaccount/util.go";
const TOKEN_REVIEW_STORAGE: &str = "pkg/registry/authentication/tokenreview/storage.go";
const OIDC_METADATA: &str = "pkg/serviceaccount/openidmetadata.go";
const CREATE_HANDLER: &str = "staging/src/k8s.io/apiserver/pkg/endpoints/handlers/create.go";

/// Every rule of SPEC.md, in id order.
pub const RULES: &[Rule] = &[
    Rule {
        id: "R1",
        title: "POST …/serviceaccounts/{name}/token answers 201 with the request as used and a token, storing nothing",
        source: TOKEN_STORAGE,
        flag: None,
    },
    Rule {
        id: "R2",
        title: "A body metadata.name other than the URL's is 422; a body metadata.namespace unlike the URL's is 400",
        source: TOKEN_STORAGE,
        flag: None,
    },
    Rule {
        id: "R3",
        title: "A missing service account is 404 NotFound; a missing namespace is 404 before it",
        source: TOKEN_STORAGE,
        flag: None,
    },
    Rule {
        id: "R4",
        title: "spec.expirationSeconds defaults to 3600 when omitted or null; an explicit 0 is not defaulted",
        source: DEFAULTS,
        flag: None,
    },
    Rule {
        id: "R5",
        title: "expirationSeconds below 600 is 422: may not specify a duration less than 10 minutes",
        source: VALIDATION,
        flag: None,
    },
    Rule {
        id: "R6",
        title: "expirationSeconds above 2^32 is 422; 600 and 2^32 are valid; bounds are checked before clamping",
        source: VALIDATION,
        flag: None,
    },
    Rule {
        id: "R7",
        title: "An invalid expiration is an Invalid Status with one FieldValueInvalid cause on spec.expirationSeconds",
        source: VALIDATION,
        flag: None,
    },
    Rule {
        id: "R8",
        title: "A request above the max expiration is clamped to it, with a Warning naming both durations",
        source: TOKEN_STORAGE,
        flag: Some("--service-account-max-token-expiration"),
    },
    Rule {
        id: "R9",
        title: "A pod-bound request of exactly 3607 s for API audiences lives one year, with warnafter at iat + 3607",
        source: TOKEN_STORAGE,
        flag: Some("--service-account-extend-token-expiration"),
    },
    Rule {
        id: "R10",
        title: "status.expirationTimestamp is issue time + spec.expirationSeconds, consistent with iat and exp",
        source: TOKEN_STORAGE,
        flag: None,
    },
    Rule {
        id: "R11",
        title: "Empty or missing spec.audiences become the API audiences, shown in the response",
        source: TOKEN_STORAGE,
        flag: Some("--api-audiences"),
    },
    Rule {
        id: "R12",
        title: "Given audiences are the aud array as is: order, duplicates and empty strings kept",
        source: TOKEN_STORAGE,
        flag: None,
    },
    Rule {
        id: "R13",
        title: "Tokens bind to a core-group Pod, Secret or Node; another kind or an empty name is 400",
        source: TOKEN_STORAGE,
        flag: None,
    },
    Rule {
        id: "R14",
        title: "A bound object that does not exist is 404 for its resource",
        source: TOKEN_STORAGE,
        flag: None,
    },
    Rule {
        id: "R15",
        title: "A token bound to a pod needs the pod to run as the service account, else 400",
        source: TOKEN_STORAGE,
        flag: None,
    },
    Rule {
        id: "R16",
        title: "A boundObjectRef.uid other than the object's is 409 Conflict, for Pod, Secret and Node alike",
        source: TOKEN_STORAGE,
        flag: None,
    },
    Rule {
        id: "R17",
        title: "A token bound to a pod with spec.nodeName carries its node, with the uid only when the Node exists",
        source: TOKEN_STORAGE,
        flag: None,
    },
    Rule {
        id: "R18",
        title: "The JWT header is exactly alg and kid; kid is base64url SHA-256 of the public key's PKIX DER",
        source: JWT,
        flag: Some("--service-account-signing-key-file"),
    },
    Rule {
        id: "R19",
        title: "The claims: iss, sub, aud, exp, iat, nbf, jti and kubernetes.io with namespace, service account, bound \
                objects, warnafter",
        source: CLAIMS,
        flag: None,
    },
    Rule {
        id: "R20",
        title: "Every issued token has a fresh jti; concurrent requests give distinct tokens",
        source: CLAIMS,
        flag: None,
    },
    Rule {
        id: "R21",
        title: "A presented token is checked by issuer, signature, audience, time (60 s leeway), service account, \
                bound object, in that order",
        source: CLAIMS,
        flag: Some("--service-account-issuer/--service-account-key-file"),
    },
    Rule {
        id: "R22",
        title: "A rejected bearer token is 401 Unauthorized; an accepted one is the service account's user and groups",
        source: USER_INFO,
        flag: None,
    },
    Rule {
        id: "R23",
        title: "TokenReview answers 201 with the user, its extras and granted audiences, or an error; no token is 400",
        source: TOKEN_REVIEW_STORAGE,
        flag: None,
    },
    Rule {
        id: "R24",
        title: "Invalidation is eventually consistent on a real cluster: a 10 s authentication cache, informer caches",
        source: CLAIMS,
        flag: None,
    },
    Rule {
        id: "R25",
        title: "OIDC discovery and the JWKS, with their content types and caching, served only for an https issuer",
        source: OIDC_METADATA,
        flag: Some("--service-account-issuer/--service-account-jwks-uri"),
    },
    Rule {
        id: "R26",
        title: "Every token verifies with standard JWT libraries using only the JWKS, and iss is discovery's issuer",
        source: OIDC_METADATA,
        flag: None,
    },
    Rule {
        id: "R27",
        title: "Every error is a Status with kube-apiserver's code, reason and message",
        source: CREATE_HANDLER,
        flag: None,
    },
    Rule {
        id: "R28",
        title: "dryRun=All mints a real token, another dryRun is 422; unknown fields warn, or are 400 when Strict",
        source: TOKEN_STORAGE,
        flag: None,
    },
    Rule {
        id: "R29",
        title: "A body metadata.uid other than the service account's uid is 409 Conflict",
        source: TOKEN_STORAGE,
        flag: None,
    },
    Rule {
        id: "R30",
        title: "A service account, pod or secret that is being deleted still gets a token",
        source: TOKEN_STORAGE,
        flag: None,
    },
];

/// The rule `id` (e.g. `R16`), if SPEC.md has it.
pub fn find(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|rule| rule.id == id)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const SPEC: &str = include_str!("../../../docs/SPEC.md");

    /// The ids of SPEC.md's rule items (`- R<n> ` at the start of a line).
    fn spec_ids() -> Vec<String> {
        SPEC.lines()
            .filter_map(|line| {
                let rest = line.strip_prefix("- R")?;
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                let item = !digits.is_empty() && rest[digits.len()..].starts_with(' ');
                item.then(|| format!("R{digits}"))
            })
            .collect()
    }

    #[test]
    fn ids_are_r1_to_r30_in_order() {
        let ids: Vec<&str> = RULES.iter().map(|rule| rule.id).collect();
        let expected: Vec<String> = (1..=30).map(|n| format!("R{n}")).collect();
        assert_eq!(ids, expected);
        let unique: BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(unique.len(), RULES.len(), "ids are unique");
    }

    #[test]
    fn find_returns_each_rule_and_nothing_else() {
        for rule in RULES {
            assert_eq!(find(rule.id), Some(rule));
        }
        for unknown in ["R0", "R31", "r1", "R1 ", "", "R01"] {
            assert_eq!(find(unknown), None, "{unknown:?}");
        }
    }

    #[test]
    fn every_rule_has_a_title_a_source_and_a_real_flag() {
        for rule in RULES {
            assert!(
                !rule.title.is_empty() && !rule.title.ends_with('.'),
                "{}: title",
                rule.id
            );
            assert!(!rule.title.contains('\n'), "{}: one line", rule.id);
            assert!(rule.source.ends_with(".go"), "{}: source {}", rule.id, rule.source);
            if let Some(flag) = rule.flag {
                assert!(flag.starts_with("--"), "{}: flag {flag}", rule.id);
            }
        }
    }

    #[test]
    fn rules_and_spec_name_the_same_ids() {
        for rule in RULES {
            assert!(
                SPEC.contains(&format!("- {} ", rule.id)),
                "{} is not an item of SPEC.md",
                rule.id
            );
        }
        let listed = spec_ids();
        let unique: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
        assert_eq!(unique.len(), listed.len(), "SPEC.md lists a rule twice: {listed:?}");
        for id in &listed {
            assert!(find(id).is_some(), "SPEC.md's {id} is not in RULES");
        }
    }

    #[test]
    fn every_source_is_one_spec_quotes() {
        for rule in RULES {
            assert!(
                SPEC.contains(rule.source),
                "{}: {} is not in SPEC.md",
                rule.id,
                rule.source
            );
        }
    }
}
