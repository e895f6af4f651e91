//! What a client sees before its first write, and what the controllers do: kube-apiserver's system namespaces at
//! start; with `--controllers all`, a `default` service account in every namespace (kept there) and namespaces
//! that finish deleting; with `--controllers none`, neither, as on a bare kube-apiserver.

mod support;

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde_json::json;
use support::Api;
use tokenrequest_server::{Controllers, SYSTEM_NAMESPACES, ServerConfig};
use tokenrequest_types::policy::SigningAlg;

/// Far longer than the controllers take (they react to each change at once), short enough for a unit test.
const PATIENCE: Duration = Duration::from_secs(10);

async fn server(controllers: Controllers) -> (tokenrequest_server::RunningServer, Api) {
    let mut config = ServerConfig::loopback();
    config.signing_alg = SigningAlg::ES256;
    config.controllers = controllers;
    let server = tokenrequest_server::start(config).await.unwrap();
    let api = Api::for_state(server.state().clone());
    (server, api)
}

/// Waits until `path` answers `status`, or fails after [`PATIENCE`].
async fn wait_for(api: &Api, path: &str, status: StatusCode) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let reply = api.call(Method::GET, path, None).await;
        if reply.status == status {
            return;
        }
        assert!(Instant::now() < deadline, "{path} still answers {}", reply.status);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_system_namespaces_exist_at_start_as_kube_apiserver_makes_them() {
    let api = Api::new();
    let list = api.call(Method::GET, "/api/v1/namespaces", None).await;
    assert_eq!(list.status, StatusCode::OK);
    let items = list.body["items"].as_array().unwrap();
    let names: Vec<&str> = items
        .iter()
        .map(|ns| ns["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, SYSTEM_NAMESPACES);
    for ns in items {
        let name = ns["metadata"]["name"].as_str().unwrap();
        assert_eq!(ns["metadata"]["labels"], json!({"kubernetes.io/metadata.name": name}));
        assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
        assert_eq!(ns["status"]["phase"], "Active");
        let managed = &ns["metadata"]["managedFields"];
        assert_eq!(managed[0]["manager"], "kube-apiserver", "{managed}");
        assert_eq!(managed[0]["operation"], "Update");
        assert_eq!(
            managed[0]["fieldsV1"],
            json!({"f:metadata": {"f:labels": {".": {}, "f:kubernetes.io/metadata.name": {}}}})
        );
    }
    // A fresh server takes a service account in `default` at once (the Terraform provider's first resource).
    api.create(
        "/api/v1/namespaces/default/serviceaccounts",
        json!({"metadata": {"name": "app"}}),
    )
    .await;
}

#[tokio::test]
async fn every_namespace_gets_a_default_service_account_and_keeps_it() {
    let (_server, api) = server(Controllers::All).await;
    for ns in SYSTEM_NAMESPACES {
        wait_for(
            &api,
            &format!("/api/v1/namespaces/{ns}/serviceaccounts/default"),
            StatusCode::OK,
        )
        .await;
    }
    api.create("/api/v1/namespaces", json!({"metadata": {"name": "team"}}))
        .await;
    let path = "/api/v1/namespaces/team/serviceaccounts/default";
    wait_for(&api, path, StatusCode::OK).await;
    // As `kubectl create token default` does on kind and k3s.
    let token = api.call(Method::POST, &format!("{path}/token"), Some(json!({}))).await;
    assert_eq!(token.status, StatusCode::CREATED, "{}", token.body);
    // Deleted, it comes back (with a new uid).
    let before = api.call(Method::GET, path, None).await.body["metadata"]["uid"].clone();
    api.call(Method::DELETE, path, None).await;
    wait_for(&api, path, StatusCode::OK).await;
    let after = api.call(Method::GET, path, None).await.body["metadata"]["uid"].clone();
    assert_ne!(before, after);
}

#[tokio::test]
async fn a_bare_apiserver_creates_no_service_account_and_keeps_namespaces_terminating() {
    let (_server, api) = server(Controllers::None).await;
    api.create("/api/v1/namespaces", json!({"metadata": {"name": "team"}}))
        .await;
    api.call(Method::DELETE, "/api/v1/namespaces/team", None).await;
    // Long enough for the controllers to have reacted, were they running.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let accounts = api.call(Method::GET, "/api/v1/serviceaccounts", None).await;
    assert_eq!(accounts.body["items"], json!([]));
    let team = api.call(Method::GET, "/api/v1/namespaces/team", None).await;
    assert_eq!(team.body["status"]["phase"], "Terminating");
}
