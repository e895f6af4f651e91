//! Watches as kubectl (`get -w`, `wait --for=delete`, `delete` waiting) and client-go informers use them: initial
//! state, changes after a resourceVersion, selectors, the end of the stream, and 410 for a forgotten version.

mod support;

use axum::body::Body;
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use support::Api;
use tokenrequest_server::router;
use tower::ServiceExt as _;

/// Starts a watch on `path` (with `query`, and `timeoutSeconds=1` so that the stream ends), runs `changes`, then
/// returns the events the stream carried.
async fn watch_during(api: &Api, path: &str, query: &str, changes: impl AsyncFnOnce()) -> (StatusCode, Vec<Value>) {
    let token = api.state.admin_token().expose().to_owned();
    let request = Request::builder()
        .method(Method::GET)
        .uri(format!("{path}?watch=true&timeoutSeconds=1&{query}"))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = router(api.state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    changes().await;
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let events = String::from_utf8(bytes.to_vec())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    (status, events)
}

fn summary(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["object"]["metadata"]["name"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

async fn resource_version(api: &Api, path: &str) -> String {
    let list = api.call(Method::GET, path, None).await;
    list.body["metadata"]["resourceVersion"].as_str().unwrap().to_owned()
}

const MERGE: (&str, &str) = ("content-type", "application/merge-patch+json");

#[tokio::test]
async fn changes_after_a_resource_version_arrive_in_order() {
    let api = Api::new();
    api.fixture().await;
    let path = "/api/v1/namespaces/ns/serviceaccounts";
    let version = resource_version(&api, path).await;
    let (status, events) = watch_during(&api, path, &format!("resourceVersion={version}"), async || {
        api.create(path, json!({"metadata": {"name": "w1"}})).await;
        // A change elsewhere is not this watch's.
        api.create("/api/v1/namespaces", json!({"metadata": {"name": "elsewhere"}}))
            .await;
        let patched = api
            .raw(
                Method::PATCH,
                &format!("{path}/w1"),
                Some(br#"{"metadata":{"labels":{"a":"b"}}}"#.to_vec()),
                &[MERGE],
            )
            .await;
        assert_eq!(patched.status, StatusCode::OK);
        api.call(Method::DELETE, &format!("{path}/w1"), None).await;
    })
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        summary(&events),
        [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")].map(|(t, n)| (t.to_owned(), n.to_owned()))
    );
    assert_eq!(events[0]["object"]["kind"], "ServiceAccount");
    assert_eq!(events[1]["object"]["metadata"]["labels"]["a"], "b");
}

#[tokio::test]
async fn without_a_resource_version_the_current_objects_come_first() {
    let api = Api::new();
    api.fixture().await;
    let (_, events) = watch_during(&api, "/api/v1/namespaces/ns/serviceaccounts", "", async || {}).await;
    assert_eq!(
        summary(&events),
        [("ADDED", "other"), ("ADDED", "sa")].map(|(t, n)| (t.to_owned(), n.to_owned()))
    );
}

#[tokio::test]
async fn an_object_entering_or_leaving_the_selector_is_added_or_deleted() {
    let api = Api::new();
    api.fixture().await;
    let version = resource_version(&api, "/api/v1/serviceaccounts").await;
    let query = format!("resourceVersion={version}&labelSelector=app%3Dx");
    let (_, events) = watch_during(&api, "/api/v1/serviceaccounts", &query, async || {
        for labels in [
            r#"{"app":"y"}"#,
            r#"{"app":"x"}"#,
            r#"{"app":"x","tier":"1"}"#,
            r#"{"app":null}"#,
        ] {
            let body = format!(r#"{{"metadata":{{"labels":{labels}}}}}"#);
            let reply = api
                .raw(
                    Method::PATCH,
                    "/api/v1/namespaces/ns/serviceaccounts/sa",
                    Some(body.into_bytes()),
                    &[MERGE],
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        }
    })
    .await;
    assert_eq!(
        summary(&events),
        [("ADDED", "sa"), ("MODIFIED", "sa"), ("DELETED", "sa")].map(|(t, n)| (t.to_owned(), n.to_owned()))
    );
}

#[tokio::test]
async fn a_forgotten_resource_version_is_410_expired_and_a_bad_one_400() {
    let api = Api::new();
    api.create("/api/v1/namespaces", json!({"metadata": {"name": "ns"}}))
        .await;
    for i in 0..=tokenrequest_server::WATCH_HISTORY {
        api.create(
            "/api/v1/namespaces/ns/secrets",
            json!({"metadata": {"name": format!("s{i}")}}),
        )
        .await;
    }
    let (status, events) = watch_during(&api, "/api/v1/secrets", "resourceVersion=1", async || {}).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "ERROR");
    assert_eq!(events[0]["object"]["code"], 410);
    assert_eq!(events[0]["object"]["reason"], "Expired");
    let bad = api
        .call(Method::GET, "/api/v1/secrets?watch=true&resourceVersion=abc", None)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}
