//! OIDC discovery (R25, R26): the configuration document and the JWKS, their content types and caching, and
//! that service accounts may read them.

use serde_json::json;

use super::SA;
use crate::api::{self, Call, Reply};
use crate::ctx::Ctx;
use crate::failure::{CheckFailure, ensure, expect_eq};
use crate::jwks;
use crate::redact::{self, Rule};

checks!("discovery" =>
    r25_openid_configuration ["R25", "R26"]
        "the OIDC discovery document is application/json with Cache-Control \"public, max-age=3600\", an https \
         jwks_uri and kube-apiserver's fields",
    r25_jwks_keys ["R18", "R25"]
        "the JWKS is application/jwk-set+json with Cache-Control \"public, max-age=3600\", its keys have exactly use \
         sig, kty, kid, alg and their key type's fields, and one signs with the target's algorithm",
    r25_jwks_uri_served ["R25"]
        "the path of discovery's jwks_uri serves the same JWKS",
    r25_readable_by_service_accounts ["R25"]
        "a service account's token may read the discovery document and the JWKS (200)",
    r25_jwks_accept_negotiation ["R25"]
        "the JWKS is served with the same keys as application/jwk-set+json for Accept application/jwk-set+json, */* \
         and \"application/json, */*\"",
);

fn expect_headers(what: &str, reply: &Reply, content_type: &str) -> Result<(), CheckFailure> {
    expect_eq(
        &format!("{what} Content-Type"),
        Some(content_type),
        reply.header("content-type"),
    )?;
    expect_eq(
        &format!("{what} Cache-Control"),
        Some("public, max-age=3600"),
        reply.header("cache-control"),
    )
}

async fn r25_openid_configuration(ctx: &Ctx) -> Result<(), CheckFailure> {
    let (configuration, _) = jwks::fetch(ctx.client()).await?;
    expect_headers("OIDC discovery", &configuration, "application/json")?;
    let body = &configuration.body;
    let jwks_uri = body["jwks_uri"].as_str().unwrap_or_default();
    ensure(jwks_uri.starts_with("https://"), "jwks_uri", "an https URL", jwks_uri)?;
    let snapshot = redact::apply(
        body,
        &[
            ("/issuer", redact::known(&ctx.probed().issuer, "[issuer]")),
            ("/jwks_uri", Rule::NonEmpty("[jwks-uri]")),
            (
                "/id_token_signing_alg_values_supported",
                redact::known_list(&[ctx.policy().signing_alg.as_str().to_owned()], "[signing-algs]"),
            ),
        ],
    )?;
    ctx.snapshot("openid_configuration", snapshot);
    Ok(())
}

/// The fields a JWK of this key type must carry besides `use`, `kty`, `kid` and `alg` (R25).
fn key_fields(kty: &str) -> &'static [&'static str] {
    match kty {
        "RSA" => &["e", "n"],
        "EC" => &["crv", "x", "y"],
        _ => &[],
    }
}

async fn r25_jwks_keys(ctx: &Ctx) -> Result<(), CheckFailure> {
    let (_, reply) = jwks::fetch(ctx.client()).await?;
    expect_headers("JWKS", &reply, "application/jwk-set+json")?;
    let keys = reply.body["keys"].as_array().cloned().unwrap_or_default();
    ensure(!keys.is_empty(), "JWKS keys", "at least one", keys.len())?;
    let mut normalised = Vec::new();
    for key in &keys {
        let kty = key["kty"].as_str().unwrap_or_default();
        let mut fields: Vec<&str> = key
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        fields.sort_unstable();
        let mut expected: Vec<&str> = ["alg", "kid", "kty", "use"]
            .into_iter()
            .chain(key_fields(kty).iter().copied())
            .collect();
        expected.sort_unstable();
        expect_eq(&format!("fields of a {kty} JWK"), expected, fields)?;
        expect_eq("JWK use", Some("sig"), key["use"].as_str())?;
        normalised.push(
            json!({"use": key["use"], "kid": "[kid]", "kty": "[kty]", "alg": "[signing-alg]",
            "key": "[public key fields of its kty]"}),
        );
    }
    // Every key signs with the probed algorithm's family; the token's own key is checked by claims::r18.
    let algs: Vec<&str> = keys.iter().filter_map(|k| k["alg"].as_str()).collect();
    ensure(
        algs.contains(&ctx.policy().signing_alg.as_str()),
        "JWKS algorithms",
        &format!("containing {}", ctx.policy().signing_alg),
        &algs,
    )?;
    // One entry per shape of key: how many keys there are is the policy's (`keys=N`, key rotation), checked by
    // `policy::matches_declared` and the rotation group, so the snapshot does not depend on it.
    normalised.dedup();
    ctx.snapshot("jwks", json!({"keys": normalised}));
    Ok(())
}

async fn r25_jwks_uri_served(ctx: &Ctx) -> Result<(), CheckFailure> {
    let (configuration, jwks_reply) = jwks::fetch(ctx.client()).await?;
    let jwks_uri = configuration.body["jwks_uri"].as_str().unwrap_or_default();
    let uri: http::Uri = jwks_uri
        .parse()
        .map_err(|e| CheckFailure::mismatch("jwks_uri", "a URL", format!("{jwks_uri}: {e}")))?;
    // The announced host may be an address only the cluster's network reaches; its path must be served here.
    let reply = ctx.send(Call::get_jwks(uri.path())).await?;
    reply.expect_code("GET the path of jwks_uri", 200)?;
    expect_eq("the JWKS at jwks_uri", &jwks_reply.body, &reply.body)
}

async fn r25_readable_by_service_accounts(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let issued = ctx.issue_default(SA).await?;
    let client = ctx.target().client_as(Some(&issued.token))?;
    for call in [Call::get(api::OPENID_CONFIGURATION), Call::get_jwks(api::JWKS)] {
        let path = call.path;
        api::send(&client, call)
            .await?
            .expect_code(&format!("GET {path} as a service account"), 200)?;
    }
    Ok(())
}

/// kube-apiserver serves the JWKS only as `application/jwk-set+json` (go-restful `Produces`): an `Accept` naming
/// that type or `*/*` anywhere in its list is served. (`Accept: application/json` alone is a 406 on
/// kube-apiserver; see FINDINGS.md for why that half is not asserted yet.)
async fn r25_jwks_accept_negotiation(ctx: &Ctx) -> Result<(), CheckFailure> {
    let (_, reference) = jwks::fetch(ctx.client()).await?;
    for accept in [api::JWK_SET_MEDIA_TYPE, "*/*", "application/json, */*"] {
        let reply = ctx.send(Call::get(api::JWKS).accepting(accept)).await?;
        let what = format!("JWKS with Accept: {accept}");
        reply.expect_code(&what, 200)?;
        expect_headers(&what, &reply, api::JWK_SET_MEDIA_TYPE)?;
        expect_eq(&format!("{what}: keys"), &reference.body, &reply.body)?;
    }
    Ok(())
}
