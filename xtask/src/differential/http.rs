//! One blocking HTTPS request per connection, with every header under the caller's control, so
//! the differential run can send the odd requests (wrong method, content type, accept, broken
//! bodies) byte-for-byte the same to both servers.
//!
//! Why not the control plane's client or bench's: the first sends fixed headers and only the
//! admin's JSON, the second only keep-alive POSTs of JSON. HTTP/1.0 keeps Go's net/http from
//! chunking bodies, so a response is simply "head, blank line, body until EOF".

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use rustls::pki_types::ServerName;

/// The same `User-Agent` for both servers: kube-apiserver records its first word as the
/// `managedFields` manager, so it must not differ between them.
pub(crate) const USER_AGENT: &str = "kube-tokenrequest-differential/1";

/// A server and the admin credential, read from the kubeconfig its launcher wrote.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    bearer: String,
}

impl std::fmt::Debug for Endpoint {
    // The bearer token is a secret: never in Debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Reads server, CA and token from a kubeconfig (the shape both launchers write).
    pub(crate) fn from_kubeconfig(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).context("parsing the kubeconfig")?;
        let cluster = &doc["clusters"][0]["cluster"];
        let server = cluster["server"].as_str().context("kubeconfig: no server")?;
        let ca_b64 = cluster["certificate-authority-data"]
            .as_str()
            .context("kubeconfig: no certificate-authority-data")?;
        let bearer = doc["users"][0]["user"]["token"]
            .as_str()
            .context("kubeconfig: no user token")?
            .to_owned();
        let ca_pem = base64::engine::general_purpose::STANDARD.decode(ca_b64)?;
        let host_port = server
            .strip_prefix("https://")
            .context("kubeconfig: server is not https")?
            .trim_end_matches('/');
        let addr: SocketAddr = host_port
            .parse()
            .with_context(|| format!("server address {host_port:?}"))?;
        anyhow::ensure!(addr.ip().is_loopback(), "refusing a non-loopback server {addr}");
        let tls = xtask::controlplane::client_config_trusting_pem(&ca_pem)?;
        Ok(Self {
            addr,
            tls: Arc::new(tls),
            bearer,
        })
    }
}

/// What is sent; the body is already resolved for this server.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) content_type: Option<&'a str>,
    pub(crate) accept: Option<&'a str>,
    pub(crate) body: Option<&'a [u8]>,
}

/// A response: status, lower-cased headers in order, body.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Incoming {
    /// The values of header `name` (lower case).
    pub(crate) fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Sends one request as the admin.
pub(crate) fn send(endpoint: &Endpoint, req: &Outgoing<'_>) -> anyhow::Result<Incoming> {
    let timeout = Duration::from_secs(10);
    let tcp = TcpStream::connect_timeout(&endpoint.addr, timeout)?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    tcp.set_nodelay(true)?;
    let mut head = format!(
        "{} {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: {USER_AGENT}\r\nAuthorization: Bearer {}\r\n",
        req.method, req.path, endpoint.addr, endpoint.bearer
    );
    if let Some(accept) = req.accept {
        head.push_str(&format!("Accept: {accept}\r\n"));
    }
    if let Some(ct) = req.content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    if let Some(body) = req.body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(req.body.unwrap_or_default());

    let conn = rustls::ClientConnection::new(endpoint.tls.clone(), ServerName::IpAddress(endpoint.addr.ip().into()))?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    // A server may answer (413) and close before it has read the whole body: then the write
    // fails but the answer is there to read.
    let written = stream.write_all(&bytes).and_then(|()| stream.flush());
    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw) {
        Ok(_) => {}
        // Go closes the TCP connection without a TLS close_notify after an HTTP/1.0 response.
        Err(e) if !raw.is_empty() => {
            let _ = e;
        }
        Err(e) => {
            written.context("sending the request")?;
            return Err(e).context("reading the response");
        }
    }
    parse(&raw)
}

fn parse(raw: &[u8]) -> anyhow::Result<Incoming> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of the response head")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("malformed status line {status_line:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(Incoming { status, headers, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_splits_into_status_headers_and_body() {
        let r =
            parse(b"HTTP/1.0 201 Created\r\nContent-Type: application/json\r\nWarning: 299 - \"x\"\r\n\r\n{}").unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(r.header_values("warning"), ["299 - \"x\""]);
        assert_eq!(r.body, b"{}");
    }
}
