//! The workspace's one raw HTTP client, for the requests that are not API calls through kube-rs, and the TLS
//! client configuration (rustls, aws-lc-rs, trusting only a given CA) every raw client of a loopback server uses:
//!
//! - [`send`]: one request per connection, HTTP/1.0 (so the answer ends when the connection does, and Go's
//!   net/http never chunks it), every header and body byte the caller's: readiness probes (etcd's `/health` over
//!   plain TCP, kube-apiserver's `/readyz`), bootstrap objects ([`request`], its JSON shorthand), and the
//!   differential run's odd requests, sent byte for byte the same to both servers.
//! - [`Endpoint`]: a server, the CA to trust and the bearer token, read from a kubeconfig
//!   (`tokenrequest_types::kubeconfig`).
//! - [`Connection`]: one keep-alive HTTP/1.1 connection, for the load generator of the benchmarks: the same
//!   client code drives the embedded server and a real kube-apiserver, so neither gets a different client cost.
//!
//! Written by hand rather than with hyper or reqwest on purpose: it is blocking and runtime-free, so
//! `ControlPlane::start` works whether or not the caller runs inside a tokio runtime, and a blocking thread per
//! connection is the simplest closed-loop load client there is; on loopback its cost per request (a few µs of
//! symmetric TLS and a header scan) is small next to a 1 ms RSA signature. Only what the servers of this project
//! send is understood: bodies up to the connection's end (HTTP/1.0), `Content-Length` bodies (hyper) and chunked
//! bodies (Go's net/http above 2 KB).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokenrequest_types::kubeconfig;
use tokenrequest_types::token::Token;

use crate::error::{Context, Result};

/// How long a one-shot request may take to connect, to send and to be answered.
const ONE_SHOT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a keep-alive connection waits for an answer (a server under load may be slow).
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(30);

/// What to send. `Host` is always written, `Authorization: Bearer` when there is a `bearer`, then `headers` in
/// order, then `Content-Length` when there is a `body` (even an empty one).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, or anything else (the differential sends wrong methods on purpose).
    pub method: &'a str,
    /// The path and query.
    pub path: &'a str,
    /// The bearer token; it goes only into the header.
    pub bearer: Option<&'a Token>,
    /// More header lines: name, value.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: Option<&'a [u8]>,
}

impl<'a> Request<'a> {
    /// `method path` without credentials, headers or body.
    pub fn new(method: &'a str, path: &'a str) -> Self {
        Self {
            method,
            path,
            bearer: None,
            headers: &[],
            body: None,
        }
    }
}

/// A response: status code, headers and body (bytes from [`send`], lossy UTF-8 text from [`request`]).
#[derive(Debug, Clone)]
pub struct Response<Body = String> {
    /// The status code.
    pub status: u16,
    /// Header names (lower-cased) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

impl<Body> Response<Body> {
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

impl Response<Vec<u8>> {
    /// The same response with its body as (lossy UTF-8) text.
    pub fn into_text(self) -> Response {
        Response {
            status: self.status,
            headers: self.headers,
            body: String::from_utf8_lossy(&self.body).into_owned(),
        }
    }
}

/// A TLS client configuration (aws-lc-rs) that trusts exactly the certificates in `ca_pem`: how every raw
/// client reaches a loopback server whose CA it read from a kubeconfig.
pub fn client_config_trusting_pem(ca_pem: &[u8]) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots
            .add(cert.context("parsing the CA PEM")?)
            .context("adding the CA")?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // HTTP/1.x on every server (hyper and Go would otherwise be free to pick h2): one request in flight per
    // connection, so N connections are N concurrent clients.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Sends one request on a connection of its own (`tls` = `None` is plain HTTP) and reads the answer to the end.
pub fn send(
    addr: SocketAddr,
    tls: Option<&Arc<rustls::ClientConfig>>,
    request: &Request<'_>,
) -> Result<Response<Vec<u8>>> {
    let tcp = TcpStream::connect_timeout(&addr, ONE_SHOT_TIMEOUT)?;
    tcp.set_read_timeout(Some(ONE_SHOT_TIMEOUT))?;
    tcp.set_write_timeout(Some(ONE_SHOT_TIMEOUT))?;
    tcp.set_nodelay(true)?;
    let mut bytes = Vec::new();
    write_request(&mut bytes, "HTTP/1.0", addr, request);
    let raw = match tls {
        None => exchange(tcp, &bytes)?,
        Some(config) => exchange(tls_stream(config, addr, tcp)?, &bytes)?,
    };
    parse(&raw)
}

/// One request with JSON (`Accept`, and `Content-Type` when there is a body) as `tokenrequest-envtest`, the
/// body as text: probes and bootstrap objects.
pub fn request(
    addr: SocketAddr,
    tls: Option<&Arc<rustls::ClientConfig>>,
    method: &str,
    path: &str,
    bearer: Option<&Token>,
    json_body: Option<&str>,
) -> Result<Response> {
    const ACCEPT: [(&str, &str); 2] = [("Accept", "application/json"), ("User-Agent", "tokenrequest-envtest")];
    const JSON: [(&str, &str); 3] = [ACCEPT[0], ACCEPT[1], ("Content-Type", "application/json")];
    let request = Request {
        method,
        path,
        bearer,
        headers: if json_body.is_some() { &JSON } else { &ACCEPT },
        body: json_body.map(str::as_bytes),
    };
    Ok(send(addr, tls, &request)?.into_text())
}

/// A server reached over TLS (`https://IP:PORT`), the CA it is trusted by, and the bearer token sent when a
/// request names none. The token is a secret: it never shows in `Debug`.
#[derive(Clone)]
pub struct Endpoint {
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    token: Option<Token>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// The server of a kubeconfig: its `https://IP:PORT`, its inline CA and its token.
    pub fn from_kubeconfig(endpoint: &kubeconfig::Endpoint) -> Result<Self> {
        let addr = endpoint
            .server
            .strip_prefix("https://")
            .and_then(|a| a.trim_end_matches('/').parse().ok())
            .with_context(|| format!("kubeconfig: server {:?} is not https://IP:PORT", endpoint.server))?;
        let ca_pem = endpoint
            .ca_pem
            .as_deref()
            .context("kubeconfig: no certificate-authority-data")?;
        Ok(Self {
            addr,
            tls: Arc::new(client_config_trusting_pem(ca_pem.as_bytes())?),
            token: endpoint.token.clone(),
        })
    }

