//! Security defaults of the embedded server, one test each: TLS only, loopback by default, a random admin token
//! compared in constant time, and service-account tokens refused (401 on the API, `authenticated: false` on
//! TokenReview) when they are unsigned (`alg: none`), HMAC-signed with the public key (the RS/HS confusion attack),
//! name another key (`kid`), come from a foreign issuer, have expired, or are not valid yet.
//!
//! The forgeries that need a *valid* signature are signed with `jsonwebtoken` using the server's own signing key:
//! the test generates a throwaway key and hands it to the server (`ServerConfig::signing_key_pem`), so a refusal
//! proves the claims check, not a signature failure. A re-signed copy of a genuine token is accepted (the control),
//! which shows the forging itself is sound.
//!
//! Everything runs through the router (`tower::ServiceExt::oneshot`) except TLS, which needs the socket.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{Method, Request, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokenrequest_server::{AppState, ServerConfig, router};
use tokenrequest_types::policy::SigningAlg;
use tower::ServiceExt as _;

/// A server state with a signing key the test also holds, a namespace `sec` and a service account `sa` in it.
struct Fixture {
    app: Router,
    admin: String,
    /// PKCS#8 PEM of the server's signing key.
    key_pem: String,
    alg: Algorithm,
    /// A genuine token for `sec/sa`, from the server.
    token: String,
}

