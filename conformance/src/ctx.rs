//! What one check works with: an admin client built on the check's runtime, a namespace of its own (labelled
//! with the run id, deleted when the context is dropped), the probed policy, helpers that create objects and
//! request, review and use tokens through the public API, and the snapshots the check recorded.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, Secret, ServiceAccount};
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::{Value, json};
use tokenrequest_types::policy::TokenPolicy;
use tokenrequest_types::token::Token;
use tokenrequest_types::{TokenRequest, TokenRequestSpec, TokenReviewStatus};

use crate::api::{self, Call, Issued, Reply};
use crate::cleanup::Cleanup;
use crate::failure::CheckFailure;
use crate::objects;
use crate::probe::Probed;
use crate::target::Target;

/// How long to wait for an invalidation to show (R24: kube-apiserver caches successful authentications for 10 s
/// and validators read informer caches; on a server without caches the first poll succeeds).
pub const INVALIDATION_TIMEOUT: Duration = Duration::from_secs(20);

/// The context of one check.
pub struct Ctx {
    target: Arc<Target>,
    client: kube::Client,
    namespace: String,
    probed: Arc<Probed>,
    cleanup: Cleanup,
    snapshots: Mutex<Vec<(String, Value)>>,
}

impl Ctx {
    /// Probes the target (once per target), then creates this check's namespace.
    pub async fn new(target: Arc<Target>) -> Result<Self, CheckFailure> {
        let probed = crate::probe::probed(&target).await?;
        let client = target.client()?;
        let namespace = target.next_namespace();
        let cleanup = Cleanup::new(target.config().clone(), namespace.clone());
        objects::create_namespace(&client, &namespace, target.run()).await?;
        Ok(Self {
            target,
            client,
            namespace,
            probed,
            cleanup,
            snapshots: Mutex::new(Vec::new()),
        })
    }

    /// The check's namespace.
    pub fn ns(&self) -> &str {
        &self.namespace
    }

    /// The target's probed policy.
    pub fn policy(&self) -> &TokenPolicy {
        &self.probed.policy
    }

    /// Everything the probe learned.
    pub fn probed(&self) -> &Probed {
        &self.probed
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The admin client.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// Records a (redacted) value to be compared with its snapshot by the test that runs the check.
    pub fn snapshot(&self, name: &str, value: Value) {
        self.snapshots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((name.to_owned(), value));
    }

    /// The snapshots recorded so far.
    pub fn take_snapshots(&self) -> Vec<(String, Value)> {
        std::mem::take(&mut *self.snapshots.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn namespaced<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    async fn create<K>(&self, api: Api<K>, object: K) -> Result<K, CheckFailure>
    where
        K: kube::Resource<DynamicType = ()> + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let what = format!("create {} {:?}", K::kind(&()), object.meta().name);
        api.create(&PostParams::default(), &object)
            .await
            .map_err(|e| CheckFailure::setup(what, e))
    }

    /// Creates a service account in the namespace.
    pub async fn service_account(&self, name: &str) -> Result<ServiceAccount, CheckFailure> {
        self.create(self.namespaced(), objects::service_account(name)).await
    }

    /// Creates a service account unless it exists already (for checks that request several tokens).
    pub async fn ensure_service_account(&self, name: &str) -> Result<ServiceAccount, CheckFailure> {
        let api: Api<ServiceAccount> = self.namespaced();
        match api.get_opt(name).await {
            Ok(Some(existing)) => Ok(existing),
            Ok(None) => self.service_account(name).await,
            Err(e) => Err(CheckFailure::setup(format!("get service account {name}"), e)),
        }
    }

    /// Creates a pod running as `service_account`, on `node` if given.
    pub async fn pod(&self, name: &str, service_account: &str, node: Option<&str>) -> Result<Pod, CheckFailure> {
        self.create(self.namespaced(), objects::pod(name, service_account, node))
            .await
    }

    /// Creates a secret.
    pub async fn secret(&self, name: &str) -> Result<Secret, CheckFailure> {
        self.create(self.namespaced(), objects::secret(name)).await
    }

    /// Creates a node named after the namespace (nodes are cluster-scoped), deleted with the namespace.
    pub async fn node(&self, suffix: &str) -> Result<Node, CheckFailure> {
        let name = self.node_name(suffix);
        self.cleanup.add_node(name.clone());
        self.create(Api::all(self.client.clone()), objects::node(&name, self.target.run()))
            .await
    }

    /// The name [`Ctx::node`] gives a node (also for nodes that must not exist).
    pub fn node_name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.namespace)
    }

