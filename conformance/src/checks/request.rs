//! The endpoint itself (R1, R28): the 201 answer and what it echoes, `dryRun`, unknown fields and the other
//! create options.

use serde_json::json;
use tokenrequest_types::token::Token;

use super::SA;
use crate::api::Issued;
use crate::ctx::Ctx;
use crate::failure::{CheckFailure, ensure, expect_eq};
use crate::redact::{self, Rule};

checks!("request" =>
    r1_created_response ["R1", "R11"]
        "a TokenRequest answers 201 with kind and apiVersion, the service account's name, namespace and uid, a \
         server-issued token in place of the client's status, and managedFields",
    r1_kind_and_api_version_optional ["R1"]
        "an empty body, without apiVersion, kind or spec, is issued a token (201)",
    r28_dry_run_all_mints_real_token ["R28", "R23"]
        "dryRun=All still answers 201 with a token that TokenReview authenticates",
    r28_unsupported_dry_run_invalid ["R28"]
        "dryRun=Bogus is 422 with a message starting CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported \
         value",
    r28_unknown_field_warning ["R28"]
        "an unknown field spec.foo is accepted with exactly one Warning, unknown field \"spec.foo\"",
    r28_unknown_field_strict_bad_request ["R28"]
        "an unknown field spec.foo with fieldValidation=Strict is 400 naming unknown field \"spec.foo\"",
    r28_field_manager_and_pretty_accepted ["R28"]
        "fieldManager and pretty are accepted without a Warning, and managedFields names the fieldManager given",
);

async fn r1_created_response(ctx: &Ctx) -> Result<(), CheckFailure> {
    let sa = ctx.service_account(SA).await?;
    let body = json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "metadata": {"labels": {"team": "a"}, "annotations": {"note": "kept"}},
        "spec": {"expirationSeconds": 3600},
        // Client status is discarded.
        "status": {"token": "client-chosen", "expirationTimestamp": "2000-01-01T00:00:00Z"},
    });
    let issued = Issued::from_reply("TokenRequest", ctx.request_token_raw(SA, "", &body).await?)?;
    let raw = &issued.reply.body;
    expect_eq("kind", Some("TokenRequest"), raw["kind"].as_str())?;
    expect_eq(
        "apiVersion",
        Some("authentication.k8s.io/v1"),
        raw["apiVersion"].as_str(),
    )?;
    let meta = &issued.response.metadata;
    expect_eq("metadata.name", Some(SA), meta.name.as_deref())?;
    expect_eq("metadata.namespace", Some(ctx.ns()), meta.namespace.as_deref())?;
    expect_eq(
        "metadata.uid (the service account's)",
        sa.metadata.uid.as_deref(),
        meta.uid.as_deref(),
    )?;
    ensure(
        issued.token.expose() != "client-chosen",
        "status.token",
        "issued by the server",
        "the client's",
    )?;
    // kube-apiserver's field manager records the write in managedFields (one `Update` entry of the `token`
    // subresource, manager from the User-Agent): part of the answer; only its time varies.
    let snapshot = redact::apply(
        raw,
        &[
            ("/metadata/managedFields/0/time", Rule::Timestamp),
            ("/status/token", Rule::Jwt),
            ("/status/expirationTimestamp", Rule::Timestamp),
            ("/metadata/creationTimestamp", Rule::Timestamp),
            ("/metadata/uid", Rule::NonEmpty("[uid]")),
            ("/metadata/namespace", redact::known(ctx.ns(), "[namespace]")),
            (
                "/spec/audiences",
                redact::known_list(ctx.policy().audiences.api_audiences(), "[api-audiences]"),
            ),
        ],
    )?;
    ctx.snapshot("token_request_response", snapshot);
    Ok(())
}

async fn r1_kind_and_api_version_optional(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let reply = ctx.request_token_raw(SA, "", &json!({})).await?;
    Issued::from_reply("TokenRequest without apiVersion, kind or spec", reply).map(|_| ())
}

async fn expect_usable(ctx: &Ctx, token: &Token) -> Result<(), CheckFailure> {
    let review = ctx.review(token, &[]).await?;
    expect_eq("TokenReview authenticated", Some(true), review.authenticated)
}

async fn r28_dry_run_all_mints_real_token(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let reply = ctx.request_token_raw(SA, "?dryRun=All", &json!({"spec": {}})).await?;
    let issued = Issued::from_reply("TokenRequest with dryRun=All", reply)?;
    expect_usable(ctx, &issued.token).await
}

async fn r28_unsupported_dry_run_invalid(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let reply = ctx.request_token_raw(SA, "?dryRun=Bogus", &json!({"spec": {}})).await?;
    reply.expect_code("dryRun=Bogus", 422)?;
    let message = reply.status_object("422")?.message.unwrap_or_default();
    let prefix = "CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: ";
    ensure(
        message.starts_with(prefix),
        "message",
        &format!("starting with {prefix:?}"),
        &message,
    )?;
    ctx.snapshot("status_invalid_dry_run", reply.body.clone());
    Ok(())
}

async fn r28_unknown_field_warning(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let reply = ctx.request_token_raw(SA, "", &json!({"spec": {"foo": 1}})).await?;
    let issued = Issued::from_reply("TokenRequest with spec.foo", reply)?;
    expect_eq(
        "Warning headers",
        vec!["unknown field \"spec.foo\"".to_owned()],
        issued.reply.warnings(),
    )
}

async fn r28_unknown_field_strict_bad_request(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let reply = ctx
        .request_token_raw(SA, "?fieldValidation=Strict", &json!({"spec": {"foo": 1}}))
        .await?;
    reply.expect_code("spec.foo with fieldValidation=Strict", 400)?;
    let message = reply.status_object("400")?.message.unwrap_or_default();
    ensure(
        message.contains("unknown field \"spec.foo\""),
        "message",
        "naming unknown field \"spec.foo\"",
        &message,
    )
}

async fn r28_field_manager_and_pretty_accepted(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let reply = ctx
        .request_token_raw(SA, "?fieldManager=conformance&pretty=true", &json!({"spec": {}}))
        .await?;
    let issued = Issued::from_reply("TokenRequest with fieldManager and pretty", reply)?;
    expect_eq("Warning headers", Vec::<String>::new(), issued.reply.warnings())?;
    // The field manager named in the query wins over the User-Agent (observed on kube-apiserver v1.37.1).
    expect_eq(
        "metadata.managedFields[0].manager",
        Some("conformance"),
        issued.reply.body["metadata"]["managedFields"][0]["manager"].as_str(),
    )
}
