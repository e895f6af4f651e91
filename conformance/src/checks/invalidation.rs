//! Invalidation (R21, R22, R24): a token stops working, for TokenReview and as a bearer token, once its service
//! account or bound object is deleted or replaced by one with a new uid. Deletes use grace period 0 and the
//! waits are bounded (R24), so they also hold on a real cluster with its authentication cache.

use k8s_openapi::api::core::v1::{Node, Pod, Secret, ServiceAccount};
use tokenrequest_types::binding::BoundKind;
use tokenrequest_types::token::Token;

use super::SA;
use super::binding::{create_bindable, issue_bound};
use crate::ctx::Ctx;
use crate::failure::{CheckFailure, expect_eq};

checks!("invalidation" =>
    r21_rejected_after_pod_deleted ["R21", "R22", "R24"]
        "a pod-bound token that worked is refused by TokenReview and as a bearer token (401) within the wait once its \
         pod is deleted",
    r21_rejected_after_pod_recreated ["R21", "R22", "R24"]
        "a pod-bound token that worked is refused by TokenReview and as a bearer token (401) once its pod is deleted \
         and recreated under the same name",
    r21_rejected_after_secret_deleted ["R21", "R22", "R24"]
        "a secret-bound token that worked is refused by TokenReview and as a bearer token (401) within the wait once \
         its secret is deleted",
    r21_rejected_after_secret_recreated ["R21", "R22", "R24"]
        "a secret-bound token that worked is refused by TokenReview and as a bearer token (401) once its secret is \
         deleted and recreated under the same name",
    r21_rejected_after_node_deleted ["R21", "R22", "R24"]
        "a node-bound token that worked is refused by TokenReview and as a bearer token (401) within the wait once its \
         node is deleted",
    r21_rejected_after_service_account_deleted ["R21", "R22", "R24"]
        "a token that worked is refused by TokenReview and as a bearer token (401) within the wait once its service \
         account is deleted",
    r21_rejected_after_service_account_recreated ["R21", "R22", "R24"]
        "a token that worked is refused by TokenReview and as a bearer token (401) once its service account is deleted \
         and recreated under the same name",
    r21_pod_token_survives_node_deletion ["R21"]
        "a token bound to a pod on a node is still accepted by TokenReview and as a bearer token after that node is \
         deleted",
);

/// The token works now: TokenReview says authenticated and bearer use is accepted.
async fn expect_accepted(ctx: &Ctx, token: &Token) -> Result<(), CheckFailure> {
    let review = ctx.review(token, &[]).await?;
    expect_eq(
        "TokenReview authenticated before invalidation",
        Some(true),
        review.authenticated,
    )?;
    ctx.whoami(token)
        .await?
        .expect_code("bearer use before invalidation", 201)?;
    Ok(())
}

async fn bound_then(ctx: &Ctx, kind: BoundKind, recreate: bool) -> Result<(), CheckFailure> {
    let (issued, name, _) = issue_bound(ctx, kind).await?;
    expect_accepted(ctx, &issued.token).await?;
    match kind {
        BoundKind::Pod => ctx.delete_now::<Pod>(&name).await?,
        BoundKind::Secret => ctx.delete_now::<Secret>(&name).await?,
        BoundKind::Node => ctx.delete_cluster_now::<Node>(&name).await?,
    }
    if recreate {
        create_bindable(ctx, kind, &name).await?;
    }
    let why = if recreate {
        "its bound object was recreated"
    } else {
        "its bound object was deleted"
    };
    ctx.expect_rejected_eventually(&issued.token, why).await
}

async fn r21_rejected_after_pod_deleted(ctx: &Ctx) -> Result<(), CheckFailure> {
    bound_then(ctx, BoundKind::Pod, false).await
}

async fn r21_rejected_after_pod_recreated(ctx: &Ctx) -> Result<(), CheckFailure> {
    bound_then(ctx, BoundKind::Pod, true).await
}

async fn r21_rejected_after_secret_deleted(ctx: &Ctx) -> Result<(), CheckFailure> {
    bound_then(ctx, BoundKind::Secret, false).await
}

async fn r21_rejected_after_secret_recreated(ctx: &Ctx) -> Result<(), CheckFailure> {
    bound_then(ctx, BoundKind::Secret, true).await
}

async fn r21_rejected_after_node_deleted(ctx: &Ctx) -> Result<(), CheckFailure> {
    bound_then(ctx, BoundKind::Node, false).await
}

async fn service_account_then(ctx: &Ctx, recreate: bool) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let issued = ctx.issue_default(SA).await?;
    expect_accepted(ctx, &issued.token).await?;
    ctx.delete_now::<ServiceAccount>(SA).await?;
    if recreate {
        ctx.service_account(SA).await?;
    }
    let why = if recreate {
        "its service account was recreated"
    } else {
        "its service account was deleted"
    };
    ctx.expect_rejected_eventually(&issued.token, why).await
}

async fn r21_rejected_after_service_account_deleted(ctx: &Ctx) -> Result<(), CheckFailure> {
    service_account_then(ctx, false).await
}

async fn r21_rejected_after_service_account_recreated(ctx: &Ctx) -> Result<(), CheckFailure> {
    service_account_then(ctx, true).await
}

/// R21: pod-bound tokens do not check the pod's node.
async fn r21_pod_token_survives_node_deletion(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    ctx.node("host").await?;
    let node_name = ctx.node_name("host");
    ctx.pod("scheduled", SA, Some(&node_name)).await?;
    let spec = tokenrequest_types::TokenRequestSpec {
        bound_object_ref: Some(crate::objects::bound_ref(BoundKind::Pod, "scheduled", None)),
        ..Default::default()
    };
    let issued = ctx.issue(SA, spec).await?;
    expect_accepted(ctx, &issued.token).await?;
    ctx.delete_cluster_now::<Node>(&node_name).await?;
    expect_accepted(ctx, &issued.token).await
}
