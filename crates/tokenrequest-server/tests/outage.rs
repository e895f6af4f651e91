//! The outage switch (what clients see while a control plane restarts) and the `/metrics` request counter that
//! tests read to count TokenRequests. A dropped connection (EOF) needs a socket: it is exercised by the token
//! cache's restart test in `tokenrequest-client`.

mod support;

use http::{Method, StatusCode};
use serde_json::json;
use support::Api;
use tokenrequest_server::Outage;

const TOKEN_PATH: &str = "/api/v1/namespaces/ns/serviceaccounts/sa/token";

#[tokio::test]
async fn each_outage_answers_as_a_restarting_kube_apiserver_then_the_server_recovers() {
    let api = Api::new();
    api.fixture().await;
    let request = json!({"spec": {"audiences": ["vault"]}});

    api.state.set_outage(Some(Outage::Forbidden));
    let reply = api.call(Method::POST, TOKEN_PATH, Some(request.clone())).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.body["reason"], "Forbidden");
    assert_eq!(
        reply.message(),
        "serviceaccounts \"sa\" is forbidden: User \"kubernetes-admin\" cannot create resource \
         \"serviceaccounts/token\" in API group \"\" in the namespace \"ns\""
    );

    api.state.set_outage(Some(Outage::TooManyRequests(2)));
    let reply = api.call(Method::POST, TOKEN_PATH, Some(request.clone())).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.headers[http::header::RETRY_AFTER], "2");
    assert_eq!(reply.body, "Too many requests, please try again later.\n");

    api.state.set_outage(Some(Outage::Unavailable));
    let reply = api.call(Method::GET, "/api/v1/namespaces/ns", None).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body["reason"], "ServiceUnavailable");

    api.state.set_outage(None);
    let reply = api.call(Method::POST, TOKEN_PATH, Some(request)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
}

#[tokio::test]
async fn metrics_count_token_requests_per_code_and_need_credentials() {
    let api = Api::new();
    api.fixture().await;
    for audiences in [json!(["vault"]), json!(["vault"]), json!("not a list")] {
        api.call(
            Method::POST,
            TOKEN_PATH,
            Some(json!({"spec": {"audiences": audiences}})),
        )
        .await;
    }
    let reply = api.call(Method::GET, "/metrics", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.headers[http::header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = reply.body.as_str().unwrap();
    let series = |code: u16| {
        format!(
            "apiserver_request_total{{code=\"{code}\",component=\"apiserver\",dry_run=\"\",group=\"\",\
             resource=\"serviceaccounts\",scope=\"resource\",subresource=\"token\",verb=\"POST\",version=\"v1\"}}"
        )
    };
    assert!(text.contains(&format!("{} 2\n", series(201))), "{text}");
    assert!(text.contains(&format!("{} 1\n", series(400))), "{text}");

    let anonymous = api.call_as(None, Method::GET, "/metrics", None).await;
    assert_eq!(anonymous.status, StatusCode::FORBIDDEN);
}
