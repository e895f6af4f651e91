//! The conformance suite as tests: one test per registered check, named `group::check` (what the JUnit report
//! shows), against the target of this run (`TOKENREQUEST_KUBECONFIG`, or an embedded server started here).
//! Snapshots recorded by a check are compared here, after it passed, so a behaviour change is reviewed with
//! `cargo insta review` and no snapshot ever depends on the target.

mod harness;

use std::time::Duration;

use rstest::rstest;
use tokenrequest_conformance::failure::CheckFailure;
use tokenrequest_conformance::{Target, registry};

/// Runs `group::name` against the shared target; a failure panics with its redacted report, a skip says why.
#[allow(clippy::print_stderr, reason = "a skipped check says why on stderr")]
async fn run(group: &str, name: &str) {
    let check = registry::find(group, name).unwrap_or_else(|| panic!("no check {group}::{name} in the registry"));
    let target = Target::shared().await.unwrap_or_else(|e| panic!("{e}"));
    let outcome = registry::run(target.clone(), check).await;
    if let Err(CheckFailure::Skipped(reason)) = &outcome.result {
        eprintln!("{}: skipped: {reason}", check.id());
        return;
    }
    if let Err(failure) = outcome.result {
        panic!(
            "{} (rules {}) failed against {}:\n{failure}",
            check.id(),
            check.rules.join(", "),
            target.description()
        );
    }
    harness::assert_snapshots(outcome);
}

/// One `#[tokio::test]` per check, in a module per group, and the list of them for the completeness test.
macro_rules! suite {
    ($($group:ident: [$($name:ident),* $(,)?]),* $(,)?) => {
        $(
            mod $group {
                use super::*;
                $(
                    #[rstest]
                    #[timeout(Duration::from_secs(60))]
                    #[tokio::test]
                    async fn $name() {
                        run(stringify!($group), stringify!($name)).await;
                    }
                )*
            }
        )*
        const LISTED: &[(&str, &str)] = &[$($((stringify!($group), stringify!($name)),)*)*];
    };
}

suite! {
    audiences: [
        r12_explicit_audience,
        r12_several_audiences_keep_order,
        r12_duplicates_and_empty_kept,
        r11_defaulted_to_api_audiences,
        r23_review_intersection_in_request_order,
        r21_review_audience_mismatch,
        r22_foreign_audience_refused_for_api,
    ],
    binding: [
        r13_pod,
        r13_secret,
        r13_node,
        r13_core_group_any_version,
        r13_wrong_kind_bad_request,
        r13_wrong_group_bad_request,
        r13_empty_name_bad_request,
        r14_object_missing_not_found,
        r15_pod_of_other_service_account,
        r15_pod_of_missing_service_account_forbidden,
        r16_uid_matching_accepted,
        r16_uid_mismatch_conflict,
        r17_pod_node_claims,
        r17_pod_on_missing_node_name_only,
        order_validation_before_kind,
    ],
    invalidation: [
        r21_rejected_after_pod_deleted,
        r21_rejected_after_pod_recreated,
        r21_rejected_after_secret_deleted,
        r21_rejected_after_secret_recreated,
        r21_rejected_after_node_deleted,
        r21_rejected_after_service_account_deleted,
        r21_rejected_after_service_account_recreated,
        r21_pod_token_survives_node_deletion,
    ],
    expiration: [
        r4_default_3600,
        r5_below_minimum_invalid,
        r5_zero_not_defaulted,
        r5_minimum_accepted,
        r6_maximum_accepted,
        r6_above_maximum_invalid,
        r8_clamps_to_max,
        r8_within_max_no_warning,
        r9_extension_pod_bound_3607,
        r9_no_extension_for_secret,
        r9_no_extension_for_node,
        r9_no_extension_unbound,
        r9_no_extension_for_non_api_audience,
        r9_no_extension_for_3608,
        r10_timestamps_match_claims,
        r10_iat_near_server_clock,
    ],
    claims: [
        r18_header_alg_kid,
        r18_kid_is_sha256_of_public_key,
        r19_sub_is_service_account,
        r19_private_claims_unbound,
        r19_iss_equals_discovery_issuer,
        r26_signature_verifies_with_jwks,
        r20_jti_fresh_uuid,
    ],
    review: [
        r23_valid_token_user,
        r22_bearer_authenticates_as_service_account,
        r23_pod_bound_extra,
        r21_malformed_token_refused,
        r21_tampered_token_refused,
        r21_expired_looking_token_refused,
        r21_foreign_issuer_refused,
        r21_unknown_kid_refused,
        r23_empty_token_bad_request,
    ],
    discovery: [
        r25_openid_configuration,
        r25_jwks_keys,
        r25_jwks_uri_served,
        r25_readable_by_service_accounts,
        r25_jwks_accept_negotiation,
    ],
    errors: [
        r3_unknown_service_account_not_found,
        r3_unknown_namespace_not_found,
        r2_name_mismatch_invalid,
        r2_namespace_mismatch_bad_request,
        r29_service_account_uid_mismatch_conflict,
        r27_malformed_json_bad_request,
        r27_wrong_api_version_bad_request,
        r27_forbidden_for_other_service_account,
        r27_method_not_allowed,
        r27_unsupported_media_type,
        r27_not_acceptable,
        r27_request_entity_too_large,
    ],
    request: [
        r1_created_response,
        r1_kind_and_api_version_optional,
        r28_dry_run_all_mints_real_token,
        r28_unsupported_dry_run_invalid,
        r28_unknown_field_warning,
        r28_unknown_field_strict_bad_request,
        r28_field_manager_and_pretty_accepted,
    ],
    concurrency: [
        r20_concurrent_requests_distinct_jti,
    ],
    controllers: [
        r1_new_namespaces_get_a_default_service_account,
        r21_tokens_rejected_once_their_namespace_is_deleted,
    ],
    rotation: [
        r19_new_tokens_carry_the_issuing_issuer,
        r25_jwks_lists_every_key,
        r21_previous_issuer_and_retired_key_authenticate,
        r21_retired_key_tokens_authenticate,
        r26_unlisted_keys_are_refused,
    ],
    policy: [
        matches_declared,
    ],
}

/// Every registered check has its test here, and every test here names a registered check.
#[test]
fn registry_and_tests_agree() {
    let mut registered: Vec<(&str, &str)> = registry::all().map(|c| (c.group, c.name)).collect();
    let mut listed = LISTED.to_vec();
    registered.sort_unstable();
    listed.sort_unstable();
    assert_eq!(registered, listed);
}
