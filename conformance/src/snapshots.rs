//! The suite's committed snapshots, compiled in, so that the installed runner compares what a target answered
//! with the same reviewed expectations `cargo test` does (where insta compares them and `cargo insta review`
//! updates them). Names are global: one snapshot holds on every target and policy.

use serde_json::Value;

use crate::failure::CheckFailure;

/// Every snapshot of `tests/snapshots/`, by name.
const SNAPSHOTS: &[(&str, &str)] = &[
    (
        "claims_pod_bound",
        include_str!("../tests/snapshots/claims_pod_bound.snap"),
    ),
    ("claims_unbound", include_str!("../tests/snapshots/claims_unbound.snap")),
    ("jwks", include_str!("../tests/snapshots/jwks.snap")),
    (
        "openid_configuration",
        include_str!("../tests/snapshots/openid_configuration.snap"),
    ),
    (
        "status_bad_request_empty_token_review",
        include_str!("../tests/snapshots/status_bad_request_empty_token_review.snap"),
    ),
    (
        "status_bad_request_kind",
        include_str!("../tests/snapshots/status_bad_request_kind.snap"),
    ),
    (
        "status_bad_request_namespace",
        include_str!("../tests/snapshots/status_bad_request_namespace.snap"),
    ),
    (
        "status_conflict_bound_uid",
        include_str!("../tests/snapshots/status_conflict_bound_uid.snap"),
    ),
    (
        "status_conflict_service_account_uid",
        include_str!("../tests/snapshots/status_conflict_service_account_uid.snap"),
    ),
    (
        "status_forbidden_token_create",
        include_str!("../tests/snapshots/status_forbidden_token_create.snap"),
    ),
    (
        "status_invalid_dry_run",
        include_str!("../tests/snapshots/status_invalid_dry_run.snap"),
    ),
    (
        "status_invalid_expiration",
        include_str!("../tests/snapshots/status_invalid_expiration.snap"),
    ),
    (
        "status_invalid_name",
        include_str!("../tests/snapshots/status_invalid_name.snap"),
    ),
    (
        "status_method_not_allowed",
        include_str!("../tests/snapshots/status_method_not_allowed.snap"),
    ),
    (
        "status_not_acceptable",
        include_str!("../tests/snapshots/status_not_acceptable.snap"),
    ),
    (
        "status_not_found_namespace",
        include_str!("../tests/snapshots/status_not_found_namespace.snap"),
    ),
    (
        "status_not_found_pod",
        include_str!("../tests/snapshots/status_not_found_pod.snap"),
    ),
    (
        "status_not_found_service_account",
        include_str!("../tests/snapshots/status_not_found_service_account.snap"),
    ),
    (
        "status_request_entity_too_large",
        include_str!("../tests/snapshots/status_request_entity_too_large.snap"),
    ),
    (
        "status_unauthorized",
        include_str!("../tests/snapshots/status_unauthorized.snap"),
    ),
    (
        "status_unsupported_media_type",
        include_str!("../tests/snapshots/status_unsupported_media_type.snap"),
    ),
    (
        "token_request_response",
        include_str!("../tests/snapshots/token_request_response.snap"),
    ),
    (
        "token_review_authenticated",
        include_str!("../tests/snapshots/token_review_authenticated.snap"),
    ),
    (
        "token_review_refused",
        include_str!("../tests/snapshots/token_review_refused.snap"),
    ),
];

/// The snapshot `name` as a value: the YAML after insta's header.
fn expected(name: &str) -> Option<Value> {
    let (_, text) = SNAPSHOTS.iter().find(|(n, _)| *n == name)?;
    // insta writes `---`, its metadata, `---`, then the value.
    let body = text.splitn(3, "---\n").nth(2)?;
    serde_yaml::from_str(body).ok()
}

/// Whether a value a check recorded as `name` equals the committed snapshot.
pub fn compare(name: &str, actual: &Value) -> Result<(), CheckFailure> {
    let Some(expected) = expected(name) else {
        return Err(CheckFailure::setup(
            format!("snapshot {name}"),
            "no committed snapshot of this name (run `cargo test -p tokenrequest-conformance` and review it)",
        ));
    };
    if &expected == actual {
        return Ok(());
    }
    let yaml = |value: &Value| serde_yaml::to_string(value).unwrap_or_default();
    Err(CheckFailure::mismatch(
        format!("snapshot {name}"),
        yaml(&expected),
        yaml(actual),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_committed_snapshot_is_compiled_in_and_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.unwrap().file_name().into_string().ok())
            .filter_map(|f| f.strip_suffix(".snap").map(str::to_owned))
            .collect();
        on_disk.sort();
        let compiled: Vec<&str> = SNAPSHOTS.iter().map(|(n, _)| *n).collect();
        assert_eq!(on_disk, compiled);
        for (name, _) in SNAPSHOTS {
            assert!(expected(name).is_some(), "{name} does not parse");
        }
    }

    #[test]
    fn a_difference_is_a_mismatch_showing_both() {
        let actual = serde_json::json!({"error": "[error]", "user": {"username": "x"}});
        let failure = compare("token_review_refused", &actual).unwrap_err().to_string();
        assert!(failure.starts_with("snapshot token_review_refused"), "{failure}");
        assert!(failure.contains("username"), "{failure}");
        let same = serde_json::json!({"error": "[error]", "user": {}});
        assert!(compare("token_review_refused", &same).is_ok());
        assert!(compare("no_such_snapshot", &same).is_err());
    }
}
