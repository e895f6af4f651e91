//! Start and stop the API servers a test runs against, as small explicit objects (controller-runtime's envtest
//! is the model): the embedded server (in process, or `kube-tokenrequest serve` as a child), a real
//! kube-apiserver + etcd built from Go modules, a kind cluster, a k3s container, or an existing cluster named by
//! a kubeconfig. Each ends up as one kubeconfig file; whatever was started is stopped by `stop`, on drop, and
//! (through [`interrupt`]) on Ctrl-C.
//!
//! ```no_run
//! use tokenrequest_envtest::target::{Cluster, Release, TargetSpec};
//! use tokenrequest_types::policy::{DEFAULT_ISSUER, TokenPolicy};
//!
//! let policy = TokenPolicy::defaults_for_issuer(DEFAULT_ISSUER);
//! let spec = TargetSpec::new(Cluster::Apiserver, Release::pinned("1.37")?, policy);
//! let running = spec.start(&mut |step| eprintln!("{step}"))?;
//! // ... point kube-rs (or anything) at running.kubeconfig() ...
//! running.stop(false)?;
//! # Ok::<(), tokenrequest_envtest::Error>(())
//! ```
//!
//! One job, one piece of code: [`supervisor`] is the only process supervisor, [`http`] the only raw HTTP client,
//! [`pki`] makes key material around `tokenrequest_server::tls::LoopbackCertificates` (the only certificate
//! maker), and kubeconfigs are written and read by `tokenrequest_types::kubeconfig`. [`progress`] draws the steps
//! of a long run (a start, a build, a run of checks) on a terminal, for every binary of the workspace.
//!
//! Architecture invariant: no check of the suite and no report lives here; a target knows how to start, wait for
//! and stop one kind of cluster, and nothing else.

/// `return Err(Error::Failed(format!(...)))`.
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err($crate::Error::Failed(format!($($arg)*)))
    };
}

/// `Error::Failed(format!(...))`.
macro_rules! format_err {
    ($($arg:tt)*) => {
        $crate::Error::Failed(format!($($arg)*))
    };
}

pub mod controlplane;
pub mod embedded;
pub mod engine;
mod error;
pub mod existing;
pub mod http;
pub mod interrupt;
pub mod k3s;
pub mod kind;
pub mod pki;
pub mod progress;
pub mod supervisor;
pub mod target;

pub use crate::error::{Context, Error, Result};
