//! Binding (R13–R17): tokens bound to Pods, Secrets and Nodes, the claims that record the binding, and every way a
//! binding is refused.

use serde_json::json;
use tokenrequest_types::BoundObjectReference;
use tokenrequest_types::admission;
use tokenrequest_types::binding::{self, BoundKind};
use tokenrequest_types::claims::ObjectRef;
use tokenrequest_types::review::{EXTRA_NODE_NAME, EXTRA_NODE_UID, EXTRA_POD_NAME, EXTRA_POD_UID};
use tokenrequest_types::status;

use super::{SA, expect_status};
use crate::api::{Call, Issued};
use crate::ctx::Ctx;
use crate::failure::{CheckFailure, expect_eq};
use crate::objects::bound_ref;
use crate::redact::{self, Rule};

checks!("binding" =>
    r13_pod ["R13", "R19", "R1"]
        "a pod-bound token echoes boundObjectRef as sent and records the pod's name and uid, and no node, in its \
         kubernetes.io claim",
    r13_secret ["R13", "R19"]
        "a secret-bound token echoes boundObjectRef as sent and records the secret's name and uid in its kubernetes.io \
         claim",
    r13_node ["R13", "R19"]
        "a node-bound token echoes boundObjectRef as sent and records the node's name and uid in its kubernetes.io \
         claim",
    r13_core_group_any_version ["R13"]
        "a binding to a Secret with apiVersion \"\" or \"v2\" is accepted: only the core group is checked",
    r13_wrong_kind_bad_request ["R13"]
        "a binding to kind ConfigMap, or to the lower-case kinds pod and secret, is the 400 naming the refused kind",
    r13_wrong_group_bad_request ["R13"]
        "a binding to a Pod of apiVersion apps/v1 is the 400 naming the refused group and kind",
    r13_empty_name_bad_request ["R13"]
        "a binding to a Secret with an empty name is the 400 \"Name parameter required\"",
    r14_object_missing_not_found ["R14"]
        "a binding to a Pod, Secret or Node that does not exist is 404 NotFound for that resource",
    r15_pod_of_other_service_account ["R15"]
        "a binding to a pod that runs as another service account is the 400 \"cannot bind token … to pod running with \
         different serviceaccount name\"",
    r15_pod_of_missing_service_account_forbidden ["R15"]
        "a pod of a service account that does not exist cannot be created (403 from ServiceAccount admission), so \
         nothing can be bound to it",
    r16_uid_matching_accepted ["R16"]
        "a boundObjectRef with the right uid of a Pod, a Secret or a Node is accepted and echoed with that uid",
    r16_uid_mismatch_conflict ["R16"]
        "a boundObjectRef with a wrong uid is 409 Conflict for a Pod, a Secret and a Node",
    r17_pod_node_claims ["R17", "R19", "R23"]
        "a token bound to a pod on an existing node carries the pod's and the node's name and uid, and TokenReview \
         reports all four as extras",
    r17_pod_on_missing_node_name_only ["R17", "R23"]
        "a token bound to a pod whose node does not exist carries the node's name without a uid, and TokenReview \
         reports node-name but no node-uid",
    order_validation_before_kind ["R5", "R13"]
        "a 60 s request bound to a ConfigMap is the 422 for its expiration, not the 400 for its kind: spec validation \
         comes first",
);

/// An object of `kind` named `name` (a pod runs as [`SA`]); returns its uid.
pub async fn create_bindable(ctx: &Ctx, kind: BoundKind, name: &str) -> Result<(String, String), CheckFailure> {
    let (name, uid) = match kind {
        BoundKind::Pod => {
            let pod = ctx.pod(name, SA, None).await?;
            (name.to_owned(), pod.metadata.uid)
        }
        BoundKind::Secret => {
            let secret = ctx.secret(name).await?;
            (name.to_owned(), secret.metadata.uid)
        }
        BoundKind::Node => {
            let node = ctx.node(name).await?;
            (ctx.node_name(name), node.metadata.uid)
        }
    };
    let uid = uid.ok_or_else(|| CheckFailure::setup(format!("create {kind}"), "the object has no uid"))?;
    Ok((name, uid))
}