    /// The server of the kubeconfig file at `path`.
    pub fn read_kubeconfig(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let endpoint = kubeconfig::parse(&text).with_context(|| format!("kubeconfig {}", path.display()))?;
        Self::from_kubeconfig(&endpoint)
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// [`send`] to this server, with its token unless the request names a bearer.
    pub fn send(&self, request: &Request<'_>) -> Result<Response<Vec<u8>>> {
        let request = Request {
            bearer: request.bearer.or(self.token.as_ref()),
            ..*request
        };
        send(self.addr, Some(&self.tls), &request)
    }
}

/// An open keep-alive HTTP/1.1 connection, with its read buffer.
pub struct Connection {
    stream: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    addr: SocketAddr,
    token: Option<Token>,
    buf: Vec<u8>,
    /// The request is assembled here, so a request costs no allocation for sending once warmed up.
    out: Vec<u8>,
}

impl Connection {
    /// Connects and completes the TLS handshake (so that it is not counted in the first request's latency).
    pub fn open(endpoint: &Endpoint) -> Result<Self> {
        let tcp = TcpStream::connect_timeout(&endpoint.addr, ONE_SHOT_TIMEOUT)
            .with_context(|| format!("connecting to {}", endpoint.addr))?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(KEEP_ALIVE_TIMEOUT))?;
        let mut stream = tls_stream(&endpoint.tls, endpoint.addr, tcp)?;
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock).context("TLS handshake")?;
        }
        Ok(Self {
            stream,
            addr: endpoint.addr,
            token: endpoint.token.clone(),
            buf: Vec::with_capacity(16 * 1024),
            out: Vec::with_capacity(4 * 1024),
        })
    }

    /// Sends `request` (with the endpoint's token unless it names a bearer) and waits for the whole answer.
    pub fn send(&mut self, request: &Request<'_>) -> Result<Response<Vec<u8>>> {
        let request = Request {
            bearer: request.bearer.or(self.token.as_ref()),
            ..*request
        };
        self.out.clear();
        write_request(&mut self.out, "HTTP/1.1", self.addr, &request);
        self.stream.write_all(&self.out)?;
        self.stream.flush()?;
        read_response(&mut self.stream, &mut self.buf)
    }
}

fn tls_stream(
    config: &Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    tcp: TcpStream,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let name = ServerName::IpAddress(addr.ip().into());
    let conn = rustls::ClientConnection::new(Arc::clone(config), name).context("TLS client")?;
    Ok(rustls::StreamOwned::new(conn, tcp))
}

fn write_request(out: &mut Vec<u8>, version: &str, host: SocketAddr, request: &Request<'_>) {
    let mut head = format!("{} {} {version}\r\nHost: {host}\r\n", request.method, request.path);
    if let Some(token) = request.bearer {
        head.push_str(&format!("Authorization: Bearer {}\r\n", token.expose()));
    }
    for (name, value) in request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = request.body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(request.body.unwrap_or_default());
}

