//! OIDC discovery and JWKS (R25), and R26: every issued token verifies with `jsonwebtoken` using nothing but the
//! served JWKS (no project code in the verification path).

mod support;

use http::{Method, StatusCode};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
use serde_json::json;
use support::{Api, ISSUER};
use tokenrequest_types::policy::SigningAlg;

#[tokio::test]
async fn r25_discovery_documents() {
    let api = Api::with(|c| {
        c.jwks_uri = Some("https://example.test/keys".into());
        c.signing_alg = SigningAlg::RS256;
    });
    api.fixture().await;
    let token = api.token_request("sa", json!({})).await.token();
    let reply = api
        .call_as(Some(&token), Method::GET, "/.well-known/openid-configuration", None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(reply.headers["cache-control"], "public, max-age=3600");
    assert_eq!(
        reply.body,
        json!({"issuer": ISSUER, "jwks_uri": "https://example.test/keys", "response_types_supported": ["id_token"],
               "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"]})
    );
    let reply = api.call_as(Some(&token), Method::GET, "/openid/v1/jwks", None).await;
    assert_eq!(reply.headers["content-type"], "application/jwk-set+json");
    assert_eq!(reply.headers["cache-control"], "public, max-age=3600");
    let keys = reply.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let mut fields: Vec<&str> = keys[0].as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["alg", "e", "kid", "kty", "n", "use"]);
    assert_eq!(keys[0]["use"], "sig");
    // kube-apiserver v1.37.1 refuses `Accept: application/json` on the JWKS (observed/81b-jwks-accept-json.txt).
    let json_only = api
        .raw(Method::GET, "/openid/v1/jwks", None, &[("accept", "application/json")])
        .await;
    assert_eq!(json_only.status, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(
        json_only.message(),
        "406: Not Acceptable\n\nAvailable representations: application/jwk-set+json"
    );
    let jwk_set = api
        .raw(
            Method::GET,
            "/openid/v1/jwks",
            None,
            &[("accept", "application/jwk-set+json")],
        )
        .await;
    assert_eq!(jwk_set.status, StatusCode::OK);
    let anonymous = api.call_as(None, Method::GET, "/openid/v1/jwks", None).await;
    assert_eq!(
        anonymous.status,
        StatusCode::FORBIDDEN,
        "not bound to anonymous by default"
    );
}

#[tokio::test]
async fn r25_default_jwks_uri_and_http_issuer() {
    let api = Api::new();
    let reply = api.call(Method::GET, "/.well-known/openid-configuration", None).await;
    assert_eq!(
        reply.body["jwks_uri"], "https://127.0.0.1:0/openid/v1/jwks",
        "the server's address, never the issuer's"
    );
    let plain = Api::with(|c| c.issuer = "http://not-https".into());
    assert_eq!(
        plain.call(Method::GET, "/openid/v1/jwks", None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn r26_tokens_verify_with_the_served_jwks_alone() {
    for (alg, api) in [
        (
            jsonwebtoken::Algorithm::RS256,
            Api::with(|c| c.signing_alg = SigningAlg::RS256),
        ),
        (
            jsonwebtoken::Algorithm::ES256,
            Api::with(|c| c.signing_alg = SigningAlg::ES256),
        ),
    ] {
        api.fixture().await;
        let discovery = api
            .call(Method::GET, "/.well-known/openid-configuration", None)
            .await
            .body;
        let jwks: JwkSet = serde_json::from_value(api.call(Method::GET, "/openid/v1/jwks", None).await.body).unwrap();
        for body in [
            json!({}),
            json!({"spec": {"audiences": ["vault"], "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web"}}}),
            json!({"spec": {"expirationSeconds": 3607, "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web"}}}),
        ] {
            let token = api.token_request("sa", body).await.token();
            let kid = decode_header(&token).unwrap().kid.unwrap();
            let jwk = jwks.find(&kid).expect("the token's kid is in the JWKS");
            let key = DecodingKey::from_jwk(jwk).unwrap();
            let mut validation = Validation::new(alg);
            validation.set_issuer(&[discovery["issuer"].as_str().unwrap()]);
            validation.validate_aud = false;
            let data = decode::<serde_json::Value>(&token, &key, &validation).expect("verifies");
            assert_eq!(data.claims["iss"], discovery["issuer"]);
        }
    }
}

/// kube-apiserver's `WithCacheControl`: answers without their own `Cache-Control` say `no-cache, private`, errors
/// included; OIDC discovery keeps its `public, max-age=3600` (checked above).
#[tokio::test]
async fn cache_control_defaults_to_no_cache_private() {
    let api = Api::with(|_| {});
    let version = api.call_as(None, Method::GET, "/version", None).await;
    assert_eq!(version.status, StatusCode::OK);
    assert_eq!(version.headers["cache-control"], "no-cache, private");
    let unauthorized = api
        .call_as(Some("not-a-token"), Method::GET, "/api/v1/namespaces", None)
        .await;
    assert_eq!(unauthorized.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unauthorized.headers["cache-control"], "no-cache, private");
}