/// Requests a token bound to `reference` (expiration and audiences defaulted) and returns the raw answer.
async fn request_bound(ctx: &Ctx, reference: &BoundObjectReference) -> Result<crate::api::Reply, CheckFailure> {
    let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"boundObjectRef": reference}});
    ctx.request_token_raw(SA, "", &body).await
}

/// Issues a token bound to a fresh object of `kind` and checks the response and claims (R1, R13, R19).
pub async fn issue_bound(ctx: &Ctx, kind: BoundKind) -> Result<(Issued, String, String), CheckFailure> {
    ctx.service_account(SA).await?;
    let (name, uid) = create_bindable(ctx, kind, "bound").await?;
    let reference = bound_ref(kind, &name, None);
    let issued = Issued::from_reply("bound TokenRequest", request_bound(ctx, &reference).await?)?;
    // R1: boundObjectRef echoed exactly as sent (its uid is not filled in).
    expect_eq(
        "spec.boundObjectRef of the response",
        Some(&reference),
        issued.response.spec.as_ref().and_then(|s| s.bound_object_ref.as_ref()),
    )?;
    let private = issued.claims.kubernetes_io.clone().unwrap_or_default();
    let recorded = private.bound_object().map(|(k, r)| (k, r.clone()));
    expect_eq(
        "the bound object in kubernetes.io",
        Some((kind, ObjectRef::new(name.clone(), uid.clone()))),
        recorded,
    )?;
    Ok((issued, name, uid))
}

async fn r13_pod(ctx: &Ctx) -> Result<(), CheckFailure> {
    let (issued, _, _) = issue_bound(ctx, BoundKind::Pod).await?;
    expect_eq(
        "kubernetes.io.node of a pod without nodeName",
        None,
        issued.claims.kubernetes_io.as_ref().and_then(|k| k.node.clone()),
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
                    &format!("system:serviceaccount:{}:{SA}", ctx.ns()),
                    "system:serviceaccount:[namespace]:robot",
                ),
            ),
            ("/exp", Rule::UnixSeconds),
            ("/iat", Rule::UnixSeconds),
            ("/nbf", Rule::UnixSeconds),
            ("/jti", Rule::NonEmpty("[jti]")),
            ("/kubernetes.io/namespace", redact::known(ctx.ns(), "[namespace]")),
            ("/kubernetes.io/serviceaccount/uid", Rule::NonEmpty("[uid]")),
            ("/kubernetes.io/pod/uid", Rule::NonEmpty("[uid]")),
        ],
    )?;
    ctx.snapshot("claims_pod_bound", snapshot);
    Ok(())
}

async fn r13_secret(ctx: &Ctx) -> Result<(), CheckFailure> {
    issue_bound(ctx, BoundKind::Secret).await.map(|_| ())
}

async fn r13_node(ctx: &Ctx) -> Result<(), CheckFailure> {
    issue_bound(ctx, BoundKind::Node).await.map(|_| ())
}

async fn r13_core_group_any_version(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let (name, _) = create_bindable(ctx, BoundKind::Secret, "bound").await?;
    for api_version in ["", "v2"] {
        let mut reference = bound_ref(BoundKind::Secret, &name, None);
        reference.api_version = Some(api_version.to_owned());
        expect_eq(
            &format!("apiVersion {api_version:?} is of the core group"),
            Ok(BoundKind::Secret),
            BoundKind::from_reference(&reference).map_err(|e| e.to_string()),
        )?;
        Issued::from_reply(
            &format!("bound with apiVersion {api_version:?}"),
            request_bound(ctx, &reference).await?,
        )?;
    }
    Ok(())
}

