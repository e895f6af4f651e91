//! Issuer and key rotation, as kube-apiserver supports it: several `--service-account-issuer` (the first issues,
//! all are accepted: pkg/serviceaccount/jwt.go `hasCorrectIssuer` over the issuer list) and several
//! `--service-account-key-file` beside the signing key (every key verifies, the JWKS lists them all:
//! pkg/serviceaccount/openidmetadata.go). Running pods keep working across a rotation only so
//! (kubernetes/kubernetes#107031).
//!
//! A token "from before the rotation" is signed here with a retired key, laid out as kube-apiserver lays out its
//! claims (`tokenrequest_types::claims`). Only a target the runner started knows its retired keys; elsewhere, and
//! on targets with one issuer and one key, the checks are skipped, saying why, never passed. A removed key is what
//! an unlisted key is to the server: a token signed with a key it does not list is refused.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tokenrequest_envtest::pki::RetiredKey;
use tokenrequest_types::claims::{Claims, ClaimsInput, ObjectRef};
use tokenrequest_types::expiration::ExpirationPolicy;
use tokenrequest_types::policy::SigningAlg;
use tokenrequest_types::token::Token;

use super::SA;
use crate::ctx::Ctx;
use crate::failure::{CheckFailure, ensure, expect_eq};
use crate::jwks;

checks!("rotation" =>
    r19_new_tokens_carry_the_issuing_issuer ["R19", "R25"]
        "with previous issuers still accepted, new tokens and the discovery document name the first issuer only",
    r25_jwks_lists_every_key ["R18", "R25"]
        "the JWKS lists the signing key and every retired key by its kid, and discovery the algorithm of each",
    r21_previous_issuer_and_retired_key_authenticate ["R21", "R22"]
        "a token of a previous issuer signed with a retired key (as issued before the rotation) passes TokenReview \
         and authenticates as its service account",
    r21_retired_key_tokens_authenticate ["R21", "R22"]
        "a token of the current issuer signed with a retired key passes TokenReview and authenticates",
    r26_unlisted_keys_are_refused ["R21", "R26"]
        "a token signed with a key the server does not list (as a removed key is) is refused by TokenReview and as \
         a bearer token",
);

/// Skips unless the target was declared with rotation (`issuers=…` or `keys=N`).
fn require_rotation(ctx: &Ctx) -> Result<(), CheckFailure> {
    let declared = ctx.probed().declared.as_ref();
    if declared.is_some_and(|d| !d.previous_issuers.is_empty() || d.keys > 1) {
        return Ok(());
    }
    Err(CheckFailure::Skipped(
        "the target is not declared with a rotation (--policy issuers=URL,keys=2): one issuer and one key".to_owned(),
    ))
}

/// The first retired key, when the target's starter knows it and this suite can sign with its algorithm.
fn retired_key(ctx: &Ctx) -> Result<&RetiredKey, CheckFailure> {
    let key = ctx.target().retired_keys().first().ok_or_else(|| {
        CheckFailure::Skipped(
            "no retired key of this target is known here: only targets the runner starts with keys=2 or more hand \
             theirs over"
                .to_owned(),
        )
    })?;
    algorithm(key.alg)?;
    Ok(key)
}

fn algorithm(alg: SigningAlg) -> Result<Algorithm, CheckFailure> {
    match alg {
        SigningAlg::RS256 => Ok(Algorithm::RS256),
        SigningAlg::ES256 => Ok(Algorithm::ES256),
        SigningAlg::ES384 => Ok(Algorithm::ES384),
        SigningAlg::ES512 => Err(CheckFailure::Skipped(
            "ES512 tokens cannot be signed here (jsonwebtoken has no ES512)".to_owned(),
        )),
    }
}

/// A token for `SA` in the check's namespace as kube-apiserver would have issued it with `issuer`, signed with
/// `key` (PKCS#8 PEM) under `kid`.
async fn forge(ctx: &Ctx, issuer: &str, pem: &str, alg: SigningAlg, kid: &str) -> Result<Token, CheckFailure> {
    let account = ctx.ensure_service_account(SA).await?;
    let uid = account.metadata.uid.unwrap_or_default();
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    let lifetime = ExpirationPolicy::new(None, false).lifetime(3600, None, true);
    let claims = Claims::for_request(ClaimsInput {
        issuer,
        namespace: ctx.ns(),
        service_account: ObjectRef::new(SA, uid),
        audiences: ctx.policy().audiences.api_audiences().to_vec(),
        bound: None,
        pod_node: None,
        lifetime: &lifetime,
        now,
        jti: uuid::Uuid::new_v4().to_string(),
    });
    let alg = algorithm(alg)?;
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
        _ => EncodingKey::from_ec_pem(pem.as_bytes()),
    }
    .map_err(|e| CheckFailure::setup("the retired key", e))?;
    let mut header = Header::new(alg);
    header.typ = None;
    header.kid = Some(kid.to_owned());
    let token = jsonwebtoken::encode(&header, &claims, &key).map_err(|e| CheckFailure::setup("signing", e))?;
    Ok(Token::new(token))
}

