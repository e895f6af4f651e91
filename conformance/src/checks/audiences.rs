//! Audiences (R11, R12, R21–R23): what a token is issued for, and which audiences a review grants.

use tokenrequest_types::TokenRequestSpec;
use tokenrequest_types::review::TokenRejection;

use super::SA;
use crate::api::Issued;
use crate::api::expect_unauthorized;
use crate::ctx::Ctx;
use crate::failure::{CheckFailure, ensure, expect_eq};
use crate::redact::{self, Rule};

checks!("audiences" =>
    r12_explicit_audience ["R12"]
        "a token asked for one audience names exactly it in spec.audiences and in the aud claim, a JSON array",
    r12_several_audiences_keep_order ["R12"]
        "a token asked for three audiences names them in the order asked, in spec.audiences and in the aud claim",
    r12_duplicates_and_empty_kept ["R12"]
        "requested audiences keep their duplicates and empty strings, and [\"\"] is not replaced by the API audiences",
    r11_defaulted_to_api_audiences ["R11", "R22", "R23"]
        "a token asked for no audience gets the API audiences, is authenticated by a TokenReview for them and is \
         accepted as a bearer token",
    r23_review_intersection_in_request_order ["R23"]
        "a TokenReview asking for [c, x, a] authenticates a token for [a, b, c] and grants the audiences both name, in \
         the order asked",
    r21_review_audience_mismatch ["R21", "R23"]
        "a TokenReview asking for an audience the token lacks refuses it with \"token audiences … is invalid for the \
         target audiences …\"",
    r22_foreign_audience_refused_for_api ["R21", "R22"]
        "a token for a non-API audience is not authenticated by a TokenReview for the API audiences and gets the 401 \
         Status as a bearer token",
);

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Issues a token for `audiences` and checks the response and the `aud` claim against R11/R12.
async fn issue_for(ctx: &Ctx, audiences: &[String]) -> Result<Issued, CheckFailure> {
    ctx.ensure_service_account(SA).await?;
    let spec = TokenRequestSpec {
        audiences: Some(audiences.to_vec()),
        ..TokenRequestSpec::default()
    };
    let issued = ctx.issue(SA, spec).await?;
    let expected = ctx.policy().audiences.effective(audiences);
    expect_eq("spec.audiences of the response", &expected, &issued.audiences())?;
    expect_eq("aud claim", &expected, &issued.claims.aud)?;
    ensure(
        issued.raw_claims["aud"].is_array(),
        "aud claim",
        "a JSON array",
        &issued.raw_claims["aud"],
    )?;
    Ok(issued)
}

async fn r12_explicit_audience(ctx: &Ctx) -> Result<(), CheckFailure> {
    issue_for(ctx, &strings(&["https://vault.example"])).await.map(|_| ())
}

async fn r12_several_audiences_keep_order(ctx: &Ctx) -> Result<(), CheckFailure> {
    issue_for(ctx, &strings(&["zeta", "alpha", "https://m.example/x"]))
        .await
        .map(|_| ())
}

async fn r12_duplicates_and_empty_kept(ctx: &Ctx) -> Result<(), CheckFailure> {
    issue_for(ctx, &strings(&["dup", "", "dup"])).await?;
    // `[""]` is not empty: it is not defaulted.
    issue_for(ctx, &strings(&[""])).await.map(|_| ())
}

async fn r11_defaulted_to_api_audiences(ctx: &Ctx) -> Result<(), CheckFailure> {
    let issued = issue_for(ctx, &[]).await?;
    // The defaulted audiences are the server's own: TokenReview (no audiences) and bearer use accept the token.
    let review = ctx.review(&issued.token, &[]).await?;
    expect_eq("TokenReview authenticated", Some(true), review.authenticated)?;
    let api = ctx.policy().audiences.api_audiences();
    expect_eq(
        "TokenReview audiences",
        Some(ctx.policy().audiences.review_audiences(&[], &issued.claims.aud)),
        review.audiences.clone(),
    )?;
    ctx.whoami(&issued.token)
        .await?
        .expect_code("bearer use of a defaulted token", 201)?;
    let status = serde_json::to_value(&review).unwrap_or_default();
    let snapshot = redact::apply(
        &status,
        &[
            ("/audiences", redact::known_list(api, "[api-audiences]")),
            (
                "/user/username",
                redact::known(&format!("system:serviceaccount:{}:{SA}", ctx.ns()), "[username]"),
            ),
            ("/user/uid", Rule::NonEmpty("[uid]")),
            (
                "/user/groups/1",
                redact::known(
                    &format!("system:serviceaccounts:{}", ctx.ns()),
                    "system:serviceaccounts:[namespace]",
                ),
            ),
            (
                "/user/extra/authentication.kubernetes.io~1credential-id/0",
                Rule::NonEmpty("JTI=[jti]"),
            ),
        ],
    )?;
    ctx.snapshot("token_review_authenticated", snapshot);
    Ok(())
}

async fn r23_review_intersection_in_request_order(ctx: &Ctx) -> Result<(), CheckFailure> {
    let issued = issue_for(ctx, &strings(&["a", "b", "c"])).await?;
    let requested = strings(&["c", "x", "a"]);
    let review = ctx.review(&issued.token, &requested).await?;
    expect_eq("TokenReview authenticated", Some(true), review.authenticated)?;
    expect_eq(
        "TokenReview audiences",
        Some(ctx.policy().audiences.review_audiences(&requested, &issued.claims.aud)),
        review.audiences,
    )
}

async fn r21_review_audience_mismatch(ctx: &Ctx) -> Result<(), CheckFailure> {
    let token_audiences = strings(&["aud-a"]);
    let issued = issue_for(ctx, &token_audiences).await?;
    let requested = strings(&["aud-b"]);
    let review = ctx.review(&issued.token, &requested).await?;
    super::review::expect_refused(
        &review,
        &TokenRejection::Audience {
            token: token_audiences,
            requested,
        }
        .to_string(),
    )?;
    let status = serde_json::to_value(&review).unwrap_or_default();
    ctx.snapshot(
        "token_review_refused",
        redact::apply(&status, &[("/error", Rule::NonEmpty("[error]"))])?,
    );
    Ok(())
}

async fn r22_foreign_audience_refused_for_api(ctx: &Ctx) -> Result<(), CheckFailure> {
    let issued = issue_for(ctx, &strings(&["https://vault.example"])).await?;
    let review = ctx.review(&issued.token, &[]).await?;
    expect_eq("TokenReview authenticated", None, review.authenticated.filter(|a| *a))?;
    expect_unauthorized(&ctx.whoami(&issued.token).await?)
}
