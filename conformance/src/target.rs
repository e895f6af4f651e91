//! The API under test. The runner (`kube-tokenrequest conformance`) names it by its kubeconfig
//! ([`Target::for_kubeconfig`]); under `cargo test`, `TOKENREQUEST_KUBECONFIG=PATH` names one, and without it the
//! suite starts the embedded server in-process and from then on treats its kubeconfig exactly like any other.
//!
//! `TOKENREQUEST_EXPECTED_POLICY` (the `max=24h,extend=false,audiences=a,b,alg=ES256` form of
//! `tokenrequest_types::policy::TokenPolicy`) states the policy the target is expected to enforce: it configures
//! the embedded server, and the `policy::matches_declared` check compares it with the probed policy.
//! `TOKENREQUEST_TARGET` describes the target for messages. `TOKENREQUEST_RUN_ID` lets several test processes
//! share one run id, and `TOKENREQUEST_RUN_OWNER` names the process that owns the run (see `cleanup`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};
use tokenrequest_types::policy::{DEFAULT_ISSUER, TokenPolicy};
use tokenrequest_types::token::Token;

use crate::failure::CheckFailure;
use crate::probed::Probed;
use crate::run::{RunMark, RunOwner};
use tokenrequest_envtest::embedded::{InProcess, server_config};
use tokenrequest_envtest::pki::RetiredKey;

/// Names an existing API by its kubeconfig.
pub const KUBECONFIG_ENV: &str = "TOKENREQUEST_KUBECONFIG";
/// The declared token policy.
pub const POLICY_ENV: &str = "TOKENREQUEST_EXPECTED_POLICY";
/// A description of the target, for messages.
pub const TARGET_ENV: &str = "TOKENREQUEST_TARGET";
/// A run id shared by several processes of one run.
pub const RUN_ID_ENV: &str = "TOKENREQUEST_RUN_ID";

