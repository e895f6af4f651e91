//! Leaving nothing behind: each check's namespace (and the Nodes it created) is deleted when its context is
//! dropped, pass, fail or panic; leftovers of earlier runs are swept when a target is first used. Nothing waits for
//! a deletion to finish: a bare kube-apiserver has no namespace controller, so namespaces stay Terminating.

use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::Api;
use kube::api::{DeleteParams, ListParams};

use crate::target::{RUN_LABEL, Target};

/// Objects of earlier runs younger than this may belong to a run still going on (another process against the
/// same cluster, e.g. nextest's process per test): leave them alone.
const SWEEP_MIN_AGE: Duration = Duration::from_secs(10 * 60);

/// Deletes what one check created, from a thread of its own when dropped.
pub struct Cleanup {
    config: kube::Config,
    namespace: String,
    nodes: Mutex<Vec<String>>,
}

impl Cleanup {
    /// Will delete `namespace` (created or not) with the target's credentials.
    pub fn new(config: kube::Config, namespace: String) -> Self {
        Self {
            config,
            namespace,
            nodes: Mutex::new(Vec::new()),
        }
    }

    /// Also delete this cluster-scoped Node.
    pub fn add_node(&self, name: String) {
        self.nodes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(name);
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let config = self.config.clone();
        let namespace = std::mem::take(&mut self.namespace);
        let nodes = std::mem::take(&mut *self.nodes.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        // The test's runtime may be gone (or be the one panicking): use a fresh one, and do not wait for it.
        std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async move {
                let Ok(client) = kube::Client::try_from(config) else {
                    return;
                };
                let now = DeleteParams::default();
                for node in nodes {
                    let _ = Api::<Node>::all(client.clone()).delete(&node, &now).await;
                }
                let _ = Api::<Namespace>::all(client).delete(&namespace, &now).await;
            });
        });
    }
}

/// Deletes namespaces and nodes that earlier runs labelled and left behind (best effort, errors ignored: the
/// sweep must never fail a run).
pub async fn sweep(target: &Target) {
    let Ok(client) = target.client() else {
        return;
    };
    let selector = ListParams::default().labels(RUN_LABEL);
    let cutoff = k8s_openapi::jiff::Timestamp::now() - SWEEP_MIN_AGE;
    let stale = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        let other_run =
            meta.labels.as_ref().and_then(|l| l.get(RUN_LABEL)).map(String::as_str) != Some(target.run_id());
        let old = meta.creation_timestamp.as_ref().is_some_and(|t| t.0 < cutoff);
        other_run && old && meta.deletion_timestamp.is_none()
    };
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if let Ok(list) = namespaces.list(&selector).await {
        for ns in list.items.iter().filter(|ns| stale(&ns.metadata)) {
            if let Some(name) = &ns.metadata.name {
                let _ = namespaces.delete(name, &DeleteParams::default()).await;
            }
        }
    }
    let nodes: Api<Node> = Api::all(client);
    if let Ok(list) = nodes.list(&selector).await {
        for node in list.items.iter().filter(|n| stale(&n.metadata)) {
            if let Some(name) = &node.metadata.name {
                let _ = nodes.delete(name, &DeleteParams::default()).await;
            }
        }
    }
}
