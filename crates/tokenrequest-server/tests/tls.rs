//! The real thing: `start` on 127.0.0.1:0, HTTPS with the generated CA, HTTP/1.1 and HTTP/2, a token issued and
//! used over the wire, graceful shutdown.

use std::sync::Arc;

use serde_json::{Value, json};
use tokenrequest_server::{ServerConfig, start};

fn client(ca_pem: &str, http2: bool) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = if http2 {
        vec![b"h2".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    reqwest::Client::builder().use_preconfigured_tls(tls).build().unwrap()
}

#[tokio::test]
async fn https_on_loopback_with_http1_and_http2() {
    let server = start(ServerConfig::loopback()).await.unwrap();
    assert!(server.addr().ip().is_loopback());
    let admin = format!("Bearer {}", server.admin_token().expose());
    for (http2, version) in [(false, reqwest::Version::HTTP_11), (true, reqwest::Version::HTTP_2)] {
        let client = client(server.ca_pem(), http2);
        let url = |path: &str| format!("{}{path}", server.url());
        let health = client.get(url("/healthz")).send().await.unwrap();
        assert_eq!(health.version(), version);
        assert_eq!(health.text().await.unwrap(), "ok");
        let ns = format!("tls-{}", u8::from(http2));
        let created = client
            .post(url("/api/v1/namespaces"))
            .header("authorization", &admin)
            .json(&json!({"metadata": {"name": ns}}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let sa = client
            .post(url(&format!("/api/v1/namespaces/{ns}/serviceaccounts")))
            .header("authorization", &admin)
            .json(&json!({"metadata": {"name": "sa"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(sa.status(), 201);
        let reply = client
            .post(url(&format!("/api/v1/namespaces/{ns}/serviceaccounts/sa/token")))
            .header("authorization", &admin)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 201);
        let body: Value = reply.json().await.unwrap();
        let token = body["status"]["token"].as_str().unwrap();
        let whoami: Value = client
            .post(url("/apis/authentication.k8s.io/v1/selfsubjectreviews"))
            .bearer_auth(token)
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            whoami["status"]["userInfo"]["username"],
            format!("system:serviceaccount:{ns}:sa")
        );
    }
    let kubeconfig = server.kubeconfig_yaml();
    assert!(kubeconfig.contains(&server.url()) && kubeconfig.contains("certificate-authority-data"));
    let addr = server.addr();
    server.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "closed after shutdown"
    );
}

#[tokio::test]
async fn tls_material_from_pem_files() {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let mut config = ServerConfig::loopback();
    config.tls = Some((cert.pem(), key.serialize_pem()));
    let server = start(config).await.unwrap();
    assert_eq!(server.ca_pem(), cert.pem());
    let reply = client(server.ca_pem(), true)
        .get(format!("{}/version", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
}
