//! PATCH of the stored kinds as kubectl, Terraform and client-go send it: the three patch types, the update rules
//! (resourceVersion precondition, what each kind keeps or refuses), managedFields, and the errors of bad patches.

mod support;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Api, Reply};

const MERGE: &str = "application/merge-patch+json";
const JSON: &str = "application/json-patch+json";
const STRATEGIC: &str = "application/strategic-merge-patch+json";

async fn patch(api: &Api, path: &str, content_type: &str, body: Value) -> Reply {
    let query = if path.contains('?') { "&" } else { "?" };
    api.raw(
        Method::PATCH,
        &format!("{path}{query}fieldManager=tester"),
        Some(body.to_string().into_bytes()),
        &[("content-type", content_type)],
    )
    .await
}

#[tokio::test]
async fn each_patch_type_updates_the_object_and_its_resource_version() {
    let api = Api::new();
    api.fixture().await;
    let path = "/api/v1/namespaces/ns/pods/web";
    let before = api.call(Method::GET, path, None).await.body;

    let labelled = patch(&api, path, MERGE, json!({"metadata": {"labels": {"tier": "front"}}})).await;
    assert_eq!(labelled.status, StatusCode::OK, "{}", labelled.body);
    assert_eq!(labelled.body["metadata"]["labels"]["tier"], "front");
    let version = |v: &Value| {
        v["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert!(version(&labelled.body) > version(&before));
    assert_eq!(labelled.body["metadata"]["uid"], before["metadata"]["uid"]);
    assert_eq!(labelled.body["status"], before["status"], "status is the kubelet's");

    // Content-Type parameters are ignored, as kube-apiserver's patcher strips them.
    let with_charset = api
        .raw(
            Method::PATCH,
            path,
            Some(br#"{"metadata":{"labels":{"charset":"ok"}}}"#.to_vec()),
            &[("content-type", "application/merge-patch+json; charset=utf-8")],
        )
        .await;
    assert_eq!(with_charset.status, StatusCode::OK, "{}", with_charset.body);

    let annotated = patch(
        &api,
        path,
        JSON,
        json!([{"op": "add", "path": "/metadata/annotations", "value": {"note": "x"}}]),
    )
    .await;
    assert_eq!(annotated.status, StatusCode::OK, "{}", annotated.body);
    assert_eq!(annotated.body["metadata"]["annotations"], json!({"note": "x"}));

    let image = patch(
        &api,
        path,
        STRATEGIC,
        json!({"spec": {"containers": [{"name": "c", "image": "busybox:2"}]}}),
    )
    .await;
    assert_eq!(image.status, StatusCode::OK, "{}", image.body);
    let containers = image.body["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1, "merged by name, not replaced: {containers:?}");
    assert_eq!(containers[0]["image"], "busybox:2");
    assert_eq!(
        containers[0]["imagePullPolicy"],
        before["spec"]["containers"][0]["imagePullPolicy"]
    );

    // The patcher is recorded as the manager of what it changed; the creator keeps the rest.
    let managed = image.body["metadata"]["managedFields"].as_array().unwrap();
    let tester = managed
        .iter()
        .find(|e| e["manager"] == "tester")
        .expect("an entry for the patcher");
    assert_eq!(tester["operation"], "Update");
    assert_eq!(tester["fieldsV1"]["f:metadata"]["f:labels"]["f:tier"], json!({}));
    assert!(tester["fieldsV1"]["f:spec"]["f:containers"].is_object(), "{tester}");
    let stored = api.call(Method::GET, path, None).await.body;
    assert_eq!(stored, image.body);
}

#[tokio::test]
async fn update_rules_of_the_kinds() {
    let api = Api::new();
    api.fixture().await;
    // A pod's spec is fixed but for images and a few fields (ValidatePodUpdate).
    let reply = patch(
        &api,
        "/api/v1/namespaces/ns/pods/web",
        MERGE,
        json!({"spec": {"nodeName": "elsewhere"}}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    assert_eq!(reply.body["details"]["causes"][0]["field"], "spec");
    // An immutable secret keeps its data.
    let secret = "/api/v1/namespaces/ns/secrets/s";
    assert_eq!(
        patch(&api, secret, MERGE, json!({"immutable": true})).await.status,
        StatusCode::OK
    );
    let reply = patch(&api, secret, MERGE, json!({"data": {"k": "eA=="}})).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.message(),
        "Secret \"s\" is invalid: data: Forbidden: field is immutable when `immutable` is set"
    );
    // A namespace's finalizers and status do not change through the object.
    let ns = patch(
        &api,
        "/api/v1/namespaces/ns",
        MERGE,
        json!({"spec": {"finalizers": []}, "metadata": {"labels": {"team": "a"}}}),
    )
    .await;
    assert_eq!(ns.status, StatusCode::OK, "{}", ns.body);
    assert_eq!(ns.body["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(
        ns.body["metadata"]["labels"],
        json!({"kubernetes.io/metadata.name": "ns", "team": "a"})
    );
    // A stale resourceVersion is a conflict.
    let reply = patch(
        &api,
        "/api/v1/namespaces/ns/serviceaccounts/sa",
        MERGE,
        json!({"metadata": {"resourceVersion": "1", "labels": {"x": "y"}}}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(
        reply.message(),
        "Operation cannot be fulfilled on serviceaccounts \"sa\": the object has been modified; please apply your changes to the latest version and try again"
    );
}

#[tokio::test]
async fn bad_patches_change_nothing() {
    let api = Api::new();
    api.fixture().await;
    let path = "/api/v1/namespaces/ns/serviceaccounts/sa";
    let before = api.call(Method::GET, path, None).await.body;
    let cases = [
        (
            JSON,
            "[{\"op\": \"remove\", \"path\": \"/spec/none\"}]",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (JSON, "{\"op\": \"add\"}", StatusCode::BAD_REQUEST),
        (MERGE, "not json", StatusCode::BAD_REQUEST),
        (MERGE, "{\"metadata\": {\"name\": \"other\"}}", StatusCode::BAD_REQUEST),
        (
            MERGE,
            "{\"metadata\": {\"uid\": \"00000000-0000-0000-0000-000000000000\"}}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "application/apply-patch+yaml",
            "metadata: {}",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        ("application/json", "{}", StatusCode::UNSUPPORTED_MEDIA_TYPE),
    ];
    for (content_type, body, expected) in cases {
        let reply = api
            .raw(
                Method::PATCH,
                path,
                Some(body.as_bytes().to_vec()),
                &[("content-type", content_type)],
            )
            .await;
        assert_eq!(reply.status, expected, "{content_type} {body}: {}", reply.body);
        assert_eq!(reply.body["kind"], "Status", "{content_type} {body}");
    }
    let reply = patch(&api, &format!("{path}?dryRun=Bogus"), MERGE, json!({})).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply
            .message()
            .starts_with("PatchOptions.meta.k8s.io \"\" is invalid: dryRun"),
        "{}",
        reply.message()
    );
    let dry = patch(
        &api,
        &format!("{path}?dryRun=All"),
        MERGE,
        json!({"metadata": {"labels": {"dry": "run"}}}),
    )
    .await;
    assert_eq!(dry.status, StatusCode::OK);
    assert_eq!(dry.body["metadata"]["labels"]["dry"], "run");
    let reply = patch(&api, "/api/v1/namespaces/ns/serviceaccounts/nobody", MERGE, json!({})).await;
    assert_eq!(
        (reply.status, reply.message()),
        (StatusCode::NOT_FOUND, "serviceaccounts \"nobody\" not found")
    );
    assert_eq!(api.call(Method::GET, path, None).await.body, before);
}
