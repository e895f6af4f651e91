//! `POST .../serviceaccounts/{name}/token` against the router, one test per SPEC.md rule (named after its id), in
//! kube-apiserver's order of evaluation.

mod support;

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::json;
use support::{Api, ISSUER, claims, header, seconds};

#[tokio::test]
async fn r1_created_with_request_as_used() {
    let api = Api::new();
    let f = api.fixture().await;
    let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "metadata": {"labels": {"a": "b"}, "annotations": {"x": "y"}},
        "spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web"}},
        "status": {"token": "client-supplied"}});
    let reply = api.token_request("sa", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert!(reply.warnings().is_empty(), "an ordinary request carries no Warning");
    let b = &reply.body;
    assert_eq!(b["kind"], "TokenRequest");
    assert_eq!(b["apiVersion"], "authentication.k8s.io/v1");
    assert_eq!(b["metadata"]["name"], "sa");
    assert_eq!(b["metadata"]["namespace"], "ns");
    assert_eq!(b["metadata"]["uid"], f.sa_uid.as_str());
    assert_eq!(b["metadata"]["labels"], json!({"a": "b"}));
    assert_eq!(b["metadata"]["annotations"], json!({"x": "y"}));
    assert_eq!(b["spec"]["audiences"], json!([ISSUER]));
    assert_eq!(b["spec"]["expirationSeconds"], 3600);
    assert_eq!(
        b["spec"]["boundObjectRef"],
        json!({"kind": "Pod", "apiVersion": "v1", "name": "web"}),
        "uid not filled in"
    );
    assert_ne!(reply.token(), "client-supplied");
    // kube-apiserver records what the client set (observed/02-create-labels-status-echo.txt).
    let managed = &b["metadata"]["managedFields"][0];
    assert_eq!(
        (managed["operation"].as_str(), managed["subresource"].as_str()),
        (Some("Update"), Some("token"))
    );
    assert_eq!(managed["fieldsV1"]["f:spec"]["f:expirationSeconds"], json!({}));
    assert_eq!(
        managed["fieldsV1"]["f:metadata"]["f:labels"],
        json!({".": {}, "f:a": {}})
    );
    assert!(b["status"]["expirationTimestamp"].is_string());
    // Nothing is stored: the service account list is unchanged.
    let list = api
        .call(Method::GET, "/api/v1/namespaces/ns/serviceaccounts", None)
        .await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn r2_name_mismatch_invalid() {
    let api = Api::new();
    api.fixture().await;
    let reply = api.token_request("sa", json!({"metadata": {"name": "other"}})).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.message(),
        "TokenRequest.authentication.k8s.io \"sa\" is invalid: metadata.name: Invalid value: \"other\": must match the service account name if specified"
    );
}

#[tokio::test]
async fn r2_namespace_mismatch_bad_request() {
    let api = Api::new();
    api.fixture().await;
    let reply = api
        .token_request("sa", json!({"metadata": {"namespace": "elsewhere"}}))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.message(),
        "the namespace of the provided object does not match the namespace sent on the request"
    );
}

#[tokio::test]
async fn r3_missing_service_account_and_namespace() {
    let api = Api::new();
    api.fixture().await;
    let reply = api.token_request("ghost", json!({})).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.body["details"],
        json!({"kind": "serviceaccounts", "name": "ghost"})
    );
    assert_eq!(reply.message(), "serviceaccounts \"ghost\" not found");
    let reply = api
        .call(
            Method::POST,
            "/api/v1/namespaces/nowhere/serviceaccounts/sa/token",
            Some(json!({})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.message(), "namespaces \"nowhere\" not found");
}

