//! The Kubernetes objects the checks create for themselves (a bare kube-apiserver has no `default` service
//! account, and pods must carry a valid spec), and bound-object references to them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Namespace, Node, Pod, PodSpec, Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use tokenrequest_types::BoundObjectReference;
use tokenrequest_types::binding::BoundKind;

use crate::target::RUN_LABEL;

/// A pause image: pods never run on the targets that matter (no kubelet on a bare API server), but the spec
/// must be valid.
const POD_IMAGE: &str = "registry.k8s.io/pause:3.10";

fn meta(name: &str, run_id: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        labels: run_id.map(|r| BTreeMap::from([(RUN_LABEL.to_owned(), r.to_owned())])),
        ..ObjectMeta::default()
    }
}

/// A namespace labelled with the run id.
pub fn namespace(name: &str, run_id: &str) -> Namespace {
    Namespace {
        metadata: meta(name, Some(run_id)),
        ..Namespace::default()
    }
}

/// A service account.
pub fn service_account(name: &str) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(name, None),
        ..ServiceAccount::default()
    }
}

/// A pod running as `service_account`, scheduled onto `node` when given (set at creation: nothing schedules
/// pods on a bare API server).
pub fn pod(name: &str, service_account: &str, node: Option<&str>) -> Pod {
    Pod {
        metadata: meta(name, None),
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
        metadata: meta(name, None),
        ..Secret::default()
    }
}

/// A node labelled with the run id (nodes are cluster-scoped: the sweep finds them by label).
pub fn node(name: &str, run_id: &str) -> Node {
    Node {
        metadata: meta(name, Some(run_id)),
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
