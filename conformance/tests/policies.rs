//! The suite holds for servers with non-default token policies, without any change to the checks: each case
//! starts the embedded server with a policy (max expiration, extension off, custom API audiences, ES256, ...)
//! and runs every registered check against it, snapshots included.

mod harness;

use std::sync::Arc;
use std::time::Duration;

use rstest::rstest;
use tokenrequest_conformance::{Target, registry};
use tokenrequest_types::policy::{DEFAULT_ISSUER, TokenPolicy};

#[rstest]
#[case::defaults("")]
#[case::max_24h("max=24h")]
#[case::max_1h_prevents_extension("max=1h")]
#[case::max_2h_keeps_extension("max=2h")]
#[case::extension_off("extend=false")]
#[case::custom_api_audiences("audiences=https://api.example,second-audience")]
#[case::es256("alg=ES256")]
#[case::all_at_once("max=48h,extend=false,audiences=api-a,api-b,alg=ES256")]
#[case::rotation("alg=ES256,issuers=https://old.example,keys=2")]
#[timeout(Duration::from_secs(90))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_passes_under(#[case] overrides: &str) {
    let policy = TokenPolicy::defaults_for_issuer(DEFAULT_ISSUER)
        .with_overrides(overrides)
        .unwrap_or_else(|e| panic!("{overrides}: {e}"));
    let target = Arc::new(Target::embedded(&policy, None).await.unwrap_or_else(|e| panic!("{e}")));
    let run = harness::run_all(target, registry::all()).await;
    assert!(
        run.failures.is_empty(),
        "under policy {policy}, {} checks failed:\n{}",
        run.failures.len(),
        harness::describe(&run.failures)
    );
    // The embedded server runs the controllers, so only the rotation group may skip, and only without a rotation.
    let rotation = !policy.previous_issuers.is_empty() || policy.keys > 1;
    let unexpected: std::collections::BTreeMap<String, String> = run
        .skipped
        .into_iter()
        .filter(|(id, _)| rotation || !id.starts_with("rotation::"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "under policy {policy}, checks were skipped:\n{}",
        harness::describe(&unexpected)
    );
    // The same snapshots as against the default target: nothing in them may depend on the policy.
    for outcome in run.passed {
        harness::assert_snapshots(outcome);
    }
}