#[tokio::test]
async fn r4_default_expiration_and_explicit_zero() {
    let api = Api::new();
    api.fixture().await;
    let reply = api
        .token_request("sa", json!({"spec": {"expirationSeconds": null}}))
        .await;
    assert_eq!(reply.body["spec"]["expirationSeconds"], 3600);
    let c = claims(&reply.token());
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 3600);
    let reply = api.token_request("sa", json!({"spec": {"expirationSeconds": 0}})).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn r5_min_expiration_422() {
    let api = Api::new();
    api.fixture().await;
    let reply = api
        .token_request("sa", json!({"spec": {"expirationSeconds": 599}}))
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply
            .message()
            .ends_with("may not specify a duration less than 10 minutes"),
        "{}",
        reply.message()
    );
    let reply = api
        .token_request("sa", json!({"spec": {"expirationSeconds": 600}}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
}

#[tokio::test]
async fn r6_max_bound_checked_before_clamp() {
    let api = Api::with(|c| c.max_token_expiration = Some(Duration::from_secs(86_400)));
    api.fixture().await;
    let reply = api
        .token_request("sa", json!({"spec": {"expirationSeconds": 4_294_967_297_i64}}))
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply
            .message()
            .ends_with("may not specify a duration larger than 2^32 seconds")
    );
    let reply = api
        .token_request("sa", json!({"spec": {"expirationSeconds": 4_294_967_296_i64}}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "2^32 is valid (and clamped)");
}

#[tokio::test]
async fn r7_invalid_status_layout() {
    let api = Api::new();
    api.fixture().await;
    let reply = api
        .token_request("sa", json!({"spec": {"expirationSeconds": 60}}))
        .await;
    assert_eq!(
        reply.body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes",
            "reason": "Invalid", "code": 422,
            "details": {"group": "authentication.k8s.io", "kind": "TokenRequest", "causes": [
                {"reason": "FieldValueInvalid", "field": "spec.expirationSeconds",
                 "message": "Invalid value: 60: may not specify a duration less than 10 minutes"}]}})
    );
}

#[tokio::test]
async fn r8_clamp_with_warning() {
    let api = Api::with(|c| c.max_token_expiration = Some(Duration::from_secs(7200)));
    api.fixture().await;
    let reply = api
        .token_request("sa", json!({"spec": {"expirationSeconds": 86_400}}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["spec"]["expirationSeconds"], 7200);
    assert_eq!(
        reply.warnings(),
        ["299 - \"requested expiration of 86400 seconds shortened to 7200 seconds\""]
    );
    let c = claims(&reply.token());
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 7200);
    let within = api
        .token_request("sa", json!({"spec": {"expirationSeconds": 3600}}))
        .await;
    assert!(within.warnings().is_empty(), "no warning within the max");
}

fn pod_bound() -> serde_json::Value {
    json!({"kind": "Pod", "apiVersion": "v1", "name": "web"})
}

#[tokio::test]
async fn r9_extension_for_pod_bound_3607() {
    let api = Api::new();
    api.fixture().await;
    let reply = api
        .token_request(
            "sa",
            json!({"spec": {"expirationSeconds": 3607, "boundObjectRef": pod_bound()}}),
        )
        .await;
    let c = claims(&reply.token());
    let iat = c["iat"].as_i64().unwrap();
    assert_eq!(c["exp"].as_i64().unwrap() - iat, 31_536_000);
    assert_eq!(c["kubernetes.io"]["warnafter"].as_i64().unwrap() - iat, 3607);
    assert_eq!(reply.body["spec"]["expirationSeconds"], 3607);
    assert_eq!(
        seconds(&reply.body["status"]["expirationTimestamp"]) - seconds(&reply.body["metadata"]["creationTimestamp"]),
        3607
    );
}

#[tokio::test]
async fn r9_no_extension_for_foreign_audience_secret_or_unbound() {
    let api = Api::new();
    api.fixture().await;
    for spec in [
        json!({"expirationSeconds": 3607, "boundObjectRef": pod_bound(), "audiences": ["vault"]}),
        json!({"expirationSeconds": 3607, "boundObjectRef": {"kind": "Secret", "apiVersion": "v1", "name": "s"}}),
        json!({"expirationSeconds": 3607}),
        json!({"expirationSeconds": 3608, "boundObjectRef": pod_bound()}),
    ] {
        let reply = api.token_request("sa", json!({"spec": spec})).await;
        let c = claims(&reply.token());
        assert_eq!(
            c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
            spec["expirationSeconds"].as_i64().unwrap(),
            "{spec}"
        );
        assert!(c["kubernetes.io"]["warnafter"].is_null(), "{spec}");
    }
}

