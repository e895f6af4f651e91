//! Each injected fault breaks its rule (so the conformance suite can prove it fails), and only when injected.

mod support;

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::json;
use support::{Api, ISSUER, claims};
use tokenrequest_server::Fault;

fn with(fault: Fault) -> Api {
    Api::with(|c| {
        c.fault = Some(fault);
        c.max_token_expiration = Some(Duration::from_secs(7200));
    })
}

fn pod() -> serde_json::Value {
    json!({"kind": "Pod", "apiVersion": "v1", "name": "web"})
}

fn lifetime(token: &str) -> i64 {
    let c = claims(token);
    c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap()
}

#[tokio::test]
async fn every_fault_breaks_its_rule() {
    let api = with(Fault::NoClamp);
    api.fixture().await;
    assert_eq!(
        lifetime(
            &api.token_request("sa", json!({"spec": {"expirationSeconds": 86_400}}))
                .await
                .token()
        ),
        86_400
    );

    let api = with(Fault::NoExtension);
    api.fixture().await;
    assert_eq!(
        lifetime(
            &api.token_request(
                "sa",
                json!({"spec": {"expirationSeconds": 3607, "boundObjectRef": pod()}})
            )
            .await
            .token()
        ),
        3607
    );

    let api = with(Fault::AlwaysExtend);
    api.fixture().await;
    assert_eq!(lifetime(&api.token_request("sa", json!({})).await.token()), 31_536_000);

    let api = with(Fault::WrongDefaultAudiences);
    api.fixture().await;
    assert_ne!(
        claims(&api.token_request("sa", json!({})).await.token())["aud"],
        json!([ISSUER])
    );

    let api = with(Fault::AcceptShortExpiration);
    api.fixture().await;
    assert_eq!(
        api.token_request("sa", json!({"spec": {"expirationSeconds": 60}}))
            .await
            .status,
        StatusCode::CREATED
    );

    let api = with(Fault::IgnoreBoundUid);
    api.fixture().await;
    let reply = api
        .token_request(
            "sa",
            json!({"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web", "uid": "x"}}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);

    let api = with(Fault::NoInvalidation);
    api.fixture().await;
    let token = api
        .token_request("sa", json!({"spec": {"boundObjectRef": pod()}}))
        .await
        .token();
    api.call(Method::DELETE, "/api/v1/namespaces/ns/pods/web", None).await;
    assert_eq!(api.review(&token, &[]).await.body["status"]["authenticated"], true);

    let api = with(Fault::BadSignature);
    api.fixture().await;
    let token = api.token_request("sa", json!({})).await.token();
    assert!(api.review(&token, &[]).await.body["status"]["authenticated"].is_null());

    let api = with(Fault::WrongIssuer);
    api.fixture().await;
    assert_ne!(claims(&api.token_request("sa", json!({})).await.token())["iss"], ISSUER);

    let api = with(Fault::ReuseJti);
    api.fixture().await;
    let a = claims(&api.token_request("sa", json!({})).await.token())["jti"].clone();
    let b = claims(&api.token_request("sa", json!({})).await.token())["jti"].clone();
    assert_eq!(a, b);

    let api = with(Fault::NoNodeClaim);
    api.fixture().await;
    assert!(
        claims(
            &api.token_request("sa", json!({"spec": {"boundObjectRef": pod()}}))
                .await
                .token()
        )["kubernetes.io"]["node"]
            .is_null()
    );

    let api = with(Fault::WrongStatusCode);
    api.fixture().await;
    assert_eq!(api.token_request("sa", json!({})).await.status, StatusCode::OK);

    let api = with(Fault::ReviewIgnoresAudience);
    api.fixture().await;
    let token = api
        .token_request("sa", json!({"spec": {"audiences": ["x"]}}))
        .await
        .token();
    assert_eq!(api.review(&token, &[]).await.body["status"]["authenticated"], true);
}
