//! Every bad-input class of issue 5 gets kube-apiserver's `Status` (as recorded from kube-apiserver v1.37.1 in
//! docs/observed/), never a 5xx, and changes nothing.

mod support;

use http::{Method, StatusCode};
use serde_json::json;
use support::Api;

const TOKEN: &str = "/api/v1/namespaces/ns/serviceaccounts/sa/token";

async fn store_snapshot(api: &Api) -> String {
    let mut all = String::new();
    for path in [
        "/api/v1/namespaces",
        "/api/v1/nodes",
        "/api/v1/pods",
        "/api/v1/secrets",
        "/api/v1/serviceaccounts",
    ] {
        all.push_str(&api.call(Method::GET, path, None).await.body.to_string());
    }
    all
}

#[tokio::test]
async fn r27_malformed_json_is_unrecognized() {
    let api = Api::new();
    api.fixture().await;
    let reply = api.raw(Method::POST, TOKEN, Some(br#"{"spec":"#.to_vec()), &[]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "BadRequest", "code": 400,
            "message": "the object provided is unrecognized (must be of type TokenRequest): couldn't get version/kind; json parse error: unexpected end of JSON input ({\"spec\":)"})
    );
    let reply = api.raw(Method::POST, TOKEN, Some(b"".to_vec()), &[]).await;
    assert!(
        reply.message().ends_with("unexpected end of JSON input (<empty>)"),
        "{}",
        reply.message()
    );
    let reply = api.raw(Method::POST, TOKEN, Some(b"[1,2]".to_vec()), &[]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn r27_wrong_types_name_the_kind() {
    let api = Api::new();
    api.fixture().await;
    let reply = api
        .token_request("sa", json!({"spec": {"expirationSeconds": "soon"}}))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply
            .message()
            .starts_with("TokenRequest in version \"v1\" cannot be handled as a TokenRequest: json: "),
        "{}",
        reply.message()
    );
}

#[tokio::test]
async fn r27_wrong_api_version_and_kind() {
    let api = Api::new();
    api.fixture().await;
    let reply = api
        .token_request(
            "sa",
            json!({"apiVersion": "authentication.k8s.io/v1beta1", "kind": "TokenRequest", "spec": {}}),
        )
        .await;
    assert_eq!(
        reply.message(),
        "TokenRequest in version \"v1beta1\" cannot be handled as a TokenRequest: no kind \"TokenRequest\" is registered for version \"authentication.k8s.io/v1beta1\" in scheme \"pkg/runtime/scheme.go:111\""
    );
    let reply = api
        .token_request(
            "sa",
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {}}),
        )
        .await;
    assert_eq!(
        reply.message(),
        "TokenReview in version \"v1\" cannot be handled as a TokenRequest: converting (v1.TokenReview) to (authentication.TokenRequest): unknown conversion"
    );
}

#[tokio::test]
async fn r27_method_not_allowed() {
    let api = Api::new();
    api.fixture().await;
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let reply = api.call(method.clone(), TOKEN, None).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(
            reply.body,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "the server does not allow this method on the requested resource",
                "reason": "MethodNotAllowed", "details": {}, "code": 405})
        );
    }
}

#[tokio::test]
async fn r27_too_large_unsupported_media_not_acceptable() {
    let api = Api::new();
    api.fixture().await;
    let big = vec![b' '; 3 * 1024 * 1024 + 1];
    let reply = api.raw(Method::POST, TOKEN, Some(big), &[]).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.message(), "Request entity too large: limit is 3145728");
    let reply = api
        .raw(
            Method::POST,
            TOKEN,
            Some(b"{}".to_vec()),
            &[("content-type", "text/plain")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        reply.message(),
        "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"
    );
    let reply = api
        .raw(Method::POST, TOKEN, Some(b"{}".to_vec()), &[("accept", "text/html")])
        .await;
    assert_eq!(reply.status, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(
        reply.message(),
        "406: Not Acceptable\n\nAvailable representations: application/json, application/yaml, application/vnd.kubernetes.protobuf"
    );
    let yaml = b"apiVersion: authentication.k8s.io/v1\nkind: TokenRequest\nspec: {}\n".to_vec();
    let reply = api
        .raw(Method::POST, TOKEN, Some(yaml), &[("content-type", "application/yaml")])
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "YAML bodies are accepted");
}

#[tokio::test]
async fn r27_unknown_paths_404() {
    let api = Api::new();
    for path in [
        "/nope",
        "/api/v1/configmaps",
        "/api/v1/namespaces/ns/configmaps",
        "/apis/apps/v1",
        "/api/v1/namespaces/ns/serviceaccounts/sa/bogus",
    ] {
        let reply = api.call(Method::GET, path, None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            reply.message(),
            "the server could not find the requested resource",
            "{path}"
        );
    }
}

#[tokio::test]
async fn r27_bad_credentials_401() {
    let api = Api::new();
    for auth in [
        "Bearer nope",
        "Bearer a.b.c",
        "Bearer eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.", // tidy:allow-jwt: unsigned, the bad input under test
    ] {
        let reply = api
            .raw(Method::GET, "/api/v1/namespaces", None, &[("authorization", auth)])
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{auth}");
    }
}

#[tokio::test]
async fn failed_requests_change_nothing() {
    let api = Api::new();
    api.fixture().await;
    let before = store_snapshot(&api).await;
    api.raw(
        Method::POST,
        "/api/v1/namespaces/ns/pods",
        Some(br#"{"metadata":{"name":"x"},"spec":{}}"#.to_vec()),
        &[],
    )
    .await;
    api.raw(Method::POST, "/api/v1/namespaces/ns/secrets", Some(b"{".to_vec()), &[])
        .await;
    api.call(
        Method::POST,
        "/api/v1/namespaces/ns/serviceaccounts",
        Some(json!({"metadata": {"name": "sa"}})),
    )
    .await;
    api.call(
        Method::POST,
        "/api/v1/namespaces/ns/serviceaccounts?dryRun=All",
        Some(json!({"metadata": {"name": "dry"}})),
    )
    .await;
    api.call(Method::DELETE, "/api/v1/namespaces/ns/pods/web?dryRun=All", None)
        .await;
    api.token_request("sa", json!({"spec": {"expirationSeconds": 1}})).await;
    api.call(Method::DELETE, "/api/v1/namespaces/ns/pods/nope", None).await;
    assert_eq!(store_snapshot(&api).await, before);
}