#[tokio::test]
async fn r9_extension_off_or_prevented_by_max_3600() {
    for api in [
        Api::with(|c| c.extend_token_expiration = false),
        Api::with(|c| c.max_token_expiration = Some(Duration::from_secs(3600))),
    ] {
        api.fixture().await;
        let reply = api
            .token_request(
                "sa",
                json!({"spec": {"expirationSeconds": 3607, "boundObjectRef": pod_bound()}}),
            )
            .await;
        let c = claims(&reply.token());
        assert!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap() <= 3607);
        assert!(c["kubernetes.io"]["warnafter"].is_null());
    }
    let larger_max = Api::with(|c| c.max_token_expiration = Some(Duration::from_secs(7200)));
    larger_max.fixture().await;
    let reply = larger_max
        .token_request(
            "sa",
            json!({"spec": {"expirationSeconds": 3607, "boundObjectRef": pod_bound()}}),
        )
        .await;
    let c = claims(&reply.token());
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        31_536_000,
        "a larger max does not limit it"
    );
}

#[tokio::test]
async fn r10_timestamps_bracket_claims() {
    let api = Api::new();
    api.fixture().await;
    let reply = api
        .token_request("sa", json!({"spec": {"expirationSeconds": 1800}}))
        .await;
    let c = claims(&reply.token());
    let created = seconds(&reply.body["metadata"]["creationTimestamp"]);
    let expires = seconds(&reply.body["status"]["expirationTimestamp"]);
    assert!(created <= c["iat"].as_i64().unwrap() && c["iat"].as_i64().unwrap() - created <= 1);
    assert!(expires <= c["exp"].as_i64().unwrap() && c["exp"].as_i64().unwrap() - expires <= 1);
}

#[tokio::test]
async fn r11_default_audiences_are_api_audiences() {
    let api = Api::with(|c| c.api_audiences = Some(vec!["api".into(), "also".into()]));
    api.fixture().await;
    for spec in [json!({}), json!({"audiences": []})] {
        let reply = api.token_request("sa", json!({"spec": spec})).await;
        assert_eq!(reply.body["spec"]["audiences"], json!(["api", "also"]));
        assert_eq!(claims(&reply.token())["aud"], json!(["api", "also"]));
    }
}

#[tokio::test]
async fn r12_audiences_kept_as_given() {
    let api = Api::new();
    api.fixture().await;
    let reply = api
        .token_request("sa", json!({"spec": {"audiences": ["b", "a", "b", ""]}}))
        .await;
    assert_eq!(claims(&reply.token())["aud"], json!(["b", "a", "b", ""]));
    let reply = api.token_request("sa", json!({"spec": {"audiences": [""]}})).await;
    assert_eq!(claims(&reply.token())["aud"], json!([""]), "[\"\"] is not defaulted");
}

