//! Leaving nothing behind: each check's namespace (and the Nodes it created) is deleted when its context is
//! dropped, pass, fail or panic; leftovers of earlier runs are swept when a target is first used. Nothing waits for
//! a deletion to finish: a bare kube-apiserver has no namespace controller, so namespaces stay Terminating.
//!
//! A run that was interrupted (Ctrl-C, a killed CI job) never drops its contexts. Its objects carry the run's
//! [`RunOwner`], the host and pid of the process whose life is the run's (`cargo xtask conformance`, or the test
//! process itself), so the next run on the same host sweeps them as soon as that process is gone, and spares those
//! of a run still going on however long it takes. Objects of runs on other hosts (or without an owner) are swept
//! by age.

use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{DeleteParams, ListParams};

use crate::run::{OWNER_ANNOTATION, RUN_LABEL, RunOwner, alive};
use crate::target::Target;

/// Objects of earlier runs whose owner cannot be asked (another host, or no owner recorded) and that are younger
/// than this may belong to a run still going on: leave them alone.
const SWEEP_MIN_AGE: Duration = Duration::from_secs(10 * 60);

/// Whether the sweep of run `this_run`, owned by `here`, deletes an object with `meta`: one of another run, not
/// already being deleted, whose owner is gone (same host) or which is older than `cutoff` (owner unknown).
fn is_leftover(
    meta: &ObjectMeta,
    this_run: &str,
    here: &RunOwner,
    cutoff: Timestamp,
    alive: impl Fn(u32) -> bool,
) -> bool {
    let run = meta.labels.as_ref().and_then(|l| l.get(RUN_LABEL)).map(String::as_str);
    if run == Some(this_run) || meta.deletion_timestamp.is_some() {
        return false;
    }
    let owner = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(OWNER_ANNOTATION))
        .and_then(|o| RunOwner::parse(o));
    match owner {
        Some(owner) if owner.host == here.host => !alive(owner.pid),
        _ => meta.creation_timestamp.as_ref().is_some_and(|t| t.0 < cutoff),
    }
}

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
    let cutoff = Timestamp::now() - SWEEP_MIN_AGE;
    let here = RunOwner::current();
    let stale = |meta: &ObjectMeta| is_leftover(meta, target.run_id(), &here, cutoff, alive);
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;

    const NOW: &str = "2026-11-25T12:00:00Z";

    fn here() -> RunOwner {
        RunOwner::parse("ci-host/100").unwrap()
    }

    fn object(run: &str, owner: Option<&str>, age_minutes: i64) -> ObjectMeta {
        let now: Timestamp = NOW.parse().unwrap();
        ObjectMeta {
            labels: Some(BTreeMap::from([(RUN_LABEL.to_owned(), run.to_owned())])),
            annotations: owner.map(|o| BTreeMap::from([(OWNER_ANNOTATION.to_owned(), o.to_owned())])),
            creation_timestamp: Some(Time(now - Duration::from_secs(age_minutes as u64 * 60))),
            ..ObjectMeta::default()
        }
    }

    fn leftover(meta: &ObjectMeta, alive_pids: &[u32]) -> bool {
        let cutoff = NOW.parse::<Timestamp>().unwrap() - SWEEP_MIN_AGE;
        is_leftover(meta, "mine", &here(), cutoff, |pid| alive_pids.contains(&pid))
    }

    #[test]
    fn a_run_whose_owner_is_gone_is_swept_at_once() {
        assert!(leftover(&object("other", Some("ci-host/200"), 0), &[100]));
    }

    #[test]
    fn a_run_whose_owner_lives_is_spared_however_old() {
        assert!(!leftover(&object("other", Some("ci-host/200"), 600), &[100, 200]));
    }

    #[test]
    fn runs_of_other_hosts_or_without_owner_are_swept_by_age() {
        for owner in [Some("laptop/200"), None, Some("not an owner")] {
            assert!(!leftover(&object("other", owner, 1), &[]), "{owner:?}");
            assert!(leftover(&object("other", owner, 11), &[]), "{owner:?}");
        }
    }

    #[test]
    fn this_run_and_objects_being_deleted_are_left_alone() {
        assert!(!leftover(&object("mine", Some("ci-host/200"), 60), &[]));
        let mut deleting = object("other", Some("ci-host/200"), 60);
        deleting.deletion_timestamp = deleting.creation_timestamp.clone();
        assert!(!leftover(&deleting, &[]));
    }

    #[test]
    fn owners_print_and_parse_back() {
        let owner = RunOwner::parse("host.example/4242").unwrap();
        assert_eq!(owner.to_string(), "host.example/4242");
        assert_eq!(RunOwner::parse(&owner.to_string()), Some(owner));
        assert_eq!(RunOwner::parse("host/not-a-pid"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_pid_past_the_limit_is_not() {
        assert!(alive(std::process::id()));
        assert!(!alive(u32::MAX));
    }
}
