//! Property tests against the live API: generated TokenRequests (audiences empty, duplicated, long or unicode;
//! `expirationSeconds` across [0, 2^33]; valid and invalid bound references to objects created here) are sent to
//! the target, and each answer must be the one `tokenrequest-types` predicts for the probed policy: issued with
//! this lifetime and these audiences, or refused with exactly this `Status`. Likewise for TokenReview audiences.
//!
//! Each case is a few API calls, so the case count is small (32 unless `PROPTEST_CASES` says otherwise), every
//! case has a time limit and shrinking a budget. A failure panics with the shrunk request (never a token).

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestError, TestRunner};
use rstest::rstest;
use serde_json::json;
use tokenrequest_conformance::api::Issued;
use tokenrequest_conformance::checks::{expect_lifetime, expect_status};
use tokenrequest_conformance::predict::{self, Existing, Prediction};
use tokenrequest_conformance::{CheckFailure, Ctx, Target};
use tokenrequest_types::binding::BoundKind;
use tokenrequest_types::testing::{arb_audiences, arb_bound_object_ref, arb_token_request_spec};
use tokenrequest_types::{BoundObjectReference, TokenRequestSpec};

const SA: &str = "robot";
/// Each case: at most a few requests to a live API.
const CASE_TIMEOUT: Duration = Duration::from_secs(15);

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    Config {
        cases,
        // Each shrink step is an API call: bound both the steps and the time.
        max_shrink_iters: 200,
        max_shrink_time: 30_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        source_file: Some(file!()),
        ..Config::default()
    }
}

/// The objects a generated reference may name, created once per property in its namespace.
struct World {
    ctx: Ctx,
    existing: Vec<Existing>,
}

impl World {
    async fn new() -> Result<Self, CheckFailure> {
        let ctx = Ctx::new(Target::shared().await?).await?;
        ctx.service_account(SA).await?;
        ctx.service_account("other").await?;
        let uid =
            |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| meta.uid.clone().unwrap_or_default();
        let own = ctx.pod("p", SA, None).await?;
        let foreign = ctx.pod("q", "other", None).await?;
        let secret = ctx.secret("s").await?;
        let node = ctx.node("n").await?;
        let existing = vec![
            Existing {
                kind: BoundKind::Pod,
                name: "p".to_owned(),
                uid: uid(&own.metadata),
                pod_service_account: Some(SA.to_owned()),
            },
            Existing {
                kind: BoundKind::Pod,
                name: "q".to_owned(),
                uid: uid(&foreign.metadata),
                pod_service_account: Some("other".to_owned()),
            },
            Existing {
                kind: BoundKind::Secret,
                name: "s".to_owned(),
                uid: uid(&secret.metadata),
                pod_service_account: None,
            },
            Existing {
                kind: BoundKind::Node,
                name: ctx.node_name("n"),
                uid: uid(&node.metadata),
                pod_service_account: None,
            },
        ];
        Ok(Self { ctx, existing })
    }

    /// Names a reference may use: every object, and one that does not exist.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.existing.iter().map(|o| o.name.clone()).collect();
        names.push("missing".to_owned());
        names
    }

    /// The uid of the object a reference names, if it exists.
    fn uid_of(&self, reference: &BoundObjectReference) -> Option<&str> {
        let kind = BoundKind::from_kind(reference.kind.as_deref()?)?;
        self.existing
            .iter()
            .find(|o| o.kind == kind && Some(o.name.as_str()) == reference.name.as_deref())
            .map(|o| o.uid.as_str())
    }
}

/// Which uid a generated reference carries.
#[derive(Debug, Clone, Copy)]
enum UidChoice {
    None,
    Matching,
    Wrong,
}

fn arb_uid_choice() -> impl Strategy<Value = UidChoice> {
    prop_oneof![Just(UidChoice::None), Just(UidChoice::Matching), Just(UidChoice::Wrong)]
}

