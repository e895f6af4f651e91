//! Object handling kubectl and kube-rs rely on: create (generateName, dryRun, 409, 422, namespace checks), get,
//! list with selectors and resourceVersion, delete answers, namespace cascade, concurrency.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::json;
use support::Api;
use tokenrequest_server::ServerConfig;
use tokenrequest_types::policy::SigningAlg;

#[tokio::test]
async fn create_get_list_delete() {
    let api = Api::new();
    api.fixture().await;
    let got = api.call(Method::GET, "/api/v1/namespaces/ns/pods/web", None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(
        (got.body["kind"].as_str(), got.body["apiVersion"].as_str()),
        (Some("Pod"), Some("v1"))
    );
    assert_eq!(got.body["spec"]["nodeName"], "node1");
    assert_eq!(got.body["status"]["phase"], "Pending");
    let list = api.call(Method::GET, "/api/v1/namespaces/ns/pods", None).await;
    assert_eq!(list.body["kind"], "PodList");
    assert!(
        list.body["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    assert!(list.body["items"][0].get("kind").is_none(), "list items carry no kind");
    let reply = api.call(Method::GET, "/api/v1/namespaces/ns/pods/nope", None).await;
    assert_eq!(
        (reply.status, reply.message()),
        (StatusCode::NOT_FOUND, "pods \"nope\" not found")
    );
    // Pods and service accounts answer a delete with the object, secrets and nodes with a Status.
    let deleted = api.call(Method::DELETE, "/api/v1/namespaces/ns/pods/web", None).await;
    assert_eq!(deleted.body["kind"], "Pod");
    let deleted = api.call(Method::DELETE, "/api/v1/namespaces/ns/secrets/s", None).await;
    assert_eq!(deleted.body["kind"], "Status");
    assert_eq!(deleted.body["status"], "Success");
    assert_eq!(deleted.body["details"]["kind"], "secrets");
    let deleted = api.call(Method::DELETE, "/api/v1/namespaces/ns", None).await;
    assert_eq!(deleted.body["status"]["phase"], "Terminating");
    assert!(deleted.body["metadata"]["deletionTimestamp"].is_string());
}

#[tokio::test]
async fn a_terminating_namespace_takes_nothing_new_until_the_controller_removes_it() {
    let mut config = ServerConfig::loopback();
    config.signing_alg = SigningAlg::ES256;
    config.namespace_finalize_after = Duration::from_secs(1);
    let server = tokenrequest_server::start(config).await.unwrap();
    let api = Api::for_state(server.state().clone());
    api.fixture().await;
    api.call(Method::DELETE, "/api/v1/namespaces/ns", None).await;
    // Terminating (kube-apiserver v1.37.1, DIFFERENTIAL.md D8): the service account is still there, but neither
    // a token nor a new object is given in the namespace.
    let sa = api
        .call(Method::GET, "/api/v1/namespaces/ns/serviceaccounts/sa", None)
        .await;
    assert_eq!(sa.status, StatusCode::OK);
    let reply = api.token_request("sa", json!({})).await;
    assert_eq!(
        (reply.status, reply.message()),
        (
            StatusCode::FORBIDDEN,
            "serviceaccounts \"sa\" is forbidden: unable to create new content in namespace ns because it is being terminated"
        )
    );
    assert_eq!(reply.body["details"]["causes"][0]["reason"], "NamespaceTerminating");
    let reply = api
        .call(
            Method::POST,
            "/api/v1/namespaces/ns/secrets",
            Some(json!({"metadata": {"name": "new"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // Then the controller removes the namespace with its content (within a few ticks of the second).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while api.call(Method::GET, "/api/v1/namespaces/ns", None).await.status == StatusCode::OK {
        assert!(
            std::time::Instant::now() < deadline,
            "the namespace was never finalized"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sa = api
        .call(Method::GET, "/api/v1/namespaces/ns/serviceaccounts/sa", None)
        .await;
    assert_eq!(sa.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn create_rules() {
    let api = Api::new();
    api.fixture().await;
    let sa = api
        .create(
            "/api/v1/namespaces/ns/serviceaccounts",
            json!({"metadata": {"generateName": "robot-"}}),
        )
        .await;
    assert!(sa["metadata"]["name"].as_str().unwrap().starts_with("robot-"));
    let dry = api
        .call(
            Method::POST,
            "/api/v1/namespaces/ns/serviceaccounts?dryRun=All",
            Some(json!({"metadata": {"name": "dry"}})),
        )
        .await;
    assert_eq!(dry.status, StatusCode::CREATED);
    assert_eq!(
        api.call(Method::GET, "/api/v1/namespaces/ns/serviceaccounts/dry", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let reply = api
        .call(
            Method::POST,
            "/api/v1/namespaces/ns/serviceaccounts",
            Some(json!({"metadata": {"name": "sa"}})),
        )
        .await;
    assert_eq!(
        (reply.status, reply.message()),
        (StatusCode::CONFLICT, "serviceaccounts \"sa\" already exists")
    );
    assert_eq!(reply.body["reason"], "AlreadyExists");
    let reply = api
        .call(
            Method::POST,
            "/api/v1/namespaces/ns/serviceaccounts",
            Some(json!({"metadata": {"name": "Bad_Name"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let reply = api
        .call(
            Method::POST,
            "/api/v1/namespaces/ns/serviceaccounts",
            Some(json!({"metadata": {"name": "x", "namespace": "other"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = api
        .call(
            Method::POST,
            "/api/v1/namespaces/gone/serviceaccounts",
            Some(json!({"metadata": {"name": "x"}})),
        )
        .await;
    assert_eq!(
        (reply.status, reply.message()),
        (StatusCode::NOT_FOUND, "namespaces \"gone\" not found")
    );
    // ServiceAccount admission runs before validation: a pod naming no service account runs as `default`, which
    // nothing created here (a real control plane's controller would).
    let empty_pod = json!({"metadata": {"name": "empty"}, "spec": {}});
    let reply = api
        .call(Method::POST, "/api/v1/namespaces/ns/pods", Some(empty_pod.clone()))
        .await;
    assert_eq!(
        (reply.status, reply.message()),
        (
            StatusCode::FORBIDDEN,
            r#"pods "empty" is forbidden: error looking up service account ns/default: serviceaccount "default" not found"#
        )
    );
    api.create(
        "/api/v1/namespaces/ns/serviceaccounts",
        json!({"metadata": {"name": "default"}}),
    )
    .await;
    let reply = api
        .call(Method::POST, "/api/v1/namespaces/ns/pods", Some(empty_pod))
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let labelled = api
        .create(
            "/api/v1/namespaces",
            json!({"metadata": {"name": "lab", "labels": {"team": "a"}}}),
        )
        .await;
    assert_eq!(
        labelled["metadata"]["labels"],
        json!({"team": "a", "kubernetes.io/metadata.name": "lab"})
    );
}

#[tokio::test]
async fn list_selectors() {
    let api = Api::new();
    api.fixture().await;
    for (name, tier) in [("a", "front"), ("b", "back"), ("c", "front")] {
        api.create(
            "/api/v1/namespaces/ns/secrets",
            json!({"metadata": {"name": name, "labels": {"tier": tier}}}),
        )
        .await;
    }
    let names = |body: serde_json::Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let reply = api
        .call(
            Method::GET,
            "/api/v1/namespaces/ns/secrets?labelSelector=tier%3Dfront",
            None,
        )
        .await;
    assert_eq!(names(reply.body), ["a", "c"]);
    let reply = api
        .call(
            Method::GET,
            "/api/v1/namespaces/ns/secrets?labelSelector=tier+in+(back)",
            None,
        )
        .await;
    assert_eq!(names(reply.body), ["b"]);
    let reply = api
        .call(Method::GET, "/api/v1/secrets?fieldSelector=metadata.name%3Dc", None)
        .await;
    assert_eq!(names(reply.body), ["c"]);
}

#[tokio::test]
async fn concurrent_creates_lose_nothing_and_resource_versions_increase() {
    let api = Arc::new(Api::new());
    api.create("/api/v1/namespaces", json!({"metadata": {"name": "ns"}}))
        .await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            api.create(
                "/api/v1/namespaces/ns/serviceaccounts",
                json!({"metadata": {"name": format!("sa-{i}")}}),
            )
            .await["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        }));
    }
    let mut versions = HashSet::new();
    for task in tasks {
        versions.insert(task.await.unwrap());
    }
    assert_eq!(versions.len(), 64, "every resourceVersion distinct");
    let list = api
        .call(Method::GET, "/api/v1/namespaces/ns/serviceaccounts", None)
        .await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 64);
    assert_eq!(
        list.body["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap(),
        *versions.iter().max().unwrap()
    );
}

#[tokio::test]
async fn discovery_for_kubectl() {
    let api = Api::new();
    let v1 = api.call(Method::GET, "/api/v1", None).await;
    let names: Vec<&str> = v1.body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"serviceaccounts/token"));
    let aggregated = api
        .raw(
            Method::GET,
            "/apis",
            None,
            &[(
                "accept",
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
            )],
        )
        .await;
    assert_eq!(
        aggregated.body["kind"], "APIGroupList",
        "the legacy form answers an aggregated-discovery request"
    );
    assert_eq!(
        api.call(Method::GET, "/version", None).await.body["gitVersion"],
        "v1.37.0-tokenrequest"
    );
}

#[tokio::test]
async fn secret_string_data_is_merged_into_data_and_never_stored() {
    let api = Api::new();
    api.create("/api/v1/namespaces", json!({"metadata": {"name": "ns"}}))
        .await;
    // "both" is in data and stringData: stringData wins (Convert_v1_Secret_To_core_Secret).
    let created = api
        .create(
            "/api/v1/namespaces/ns/secrets",
            json!({"metadata": {"name": "s"}, "data": {"kept": "a2VwdA==", "both": "b2xk"},
                   "stringData": {"both": "new", "plain": "text"}}),
        )
        .await;
    let read = api.call(Method::GET, "/api/v1/namespaces/ns/secrets/s", None).await;
    for secret in [&created, &read.body] {
        assert_eq!(
            secret["data"],
            json!({"both": "bmV3", "kept": "a2VwdA==", "plain": "dGV4dA=="}),
            "{secret}"
        );
        assert!(secret.get("stringData").is_none(), "{secret}");
        assert_eq!(secret["type"], "Opaque");
    }
    // The field manager records what was stored: data's keys and the defaulted type, no stringData.
    assert_eq!(
        created["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"f:data": {".": {}, "f:both": {}, "f:kept": {}, "f:plain": {}}, "f:type": {}})
    );
}

#[tokio::test]
async fn delete_options_are_validated_and_preconditions_hold() {
    let api = Api::new();
    api.fixture().await;
    let path = "/api/v1/namespaces/ns/secrets/s";
    // Validated before the object is looked up (checked against kube-apiserver v1.37.1 by the differential).
    let reply = api
        .call(
            Method::DELETE,
            "/api/v1/namespaces/ns/secrets/none",
            Some(json!({"propagationPolicy": "Bogus"})),
        )
        .await;
    assert_eq!(
        (reply.status, reply.message()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"Bogus\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
        )
    );
    let version = api.call(Method::GET, path, None).await.body["metadata"]["resourceVersion"].clone();
    let reply = api
        .call(
            Method::DELETE,
            path,
            Some(json!({"preconditions": {"resourceVersion": "1"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(
        reply.message(),
        format!(
            "Operation cannot be fulfilled on secrets \"s\": Precondition failed: ResourceVersion in precondition: 1, ResourceVersion in object meta: {}",
            version.as_str().unwrap()
        )
    );
    let reply = api
        .call(
            Method::DELETE,
            path,
            Some(json!({"propagationPolicy": "Background", "gracePeriodSeconds": 0, "preconditions": {"resourceVersion": version}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}
