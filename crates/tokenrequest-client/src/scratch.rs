//! Throwaway objects for probing a cluster: a labelled namespace with its own service account, pod and secret,
//! and a node. Created with unique names, deleted afterwards without waiting (a bare kube-apiserver has no
//! namespace controller, so a namespace may stay `Terminating` forever).

use k8s_openapi::api::core::v1::{Container, Namespace, Node, Pod, PodSpec, Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Resource};

/// The label on every scratch namespace, for sweeping leftovers.
pub const PROBE_LABEL: &str = "tokenrequest.dev/probe";

/// A never-pulled image: scratch pods are never scheduled, but a pod needs one.
const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";

/// Why a scratch object could not be created.
#[derive(Debug, thiserror::Error)]
#[error("cannot create the scratch {kind} {name:?}")]
pub struct ScratchError {
    kind: &'static str,
    name: String,
    #[source]
    source: kube::Error,
}

/// The objects one probe uses. Names and uids are what the cluster assigned.
pub(crate) struct Scratch {
    client: kube::Client,
    pub(crate) namespace: String,
    pub(crate) service_account: String,
    pub(crate) pod: Option<(String, String)>,
    pub(crate) secret: Option<(String, String)>,
    pub(crate) node: Option<(String, String)>,
}

impl Scratch {
    /// Creates the namespace and the service account; the bound objects come with [`Scratch::create_bound_objects`].
    pub(crate) async fn create(client: kube::Client) -> Result<Self, ScratchError> {
        let suffix = format!("{:08x}", rand::random::<u32>());
        let namespace = format!("tokenrequest-probe-{suffix}");
        let scratch = Self {
            client,
            namespace,
            service_account: "probe".to_owned(),
            pod: None,
            secret: None,
            node: None,
        };
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(scratch.namespace.clone()),
                labels: Some([(PROBE_LABEL.to_owned(), "true".to_owned())].into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        create("namespace", Api::<Namespace>::all(scratch.client.clone()), ns).await?;
        // Never rely on `default`: without a controller-manager it does not exist.
        let sa = ServiceAccount {
            metadata: named(&scratch.service_account),
            ..ServiceAccount::default()
        };
        create("service account", scratch.namespaced(), sa).await?;
        Ok(scratch)
    }

    /// Creates a pod running as the service account, a secret, and a node (with a unique name).
    pub(crate) async fn create_bound_objects(&mut self) -> Result<(), ScratchError> {
        let pod = Pod {
            metadata: named("probe"),
            spec: Some(PodSpec {
                service_account_name: Some(self.service_account.clone()),
                containers: vec![Container {
                    name: "pause".to_owned(),
                    image: Some(PAUSE_IMAGE.to_owned()),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
            ..Pod::default()
        };
        self.pod = Some(create("pod", self.namespaced(), pod).await?);
        let secret = Secret {
            metadata: named("probe"),
            ..Secret::default()
        };
        self.secret = Some(create("secret", self.namespaced(), secret).await?);
        let node = Node {
            metadata: named(&format!("{}-node", self.namespace)),
            ..Node::default()
        };
        self.node = Some(create("node", Api::<Node>::all(self.client.clone()), node).await?);
        Ok(())
    }

    /// Deletes everything, best effort: failures are logged, as nothing can be done about them here.
    pub(crate) async fn delete(self) {
        let now = DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        };
        if let Some((name, _)) = &self.node {
            log_delete(
                "node",
                name,
                Api::<Node>::all(self.client.clone()).delete(name, &now).await,
            );
        }
        if let Some((name, _)) = &self.pod {
            log_delete("pod", name, self.namespaced::<Pod>().delete(name, &now).await);
        }
        if let Some((name, _)) = &self.secret {
            log_delete("secret", name, self.namespaced::<Secret>().delete(name, &now).await);
        }
        let sa = &self.service_account;
        log_delete(
            "serviceaccount",
            sa,
            self.namespaced::<ServiceAccount>().delete(sa, &now).await,
        );
        let ns = &self.namespace;
        log_delete(
            "namespace",
            ns,
            Api::<Namespace>::all(self.client.clone()).delete(ns, &now).await,
        );
    }

    fn namespaced<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }
}

fn named(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        ..ObjectMeta::default()
    }
}

/// Creates `object` (a `kind`, for the error) and returns its name and uid.
async fn create<K>(kind: &'static str, api: Api<K>, object: K) -> Result<(String, String), ScratchError>
where
    K: Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let created = api
        .create(&PostParams::default(), &object)
        .await
        .map_err(|source| ScratchError {
            kind,
            name: name.clone(),
            source,
        })?;
    let uid = created.meta().uid.clone().unwrap_or_default();
    Ok((name, uid))
}

fn log_delete<T>(kind: &str, name: &str, result: Result<T, kube::Error>) {
    if let Err(error) = result {
        tracing::warn!(kind, name, %error, "cannot delete a scratch object");
    }
}