/// Runs a property on a runtime of its own (kube clients are bound to the runtime that built them).
fn run_property<S: Strategy>(
    strategy: impl FnOnce(&World) -> S,
    case: impl Fn(&World, S::Value) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), CheckFailure>> + '_>>,
) where
    S::Value: std::fmt::Debug,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let world = runtime.block_on(World::new()).unwrap_or_else(|e| panic!("{e}"));
    let strategy = strategy(&world);
    let mut runner = TestRunner::new(config());
    let result = runner.run(&strategy, |value| {
        runtime
            .block_on(async { tokio::time::timeout(CASE_TIMEOUT, case(&world, value)).await })
            .map_err(|_| TestCaseError::fail(format!("no answer within {CASE_TIMEOUT:?}")))?
            .map_err(|failure| TestCaseError::fail(failure.to_string()))
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, shrunk)) => panic!("shrunk input: {shrunk:#?}\n{reason}"),
        Err(TestError::Abort(reason)) => panic!("aborted: {reason}"),
    }
}

/// A TokenRequest: a generated spec, maybe bound to a generated reference with a generated uid choice.
fn arb_request(
    world: &World,
) -> impl Strategy<Value = (TokenRequestSpec, Option<(BoundObjectReference, UidChoice)>)> + use<> {
    (
        arb_token_request_spec(),
        prop::option::of((arb_bound_object_ref(world.names()), arb_uid_choice())),
    )
}

async fn token_request_case(
    world: &World,
    (mut spec, bound): (TokenRequestSpec, Option<(BoundObjectReference, UidChoice)>),
) -> Result<(), CheckFailure> {
    if let Some((mut reference, choice)) = bound {
        reference.uid = match choice {
            UidChoice::None => None,
            UidChoice::Matching => world.uid_of(&reference).map(str::to_owned),
            UidChoice::Wrong => Some("00000000-0000-0000-0000-000000000000".to_owned()),
        };
        spec.bound_object_ref = Some(reference);
    }
    let ctx = &world.ctx;
    let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec});
    let reply = ctx.request_token_raw(SA, "", &body).await?;
    match predict::token_request(ctx.policy(), SA, &spec, &world.existing) {
        Prediction::Rejected(expected) => expect_status("generated TokenRequest", &reply, expected.status()),
        Prediction::Issued {
            audiences,
            lifetime,
            bound,
        } => {
            let issued = Issued::from_reply("generated TokenRequest", reply)?;
            tokenrequest_conformance::failure::expect_eq("spec.audiences", &audiences, &issued.audiences())?;
            tokenrequest_conformance::failure::expect_eq("aud", &audiences, &issued.claims.aud)?;
            expect_lifetime(&issued, &lifetime)?;
            let recorded = issued
                .claims
                .kubernetes_io
                .as_ref()
                .and_then(|k| k.bound_object())
                .map(|(kind, _)| kind);
            tokenrequest_conformance::failure::expect_eq("bound kind in the claims", bound, recorded)
        }
    }
}

#[rstest]
#[timeout(Duration::from_secs(120))]
fn token_requests_answer_as_predicted() {
    run_property(arb_request, |world, value| Box::pin(token_request_case(world, value)));
}

async fn review_case(
    world: &World,
    (token_audiences, requested): (Vec<String>, Vec<String>),
) -> Result<(), CheckFailure> {
    let ctx = &world.ctx;
    let spec = TokenRequestSpec {
        audiences: Some(token_audiences),
        ..TokenRequestSpec::default()
    };
    let issued = ctx.issue(SA, spec).await?;
    let review = ctx.review(&issued.token, &requested).await?;
    let granted = ctx.policy().audiences.review_audiences(&requested, &issued.claims.aud);
    if granted.is_empty() {
        tokenrequest_conformance::checks::review::expect_refused(&review, "")
    } else {
        tokenrequest_conformance::failure::expect_eq("TokenReview authenticated", Some(true), review.authenticated)?;
        tokenrequest_conformance::failure::expect_eq("TokenReview audiences", Some(granted), review.audiences)
    }
}

#[rstest]
#[timeout(Duration::from_secs(120))]
fn reviews_grant_the_predicted_audiences() {
    // Requested audiences: empty (the API audiences) or drawn like the token's, plus the token's own first one.
    run_property(
        |_| (arb_audiences(), arb_audiences(), any::<bool>()),
        |world, (token, mut requested, overlap)| {
            if overlap {
                requested.extend(token.first().cloned());
            }
            Box::pin(review_case(world, (token, requested)))
        },
    );
}
