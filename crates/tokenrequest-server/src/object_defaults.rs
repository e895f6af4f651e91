//! What kube-apiserver fills in on the objects tokens bind to when they are created, so that `kubectl get -o yaml`
//! and client libraries see the same Pods and Nodes from this server as from a real one (v1.37.1, observed in
//! `cargo xtask differential`): the API defaults of `pkg/apis/core/v1/defaults.go`, the Pod strategy
//! (`pkg/registry/core/pod/strategy.go`: generation, QoS class), and the defaulting admission plugins
//! (Priority, DefaultTolerationSeconds, TaintNodesByCondition).

use k8s_openapi::api::core::v1::{
    Container, DaemonEndpoint, Node, NodeDaemonEndpoints, NodeSpec, NodeStatus, NodeSystemInfo, Pod,
    PodSecurityContext, PodStatus, ResourceRequirements, Taint, Toleration,
};

/// Seconds a pod tolerates a not-ready or unreachable node (DefaultTolerationSeconds admission).
const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// A new pod's API defaults, applied when the request is decoded (so they are the client's in `managedFields`).
pub fn pod_api_defaults(pod: &mut Pod) {
    let Some(spec) = pod.spec.as_mut() else {
        return;
    };
    spec.restart_policy.get_or_insert_with(|| "Always".to_owned());
    spec.dns_policy.get_or_insert_with(|| "ClusterFirst".to_owned());
    spec.termination_grace_period_seconds.get_or_insert(30);
    spec.scheduler_name
        .get_or_insert_with(|| "default-scheduler".to_owned());
    spec.enable_service_links.get_or_insert(true);
    spec.security_context.get_or_insert_with(PodSecurityContext::default);
    // The deprecated `serviceAccount` mirrors `serviceAccountName` (pkg/api/v1/pod conversion).
    if spec.service_account.is_none() {
        spec.service_account.clone_from(&spec.service_account_name);
    }
    for container in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
    {
        self::container(container);
    }
}

/// What admission and the Pod strategy add to a new pod after its API defaults. Its spec and containers must
/// exist (validation runs first).
pub fn pod_admitted(pod: &mut Pod) {
    pod.metadata.generation = Some(1);
    let Some(spec) = pod.spec.as_mut() else {
        return;
    };
    // Priority admission: no priority class, so the default priority and preemption policy.
    spec.priority.get_or_insert(0);
    spec.preemption_policy
        .get_or_insert_with(|| "PreemptLowerPriority".to_owned());
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
        if !tolerations.iter().any(|t| t.key.as_deref() == Some(key)) {
            tolerations.push(Toleration {
                key: Some(key.to_owned()),
                operator: Some("Exists".to_owned()),
                effect: Some("NoExecute".to_owned()),
                toleration_seconds: Some(DEFAULT_TOLERATION_SECONDS),
                value: None,
            });
        }
    }
    let qos_class = qos_class(&spec.containers);
    pod.status = Some(PodStatus {
        phase: Some("Pending".to_owned()),
        qos_class: Some(qos_class.to_owned()),
        ..PodStatus::default()
    });
}

fn container(container: &mut Container) {
    if container.image_pull_policy.is_none() {
        let policy = if image_tag(container.image.as_deref().unwrap_or("")) == Some("latest") {
            "Always"
        } else {
            "IfNotPresent"
        };
        container.image_pull_policy = Some(policy.to_owned());
    }
    container.resources.get_or_insert_with(ResourceRequirements::default);
    container
        .termination_message_path
        .get_or_insert_with(|| "/dev/termination-log".to_owned());
    container
        .termination_message_policy
        .get_or_insert_with(|| "File".to_owned());
}

/// The tag of an image reference as `parsers.ParseImageName` reads it: `latest` when there is neither a tag nor
/// a digest, none with a digest.
fn image_tag(image: &str) -> Option<&str> {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains('@') {
        return None;
    }
    Some(last.split_once(':').map_or("latest", |(_, tag)| tag))
}

/// `pkg/apis/core/helper/qos`: BestEffort without any request or limit, Guaranteed when every container limits
/// CPU and memory with requests equal to the limits (or unset), Burstable otherwise.
fn qos_class(containers: &[Container]) -> &'static str {
    let resources = |c: &Container| c.resources.clone().unwrap_or_default();
    let any = containers.iter().map(resources).any(|r| {
        r.requests.as_ref().is_some_and(|m| !m.is_empty()) || r.limits.as_ref().is_some_and(|m| !m.is_empty())
    });
    if !any {
        return "BestEffort";
    }
    let guaranteed = containers.iter().map(resources).all(|r| {
        let limits = r.limits.unwrap_or_default();
        let requests = r.requests.unwrap_or_default();
        ["cpu", "memory"].iter().all(|name| {
            limits
                .get(*name)
                .is_some_and(|limit| requests.get(*name).is_none_or(|request| request == limit))
        })
    });
    if guaranteed { "Guaranteed" } else { "Burstable" }
}

