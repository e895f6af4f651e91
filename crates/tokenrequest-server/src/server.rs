//! Serving over HTTPS: binds the socket, makes or loads the TLS material, and runs the router with axum-server
//! (rustls, HTTP/1.1 and HTTP/2 by ALPN) until shut down.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use tokenrequest_types::kubeconfig;
use tokenrequest_types::token::Token;

use crate::config::ServerConfig;
use crate::controllers::{self, Controllers};
use crate::error::ServerError;
use crate::handlers::router;
use crate::outage::Outage;
use crate::state::AppState;
use crate::tls;

/// How long a graceful shutdown waits for requests in flight.
/// The name of the cluster, user and context in the kubeconfig the server hands out.
pub const CLUSTER_NAME: &str = "kube-tokenrequest";

const GRACE: Duration = Duration::from_secs(5);

/// A server accepting connections. Stops on [`RunningServer::shutdown`] or when dropped.
pub struct RunningServer {
    addr: SocketAddr,
    ca_pem: String,
    state: AppState,
    handle: Handle,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    controllers: Option<tokio::task::JoinHandle<()>>,
}

/// Binds `config.listen` and starts serving in the background; returns as soon as the socket is bound, so the
/// first request can be sent right away.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    let bind = |source| ServerError::Bind {
        addr: config.listen,
        source,
    };
    let listener = std::net::TcpListener::bind(config.listen).map_err(bind)?;
    listener.set_nonblocking(true).map_err(bind)?;
    let addr = client_address(listener.local_addr().map_err(bind)?);
    let tls = match &config.tls {
        Some((cert, key)) => tls::from_pem(cert, key)?,
        None => tls::generate()?,
    };
    let state = AppState::for_address(&config, addr)?;
    let handle = Handle::new();
    let server =
        axum_server::from_tcp_rustls(listener, RustlsConfig::from_config(tls.server_config)).handle(handle.clone());
    let task = tokio::spawn(server.serve(tower::make::Shared::new(dropping_during_outage(state.clone()))));
    let controllers = (config.controllers == Controllers::All)
        .then(|| tokio::spawn(controllers::run(state.clone(), config.namespace_finalize_after)));
    tracing::info!(%addr, issuer = state.issuer(), policy = %state.policy(), kid = state.signer().kid(), "serving");
    Ok(RunningServer {
        addr,
        ca_pem: tls.ca_pem,
        state,
        handle,
        task: Some(task),
        controllers,
    })
}

/// The router, behind a service that closes the connection without an answer while an
/// [`Outage::ConnectionDropped`] lasts: hyper drops a connection whose service fails, which is what a client sees
/// when kube-apiserver goes away mid-request (EOF).
fn dropping_during_outage(
    state: AppState,
) -> impl tower::Service<
    http::Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = std::io::Error,
    Future = impl Future<Output = std::io::Result<axum::response::Response>> + Send,
> + Clone
+ Send
+ 'static {
    let app = router(state.clone());
    tower::service_fn(move |request: http::Request<hyper::body::Incoming>| {
        let dropped = state.outage() == Some(Outage::ConnectionDropped);
        let app = app.clone();
        async move {
            if dropped {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "outage: connection dropped",
                ));
            }
            match tower::ServiceExt::oneshot(app, request).await {
                Ok(response) => Ok(response),
                Err(never) => match never {},
            }
        }
    })
}

/// The address a local client dials: an unspecified listen address (0.0.0.0, ::) is reached on loopback.
fn client_address(bound: SocketAddr) -> SocketAddr {
    match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), bound.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), bound.port()),
        _ => bound,
    }
}

impl RunningServer {
    /// The address clients connect to (the bound port, loopback for an unspecified listen address).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://{addr}`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The CA certificate (PEM) clients must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The admin bearer token.
    pub fn admin_token(&self) -> &Token {
        self.state.admin_token()
    }

    /// The server's state (policy, issuer), e.g. to build a socket-less router in a test.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A kubeconfig for this server (admin credentials).
    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig::render(CLUSTER_NAME, &self.url(), &self.ca_pem, self.admin_token())
    }

    /// Stops accepting connections, lets requests in flight finish (at most 5 s), and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(controller) = self.controllers.take() {
            controller.abort();
        }
        self.handle.graceful_shutdown(Some(GRACE));
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => tracing::info!("stopped"),
                Ok(Err(error)) => tracing::warn!(%error, "server stopped with an error"),
                Err(error) => tracing::warn!(%error, "server task failed"),
            }
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(controller) = self.controllers.take() {
            controller.abort();
        }
        if self.task.is_some() {
            self.handle.shutdown();
        }
    }
}