/// Writes an HTTP/1.0 request and reads until the server closes the connection.
fn exchange(mut stream: impl Read + Write, request: &[u8]) -> Result<Vec<u8>> {
    // A server may answer (413) and close before it has read the whole body: then the write fails but the answer
    // is there to read.
    let written = stream.write_all(request).and_then(|()| stream.flush());
    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw) {
        Ok(_) => Ok(raw),
        // Go closes the TCP connection without a TLS close_notify after an HTTP/1.0 response.
        Err(_) if !raw.is_empty() => Ok(raw),
        Err(e) => {
            written.context("sending the request")?;
            Err(e).context("reading the response")
        }
    }
}

/// A whole HTTP/1.0 answer: head, blank line, body until the end.
fn parse(raw: &[u8]) -> Result<Response<Vec<u8>>> {
    let end = find(raw, b"\r\n\r\n").context("no end of the response head")?;
    let (status, headers) = parse_head(&raw[..end])?;
    Ok(Response {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    })
}

fn parse_head(head: &[u8]) -> Result<(u16, Vec<(String, String)>)> {
    let head = String::from_utf8_lossy(head);
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("malformed HTTP status line {status_line:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok((status, headers))
}

/// One answer on a keep-alive connection: what is left in `buf` after it belongs to the next answer.
fn read_response(stream: &mut impl Read, buf: &mut Vec<u8>) -> Result<Response<Vec<u8>>> {
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i;
        }
        fill(stream, buf)?;
    };
    let (status, headers) = parse_head(&buf[..head_end])?;
    buf.drain(..head_end + 4);
    let value = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let body = if value("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        read_chunked(stream, buf)?
    } else {
        let len: usize = value("content-length")
            .context("a response with neither Content-Length nor chunked encoding")?
            .parse()
            .context("Content-Length")?;
        while buf.len() < len {
            fill(stream, buf)?;
        }
        buf.drain(..len).collect()
    };
    Ok(Response { status, headers, body })
}

fn read_chunked(stream: &mut impl Read, buf: &mut Vec<u8>) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(i) = find(buf, b"\r\n") {
                break i;
            }
            fill(stream, buf)?;
        };
        let size_text = std::str::from_utf8(&buf[..line_end]).context("chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).context("chunk size")?;
        // The chunk, then its CRLF (after the last, empty chunk: the CRLF that ends the trailers).
        while buf.len() < line_end + 2 + size + 2 {
            fill(stream, buf)?;
        }
        body.extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
        buf.drain(..line_end + 2 + size + 2);
        if size == 0 {
            return Ok(body);
        }
    }
}

fn fill(stream: &mut impl Read, buf: &mut Vec<u8>) -> Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    let n = stream.read(&mut chunk)?;
    if n == 0 {
        fail!("the server closed the connection");
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn parses_status_headers_and_body() {
        let r =
            parse(b"HTTP/1.0 201 Created\r\nContent-Type: text/plain\r\nWarning: 299 - \"a: b\"\r\n\r\nok").unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(r.header_values("warning"), ["299 - \"a: b\""]);
        assert_eq!(r.header_values("Content-Type"), ["text/plain"]);
        assert_eq!(r.into_text().body, "ok");
        assert!(parse(b"garbage").is_err());
        assert!(parse(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn keep_alive_answers_end_by_length_or_last_chunk() {
        let mut wire: &[u8] = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}\
            HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n\
            HTTP/1.1 200 OK\r\n\r\n";
        let mut buf = Vec::new();
        let r = read_response(&mut wire, &mut buf).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (201, &b"{}"[..]));
        let r = read_response(&mut wire, &mut buf).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"abcde"[..]));
        let err = read_response(&mut wire, &mut buf).unwrap_err().to_string();
        assert_eq!(err, "a response with neither Content-Length nor chunked encoding");
    }

    #[test]
    fn a_request_is_sent_as_given() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut seen = Vec::new();
            while find(&seen, b"\r\n\r\nbody").is_none() {
                let mut chunk = [0u8; 1024];
                let n = conn.read(&mut chunk).unwrap();
                seen.extend_from_slice(&chunk[..n]);
            }
            conn.write_all(b"HTTP/1.0 418 I'm a teapot\r\nX-A: 1\r\nX-A: 2\r\n\r\n\xff")
                .unwrap();
            String::from_utf8(seen).unwrap()
        });
        let token = Token::new("t0k3n");
        let request = Request {
            bearer: Some(&token),
            headers: &[("Content-Type", "text/odd")],
            body: Some(b"body"),
            ..Request::new("PATCH", "/x?y=z")
        };
        let r = send(addr, None, &request).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (418, &b"\xff"[..]));
        assert_eq!(r.header_values("x-a"), ["1", "2"]);
        assert_eq!(
            server.join().unwrap(),
            format!(
                "PATCH /x?y=z HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer t0k3n\r\nContent-Type: text/odd\r\n\
                 Content-Length: 4\r\n\r\nbody"
            )
        );
    }
}
