//! A minimal blocking HTTP/1.0 client for readiness probes and bootstrap objects: plain TCP for
//! etcd's `/health`, TLS (rustls, trusting only our CA) for kube-apiserver.
//!
//! Deliberately tiny and runtime-free, so `ControlPlane::start` works whether or not the caller
//! runs inside a tokio runtime. HTTP/1.0 keeps Go's server from chunking the response.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};

/// A response: status code, headers and body (lossy UTF-8).
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (lower-cased) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl Response {
    /// The values of header `name` (case-insensitive).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A TLS client configuration that trusts exactly `ca_der`.
pub(crate) fn tls_config(ca_der: &CertificateDer<'static>) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_der.clone()).context("adding our CA")?;
    Ok(Arc::new(client_config(roots)?))
}

/// A TLS client configuration (aws-lc-rs) that trusts exactly the certificates in `ca_pem`: how every xtask
/// client reaches a loopback server whose CA it read from a kubeconfig.
pub fn client_config_trusting_pem(ca_pem: &[u8]) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots
            .add(cert.context("parsing the CA PEM")?)
            .context("adding the CA")?;
    }
    client_config(roots)
}

fn client_config(roots: rustls::RootCertStore) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// One request. `tls` = `None` is plain HTTP. The bearer token goes only into the header.
pub(crate) fn request(
    addr: SocketAddr,
    tls: Option<&Arc<rustls::ClientConfig>>,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    json_body: Option<&str>,
) -> Result<Response> {
    let timeout = Duration::from_secs(5);
    let tcp = TcpStream::connect_timeout(&addr, timeout)?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;

    let mut head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: application/json\r\nUser-Agent: kube-tokenrequest-xtask\r\n"
    );
    if let Some(token) = bearer {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let body = json_body.unwrap_or("");
    if json_body.is_some() {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    head.push_str(body);

    let raw = match tls {
        None => exchange(tcp, head.as_bytes())?,
        Some(config) => {
            let name = ServerName::IpAddress(addr.ip().into());
            let conn = rustls::ClientConnection::new(config.clone(), name)?;
            exchange(rustls::StreamOwned::new(conn, tcp), head.as_bytes())?
        }
    };
    parse(&raw)
}

fn exchange(mut stream: impl Read + Write, request: &[u8]) -> Result<Vec<u8>> {
    stream.write_all(request)?;
    stream.flush()?;
    let mut out = Vec::new();
    match stream.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        // Go closes the TCP connection without a TLS close_notify after an HTTP/1.0 response.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => Ok(out),
        Err(e) => Err(e.into()),
    }
}

fn parse(raw: &[u8]) -> Result<Response> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status_line = head.lines().next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("malformed HTTP status line {status_line:?}"))?;
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Response {
        status,
        headers,
        body: body.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_body() {
        let r = parse(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nWarning: 299 - \"a: b\"\r\n\r\nok").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header_values("warning"), ["299 - \"a: b\""]);
        assert_eq!(r.header_values("Content-Type"), ["text/plain"]);
        assert_eq!(r.body, "ok");
        assert!(parse(b"garbage").is_err());
    }
}