/// The answer to a pod's deletion: marked as deleted now with a grace period of 0 (it is removed at once: no kubelet
/// here would ever confirm a graceful one), its generation bumped.
pub fn pod_deleted(pod: &mut Pod, now: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) {
    pod.metadata.deletion_timestamp = Some(now);
    pod.metadata.deletion_grace_period_seconds = Some(0);
    pod.metadata.generation = Some(pod.metadata.generation.unwrap_or(1) + 1);
}

/// A new node's defaults: not ready until a kubelet says otherwise (TaintNodesByCondition admission), and the
/// status structs Go always encodes.
pub fn node(node: &mut Node) {
    let spec = node.spec.get_or_insert_with(NodeSpec::default);
    let taints = spec.taints.get_or_insert_with(Vec::new);
    if !taints.iter().any(|t| t.key == "node.kubernetes.io/not-ready") {
        taints.push(Taint {
            key: "node.kubernetes.io/not-ready".to_owned(),
            effect: "NoSchedule".to_owned(),
            ..Taint::default()
        });
    }
    let status = node.status.get_or_insert_with(NodeStatus::default);
    status.daemon_endpoints.get_or_insert(NodeDaemonEndpoints {
        kubelet_endpoint: Some(DaemonEndpoint { port: 0 }),
    });
    status.node_info.get_or_insert_with(NodeSystemInfo::default);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use serde_json::json;

    use super::*;

    #[test]
    fn a_pod_gets_what_kube_apiserver_gives_it() {
        // The body and answer of `create pod` in `cargo xtask differential` (kube-apiserver v1.37.1).
        let mut pod: Pod = serde_json::from_value(json!({"metadata": {"name": "pod-0"}, "spec": {
            "serviceAccountName": "sa-0", "automountServiceAccountToken": false, "nodeName": "d1-node-0",
            "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}))
        .unwrap();
        pod_api_defaults(&mut pod);
        pod_admitted(&mut pod);
        let value = serde_json::to_value(&pod).unwrap();
        assert_eq!(value["metadata"]["generation"], 1);
        assert_eq!(
            value["spec"]["containers"][0],
            json!({"name": "c", "image": "registry.k8s.io/pause:3.10", "imagePullPolicy": "IfNotPresent",
                "resources": {}, "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"})
        );
        for (field, expected) in [
            ("enableServiceLinks", json!(true)),
            ("preemptionPolicy", json!("PreemptLowerPriority")),
            ("priority", json!(0)),
            ("securityContext", json!({})),
            ("serviceAccount", json!("sa-0")),
            (
                "tolerations",
                json!([
                    {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
                    {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}
                ]),
            ),
        ] {
            assert_eq!(value["spec"][field], expected, "{field}");
        }
        assert_eq!(value["status"], json!({"phase": "Pending", "qosClass": "BestEffort"}));
    }

    #[test]
    fn image_pull_policy_follows_the_tag() {
        for (image, policy) in [
            ("busybox", "Always"),
            ("busybox:latest", "Always"),
            ("registry:5000/busybox", "Always"),
            ("registry:5000/busybox:1.36", "IfNotPresent"),
            ("busybox@sha256:0123", "IfNotPresent"),
        ] {
            let mut c = Container {
                image: Some(image.to_owned()),
                ..Container::default()
            };
            container(&mut c);
            assert_eq!(c.image_pull_policy.as_deref(), Some(policy), "{image}");
        }
    }

    #[test]
    fn qos_classes() {
        let with = |requests: &[(&str, &str)], limits: &[(&str, &str)]| {
            let map = |pairs: &[(&str, &str)]| {
                (!pairs.is_empty()).then(|| {
                    pairs
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned())))
                        .collect::<BTreeMap<_, _>>()
                })
            };
            Container {
                resources: Some(ResourceRequirements {
                    requests: map(requests),
                    limits: map(limits),
                    ..ResourceRequirements::default()
                }),
                ..Container::default()
            }
        };
        assert_eq!(qos_class(&[Container::default()]), "BestEffort");
        assert_eq!(qos_class(&[with(&[("cpu", "1")], &[])]), "Burstable");
        assert_eq!(
            qos_class(&[with(&[], &[("cpu", "1"), ("memory", "1Gi")])]),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&[with(&[("cpu", "500m")], &[("cpu", "1"), ("memory", "1Gi")])]),
            "Burstable"
        );
    }

    #[test]
    fn a_node_is_not_ready_and_carries_go_s_empty_status() {
        let mut node = Node::default();
        self::node(&mut node);
        let value = serde_json::to_value(&node).unwrap();
        assert_eq!(
            value["spec"],
            json!({"taints": [{"effect": "NoSchedule", "key": "node.kubernetes.io/not-ready"}]})
        );
        assert_eq!(
            value["status"]["daemonEndpoints"],
            json!({"kubeletEndpoint": {"Port": 0}})
        );
        assert_eq!(
            value["status"]["nodeInfo"],
            json!({"architecture": "", "bootID": "", "containerRuntimeVersion": "", "kernelVersion": "",
                "kubeProxyVersion": "", "kubeletVersion": "", "machineID": "", "operatingSystem": "", "osImage": "",
                "systemUUID": ""})
        );
    }
}