    /// Deletes a namespaced object now (grace period 0).
    pub async fn delete_now<K>(&self, name: &str) -> Result<(), CheckFailure>
    where
        K: kube::Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        self.namespaced::<K>()
            .delete(name, &DeleteParams::default().grace_period(0))
            .await
            .map(|_| ())
            .map_err(|e| CheckFailure::setup(format!("delete {} {name}", K::kind(&())), e))
    }

    /// Deletes a cluster-scoped object now (grace period 0).
    pub async fn delete_cluster_now<K>(&self, name: &str) -> Result<(), CheckFailure>
    where
        K: kube::Resource<Scope = ClusterResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        Api::<K>::all(self.client.clone())
            .delete(name, &DeleteParams::default().grace_period(0))
            .await
            .map(|_| ())
            .map_err(|e| CheckFailure::setup(format!("delete {} {name}", K::kind(&())), e))
    }

    /// Sends a call as the admin.
    pub async fn send(&self, call: Call<'_>) -> Result<Reply, CheckFailure> {
        api::send(&self.client, call).await
    }

    /// POSTs a raw JSON body to `service_account`'s token subresource (query string appended as given).
    pub async fn request_token_raw(
        &self,
        service_account: &str,
        query: &str,
        body: &Value,
    ) -> Result<Reply, CheckFailure> {
        let path = format!("{}{query}", api::token_path(&self.namespace, service_account));
        self.send(Call::post_json(&path, body)).await
    }

    /// Requests a token with `spec` and expects it issued (201).
    pub async fn issue(&self, service_account: &str, spec: TokenRequestSpec) -> Result<Issued, CheckFailure> {
        let request = TokenRequest {
            spec: Some(spec),
            ..TokenRequest::default()
        };
        let body = serde_json::to_value(&request).map_err(|e| CheckFailure::setup("encode TokenRequest", e))?;
        let reply = self.request_token_raw(service_account, "", &body).await?;
        Issued::from_reply("TokenRequest", reply)
    }

    /// Requests a token with default settings (no audiences, no expiration, unbound).
    pub async fn issue_default(&self, service_account: &str) -> Result<Issued, CheckFailure> {
        self.issue(service_account, TokenRequestSpec::default()).await
    }

    /// A TokenReview of `token` for `audiences` (none: the API audiences); the raw answer.
    pub async fn review_raw(&self, token: &str, audiences: &[String]) -> Result<Reply, CheckFailure> {
        let mut spec = json!({"token": token});
        if !audiences.is_empty() {
            spec["audiences"] = json!(audiences);
        }
        let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec});
        self.send(Call::post_json(api::TOKEN_REVIEWS, &body)).await
    }

    /// A TokenReview that must be answered 201 (R23); its status.
    pub async fn review(&self, token: &Token, audiences: &[String]) -> Result<TokenReviewStatus, CheckFailure> {
        let reply = self.review_raw(token.expose(), audiences).await?;
        reply.expect_code("TokenReview", 201)?;
        let review: tokenrequest_types::TokenReview = reply.json("TokenReview")?;
        Ok(review.status.unwrap_or_default())
    }

    /// A SelfSubjectReview made *with* `token` as bearer: 201 and the user when accepted, 401 when not (R22).
    pub async fn whoami(&self, token: &Token) -> Result<Reply, CheckFailure> {
        let client = self.target.client_as(Some(token))?;
        let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});
        api::send(&client, Call::post_json(api::SELF_SUBJECT_REVIEWS, &body)).await
    }

    /// Waits (bounded, R24) until `token` is refused both by TokenReview and as a bearer token (401).
    pub async fn expect_rejected_eventually(&self, token: &Token, why: &str) -> Result<(), CheckFailure> {
        let deadline = tokio::time::Instant::now() + INVALIDATION_TIMEOUT;
        loop {
            let review = self.review(token, &[]).await?;
            let bearer = self.whoami(token).await?;
            let rejected = review.authenticated != Some(true) && bearer.status.as_u16() == 401;
            if rejected {
                return crate::api::expect_unauthorized(&bearer);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(CheckFailure::mismatch(
                    format!("token {why}: still accepted after {INVALIDATION_TIMEOUT:?}"),
                    "TokenReview authenticated=false and bearer use 401",
                    format!(
                        "TokenReview authenticated={:?}, bearer use {}",
                        review.authenticated,
                        bearer.status.as_u16()
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