/// TokenReview authenticates `token` as `SA`, and so does its use as a bearer token.
async fn expect_accepted(ctx: &Ctx, token: &Token, what: &str) -> Result<(), CheckFailure> {
    let review = ctx.review(token, &[]).await?;
    expect_eq(
        &format!("TokenReview of {what}: authenticated"),
        Some(true),
        review.authenticated,
    )?;
    let user = review.user.and_then(|u| u.username);
    expect_eq(
        &format!("TokenReview of {what}: user"),
        Some(format!("system:serviceaccount:{}:{SA}", ctx.ns())),
        user,
    )?;
    let bearer = ctx.whoami(token).await?;
    expect_eq(&format!("{what} as a bearer token"), 201, bearer.status.as_u16())
}

async fn r19_new_tokens_carry_the_issuing_issuer(ctx: &Ctx) -> Result<(), CheckFailure> {
    require_rotation(ctx)?;
    ctx.service_account(SA).await?;
    let issued = ctx.issue_default(SA).await?;
    let (configuration, _) = jwks::fetch(ctx.client()).await?;
    let discovery_issuer = configuration.body["issuer"].as_str().unwrap_or_default().to_owned();
    expect_eq("discovery's issuer", issued.claims.iss.clone(), discovery_issuer)?;
    let previous: Vec<String> = ctx
        .probed()
        .declared
        .as_ref()
        .map(|d| d.previous_issuers.clone())
        .unwrap_or_default();
    ensure(
        !previous.contains(&issued.claims.iss),
        "the issuer of a new token",
        &format!("not one of the previous issuers {previous:?}"),
        &issued.claims.iss,
    )
}

async fn r25_jwks_lists_every_key(ctx: &Ctx) -> Result<(), CheckFailure> {
    require_rotation(ctx)?;
    let declared_keys = ctx.probed().declared.as_ref().map_or(1, |d| d.keys);
    let (configuration, jwks) = jwks::fetch(ctx.client()).await?;
    let kids: Vec<String> = jwks.body["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k["kid"].as_str().map(str::to_owned))
        .collect();
    expect_eq("keys in the JWKS", declared_keys, kids.len())?;
    ctx.service_account(SA).await?;
    let issued = ctx.issue_default(SA).await?;
    let signing_kid = issued.header.kid.clone().unwrap_or_default();
    ensure(
        kids.contains(&signing_kid),
        "the JWKS",
        &format!("the signing key {signing_kid}"),
        &kids,
    )?;
    for key in ctx.target().retired_keys() {
        ensure(
            kids.contains(&key.kid),
            "the JWKS",
            &format!("the retired key {}", key.kid),
            &kids,
        )?;
    }
    let algorithms = &configuration.body["id_token_signing_alg_values_supported"];
    for key in jwks.body["keys"].as_array().into_iter().flatten() {
        let alg = key["alg"].as_str().unwrap_or_default();
        ensure(
            algorithms.as_array().is_some_and(|a| a.iter().any(|x| x == alg)),
            "discovery's id_token_signing_alg_values_supported",
            &format!("lists {alg}"),
            algorithms,
        )?;
    }
    Ok(())
}

async fn r21_previous_issuer_and_retired_key_authenticate(ctx: &Ctx) -> Result<(), CheckFailure> {
    require_rotation(ctx)?;
    let previous = ctx
        .probed()
        .declared
        .as_ref()
        .and_then(|d| d.previous_issuers.first().cloned())
        .ok_or_else(|| CheckFailure::Skipped("no previous issuer is declared (issuers=URL)".to_owned()))?;
    let key = retired_key(ctx)?;
    let token = forge(ctx, &previous, &key.private_pem, key.alg, &key.kid).await?;
    expect_accepted(ctx, &token, "a previous issuer's token signed with a retired key").await
}

async fn r21_retired_key_tokens_authenticate(ctx: &Ctx) -> Result<(), CheckFailure> {
    require_rotation(ctx)?;
    let key = retired_key(ctx)?;
    let issuer = ctx.probed().issuer.clone();
    let token = forge(ctx, &issuer, &key.private_pem, key.alg, &key.kid).await?;
    expect_accepted(ctx, &token, "a token signed with a retired key").await
}

async fn r26_unlisted_keys_are_refused(ctx: &Ctx) -> Result<(), CheckFailure> {
    require_rotation(ctx)?;
    let retired = retired_key(ctx)?;
    // A key of the same kind that the server has never seen: what a retired key becomes once it is removed.
    let removed = tokenrequest_envtest::pki::retired_keys(retired.alg, 1)
        .map_err(|e| CheckFailure::setup("a fresh key", e))?
        .remove(0);
    let issuer = ctx.probed().issuer.clone();
    let token = forge(ctx, &issuer, &removed.private_pem, removed.alg, &removed.kid).await?;
    let review = ctx.review(&token, &[]).await?;
    ensure(
        review.authenticated != Some(true),
        "TokenReview of a token signed with an unlisted key: authenticated",
        "false",
        review.authenticated,
    )?;
    let bearer = ctx.whoami(&token).await?;
    crate::api::expect_unauthorized(&bearer)
}
