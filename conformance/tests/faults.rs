//! Proof that the suite can fail: the embedded server is started with each `Fault` (one broken rule group each)
//! and every registered check is run against it. The checks listed for a fault must fail, and they must pass
//! against the same server without the fault (the control). A fault that no check catches is a bug in the suite.

mod harness;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use rstest::rstest;
use tokenrequest_conformance::{Target, registry};
use tokenrequest_server::Fault;
use tokenrequest_types::policy::{DEFAULT_ISSUER, TokenPolicy};

/// The policy of a case: ES256 keys (a P-256 key is made in microseconds, an RSA-2048 one in up to a second, and
/// 26 servers start here; no fault depends on the key type), then the case's overrides.
fn policy(overrides: &str) -> TokenPolicy {
    TokenPolicy::defaults_for_issuer(DEFAULT_ISSUER)
        .with_overrides("alg=ES256")
        .and_then(|p| p.with_overrides(overrides))
        .unwrap_or_else(|e| panic!("{overrides}: {e}"))
}

/// Each fault, the policy that makes it observable (clamping needs a max), and the checks that must catch it.
#[rstest]
#[case::no_clamp(Fault::NoClamp, "max=24h", &["policy::matches_declared"])]
#[case::no_extension(Fault::NoExtension, "", &["policy::matches_declared"])]
#[case::always_extend(Fault::AlwaysExtend, "", &[
    "expiration::r4_default_3600",
    "expiration::r9_no_extension_for_secret",
    "expiration::r9_no_extension_for_node",
    "expiration::r9_no_extension_unbound",
    "expiration::r9_no_extension_for_non_api_audience",
    "expiration::r9_no_extension_for_3608",
])]
#[case::wrong_default_audiences(Fault::WrongDefaultAudiences, "", &[
    "policy::matches_declared",
    "audiences::r11_defaulted_to_api_audiences",
])]
#[case::accept_short_expiration(Fault::AcceptShortExpiration, "", &[
    "expiration::r5_below_minimum_invalid",
    "binding::order_validation_before_kind",
])]
#[case::ignore_bound_uid(Fault::IgnoreBoundUid, "", &["binding::r16_uid_mismatch_conflict"])]
#[case::no_invalidation(Fault::NoInvalidation, "", &[
    "invalidation::r21_rejected_after_pod_deleted",
    "invalidation::r21_rejected_after_pod_recreated",
    "invalidation::r21_rejected_after_secret_deleted",
    "invalidation::r21_rejected_after_secret_recreated",
    "invalidation::r21_rejected_after_node_deleted",
    "invalidation::r21_rejected_after_service_account_deleted",
    "invalidation::r21_rejected_after_service_account_recreated",
])]
#[case::bad_signature(Fault::BadSignature, "", &[
    "claims::r26_signature_verifies_with_jwks",
    "review::r23_valid_token_user",
    "review::r22_bearer_authenticates_as_service_account",
])]
#[case::wrong_issuer(Fault::WrongIssuer, "", &[
    "claims::r19_iss_equals_discovery_issuer",
    "claims::r26_signature_verifies_with_jwks",
    "review::r23_valid_token_user",
])]
#[case::reuse_jti(Fault::ReuseJti, "", &[
    "claims::r20_jti_fresh_uuid",
    "concurrency::r20_concurrent_requests_distinct_jti",
])]
#[case::no_node_claim(Fault::NoNodeClaim, "", &[
    "binding::r17_pod_node_claims",
    "binding::r17_pod_on_missing_node_name_only",
])]
#[case::wrong_status_code(Fault::WrongStatusCode, "", &[
    "request::r1_created_response",
    "claims::r19_sub_is_service_account",
])]
#[case::review_ignores_audience(Fault::ReviewIgnoresAudience, "", &[
    "audiences::r21_review_audience_mismatch",
    "audiences::r22_foreign_audience_refused_for_api",
])]
#[case::jwks_without_kid(Fault::JwksWithoutKid, "", &[
    "discovery::r25_jwks_keys",
    "claims::r26_signature_verifies_with_jwks",
])]
#[case::wrong_discovery_content_type(Fault::WrongDiscoveryContentType, "", &[
    "discovery::r25_openid_configuration",
    "discovery::r25_jwks_keys",
])]
#[timeout(Duration::from_secs(90))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_is_caught(#[case] fault: Fault, #[case] overrides: &str, #[case] catching: &[&str]) {
    let policy = policy(overrides);
    let faulty = Arc::new(
        Target::embedded(&policy, Some(fault))
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    // The probe itself may be what the fault breaks (e.g. a 200 instead of 201): then every check fails.
    let run = harness::run_all(faulty, registry::all()).await;
    let failed: BTreeSet<&str> = run.failures.keys().map(String::as_str).collect();
    let missed: Vec<&&str> = catching.iter().filter(|id| !failed.contains(**id)).collect();
    assert!(
        missed.is_empty(),
        "fault {fault} ({policy}): these checks should have failed but passed: {missed:?}\nfailed: {failed:?}"
    );

    // Control: the same checks pass against the same policy without the fault.
    let clean = Arc::new(Target::embedded(&policy, None).await.unwrap_or_else(|e| panic!("{e}")));
    let checks = registry::all().filter(|c| catching.contains(&c.id().as_str()));
    let control = harness::run_all(clean, checks).await;
    assert!(
        control.failures.is_empty(),
        "control without fault {fault} ({policy}) failed:\n{}",
        harness::describe(&control.failures)
    );
}

/// Every fault the server offers has a case above.
#[test]
fn every_fault_has_a_case() {
    let source = include_str!("faults.rs");
    for fault in Fault::ALL {
        let case = format!("Fault::{fault:?},");
        assert!(source.contains(&case), "fault {fault} has no case in faults.rs");
    }
}
