//! The token itself (R18–R20, R26): header, registered and private claims, the signature verified with the
//! published JWKS by a standard JWT library, and fresh `jti`s.

use std::collections::BTreeSet;

use tokenrequest_types::TokenRequestSpec;
use tokenrequest_types::claims::{ObjectRef, service_account_username};

use super::SA;
use crate::ctx::Ctx;
use crate::failure::{CheckFailure, ensure, expect_eq};
use crate::jwks;
use crate::redact::{self, Rule};

checks!("claims" =>
    r18_header_alg_kid ["R18"]
        "the JWT header has exactly alg and kid, alg is the target's signing algorithm, and kid names a JWKS key of \
         that alg",
    r18_kid_is_sha256_of_public_key ["R18", "R25"]
        "every JWKS key's kid is base64url of the SHA-256 of the key's PKIX DER",
    r19_sub_is_service_account ["R19"]
        "the sub claim is system:serviceaccount:{namespace}:{name}",
    r19_private_claims_unbound ["R19"]
        "an unbound token's kubernetes.io claim holds the namespace and the service account's name and uid, and no \
         pod, secret or node",
    r19_iss_equals_discovery_issuer ["R19", "R26"]
        "the iss claim is the issuer of the OIDC discovery document",
    r26_signature_verifies_with_jwks ["R18", "R26"]
        "tokens for the API audiences and for a foreign audience verify with a standard JWT library given only the \
         published JWKS, the issuer and the audiences",
    r20_jti_fresh_uuid ["R19", "R20"]
        "two tokens issued in a row carry different jti claims, each a UUID",
);

async fn r18_header_alg_kid(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let issued = ctx.issue_default(SA).await?;
    let keys: BTreeSet<String> = issued
        .raw_header
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    expect_eq(
        "JOSE header keys",
        BTreeSet::from(["alg".to_owned(), "kid".to_owned()]),
        keys,
    )?;
    expect_eq("alg", ctx.policy().signing_alg.as_str(), issued.header.alg.as_str())?;
    let (_, jwks_reply) = jwks::fetch(ctx.client()).await?;
    let set = jwks::key_set(&jwks_reply)?;
    let kid = issued.header.kid.clone().unwrap_or_default();
    let key = set.find(&kid);
    ensure(key.is_some(), "the token's kid", "a key of the published JWKS", &kid)?;
    let key_alg = jwks_reply.body["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == kid.as_str()))
        .map(|k| k["alg"].clone());
    expect_eq(
        "alg of the JWKS key",
        Some(serde_json::json!(issued.header.alg)),
        key_alg,
    )
}

async fn r18_kid_is_sha256_of_public_key(ctx: &Ctx) -> Result<(), CheckFailure> {
    let (_, jwks_reply) = jwks::fetch(ctx.client()).await?;
    let keys = jwks_reply.body["keys"].as_array().cloned().unwrap_or_default();
    ensure(!keys.is_empty(), "JWKS keys", "at least one", keys.len())?;
    for key in &keys {
        let der = crate::spki::der(key)?;
        expect_eq(
            "kid against base64url(SHA-256(PKIX DER of the key))",
            Some(tokenrequest_types::keyid::key_id(&der).as_str()),
            key["kid"].as_str(),
        )?;
    }
    Ok(())
}

async fn r19_sub_is_service_account(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let issued = ctx.issue_default(SA).await?;
    expect_eq("sub", service_account_username(ctx.ns(), SA), issued.claims.sub)
}

async fn r19_private_claims_unbound(ctx: &Ctx) -> Result<(), CheckFailure> {
    let sa = ctx.service_account(SA).await?;
    let issued = ctx.issue(SA, TokenRequestSpec::default()).await?;
    let private = issued
        .claims
        .kubernetes_io
        .clone()
        .ok_or_else(|| CheckFailure::mismatch("kubernetes.io claim", "present", "absent"))?;
    expect_eq("kubernetes.io.namespace", ctx.ns(), private.namespace.as_str())?;
    expect_eq(
        "kubernetes.io.serviceaccount",
        ObjectRef::new(SA, sa.metadata.uid.unwrap_or_default()),
        private.serviceaccount.clone(),
    )?;
    expect_eq(
        "bound parts of an unbound token",
        (None, None, None),
        (private.pod, private.secret, private.node),
    )?;
    let snapshot = redact::apply(
        &issued.raw_claims,
        &[
            (
                "/aud",
                redact::known_list(ctx.policy().audiences.api_audiences(), "[api-audiences]"),
            ),
            ("/iss", redact::known(&ctx.probed().issuer, "[issuer]")),
            (
                "/sub",
                redact::known(
                    &service_account_username(ctx.ns(), SA),
                    "system:serviceaccount:[namespace]:robot",
                ),
            ),
            ("/exp", Rule::UnixSeconds),
            ("/iat", Rule::UnixSeconds),
            ("/nbf", Rule::UnixSeconds),
            ("/jti", Rule::NonEmpty("[jti]")),
            ("/kubernetes.io/namespace", redact::known(ctx.ns(), "[namespace]")),
            ("/kubernetes.io/serviceaccount/uid", Rule::NonEmpty("[uid]")),
        ],
    )?;
    ctx.snapshot("claims_unbound", snapshot);
    Ok(())
}

async fn r19_iss_equals_discovery_issuer(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let issued = ctx.issue_default(SA).await?;
    let (configuration, _) = jwks::fetch(ctx.client()).await?;
    expect_eq(
        "iss against OIDC discovery's issuer",
        configuration.body["issuer"].as_str(),
        Some(issued.claims.iss.as_str()),
    )
}

async fn r26_signature_verifies_with_jwks(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let (configuration, jwks_reply) = jwks::fetch(ctx.client()).await?;
    let keys = jwks::key_set(&jwks_reply)?;
    let issuer = configuration.body["issuer"].as_str().unwrap_or_default().to_owned();
    for audiences in [Vec::new(), vec!["https://vault.example".to_owned()]] {
        let spec = TokenRequestSpec {
            audiences: Some(audiences.clone()),
            ..TokenRequestSpec::default()
        };
        let issued = ctx.issue(SA, spec).await?;
        let expected = ctx.policy().audiences.effective(&audiences);
        jwks::verify(&issued.token, &keys, &issuer, &expected)?;
    }
    Ok(())
}

async fn r20_jti_fresh_uuid(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let first = ctx.issue_default(SA).await?;
    let second = ctx.issue_default(SA).await?;
    for jti in [&first.claims.jti, &second.claims.jti] {
        let parsed = jti.as_deref().map(uuid::Uuid::parse_str);
        ensure(matches!(parsed, Some(Ok(_))), "jti", "a UUID", jti)?;
    }
    ensure(
        first.claims.jti != second.claims.jti,
        "jti of two tokens",
        "different",
        (&first.claims.jti, &second.claims.jti),
    )
}
