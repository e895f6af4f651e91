//! TokenReview, bearer authentication with issued tokens, invalidation, and authorization (R21–R24, R27's 403).

mod support;

use http::{Method, StatusCode};
use serde_json::json;
use support::{Api, ISSUER};

fn bound(kind: &str, name: &str) -> serde_json::Value {
    json!({"spec": {"boundObjectRef": {"kind": kind, "apiVersion": "v1", "name": name}}})
}

#[tokio::test]
async fn r23_authenticated_review() {
    let api = Api::new();
    let f = api.fixture().await;
    let token = api.token_request("sa", bound("Pod", "web")).await.token();
    let reply = api.review(&token, &[]).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let status = &reply.body["status"];
    assert_eq!(status["authenticated"], true);
    assert_eq!(status["audiences"], json!([ISSUER]));
    assert_eq!(status["user"]["username"], "system:serviceaccount:ns:sa");
    assert_eq!(status["user"]["uid"], f.sa_uid.as_str());
    assert_eq!(
        status["user"]["groups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:ns",
            "system:authenticated"
        ])
    );
    let extra = &status["user"]["extra"];
    assert_eq!(extra["authentication.kubernetes.io/pod-name"], json!(["web"]));
    assert_eq!(extra["authentication.kubernetes.io/pod-uid"], json!([f.pod_uid]));
    assert_eq!(extra["authentication.kubernetes.io/node-name"], json!(["node1"]));
    assert_eq!(extra["authentication.kubernetes.io/node-uid"], json!([f.node_uid]));
    assert!(
        extra["authentication.kubernetes.io/credential-id"][0]
            .as_str()
            .unwrap()
            .starts_with("JTI=")
    );
    assert_eq!(reply.body["spec"]["token"], token.as_str(), "the spec is echoed");
}

#[tokio::test]
async fn r23_review_audiences_in_request_order() {
    let api = Api::new();
    api.fixture().await;
    let token = api
        .token_request("sa", json!({"spec": {"audiences": ["a", "b", "c"]}}))
        .await
        .token();
    let reply = api.review(&token, &["c", "x", "a"]).await;
    assert_eq!(reply.body["status"]["audiences"], json!(["c", "a"]));
}

