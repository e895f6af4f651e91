//! What a cluster does to its objects beyond answering requests, so that clients see at start what they see on
//! a cluster:
//!
//! - **always**, as kube-apiserver itself does at start: the system namespaces `default`, `kube-system`,
//!   `kube-public` and `kube-node-lease` (pkg/controlplane/controller/systemnamespaces), written by the manager
//!   `kube-apiserver`;
//! - with [`Controllers::All`], the two controllers of kube-controller-manager that matter to tokens: the
//!   service-account controller, which keeps a `default` ServiceAccount in every active namespace
//!   (pkg/controller/serviceaccount/serviceaccounts_controller.go), and the namespace controller, which removes a
//!   Terminating namespace and its content (pkg/controller/namespace), here after a fixed delay.
//!
//! [`Controllers::None`] is a bare kube-apiserver (the envtest-style target the differential compares with).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;

use crate::managed_fields;
use crate::state::AppState;
use crate::store::Store;

/// The namespaces kube-apiserver creates at start.
pub const SYSTEM_NAMESPACES: [&str; 4] = ["default", "kube-node-lease", "kube-public", "kube-system"];

/// The ServiceAccount the service-account controller keeps in every namespace.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";

/// Which of kube-controller-manager's controllers run beside the API (`serve --controllers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Controllers {
    /// As a small cluster: `default` service accounts, namespaces that finish deleting.
    #[default]
    All,
    /// None: a bare kube-apiserver, where nothing creates service accounts and namespaces stay Terminating.
    None,
}

impl fmt::Display for Controllers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Controllers::All => "all",
            Controllers::None => "none",
        })
    }
}

/// A `--controllers` value that is neither `all` nor `none`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown controllers {0:?}; expected all or none")]
pub struct UnknownControllers(pub String);

impl FromStr for Controllers {
    type Err = UnknownControllers;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" => Ok(Controllers::All),
            "none" => Ok(Controllers::None),
            _ => Err(UnknownControllers(s.to_owned())),
        }
    }
}

/// kube-apiserver's start: the system namespaces, as its systemnamespaces controller creates them.
pub(crate) fn boot(store: &mut Store) {
    for name in SYSTEM_NAMESPACES {
        let mut namespace = Namespace {
            metadata: named(name),
            ..Namespace::default()
        };
        managed_fields::record(&mut namespace, "kube-apiserver");
        if let Err(error) = store.create("", namespace, false) {
            tracing::error!(namespace = name, %error, "creating a system namespace");
        }
    }
}

/// Runs the controllers until the server stops. Like kube-controller-manager's, they react to changes (the store's
/// notifier, as a watch): a missing `default` service account is created as soon as its namespace is, and a
/// namespace Terminating for `finalize_after` is removed when that time comes. Idle, they wait.
pub(crate) async fn run(state: AppState, finalize_after: Duration) {
    let mut changes = state.read().subscribe();
    loop {
        let cutoff = Timestamp::now() - finalize_after;
        if !state.read().controllers_idle(cutoff) {
            reconcile(&mut state.write(), cutoff);
        }
        // The next namespace to finalize, if any, is due `finalize_after` after its deletion began.
        let due = state.read().first_termination().map(|began| {
            let left = (began + finalize_after).duration_since(Timestamp::now());
            Duration::try_from(left).unwrap_or(Duration::ZERO)
        });
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = tokio::time::sleep(due.unwrap_or(Duration::MAX)), if due.is_some() => {}
        }
    }
}

/// One pass of both controllers over the store.
fn reconcile(store: &mut Store, cutoff: Timestamp) {
    for namespace in store.finalize_namespaces(cutoff) {
        tracing::info!(namespace, "namespace finalized");
    }
    for namespace in store.namespaces_without(DEFAULT_SERVICE_ACCOUNT) {
        let mut account = ServiceAccount {
            metadata: named(DEFAULT_SERVICE_ACCOUNT),
            ..ServiceAccount::default()
        };
        managed_fields::record(&mut account, "kube-controller-manager");
        match store.create(&namespace, account, false) {
            Ok(_) => tracing::info!(namespace, "created the default service account"),
            Err(error) => tracing::warn!(namespace, %error, "creating the default service account"),
        }
    }
}

fn named(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        ..ObjectMeta::default()
    }
}