/// A reference the model refuses with a 400 must get exactly that 400.
async fn expect_refused_reference(ctx: &Ctx, reference: BoundObjectReference) -> Result<(), CheckFailure> {
    let expected = BoundKind::from_reference(&reference)
        .and_then(|_| binding::require_name(&reference).map(|_| ()))
        .err()
        .ok_or_else(|| CheckFailure::setup("reference", "the model accepts this reference"))?;
    let reply = request_bound(ctx, &reference).await?;
    expect_status("bound to an unsupported object", &reply, expected.status())?;
    if reference.kind.as_deref() == Some("ConfigMap") {
        ctx.snapshot(
            "status_bad_request_kind",
            serde_json::to_value(reply.status_object("400")?).unwrap_or_default(),
        );
    }
    Ok(())
}

async fn r13_wrong_kind_bad_request(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let (name, _) = create_bindable(ctx, BoundKind::Secret, "bound").await?;
    for kind in ["ConfigMap", "pod", "secret"] {
        let mut reference = bound_ref(BoundKind::Secret, &name, None);
        reference.kind = Some(kind.to_owned());
        expect_refused_reference(ctx, reference).await?;
    }
    Ok(())
}

async fn r13_wrong_group_bad_request(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let (name, _) = create_bindable(ctx, BoundKind::Pod, "bound").await?;
    let mut reference = bound_ref(BoundKind::Pod, &name, None);
    reference.api_version = Some("apps/v1".to_owned());
    expect_refused_reference(ctx, reference).await
}

async fn r13_empty_name_bad_request(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    expect_refused_reference(ctx, bound_ref(BoundKind::Secret, "", None)).await
}

async fn r14_object_missing_not_found(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    for kind in BoundKind::ALL {
        let name = match kind {
            BoundKind::Node => ctx.node_name("missing"),
            _ => "missing".to_owned(),
        };
        let reply = request_bound(ctx, &bound_ref(kind, &name, None)).await?;
        expect_status(
            &format!("bound to a missing {kind}"),
            &reply,
            &status::not_found("", kind.resource(), &name),
        )?;
        if kind == BoundKind::Pod {
            ctx.snapshot(
                "status_not_found_pod",
                serde_json::to_value(reply.status_object("404")?).unwrap_or_default(),
            );
        }
    }
    Ok(())
}

async fn r15_pod_of_other_service_account(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    ctx.service_account("other").await?;
    ctx.pod("others-pod", "other", None).await?;
    let reply = request_bound(ctx, &bound_ref(BoundKind::Pod, "others-pod", None)).await?;
    let expected = binding::check_pod_service_account(SA, "other")
        .err()
        .ok_or_else(|| CheckFailure::setup("model", "accepts a pod of another service account"))?;
    expect_status("bound to a pod of another service account", &reply, expected.status())
}

/// No token can be bound to a pod of a service account that does not exist, because no such pod can be created:
/// the ServiceAccount admission plugin refuses it (403) before it is stored.
async fn r15_pod_of_missing_service_account_forbidden(ctx: &Ctx) -> Result<(), CheckFailure> {
    let path = format!("/api/v1/namespaces/{}/pods", ctx.ns());
    let body = serde_json::to_value(crate::objects::pod("ghosts-pod", "ghost", None))
        .map_err(|e| CheckFailure::setup("pod body", e))?;
    let reply = ctx.send(Call::post_json(&path, &body)).await?;
    let expected = admission::missing_service_account(ctx.ns(), "ghosts-pod", "ghost");
    expect_status("a pod of a missing service account", &reply, &expected)
}

async fn r16_uid_matching_accepted(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    for kind in BoundKind::ALL {
        let (name, uid) = create_bindable(ctx, kind, &format!("uid-{}", kind.claim_key())).await?;
        let reference = bound_ref(kind, &name, Some(&uid));
        let issued = Issued::from_reply(&format!("{kind} with its uid"), request_bound(ctx, &reference).await?)?;
        expect_eq(
            "spec.boundObjectRef of the response",
            Some(&reference),
            issued.response.spec.as_ref().and_then(|s| s.bound_object_ref.as_ref()),
        )?;
    }
    Ok(())
}

