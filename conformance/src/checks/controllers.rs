//! What a cluster's controllers do for tokens (kube-controller-manager's service-account controller,
//! pkg/controller/serviceaccount, and namespace controller, pkg/controller/namespace): a new namespace gets a
//! `default` service account that can be issued tokens (R1), and a deleted namespace finishes deleting, after which
//! the tokens of its service accounts are refused (R21, within R24's wait).
//!
//! A target without those controllers (a bare kube-apiserver, as envtest runs it) never has a `default` service
//! account in the `default` namespace: there both checks are skipped, saying so, never passed.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::Api;
use kube::api::DeleteParams;

use super::SA;
use crate::ctx::Ctx;
use crate::failure::{CheckFailure, expect_eq};

checks!("controllers" =>
    r1_new_namespaces_get_a_default_service_account ["R1"]
        "a new namespace gets a `default` service account within 30 s (the service-account controller), and a token \
         is issued for it (201)",
    r21_tokens_rejected_once_their_namespace_is_deleted ["R21", "R24"]
        "a deleted namespace finishes deleting within 60 s (the namespace controller), and a token of a service \
         account in it is then refused by TokenReview and as a bearer token",
);

/// How long the service-account controller may take for a new namespace.
const DEFAULT_ACCOUNT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the namespace controller may take to empty and remove a namespace.
const NAMESPACE_DELETION_TIMEOUT: Duration = Duration::from_secs(60);

/// Skips unless the target runs a service-account controller: `default/default` exists on every cluster that has
/// one (it is re-created when deleted) and on no bare kube-apiserver.
async fn require_controllers(ctx: &Ctx) -> Result<(), CheckFailure> {
    let default = Api::<ServiceAccount>::namespaced(ctx.client().clone(), "default")
        .get_opt("default")
        .await
        .map_err(|e| CheckFailure::setup("get serviceaccount default/default", e))?;
    match default {
        Some(_) => Ok(()),
        None => Err(CheckFailure::Skipped(
            "no service-account controller: the default namespace has no `default` service account (a bare \
             kube-apiserver, without kube-controller-manager)"
                .to_owned(),
        )),
    }
}

/// Polls `api` every 250 ms until the object `name` exists (`present`) or is gone (`!present`); `what` names
/// the wait in the failure when `timeout` passes first.
async fn wait_for<K>(api: &Api<K>, name: &str, present: bool, what: &str, timeout: Duration) -> Result<(), CheckFailure>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let found = api
            .get_opt(name)
            .await
            .map_err(|e| CheckFailure::setup(format!("get {name}"), e))?;
        if found.is_some() == present {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(CheckFailure::mismatch(
                what.to_owned(),
                format!("within {timeout:?}"),
                "not yet",
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn r1_new_namespaces_get_a_default_service_account(ctx: &Ctx) -> Result<(), CheckFailure> {
    require_controllers(ctx).await?;
    let accounts = Api::<ServiceAccount>::namespaced(ctx.client().clone(), ctx.ns());
    let what = "the `default` service account of a new namespace";
    wait_for(&accounts, "default", true, what, DEFAULT_ACCOUNT_TIMEOUT).await?;
    let issued = ctx.issue_default("default").await?;
    expect_eq(
        "the token's service account",
        format!("system:serviceaccount:{}:default", ctx.ns()),
        issued.claims.sub.clone(),
    )
}

async fn r21_tokens_rejected_once_their_namespace_is_deleted(ctx: &Ctx) -> Result<(), CheckFailure> {
    require_controllers(ctx).await?;
    ctx.service_account(SA).await?;
    let issued = ctx.issue_default(SA).await?;
    let review = ctx.review(&issued.token, &[]).await?;
    expect_eq(
        "TokenReview authenticated before the deletion",
        Some(true),
        review.authenticated,
    )?;
    let namespaces = Api::<Namespace>::all(ctx.client().clone());
    namespaces
        .delete(ctx.ns(), &DeleteParams::default())
        .await
        .map_err(|e| CheckFailure::setup(format!("delete namespace {}", ctx.ns()), e))?;
    let what = "the deleted namespace to be gone";
    wait_for(&namespaces, ctx.ns(), false, what, NAMESPACE_DELETION_TIMEOUT).await?;
    ctx.expect_rejected_eventually(&issued.token, "its namespace was deleted")
        .await
}
