//! TokenReview and bearer authentication (R21–R23): who a valid token is, and that malformed, tampered,
//! expired-looking, foreign and unknown-key tokens are refused.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokenrequest_types::TokenReviewStatus;
use tokenrequest_types::binding::BoundKind;
use tokenrequest_types::review::ServiceAccountUser;
use tokenrequest_types::status;
use tokenrequest_types::token::Token;

use super::{SA, expect_status};
use crate::api::expect_unauthorized;
use crate::ctx::Ctx;
use crate::failure::{CheckFailure, ensure, expect_eq};

checks!("review" =>
    r23_valid_token_user ["R22", "R23"]
        "TokenReview authenticates a fresh token as the user its claims give: username, the service account's uid, \
         groups and extra",
    r22_bearer_authenticates_as_service_account ["R22"]
        "a token used as a bearer token authenticates (SelfSubjectReview) as the service account's user, with groups \
         and extra",
    r23_pod_bound_extra ["R23"]
        "TokenReview of a pod-bound token reports its user with the pod-name, pod-uid and credential-id extras",
    r21_malformed_token_refused ["R21", "R22", "R23"]
        "non-JWT strings and an unsigned alg none JWT are not authenticated by TokenReview and get the 401 Status as \
         bearer tokens",
    r21_tampered_token_refused ["R21", "R22"]
        "a real token whose claims were rewritten to name another service account is refused by TokenReview and as a \
         bearer token (401)",
    r21_expired_looking_token_refused ["R21", "R22"]
        "a real token whose iat, nbf and exp were moved into the past is refused by TokenReview and as a bearer token \
         (401)",
    r21_foreign_issuer_refused ["R21", "R22"]
        "an HS256 token of a foreign issuer naming a real service account is refused by TokenReview and as a bearer \
         token (401)",
    r21_unknown_kid_refused ["R21", "R22"]
        "a real token whose header names an unknown kid is refused by TokenReview and as a bearer token (401)",
    r23_empty_token_bad_request ["R23", "R27"]
        "a TokenReview of an empty token is the 400 \"token is required for TokenReview in authentication\"",
);

/// R23: a refused token: not authenticated, no user, no audiences, and (when SPEC names one) the reason.
pub fn expect_refused(review: &TokenReviewStatus, reason: &str) -> Result<(), CheckFailure> {
    expect_eq("TokenReview authenticated", None, review.authenticated.filter(|a| *a))?;
    let user_empty = review
        .user
        .as_ref()
        .is_none_or(|u| u.username.as_deref().unwrap_or("").is_empty());
    ensure(user_empty, "TokenReview user", "empty", &review.user)?;
    ensure(
        review.audiences.as_ref().is_none_or(Vec::is_empty),
        "TokenReview audiences",
        "none",
        &review.audiences,
    )?;
    let error = review.error.clone().unwrap_or_default();
    // Real clusters aggregate the errors of several authenticators: the reason is a substring.
    ensure(
        error.contains(reason),
        "TokenReview error",
        &format!("containing {reason:?}"),
        &error,
    )
}

/// The user `tokenrequest-types` derives from the token's own claims, as TokenReview and bearer use report it.
fn expected_user(token: &Token) -> Result<ServiceAccountUser, CheckFailure> {
    let unverified = tokenrequest_types::token::UnverifiedToken::parse(token.expose())
        .map_err(|e| CheckFailure::mismatch("token", "a JWT", e))?;
    ServiceAccountUser::from_claims(unverified.claims())
        .map_err(|e| CheckFailure::mismatch("claims", "a service account's", e))
}

fn user_json(user: &ServiceAccountUser) -> Value {
    json!({"username": user.username, "uid": user.uid, "groups": user.groups, "extra": user.extra})
}

async fn review_user(ctx: &Ctx, token: &Token) -> Result<(), CheckFailure> {
    let review = ctx.review(token, &[]).await?;
    expect_eq("TokenReview authenticated", Some(true), review.authenticated)?;
    let expected = expected_user(token)?;
    let actual = serde_json::to_value(review.user.unwrap_or_default()).unwrap_or_default();
    expect_eq("TokenReview user", user_json(&expected), actual)
}

async fn r23_valid_token_user(ctx: &Ctx) -> Result<(), CheckFailure> {
    let sa = ctx.service_account(SA).await?;
    let issued = ctx.issue_default(SA).await?;
    let expected = expected_user(&issued.token)?;
    // The claims' account is the one created, so the model's user is the right one to expect.
    expect_eq(
        "service account uid",
        sa.metadata.uid.as_deref(),
        Some(expected.uid.as_str()),
    )?;
    review_user(ctx, &issued.token).await
}

