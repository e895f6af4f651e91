//! The Kubernetes objects the checks create for themselves (a bare kube-apiserver has no `default` service
//! account, and pods must carry a valid spec), and bound-object references to them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Namespace, Node, Pod, PodSpec, Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::PostParams;
use tokenrequest_types::BoundObjectReference;
use tokenrequest_types::binding::BoundKind;

use crate::failure::CheckFailure;
use crate::run::{OWNER_ANNOTATION, RUN_LABEL, RunMark};

/// A pause image: pods never run on the targets that matter (no kubelet on a bare API server), but the spec
/// must be valid.
const POD_IMAGE: &str = "registry.k8s.io/pause:3.10";

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        ..ObjectMeta::default()
    }
}

/// The metadata of an object the sweep must find: labelled with the run id, annotated with its owner.
fn run_meta(name: &str, run: &RunMark) -> ObjectMeta {
    ObjectMeta {
        labels: Some(BTreeMap::from([(RUN_LABEL.to_owned(), run.id.clone())])),
        annotations: Some(BTreeMap::from([(OWNER_ANNOTATION.to_owned(), run.owner.to_string())])),
        ..meta(name)
    }
}

/// A namespace marked as the run's.
pub fn namespace(name: &str, run: &RunMark) -> Namespace {
    Namespace {
        metadata: run_meta(name, run),
        ..Namespace::default()
    }
}

/// A service account.
pub fn service_account(name: &str) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(name),
        ..ServiceAccount::default()
    }
}

/// A pod running as `service_account`, scheduled onto `node` when given (set at creation: nothing schedules
/// pods on a bare API server).
pub fn pod(name: &str, service_account: &str, node: Option<&str>) -> Pod {
    Pod {
        metadata: meta(name),
        spec: Some(PodSpec {
            service_account_name: Some(service_account.to_owned()),
            node_name: node.map(str::to_owned),
            containers: vec![Container {
                name: "pause".to_owned(),
                image: Some(POD_IMAGE.to_owned()),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

/// An opaque secret.
pub fn secret(name: &str) -> Secret {
    Secret {
        metadata: meta(name),
        ..Secret::default()
    }
}

/// A node marked as the run's (nodes are cluster-scoped: the sweep finds them by label).
pub fn node(name: &str, run: &RunMark) -> Node {
    Node {
        metadata: run_meta(name, run),
        ..Node::default()
    }
}

/// A `boundObjectRef` to an object of `kind` (apiVersion `v1`).
pub fn bound_ref(kind: BoundKind, name: &str, uid: Option<&str>) -> BoundObjectReference {
    BoundObjectReference {
        api_version: Some("v1".to_owned()),
        kind: Some(kind.kind().to_owned()),
        name: Some(name.to_owned()),
        uid: uid.map(str::to_owned),
    }
}

/// Creates a namespace marked as the run's.
pub async fn create_namespace(client: &kube::Client, name: &str, run: &RunMark) -> Result<Namespace, CheckFailure> {
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace(name, run))
        .await
        .map_err(|e| CheckFailure::setup(format!("create namespace {name}"), e))
}
