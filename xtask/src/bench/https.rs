//! One keep-alive HTTPS/1.1 connection, blocking, for the load generator: the same client code drives the
//! embedded server and the real kube-apiserver, so neither side gets a different client cost.
//!
//! Why not reqwest or hyper: xtask would need a second async HTTP stack only for this, and a blocking thread per
//! connection is the simplest closed-loop client there is; on loopback its cost per request (a few µs of
//! symmetric TLS and a header scan) is small next to a 1 ms RSA signature. Only what the two servers send is
//! understood: `Content-Length` bodies (hyper) and chunked bodies (Go's net/http above 2 KB).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use rustls::pki_types::ServerName;

/// Where and as whom to send requests. The bearer token is a secret: it only goes into the request header.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    authorization: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint trusting exactly `ca_pem`, authenticating with `bearer`.
    pub(crate) fn new(addr: SocketAddr, ca_pem: &str, bearer: &str) -> Result<Self> {
        let mut tls = xtask::controlplane::client_config_trusting_pem(ca_pem.as_bytes())?;
        // HTTP/1.1 on both servers: one request in flight per connection, N connections = N concurrent clients.
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            addr,
            tls: Arc::new(tls),
            authorization: format!("Bearer {bearer}"),
        })
    }
}

/// An open connection with its read buffer.
pub(crate) struct Connection {
    stream: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    host: String,
    authorization: String,
    buf: Vec<u8>,
    /// The request head and body are assembled here, so a request costs no allocation once warmed up.
    out: Vec<u8>,
}

/// A response: status and body.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl Connection {
    /// Connects and completes the TLS handshake (so that it is not counted in the first request's latency).
    pub(crate) fn open(endpoint: &Endpoint) -> Result<Self> {
        let tcp = TcpStream::connect_timeout(&endpoint.addr, Duration::from_secs(5))
            .with_context(|| format!("connecting to {}", endpoint.addr))?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        let name = ServerName::IpAddress(endpoint.addr.ip().into());
        let conn = rustls::ClientConnection::new(Arc::clone(&endpoint.tls), name).context("TLS client")?;
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock).context("TLS handshake")?;
        }
        Ok(Self {
            stream,
            host: endpoint.addr.to_string(),
            authorization: endpoint.authorization.clone(),
            buf: Vec::with_capacity(16 * 1024),
            out: Vec::with_capacity(4 * 1024),
        })
    }

    /// `POST path` with a JSON body; waits for the whole response.
    pub(crate) fn post(&mut self, path: &str, json: &str) -> Result<Response> {
        self.out.clear();
        write!(
            self.out,
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Type: application/json\r\n\
             Accept: application/json\r\nUser-Agent: kube-tokenrequest-bench\r\nContent-Length: {}\r\n\r\n",
            self.host,
            self.authorization,
            json.len()
        )?;
        self.out.extend_from_slice(json.as_bytes());
        self.stream.write_all(&self.out)?;
        self.stream.flush()?;
        self.read_response()
    }

    fn read_response(&mut self) -> Result<Response> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.fill()?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).context("response head is not UTF-8")?;
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("no status code in the response")?;
        let mut content_length = None;
        let mut chunked = false;
        for line in head.split("\r\n").skip(1) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = Some(value.parse::<usize>().context("Content-Length")?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
        self.buf.drain(..head_end);
        let body = if chunked {
            self.read_chunked()?
        } else {
            let len = content_length.context("a response with neither Content-Length nor chunked encoding")?;
            while self.buf.len() < len {
                self.fill()?;
            }
            self.buf.drain(..len).collect()
        };
        Ok(Response { status, body })
    }

    fn read_chunked(&mut self) -> Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf, b"\r\n") {
                    break i;
                }
                self.fill()?;
            };
            let size_text = std::str::from_utf8(&self.buf[..line_end]).context("chunk size")?;
            let size_text = size_text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16).context("chunk size")?;
            // The chunk, then its CRLF (after the last, empty chunk: the CRLF that ends the trailers).
            while self.buf.len() < line_end + 2 + size + 2 {
                self.fill()?;
            }
            body.extend_from_slice(&self.buf[line_end + 2..line_end + 2 + size]);
            self.buf.drain(..line_end + 2 + size + 2);
            if size == 0 {
                return Ok(body);
            }
        }
    }

    fn fill(&mut self) -> Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