async fn r22_bearer_authenticates_as_service_account(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let issued = ctx.issue_default(SA).await?;
    let reply = ctx.whoami(&issued.token).await?;
    reply.expect_code("SelfSubjectReview with the token", 201)?;
    let expected = expected_user(&issued.token)?;
    expect_eq(
        "SelfSubjectReview userInfo",
        user_json(&expected),
        reply.body["status"]["userInfo"].clone(),
    )
}

async fn r23_pod_bound_extra(ctx: &Ctx) -> Result<(), CheckFailure> {
    let (issued, _, _) = super::binding::issue_bound(ctx, BoundKind::Pod).await?;
    review_user(ctx, &issued.token).await
}

/// Refused by TokenReview and, as a bearer token, 401.
async fn expect_token_refused(ctx: &Ctx, token: &str) -> Result<(), CheckFailure> {
    let token = Token::new(token);
    expect_refused(&ctx.review(&token, &[]).await?, "")?;
    expect_unauthorized(&ctx.whoami(&token).await?)
}

/// A real token with one of its parts rewritten (the signature is kept, so it no longer matches).
fn tamper(token: &Token, part: usize, change: impl FnOnce(&mut Value)) -> Result<String, CheckFailure> {
    let mut parts: Vec<String> = token.expose().split('.').map(str::to_owned).collect();
    let mut value = crate::api::decode_segment(token.expose(), part)?;
    change(&mut value);
    parts[part] = URL_SAFE_NO_PAD.encode(value.to_string());
    Ok(parts.join("."))
}

async fn r21_malformed_token_refused(ctx: &Ctx) -> Result<(), CheckFailure> {
    // An unsigned, empty-claims token is one of the malformed inputs under test.
    let unsigned = "eyJhbGciOiJub25lIn0.e30."; // tidy:allow-jwt
    for malformed in ["not-a-jwt", "a.b.c", unsigned] {
        expect_token_refused(ctx, malformed).await?;
    }
    let reply = ctx.whoami(&Token::new("not-a-jwt")).await?;
    ctx.snapshot("status_unauthorized", reply.body.clone());
    Ok(())
}

async fn r21_tampered_token_refused(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    ctx.service_account("admin-ish").await?;
    let issued = ctx.issue_default(SA).await?;
    let forged = tamper(&issued.token, 1, |claims| {
        claims["sub"] = json!(format!("system:serviceaccount:{}:admin-ish", ctx.ns()));
        claims["kubernetes.io"]["serviceaccount"]["name"] = json!("admin-ish");
    })?;
    expect_token_refused(ctx, &forged).await
}

async fn r21_expired_looking_token_refused(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let issued = ctx.issue_default(SA).await?;
    let iat = issued.claims.iat;
    let expired = tamper(&issued.token, 1, |claims| {
        claims["iat"] = json!(iat - 7200);
        claims["nbf"] = json!(iat - 7200);
        claims["exp"] = json!(iat - 3600);
    })?;
    expect_token_refused(ctx, &expired).await
}

async fn r21_foreign_issuer_refused(ctx: &Ctx) -> Result<(), CheckFailure> {
    let sa = ctx.service_account(SA).await?;
    let now = ctx
        .send(crate::api::Call::get("/version"))
        .await?
        .date()
        .unwrap_or_default();
    let claims = json!({
        "iss": "https://foreign-issuer.invalid",
        "sub": format!("system:serviceaccount:{}:{SA}", ctx.ns()),
        "aud": ctx.policy().audiences.api_audiences(),
        "iat": now, "nbf": now, "exp": now + 3600,
        "jti": uuid::Uuid::new_v4().to_string(),
        "kubernetes.io": {"namespace": ctx.ns(), "serviceaccount": {"name": SA, "uid": sa.metadata.uid}},
    });
    let foreign = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"a key no cluster has"),
    )
    .map_err(|e| CheckFailure::setup("sign a foreign token", e))?;
    expect_token_refused(ctx, &foreign).await
}

async fn r21_unknown_kid_refused(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let issued = ctx.issue_default(SA).await?;
    let unknown = tamper(&issued.token, 0, |header| header["kid"] = json!("no-such-key"))?;
    expect_token_refused(ctx, &unknown).await
}

async fn r23_empty_token_bad_request(ctx: &Ctx) -> Result<(), CheckFailure> {
    let reply = ctx.review_raw("", &[]).await?;
    expect_status(
        "TokenReview of an empty token",
        &reply,
        &status::bad_request("token is required for TokenReview in authentication"),
    )?;
    ctx.snapshot("status_bad_request_empty_token_review", reply.body.clone());
    Ok(())
}