async fn r16_uid_mismatch_conflict(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let wrong = "00000000-0000-0000-0000-000000000000";
    for kind in BoundKind::ALL {
        let (name, uid) = create_bindable(ctx, kind, &format!("uid-{}", kind.claim_key())).await?;
        let reply = request_bound(ctx, &bound_ref(kind, &name, Some(wrong))).await?;
        let expected = binding::check_uid(kind, &name, Some(wrong), &uid)
            .err()
            .ok_or_else(|| CheckFailure::setup("model", "accepts a wrong uid"))?;
        expect_status(&format!("{kind} bound with a wrong uid"), &reply, expected.status())?;
        if kind == BoundKind::Pod {
            ctx.snapshot(
                "status_conflict_bound_uid",
                serde_json::to_value(reply.status_object("409")?).unwrap_or_default(),
            );
        }
    }
    Ok(())
}

async fn r17_pod_node_claims(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let node = ctx.node("host").await?;
    let node_name = ctx.node_name("host");
    let node_uid = node.metadata.uid.unwrap_or_default();
    let pod = ctx.pod("scheduled", SA, Some(&node_name)).await?;
    let pod_uid = pod.metadata.uid.unwrap_or_default();
    let reply = request_bound(ctx, &bound_ref(BoundKind::Pod, "scheduled", None)).await?;
    let issued = Issued::from_reply("pod-bound TokenRequest", reply)?;
    let private = issued.claims.kubernetes_io.clone().unwrap_or_default();
    expect_eq(
        "kubernetes.io.pod",
        Some(ObjectRef::new("scheduled", pod_uid.clone())),
        private.pod,
    )?;
    expect_eq(
        "kubernetes.io.node",
        Some(ObjectRef::new(node_name.clone(), node_uid.clone())),
        private.node,
    )?;
    let review = ctx.review(&issued.token, &[]).await?;
    let extra = review.user.and_then(|u| u.extra).unwrap_or_default();
    for (key, value) in [
        (EXTRA_POD_NAME, "scheduled".to_owned()),
        (EXTRA_POD_UID, pod_uid),
        (EXTRA_NODE_NAME, node_name),
        (EXTRA_NODE_UID, node_uid),
    ] {
        expect_eq(&format!("TokenReview extra {key}"), Some(&vec![value]), extra.get(key))?;
    }
    Ok(())
}

async fn r17_pod_on_missing_node_name_only(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let node_name = ctx.node_name("absent");
    ctx.pod("stranded", SA, Some(&node_name)).await?;
    let reply = request_bound(ctx, &bound_ref(BoundKind::Pod, "stranded", None)).await?;
    let issued = Issued::from_reply("pod-bound TokenRequest", reply)?;
    let private = issued.claims.kubernetes_io.clone().unwrap_or_default();
    expect_eq(
        "kubernetes.io.node",
        Some(ObjectRef::new(node_name.clone(), "")),
        private.node,
    )?;
    let review = ctx.review(&issued.token, &[]).await?;
    let extra = review.user.and_then(|u| u.extra).unwrap_or_default();
    expect_eq(
        &format!("TokenReview extra {EXTRA_NODE_NAME}"),
        Some(&vec![node_name]),
        extra.get(EXTRA_NODE_NAME),
    )?;
    expect_eq(
        &format!("TokenReview extra {EXTRA_NODE_UID}"),
        None,
        extra.get(EXTRA_NODE_UID),
    )
}

/// SPEC's order of evaluation: spec validation (422) comes before the bound kind (400).
async fn order_validation_before_kind(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let mut reference = bound_ref(BoundKind::Secret, "any", None);
    reference.kind = Some("ConfigMap".to_owned());
    let body = json!({"spec": {"expirationSeconds": 60, "boundObjectRef": reference}});
    let reply = ctx.request_token_raw(SA, "", &body).await?;
    let expected = tokenrequest_types::validation::validate_spec(60)
        .err()
        .ok_or_else(|| CheckFailure::setup("model", "accepts 60 s"))?;
    expect_status("60 s bound to a ConfigMap", &reply, expected.status())
}