#[tokio::test]
async fn r21_audience_mismatch_rejected() {
    let api = Api::new();
    api.fixture().await;
    let token = api
        .token_request("sa", json!({"spec": {"audiences": ["x"]}}))
        .await
        .token();
    let reply = api.review(&token, &[]).await;
    let status = &reply.body["status"];
    assert!(status["authenticated"].is_null() || status["authenticated"] == false);
    assert_eq!(status["user"], json!({}));
    assert!(status["audiences"].is_null());
    assert_eq!(
        status["error"],
        format!("[invalid bearer token, token audiences [\"x\"] is invalid for the target audiences [\"{ISSUER}\"]]")
    );
    // Used as a bearer token on the API: 401 (R22).
    let reply = api
        .call_as(
            Some(&token),
            Method::POST,
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            Some(json!({})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn r21_foreign_and_forged_tokens() {
    let api = Api::new();
    api.fixture().await;
    let other = Api::new();
    other.fixture().await;
    let foreign = other.token_request("sa", json!({})).await.token();
    let reply = api.review(&foreign, &[]).await;
    assert_eq!(
        reply.body["status"]["error"],
        "[invalid bearer token, invalid signature, no keys found]"
    );
    let foreign_issuer = Api::with(|c| c.issuer = "https://elsewhere".into());
    foreign_issuer.fixture().await;
    let token = foreign_issuer
        .token_request("sa", json!({"spec": {"audiences": [ISSUER]}}))
        .await
        .token();
    assert_eq!(
        api.review(&token, &[]).await.body["status"]["error"],
        "invalid bearer token"
    );
    assert_eq!(
        api.review("not-a-jwt", &[]).await.body["status"]["error"],
        "invalid bearer token"
    );
    // Our issuer with a kid nobody has, a payload of `iss` and `sub` alone and no real signature: claimed for
    // its issuer, then refused for its key before its signature or other claims are read (differential D11).
    let b64 = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, s);
    let unknown_kid = [
        b64(r#"{"alg":"RS256","kid":"nope"}"#),
        b64(&format!(r#"{{"iss":"{ISSUER}","sub":"x"}}"#)),
        b64("not a signature"),
    ]
    .join(".");
    assert_eq!(
        api.review(&unknown_kid, &[]).await.body["status"]["error"],
        "[invalid bearer token, invalid signature, no keys found]"
    );
}

#[tokio::test]
async fn r21_invalidation_by_deletion_and_recreation() {
    let api = Api::new();
    api.fixture().await;
    let pod_token = api.token_request("sa", bound("Pod", "web")).await.token();
    let secret_token = api.token_request("sa", bound("Secret", "s")).await.token();
    let node_token = api.token_request("sa", bound("Node", "node1")).await.token();
    let sa_token = api.token_request("other", json!({})).await.token();
    for token in [&pod_token, &secret_token, &node_token, &sa_token] {
        assert_eq!(api.review(token, &[]).await.body["status"]["authenticated"], true);
    }
    api.call(Method::DELETE, "/api/v1/namespaces/ns/pods/web", None).await;
    api.call(Method::DELETE, "/api/v1/namespaces/ns/secrets/s", None).await;
    api.call(Method::DELETE, "/api/v1/nodes/node1", None).await;
    api.call(Method::DELETE, "/api/v1/namespaces/ns/serviceaccounts/other", None)
        .await;
    for token in [&pod_token, &secret_token, &node_token] {
        assert_eq!(
            api.review(token, &[]).await.body["status"]["error"],
            "[invalid bearer token, service account token has been invalidated]",
            "as kube-apiserver aggregates it (observed/69-review-after-pod-deleted.txt)"
        );
    }
    assert_eq!(
        api.review(&sa_token, &[]).await.body["status"]["error"],
        "[invalid bearer token, serviceaccounts \"other\" not found]"
    );
    // Re-created under the same names: the uids no longer match.
    let pod = json!({"metadata": {"name": "web"}, "spec": {"serviceAccountName": "sa", "containers": [{"name": "c", "image": "i"}]}});
    let new_pod = api.create("/api/v1/namespaces/ns/pods", pod).await;
    let error = api.review(&pod_token, &[]).await.body["status"]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        error.contains(&format!(
            "pod UID ({}) does not match service account pod ref claim (",
            new_pod["metadata"]["uid"].as_str().unwrap()
        )),
        "{error}"
    );
    let new_sa = api
        .create(
            "/api/v1/namespaces/ns/serviceaccounts",
            json!({"metadata": {"name": "other"}}),
        )
        .await;
    let error = api.review(&sa_token, &[]).await.body["status"]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        error.contains(&format!(
            "service account UID ({}) does not match claim",
            new_sa["metadata"]["uid"].as_str().unwrap()
        )),
        "{error}"
    );
}

#[tokio::test]
async fn r21_pod_bound_token_does_not_check_the_pods_node() {
    let api = Api::new();
    api.fixture().await;
    let token = api.token_request("sa", bound("Pod", "web")).await.token();
    api.call(Method::DELETE, "/api/v1/nodes/node1", None).await;
    assert_eq!(api.review(&token, &[]).await.body["status"]["authenticated"], true);
}

#[tokio::test]
async fn r22_bearer_use_and_401_body() {
    let api = Api::new();
    let f = api.fixture().await;
    let token = api.token_request("sa", json!({})).await.token();
    let reply = api
        .call_as(
            Some(&token),
            Method::POST,
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            Some(json!({})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let info = &reply.body["status"]["userInfo"];
    assert_eq!(info["username"], "system:serviceaccount:ns:sa");
    assert_eq!(info["uid"], f.sa_uid.as_str());
    assert_eq!(
        info["groups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:ns",
            "system:authenticated"
        ])
    );
    api.call(Method::DELETE, "/api/v1/namespaces/ns/serviceaccounts/sa", None)
        .await;
    let reply = api.call_as(Some(&token), Method::GET, "/api", None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.body,
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401})
    );
    let reply = api.call_as(Some("garbage"), Method::GET, "/version", None).await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "a rejected token is 401 even where anonymous may go"
    );
}

#[tokio::test]
async fn r23_empty_token_400() {
    let api = Api::new();
    let reply = api.review("", &[]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.message(), "token is required for TokenReview in authentication");
}

#[tokio::test]
async fn r27_forbidden_for_service_accounts_and_anonymous() {
    let api = Api::new();
    api.fixture().await;
    let token = api.token_request("sa", json!({})).await.token();
    let reply = api
        .call_as(
            Some(&token),
            Method::POST,
            "/api/v1/namespaces/ns/serviceaccounts/sa/token",
            Some(json!({})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.message(),
        "serviceaccounts \"sa\" is forbidden: User \"system:serviceaccount:ns:sa\" cannot create resource \"serviceaccounts/token\" in API group \"\" in the namespace \"ns\""
    );
    assert_eq!(reply.body["details"], json!({"name": "sa", "kind": "serviceaccounts"}));
    let reply = api
        .call_as(
            Some(&token),
            Method::POST,
            "/apis/authentication.k8s.io/v1/tokenreviews",
            Some(json!({"spec": {"token": "x"}})),
        )
        .await;
    assert_eq!(
        reply.message(),
        "tokenreviews.authentication.k8s.io is forbidden: User \"system:serviceaccount:ns:sa\" cannot create resource \"tokenreviews\" in API group \"authentication.k8s.io\" at the cluster scope"
    );
    // Discovery is allowed to service accounts, not to anonymous callers.
    assert_eq!(
        api.call_as(Some(&token), Method::GET, "/api/v1", None).await.status,
        StatusCode::OK
    );
    let reply = api.call_as(None, Method::GET, "/api/v1", None).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.message(),
        "forbidden: User \"system:anonymous\" cannot get path \"/api/v1\""
    );
    let reply = api.call_as(None, Method::GET, "/api/v1/namespaces/ns/pods", None).await;
    assert_eq!(
        reply.message(),
        "pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\" in API group \"\" in the namespace \"ns\""
    );
    for path in ["/healthz", "/livez", "/readyz", "/version"] {
        assert_eq!(
            api.call_as(None, Method::GET, path, None).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
}