#[tokio::test]
async fn r13_kinds_and_group_check() {
    let api = Api::new();
    api.fixture().await;
    for api_version in ["v1", "", "v2"] {
        let reply = api
            .token_request(
                "sa",
                json!({"spec": {"boundObjectRef": {"kind": "Secret", "apiVersion": api_version, "name": "s"}}}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{api_version}: {}", reply.body);
    }
    let reply = api
        .token_request(
            "sa",
            json!({"spec": {"boundObjectRef": {"kind": "ConfigMap", "apiVersion": "v1", "name": "x"}}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.message(),
        "cannot bind token to object of type /v1, Kind=ConfigMap"
    );
    let reply = api
        .token_request(
            "sa",
            json!({"spec": {"boundObjectRef": {"kind": "pod", "apiVersion": "v1", "name": "web"}}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "kind is case-sensitive");
    let reply = api
        .token_request(
            "sa",
            json!({"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "apps/v1", "name": "web"}}}),
        )
        .await;
    assert_eq!(reply.message(), "cannot bind token to object of type apps/v1, Kind=Pod");
    let reply = api
        .token_request(
            "sa",
            json!({"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": ""}}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.message(), "Name parameter required.");
}

#[tokio::test]
async fn r13_validation_wins_over_kind() {
    let api = Api::new();
    api.fixture().await;
    let reply = api.token_request("sa", json!({"spec": {"expirationSeconds": 60, "boundObjectRef": {"kind": "ConfigMap", "apiVersion": "v1", "name": "x"}}})).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn r14_bound_object_not_found() {
    let api = Api::new();
    api.fixture().await;
    for (kind, message) in [
        ("Pod", "pods \"nope\" not found"),
        ("Secret", "secrets \"nope\" not found"),
        ("Node", "nodes \"nope\" not found"),
    ] {
        let reply = api
            .token_request(
                "sa",
                json!({"spec": {"boundObjectRef": {"kind": kind, "apiVersion": "v1", "name": "nope"}}}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert_eq!(reply.message(), message);
    }
}

#[tokio::test]
async fn r15_pod_of_another_service_account() {
    let api = Api::new();
    api.fixture().await;
    let reply = api
        .token_request(
            "sa",
            json!({"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "stranger"}}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.message(),
        "cannot bind token for serviceaccount \"sa\" to pod running with different serviceaccount name."
    );
}

#[tokio::test]
async fn r16_uid_mismatch_conflict() {
    let api = Api::new();
    let f = api.fixture().await;
    for (kind, name) in [("Pod", "web"), ("Secret", "s"), ("Node", "node1")] {
        let reply = api
            .token_request(
                "sa",
                json!({"spec": {"boundObjectRef": {"kind": kind, "apiVersion": "v1", "name": name, "uid": "wrong"}}}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CONFLICT);
        assert_eq!(reply.body["details"], json!({"kind": kind, "name": name}));
        assert_eq!(
            reply.message(),
            format!(
                "Operation cannot be fulfilled on {kind} \"{name}\": the UID in the bound object reference (wrong) does not match the UID in record. The object might have been deleted and then recreated"
            )
        );
    }
    let reply = api
        .token_request(
            "sa",
            json!({"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web", "uid": f.pod_uid}}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
}

#[tokio::test]
async fn r17_node_claims_for_pod_binding() {
    let api = Api::new();
    let f = api.fixture().await;
    let reply = api
        .token_request("sa", json!({"spec": {"boundObjectRef": pod_bound()}}))
        .await;
    let private = &claims(&reply.token())["kubernetes.io"];
    assert_eq!(private["pod"], json!({"name": "web", "uid": f.pod_uid}));
    assert_eq!(private["node"], json!({"name": "node1", "uid": f.node_uid}));
    let reply = api
        .token_request(
            "sa",
            json!({"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "lonely"}}}),
        )
        .await;
    assert_eq!(
        claims(&reply.token())["kubernetes.io"]["node"],
        json!({"name": "ghost-node"}),
        "name only without a Node"
    );
}

#[tokio::test]
async fn r18_header_alg_and_kid() {
    for (alg, api) in [
        (
            "RS256",
            Api::with(|c| c.signing_alg = tokenrequest_types::policy::SigningAlg::RS256),
        ),
        (
            "ES256",
            Api::with(|c| c.signing_alg = tokenrequest_types::policy::SigningAlg::ES256),
        ),
    ] {
        api.fixture().await;
        let token = api.token_request("sa", json!({})).await.token();
        let h = header(&token);
        assert_eq!(h.as_object().unwrap().len(), 2, "{h}");
        assert_eq!(h["alg"], alg);
        let jwks = api.call(Method::GET, "/openid/v1/jwks", None).await;
        assert_eq!(h["kid"], jwks.body["keys"][0]["kid"]);
    }
}

#[tokio::test]
async fn r19_claims_layout() {
    let api = Api::new();
    let f = api.fixture().await;
    let reply = api
        .token_request(
            "sa",
            json!({"spec": {"boundObjectRef": {"kind": "Secret", "apiVersion": "v1", "name": "s"}}}),
        )
        .await;
    let c = claims(&reply.token());
    assert_eq!(c["iss"], ISSUER);
    assert_eq!(c["sub"], "system:serviceaccount:ns:sa");
    assert_eq!(c["aud"], json!([ISSUER]));
    assert_eq!(c["nbf"], c["iat"]);
    assert!(uuid::Uuid::parse_str(c["jti"].as_str().unwrap()).is_ok());
    assert_eq!(
        c["kubernetes.io"],
        json!({"namespace": "ns", "serviceaccount": {"name": "sa", "uid": f.sa_uid}, "secret": {"name": "s", "uid": f.secret_uid}})
    );
    let reply = api
        .token_request(
            "sa",
            json!({"spec": {"boundObjectRef": {"kind": "Node", "apiVersion": "v1", "name": "node1"}}}),
        )
        .await;
    assert_eq!(
        claims(&reply.token())["kubernetes.io"]["node"],
        json!({"name": "node1", "uid": f.node_uid})
    );
}

#[tokio::test]
async fn r20_fresh_jti_under_concurrency() {
    let api = std::sync::Arc::new(Api::new());
    api.fixture().await;
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let api = api.clone();
        tasks.push(tokio::spawn(
            async move { api.token_request("sa", json!({})).await.token() },
        ));
    }
    let mut tokens = std::collections::HashSet::new();
    let mut jtis = std::collections::HashSet::new();
    for task in tasks {
        let token = task.await.unwrap();
        jtis.insert(claims(&token)["jti"].as_str().unwrap().to_owned());
        tokens.insert(token);
    }
    assert_eq!((tokens.len(), jtis.len()), (32, 32));
}

#[tokio::test]
async fn r28_dry_run_mints_a_real_token() {
    let api = Api::new();
    api.fixture().await;
    let reply = api
        .call(
            Method::POST,
            "/api/v1/namespaces/ns/serviceaccounts/sa/token?dryRun=All&fieldManager=x&pretty=true",
            Some(json!({})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let review = api.review(&reply.token(), &[]).await;
    assert_eq!(review.body["status"]["authenticated"], true);
    let reply = api
        .call(
            Method::POST,
            "/api/v1/namespaces/ns/serviceaccounts/sa/token?dryRun=Maybe",
            Some(json!({})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply
            .message()
            .starts_with("CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: "),
        "{}",
        reply.message()
    );
}

#[tokio::test]
async fn r28_unknown_fields_warn_or_strict_400() {
    let api = Api::new();
    api.fixture().await;
    let reply = api.token_request("sa", json!({"spec": {"foo": 1}})).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.warnings(), ["299 - \"unknown field \\\"spec.foo\\\"\""]);
    let reply = api
        .call(
            Method::POST,
            "/api/v1/namespaces/ns/serviceaccounts/sa/token?fieldValidation=Strict",
            Some(json!({"spec": {"foo": 1}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.message(),
        "TokenRequest in version \"v1\" cannot be handled as a TokenRequest: strict decoding error: unknown field \"spec.foo\""
    );
    let reply = api
        .call(
            Method::POST,
            "/api/v1/namespaces/ns/serviceaccounts/sa/token?fieldValidation=Ignore",
            Some(json!({"spec": {"foo": 1}})),
        )
        .await;
    assert!(reply.warnings().is_empty());
    // The decoder's warnings go out with an error too (kube-apiserver v1.37.1, differential D14).
    let reply = api.token_request("nobody", json!({"metadata": {"foo": "x"}})).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.warnings(), ["299 - \"unknown field \\\"metadata.foo\\\"\""]);
}

#[tokio::test]
async fn r29_service_account_uid_mismatch_conflict() {
    let api = Api::new();
    let f = api.fixture().await;
    let reply = api.token_request("sa", json!({"metadata": {"uid": "not-it"}})).await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(
        reply.message(),
        format!(
            "Operation cannot be fulfilled on TokenRequest.authentication.k8s.io \"sa\": the UID in the token request (not-it) does not match the UID of the service account ({})",
            f.sa_uid
        )
    );
    let reply = api.token_request("sa", json!({"metadata": {"uid": f.sa_uid}})).await;
    assert_eq!(reply.status, StatusCode::CREATED);
}

#[tokio::test]
async fn r30_objects_being_deleted_still_get_tokens() {
    // Deletion is immediate here (nothing would finish a graceful one), so there is no "being deleted" state to
    // refuse; what R30 forbids is a deletionTimestamp check, and the handler has none. This pins that a token for a
    // service account re-created under the same name is issued for the new uid.
    let api = Api::new();
    api.fixture().await;
    api.call(Method::DELETE, "/api/v1/namespaces/ns/serviceaccounts/sa", None)
        .await;
    let sa = api
        .create(
            "/api/v1/namespaces/ns/serviceaccounts",
            json!({"metadata": {"name": "sa"}}),
        )
        .await;
    let reply = api.token_request("sa", json!({})).await;
    assert_eq!(
        claims(&reply.token())["kubernetes.io"]["serviceaccount"]["uid"],
        sa["metadata"]["uid"]
    );
}