/// Why a target could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The kubeconfig could not be read or used.
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        /// Its path.
        path: String,
        /// Why.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// `TOKENREQUEST_EXPECTED_POLICY` does not parse.
    #[error("{POLICY_ENV}: {0}")]
    Policy(#[from] tokenrequest_types::policy::PolicyError),
    /// The embedded server did not start.
    #[error(transparent)]
    Embedded(#[from] tokenrequest_envtest::Error),
}

/// A target: how to reach it, what policy it declares, and what the probe learned (once).
pub struct Target {
    description: String,
    config: kube::Config,
    declared: Option<String>,
    run: RunMark,
    salt: String,
    namespaces: AtomicUsize,
    probed: tokio::sync::OnceCell<Arc<Probed>>,
    /// Private PEM of the retired keys the target still verifies with, when the runner started it (key rotation).
    retired_keys: Vec<RetiredKey>,
    // Kept alive as long as the target: the kubeconfig file and the server behind it.
    _embedded: Option<InProcess>,
}

impl Target {
    /// The target the environment names, or a fresh embedded server with the declared (or default) policy.
    pub async fn from_env() -> Result<Self, TargetError> {
        let declared = std::env::var(POLICY_ENV).ok().filter(|p| !p.trim().is_empty());
        match std::env::var(KUBECONFIG_ENV).ok().filter(|p| !p.is_empty()) {
            Some(path) => {
                let mut target = Self::from_kubeconfig(std::path::Path::new(&path), declared, None).await?;
                if let Some(description) = std::env::var(TARGET_ENV).ok().filter(|d| !d.is_empty()) {
                    target.description = description;
                }
                Ok(target)
            }
            None => {
                let policy = TokenPolicy::defaults_for_issuer(DEFAULT_ISSUER)
                    .with_overrides(declared.as_deref().unwrap_or(""))?;
                Self::embedded(&policy, None).await
            }
        }
    }

    /// An embedded server with `policy` (declared) and an optional fault, as the fault and policy tests use.
    pub async fn embedded(
        policy: &TokenPolicy,
        fault: Option<tokenrequest_server::Fault>,
    ) -> Result<Self, TargetError> {
        let retired_keys = tokenrequest_envtest::pki::retired_keys(policy.signing_alg, policy.keys.saturating_sub(1))?;
        let embedded = InProcess::start(server_config(policy, fault, &retired_keys)).await?;
        let path = embedded.kubeconfig().to_owned();
        let mut target = Self::from_kubeconfig(&path, Some(policy.to_string()), Some(embedded)).await?;
        target.retired_keys = retired_keys;
        target.description = match fault {
            Some(fault) => format!("embedded server ({policy}, fault {fault})"),
            None => format!("embedded server ({policy})"),
        };
        Ok(target)
    }

    /// The API a kubeconfig names, declaring `declared` (a policy in `TokenPolicy`'s text form) and described as
    /// `description`: how the runner names its target. The run is owned by this process.
    pub async fn for_kubeconfig(
        path: &std::path::Path,
        declared: Option<String>,
        description: &str,
        retired_keys: &[RetiredKey],
    ) -> Result<Self, TargetError> {
        let mut target = Self::from_kubeconfig(path, declared, None).await?;
        description.clone_into(&mut target.description);
        target.retired_keys = retired_keys.to_vec();
        Ok(target)
    }

    async fn from_kubeconfig(
        path: &std::path::Path,
        declared: Option<String>,
        embedded: Option<InProcess>,
    ) -> Result<Self, TargetError> {
        let error = |source| TargetError::Kubeconfig {
            path: path.display().to_string(),
            source,
        };
        let kubeconfig = Kubeconfig::read_from(path).map_err(error)?;
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(error)?;
        // A retried request would hide what the server answered first.
        config.default_retry = false;
        config.read_timeout = Some(Duration::from_secs(30));
        let (run_id, salt) = match std::env::var(RUN_ID_ENV).ok().filter(|r| !r.is_empty()) {
            // Several processes share this id: tell their namespaces apart.
            Some(run_id) => (run_id, format!("-{}", &uuid::Uuid::new_v4().simple().to_string()[..4])),
            None => (uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(), String::new()),
        };
        Ok(Self {
            description: format!("kubeconfig {}", path.display()),
            config,
            declared,
            run: RunMark {
                id: run_id,
                owner: RunOwner::current(),
            },
            salt,
            namespaces: AtomicUsize::new(0),
            probed: tokio::sync::OnceCell::new(),
            retired_keys: Vec::new(),
            _embedded: embedded,
        })
    }

    /// The target of this test process, set up on first use.
    pub async fn shared() -> Result<Arc<Target>, CheckFailure> {
        static SHARED: tokio::sync::OnceCell<Arc<Target>> = tokio::sync::OnceCell::const_new();
        SHARED
            .get_or_try_init(|| async { Target::from_env().await.map(Arc::new) })
            .await
            .cloned()
            .map_err(|e| CheckFailure::setup("target", e))
    }

    /// For messages: which target this is.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// This run's id: the value of [`RUN_LABEL`].
    pub fn run_id(&self) -> &str {
        &self.run.id
    }

    /// What marks this run's objects.
    pub fn run(&self) -> &RunMark {
        &self.run
    }

    /// The private keys (PEM) of the target's retired service-account keys, when known: the `rotation` checks
    /// sign "pre-rotation" tokens with them.
    pub fn retired_keys(&self) -> &[RetiredKey] {
        &self.retired_keys
    }

    /// The declared policy, as `with_overrides` reads it.
    pub fn declared(&self) -> Option<&str> {
        self.declared.as_deref()
    }

    /// A fresh namespace name `trc-<runid>-<n>`.
    pub fn next_namespace(&self) -> String {
        let n = self.namespaces.fetch_add(1, Ordering::Relaxed);
        format!("trc-{}-{n}{}", self.run.id, self.salt)
    }

    /// The connection settings (plain data: a client must be built per runtime, see [`Target::client`]).
    pub fn config(&self) -> &kube::Config {
        &self.config
    }

    /// An admin client bound to the current runtime. kube's client runs a worker on the runtime that built it,
    /// and every test has its own runtime, so never share one between tests.
    pub fn client(&self) -> Result<kube::Client, CheckFailure> {
        kube::Client::try_from(self.config.clone()).map_err(|e| CheckFailure::setup("kube client", e))
    }

    /// A client that authenticates with `token` (a service-account token), or anonymously with `None`.
    pub fn client_as(&self, token: Option<&Token>) -> Result<kube::Client, CheckFailure> {
        let mut config = self.config.clone();
        config.auth_info = AuthInfo {
            token: token.map(|t| secrecy::SecretString::from(t.expose().to_owned())),
            ..AuthInfo::default()
        };
        kube::Client::try_from(config).map_err(|e| CheckFailure::setup("kube client", e))
    }

    /// Where [`crate::probe::probed`] keeps what it learned about this target.
    pub(crate) fn probed_cell(&self) -> &tokio::sync::OnceCell<Arc<Probed>> {
        &self.probed
    }

    /// The target's `/version` `gitVersion`, for reports (`None` when it cannot be read).
    pub async fn kubernetes_version(&self) -> Option<String> {
        let client = self.client().ok()?;
        let reply = crate::api::send(&client, crate::api::Call::get("/version"))
            .await
            .ok()?;
        reply.body["gitVersion"].as_str().map(str::to_owned)
    }
}
