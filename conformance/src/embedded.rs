//! The embedded target: `tokenrequest-server` started in-process on 127.0.0.1:0 with a given token policy (and,
//! for the fault-injection proof, a fault). It runs on a runtime of its own, so it outlives every test's
//! runtime, and it is known to the suite only through the kubeconfig written here.

use std::io::Write as _;
use std::sync::OnceLock;
use std::time::Duration;

use tokenrequest_server::{Fault, RunningServer, ServerConfig};
use tokenrequest_types::policy::TokenPolicy;

/// Why the embedded server did not start.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// The server refused its configuration or could not bind.
    #[error("embedded server did not start: {0}")]
    Start(#[source] tokenrequest_server::ServerError),
    /// The server's runtime dropped the start task.
    #[error("embedded server start task failed: {0}")]
    Join(#[source] tokio::task::JoinError),
    /// The kubeconfig could not be written.
    #[error("cannot write the embedded server's kubeconfig: {0}")]
    Kubeconfig(#[source] std::io::Error),
}

/// A running embedded server and its kubeconfig file. Dropping it stops the server (without waiting).
pub struct Embedded {
    server: Option<RunningServer>,
    kubeconfig: tempfile::NamedTempFile,
}

/// One multi-threaded runtime hosts every embedded server of the process. Each `#[tokio::test]` has its own
/// runtime that ends with the test; a server spawned there would die with it.
fn server_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("embedded-apiserver")
            .enable_all()
            .build()
            // Without a runtime there is no embedded target at all; nothing sensible remains to do.
            .expect("cannot build the embedded server's runtime")
    })
}

/// The server configuration for a policy: kube-apiserver's defaults with the policy's flags.
pub fn server_config(policy: &TokenPolicy, fault: Option<Fault>) -> ServerConfig {
    let mut config = ServerConfig::loopback();
    config.api_audiences = Some(policy.audiences.api_audiences().to_vec());
    config.max_token_expiration = policy
        .expiration
        .max_seconds
        .map(|s| Duration::from_secs(s.unsigned_abs()));
    config.extend_token_expiration = policy.expiration.extend;
    config.signing_alg = policy.signing_alg;
    config.fault = fault;
    config
}

impl Embedded {
    /// Starts a server with `policy` (and `fault`, if any) and writes its kubeconfig to a temporary file.
    pub async fn start(policy: &TokenPolicy, fault: Option<Fault>) -> Result<Self, EmbeddedError> {
        let config = server_config(policy, fault);
        let server = server_runtime()
            .spawn(tokenrequest_server::start(config))
            .await
            .map_err(EmbeddedError::Join)?
            .map_err(EmbeddedError::Start)?;
        let mut kubeconfig = tempfile::Builder::new()
            .prefix("trc-embedded-")
            .suffix(".kubeconfig")
            .tempfile()
            .map_err(EmbeddedError::Kubeconfig)?;
        kubeconfig
            .write_all(server.kubeconfig_yaml().as_bytes())
            .map_err(EmbeddedError::Kubeconfig)?;
        kubeconfig.flush().map_err(EmbeddedError::Kubeconfig)?;
        Ok(Self {
            server: Some(server),
            kubeconfig,
        })
    }

    /// The kubeconfig file: from here on the server is a target like any other.
    pub fn kubeconfig_path(&self) -> &std::path::Path {
        self.kubeconfig.path()
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            // Shutting down needs the server's own runtime; do not wait for it.
            server_runtime().spawn(server.shutdown());
        }
    }
}