impl Fixture {
    async fn new(alg: SigningAlg) -> Self {
        let key_pem = throwaway_key_pem(alg);
        let mut config = ServerConfig::loopback();
        config.signing_key_pem = Some(key_pem.clone());
        let state = AppState::new(&config).expect("server state");
        let admin = state.admin_token().expose().to_owned();
        let app = router(state);
        let mut fixture = Fixture {
            app,
            admin,
            key_pem,
            alg: match alg {
                SigningAlg::RS256 => Algorithm::RS256,
                SigningAlg::ES256 => Algorithm::ES256,
                SigningAlg::ES384 | SigningAlg::ES512 => unreachable!("these tests use RS256 and ES256 keys"),
            },
            token: String::new(),
        };
        let admin = fixture.admin.clone();
        let (code, _) = fixture
            .call(
                Method::POST,
                "/api/v1/namespaces",
                Some(&admin),
                json!({"metadata": {"name": "sec"}}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED);
        let (code, _) = fixture
            .call(
                Method::POST,
                "/api/v1/namespaces/sec/serviceaccounts",
                Some(&admin),
                json!({"metadata": {"name": "sa"}}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED);
        let (code, body) = fixture
            .call(
                Method::POST,
                "/api/v1/namespaces/sec/serviceaccounts/sa/token",
                Some(&admin),
                json!({"spec": {}}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED);
        fixture.token = body["status"]["token"].as_str().expect("a token").to_owned();
        fixture
    }

    async fn call(&self, method: Method, path: &str, bearer: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(Body::from(body.to_string())).expect("request");
        let response = self.app.clone().oneshot(request).await.expect("infallible");
        let code = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// The code of an API request authenticated by `token` (`GET /api` is allowed for every service account, so
    /// an accepted token gets 200 and a refused one 401).
    async fn api_code(&self, token: &str) -> StatusCode {
        self.call(Method::GET, "/api", Some(token), Value::Null).await.0
    }

    /// `status.authenticated` of a TokenReview of `token`, made by the admin.
    async fn reviewed(&self, token: &str) -> bool {
        let (code, body) = self
            .call(
                Method::POST,
                "/apis/authentication.k8s.io/v1/tokenreviews",
                Some(&self.admin),
                json!({"spec": {"token": token}}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "a TokenReview is always created");
        body["status"]["authenticated"].as_bool().unwrap_or(false)
    }

    /// Asserts that `token` is refused both ways; `what` names the forgery in failure messages (never the token).
    async fn assert_refused(&self, token: &str, what: &str) {
        assert_eq!(
            self.api_code(token).await,
            StatusCode::UNAUTHORIZED,
            "{what}: API access"
        );
        assert!(!self.reviewed(token).await, "{what}: TokenReview");
    }

    async fn assert_accepted(&self, token: &str, what: &str) {
        assert_eq!(self.api_code(token).await, StatusCode::OK, "{what}: API access");
        assert!(self.reviewed(token).await, "{what}: TokenReview");
    }

    fn header(&self) -> Value {
        part(&self.token, 0)
    }

    fn claims(&self) -> Value {
        part(&self.token, 1)
    }

    /// Signs `claims` under `header` with the server's own key (so only the claims or header can be at fault).
    fn sign(&self, header: &Value, claims: &Value) -> String {
        let key = match self.alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(self.key_pem.as_bytes()),
            _ => EncodingKey::from_ec_pem(self.key_pem.as_bytes()),
        }
        .expect("the throwaway key");
        let mut jws_header = Header::new(self.alg);
        jws_header.kid = header["kid"].as_str().map(str::to_owned);
        jsonwebtoken::encode(&jws_header, claims, &key).expect("signing")
    }
}

/// A fresh private key as PKCS#8 PEM: P-256 for ES256, RSA 2048 for RS256.
fn throwaway_key_pem(alg: SigningAlg) -> String {
    use aws_lc_rs::encoding::AsDer as _;
    let der = match alg {
        SigningAlg::ES384 | SigningAlg::ES512 => unreachable!("these tests use RS256 and ES256 keys"),
        SigningAlg::ES256 => {
            let key =
                aws_lc_rs::signature::EcdsaKeyPair::generate(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                    .expect("P-256 key");
            key.to_pkcs8v1().expect("PKCS#8").as_ref().to_vec()
        }
        SigningAlg::RS256 => {
            let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key");
            let der: aws_lc_rs::encoding::Pkcs8V1Der<'static> = key.as_der().expect("PKCS#8");
            der.as_ref().to_vec()
        }
    };
    pem("PRIVATE KEY", &der)
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

/// The decoded JSON of a token's header (0) or claims (1).
fn part(token: &str, index: usize) -> Value {
    let encoded = token.split('.').nth(index).expect("a JWT part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).expect("base64url")).expect("JSON")
}

fn encode(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

#[tokio::test]
async fn genuine_and_faithfully_resigned_tokens_are_accepted() {
    let f = Fixture::new(SigningAlg::ES256).await;
    f.assert_accepted(&f.token.clone(), "the issued token").await;
    // The control for every forgery below: our copy of the key signs tokens the server accepts.
    let resigned = f.sign(&f.header(), &f.claims());
    f.assert_accepted(&resigned, "re-signed claims").await;
}

#[tokio::test]
async fn alg_none_is_refused() {
    let f = Fixture::new(SigningAlg::ES256).await;
    let claims = encode(&f.claims());
    let signature = f.token.rsplit('.').next().expect("signature").to_owned();
    for alg in ["none", "None", "NONE"] {
        let header = encode(&json!({"alg": alg, "kid": f.header()["kid"]}));
        f.assert_refused(&format!("{header}.{claims}."), &format!("alg {alg}, empty signature"))
            .await;
        f.assert_refused(
            &format!("{header}.{claims}.{signature}"),
            &format!("alg {alg}, genuine signature"),
        )
        .await;
    }
}

/// The classic confusion: a verifier that picks the algorithm from the token would use the public key as an HMAC
/// secret. Every public form of the key (PEM, DER, JWKS text) is tried as the secret, for an RSA and an EC server.
#[tokio::test]
async fn hmac_signed_with_the_public_key_is_refused() {
    for alg in [SigningAlg::RS256, SigningAlg::ES256] {
        let f = Fixture::new(alg).await;
        let (code, jwks) = f
            .call(Method::GET, "/openid/v1/jwks", Some(&f.admin), Value::Null)
            .await;
        assert_eq!(code, StatusCode::OK);
        let spki_der = public_key_der(&f.key_pem, alg);
        let spki_pem = pem("PUBLIC KEY", &spki_der);
        let secrets: Vec<(&str, Vec<u8>)> = vec![
            ("SPKI PEM", spki_pem.clone().into_bytes()),
            ("SPKI PEM without newline", spki_pem.trim_end().as_bytes().to_vec()),
            ("SPKI DER", spki_der),
            ("JWKS JSON", jwks.to_string().into_bytes()),
            ("JWK JSON", jwks["keys"][0].to_string().into_bytes()),
        ];
        for (what, secret) in secrets {
            for hs in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                let mut header = Header::new(hs);
                header.kid = f.header()["kid"].as_str().map(str::to_owned);
                let forged =
                    jsonwebtoken::encode(&header, &f.claims(), &EncodingKey::from_secret(&secret)).expect("HMAC");
                f.assert_refused(&forged, &format!("{alg:?} server, {hs:?} with the {what}"))
                    .await;
            }
        }
    }
}

fn public_key_der(private_pem: &str, alg: SigningAlg) -> Vec<u8> {
    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::signature::KeyPair as _;
    let der = STANDARD
        .decode(
            private_pem
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .expect("PEM body");
    match alg {
        SigningAlg::ES384 | SigningAlg::ES512 => unreachable!("these tests use RS256 and ES256 keys"),
        SigningAlg::ES256 => {
            let key = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &der,
            )
            .expect("P-256 key");
            key.public_key().as_der().expect("SPKI").as_ref().to_vec()
        }
        SigningAlg::RS256 => {
            let key = aws_lc_rs::rsa::KeyPair::from_pkcs8(&der).expect("RSA key");
            key.public_key().as_der().expect("SPKI").as_ref().to_vec()
        }
    }
}

#[tokio::test]
async fn a_wrong_kid_is_refused_even_with_a_valid_signature() {
    let f = Fixture::new(SigningAlg::ES256).await;
    for kid in ["wrong", "", "../../etc/passwd"] {
        let forged = f.sign(&json!({"kid": kid}), &f.claims());
        f.assert_refused(&forged, &format!("kid {kid:?}")).await;
    }
}

#[tokio::test]
async fn a_foreign_issuer_is_refused_even_with_a_valid_signature() {
    let f = Fixture::new(SigningAlg::ES256).await;
    for issuer in [
        "https://evil.example",
        "https://kubernetes.default.svc.cluster.local/",
        "",
    ] {
        let mut claims = f.claims();
        claims["iss"] = json!(issuer);
        f.assert_refused(&f.sign(&f.header(), &claims), &format!("issuer {issuer:?}"))
            .await;
    }
}

#[tokio::test]
async fn expired_tokens_are_refused_beyond_the_leeway() {
    let f = Fixture::new(SigningAlg::ES256).await;
    let now = now();
    // Past the 60 s leeway by a margin, so a slow test machine cannot flip the verdict.
    for (ago, what) in [(3600, "an hour ago"), (120, "two minutes ago")] {
        let mut claims = f.claims();
        claims["exp"] = json!(now - ago);
        claims["iat"] = json!(now - ago - 600);
        claims["nbf"] = json!(now - ago - 600);
        f.assert_refused(&f.sign(&f.header(), &claims), &format!("expired {what}"))
            .await;
    }
}

#[tokio::test]
async fn tokens_not_valid_yet_are_refused_beyond_the_leeway() {
    let f = Fixture::new(SigningAlg::ES256).await;
    let now = now();
    let mut claims = f.claims();
    claims["nbf"] = json!(now + 3600);
    f.assert_refused(&f.sign(&f.header(), &claims), "nbf in an hour").await;
    let mut claims = f.claims();
    claims["iat"] = json!(now + 3600);
    claims["nbf"] = json!(now + 3600);
    f.assert_refused(&f.sign(&f.header(), &claims), "issued in an hour")
        .await;
}

#[tokio::test]
async fn tampered_and_foreign_signed_tokens_are_refused() {
    let f = Fixture::new(SigningAlg::ES256).await;
    let [header, _, signature]: [&str; 3] = f.token.split('.').collect::<Vec<_>>().try_into().expect("three parts");
    let mut claims = f.claims();
    claims["sub"] = json!("system:serviceaccount:kube-system:admin");
    f.assert_refused(
        &format!("{header}.{}.{signature}", encode(&claims)),
        "claims changed, signature kept",
    )
    .await;
    f.assert_refused(&format!("{header}.{}.", encode(&f.claims())), "signature removed")
        .await;
    // The same claims and kid, signed by a key the server does not have.
    let other = Fixture {
        key_pem: throwaway_key_pem(SigningAlg::ES256),
        ..f
    };
    let foreign = other.sign(&other.header(), &other.claims());
    other
        .assert_refused(&foreign, "signed by another key with the server's kid")
        .await;
}

#[tokio::test]
async fn admin_token_is_random_and_256_bits() {
    let a = AppState::new(&ServerConfig::loopback()).expect("state");
    let b = AppState::new(&ServerConfig::loopback()).expect("state");
    assert_ne!(
        a.admin_token().expose(),
        b.admin_token().expose(),
        "two servers, two admin tokens"
    );
    for state in [&a, &b] {
        let secret = URL_SAFE_NO_PAD.decode(state.admin_token().expose()).expect("base64url");
        assert!(secret.len() * 8 >= 256, "admin token carries {} bits", secret.len() * 8);
    }
}

#[tokio::test]
async fn admin_token_prefixes_and_near_misses_are_refused() {
    let f = Fixture::new(SigningAlg::ES256).await;
    let admin = f.admin.clone();
    let code = |token: String| {
        let f = &f;
        async move {
            f.call(Method::GET, "/api/v1/namespaces", Some(&token), Value::Null)
                .await
                .0
        }
    };
    assert_eq!(code(admin.clone()).await, StatusCode::OK, "the admin token itself");
    for len in [1, admin.len() / 2, admin.len() - 1] {
        assert_eq!(
            code(admin[..len].to_owned()).await,
            StatusCode::UNAUTHORIZED,
            "a {len}-character prefix"
        );
    }
    assert_eq!(
        code(format!("{admin}A")).await,
        StatusCode::UNAUTHORIZED,
        "the token plus a character"
    );
    let mut flipped = admin.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        code(String::from_utf8(flipped).expect("ASCII")).await,
        StatusCode::UNAUTHORIZED,
        "the last character changed"
    );
}

/// Code inspection, kept as a test so that a refactoring cannot silently swap the constant-time comparison of the
/// admin token for `==` (whose early exit leaks, through timing, how long a guessed prefix is right).
#[test]
fn admin_token_comparison_is_constant_time() {
    let source = include_str!("../src/authn.rs");
    assert!(
        source.contains("ct_eq(state.admin_token().expose()"),
        "authn.rs must compare the admin token with subtle's ct_eq"
    );
    assert!(
        !source.contains("== state.admin_token()"),
        "authn.rs compares the admin token with =="
    );
    assert!(
        !source.contains("state.admin_token().expose() =="),
        "authn.rs compares the admin token with =="
    );
}

#[test]
fn the_default_listen_address_is_loopback() {
    assert!(ServerConfig::loopback().listen.ip().is_loopback());
}

/// The server speaks TLS only: plain HTTP to its port gets no HTTP answer, while HTTPS with its CA works.
#[tokio::test]
async fn plain_http_to_the_port_fails() {
    let server = tokenrequest_server::start(ServerConfig::loopback())
        .await
        .expect("server");
    assert!(server.addr().ip().is_loopback(), "listens on loopback by default");
    let addr = server.addr();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .expect("write");
        let mut answer = Vec::new();
        // Either an alert, a reset or a close: all fine, as long as no HTTP response comes back.
        let _ = stream.read_to_end(&mut answer);
        answer
    })
    .await
    .expect("join");
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain HTTP got an HTTP answer: {:?}",
        String::from_utf8_lossy(&answer)
    );

    let tls = https_client(server.ca_pem());
    let plain = tls.get(format!("http://{addr}/healthz")).send().await;
    assert!(
        plain.is_err() || !plain.as_ref().is_ok_and(|r| r.status().is_success()),
        "plain HTTP must not succeed"
    );

    let ok = tls
        .get(format!("{}/healthz", server.url()))
        .send()
        .await
        .expect("HTTPS works");
    assert_eq!(ok.status(), reqwest::StatusCode::OK);
    server.shutdown().await;
}

fn https_client(ca_pem: &str) -> reqwest::Client {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA certificate");
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .build()
        .expect("client")
}
