//! The in-memory object store: namespaces, service accounts, pods, secrets and nodes, with kube-apiserver's
//! bookkeeping (uid, one strictly increasing resourceVersion, creationTimestamp) and the defaults and validation
//! kubectl's objects need. One lock around the whole store (in `AppState`) keeps it simple and consistent: a
//! request either changes it completely or not at all.

use std::collections::{BTreeMap, VecDeque};

use k8s_openapi::ByteString;
use k8s_openapi::Resource as _;
use k8s_openapi::api::core::v1::{Namespace, NamespaceSpec, NamespaceStatus, Node, Pod, Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use rand::Rng as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokenrequest_types::admission;
use tokenrequest_types::field::{FieldError, FieldErrorKind, FieldValue};
use tokenrequest_types::status::{self, StatusError};

use crate::object_defaults;

/// `(namespace, name)`; the namespace is empty for cluster-scoped objects.
pub type Key = (String, String);

/// How many changes the store remembers for watches (kube-apiserver's watch cache keeps a window of recent events
/// per resource; a watch from before the window gets 410 Expired).
pub const HISTORY: usize = 1000;

/// The objects of every kind, the global resourceVersion counter (etcd's revision), and the recent changes a
/// watch replays.
#[derive(Debug)]
pub struct Store {
    revision: u64,
    namespaces: BTreeMap<Key, Namespace>,
    service_accounts: BTreeMap<Key, ServiceAccount>,
    pods: BTreeMap<Key, Pod>,
    secrets: BTreeMap<Key, Secret>,
    nodes: BTreeMap<Key, Node>,
    changes: VecDeque<Change>,
    /// The highest revision whose change has been forgotten: a watch must start at or after it.
    compacted: u64,
    /// The revision of the last change, for watches waiting for the next.
    notify: tokio::sync::watch::Sender<u64>,
}

impl Default for Store {
    fn default() -> Self {
        Self {
            revision: 0,
            namespaces: BTreeMap::new(),
            service_accounts: BTreeMap::new(),
            pods: BTreeMap::new(),
            secrets: BTreeMap::new(),
            nodes: BTreeMap::new(),
            changes: VecDeque::new(),
            compacted: 0,
            notify: tokio::sync::watch::Sender::new(0),
        }
    }
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    /// Created.
    Added,
    /// Updated (a namespace marked for deletion included).
    Modified,
    /// Removed.
    Deleted,
}

/// One change of a stored object, as a watch reports it.
#[derive(Debug, Clone)]
pub struct Change {
    /// The revision the change made.
    pub revision: u64,
    /// The resource (`pods`).
    pub resource: &'static str,
    /// The object's namespace (empty for cluster-scoped kinds).
    pub namespace: String,
    /// What happened.
    pub change: ChangeType,
    /// The object after the change (as deleted, for a deletion), with apiVersion and kind.
    pub object: serde_json::Value,
    /// The object before an update, to tell whether it left a watch's selector.
    pub previous: Option<serde_json::Value>,
}

/// A kind the store keeps: its table, its scope, and what kube-apiserver does to it on create and delete.
pub trait Object:
    k8s_openapi::Resource
    + k8s_openapi::Metadata<Ty = ObjectMeta>
    + Clone
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// Whether objects live in a namespace.
    const NAMESPACED: bool;
    /// Whether DELETE answers with the object (`ReturnDeletedObject: true` in the kind's
    /// pkg/registry/core/*/storage/storage.go) rather than a `Status` of success.
    const DELETE_RETURNS_OBJECT: bool;

    /// The kind's table.
    fn table(store: &Store) -> &BTreeMap<Key, Self>;
    /// The kind's table, to change it.
    fn table_mut(store: &mut Store) -> &mut BTreeMap<Key, Self>;

    /// The API defaults applied when a request is decoded (pkg/apis/core/v1/defaults.go): before admission, and
    /// part of what the client is recorded to have set in `managedFields`. Applying them twice changes nothing.
    fn apply_api_defaults(&mut self) {}

    /// Admission at create, once the namespace is known to exist (NamespaceLifecycle) and before defaults and
    /// validation: mutating admission runs before the storage's `BeforeCreate` (apiserver handlers/create.go).
    fn admit(&mut self, _store: &Store, _namespace: &str, _name: &str) -> Result<(), StatusError> {
        Ok(())
    }

    /// Defaults and validation at create (the kind's strategy `PrepareForCreate` and `Validate`), after the name
    /// is known. Field errors become a 422.
    fn prepare_for_create(&mut self) -> Vec<FieldError> {
        Vec::new()
    }

    /// What the kind's strategy keeps from `old` on an update (`PrepareForUpdate`: status lives in its own
    /// subresource, so an update of the object never changes it).
    fn prepare_for_update(&mut self, _old: &Self) {}

    /// The kind's update validation (`ValidateUpdate`) beyond the object metadata.
    fn validate_update(&self, _old: &Self) -> Vec<FieldError> {
        Vec::new()
    }

    /// Starts deleting the object at `now`; returns whether it stays, marked, until a controller finishes the
    /// deletion. Objects of every kind but Namespace go at once (a grace period of 0: nothing here would ever
    /// finish a graceful deletion).
    fn begin_deletion(&mut self, _now: Time) -> bool {
        false
    }
}

impl Object for Namespace {
    const NAMESPACED: bool = false;
    // The namespace REST (pkg/registry/core/namespace/storage/storage.go) answers a delete with the namespace.
    const DELETE_RETURNS_OBJECT: bool = true;

    fn table(store: &Store) -> &BTreeMap<Key, Self> {
        &store.namespaces
    }
    fn table_mut(store: &mut Store) -> &mut BTreeMap<Key, Self> {
        &mut store.namespaces
    }

    // SetDefaults_Namespace: the immutable `kubernetes.io/metadata.name` label (since 1.21), once the name is known.
    fn apply_api_defaults(&mut self) {
        if let Some(name) = self.metadata.name.clone().filter(|n| !n.is_empty()) {
            self.metadata
                .labels
                .get_or_insert_with(BTreeMap::new)
                .insert("kubernetes.io/metadata.name".to_owned(), name);
        }
    }

    fn prepare_for_create(&mut self) -> Vec<FieldError> {
        // pkg/registry/core/namespace/strategy.go: status Active, the "kubernetes" finalizer, and the name label
        // (again: a generated name is known only now).
        self.apply_api_defaults();
        self.spec = Some(NamespaceSpec {
            finalizers: Some(vec!["kubernetes".to_owned()]),
        });
        self.status = Some(NamespaceStatus {
            phase: Some("Active".to_owned()),
            ..NamespaceStatus::default()
        });
        Vec::new()
    }

    // namespaceStrategy.PrepareForUpdate: finalizers change through the `finalize` subresource, status through
    // `status`.
    fn prepare_for_update(&mut self, old: &Self) {
        self.spec.clone_from(&old.spec);
        self.status.clone_from(&old.status);
    }

    // pkg/registry/core/namespace/storage/storage.go `Delete`: a namespace with finalizers is marked and becomes
    // Terminating; the namespace controller removes its content, then the namespace (Store::finalize_namespaces).
    fn begin_deletion(&mut self, now: Time) -> bool {
        self.metadata.deletion_timestamp = Some(now);
        self.status.get_or_insert_with(NamespaceStatus::default).phase = Some("Terminating".to_owned());
        true
    }
}

impl Object for ServiceAccount {
    const NAMESPACED: bool = true;
    const DELETE_RETURNS_OBJECT: bool = true;

    fn table(store: &Store) -> &BTreeMap<Key, Self> {
        &store.service_accounts
    }
    fn table_mut(store: &mut Store) -> &mut BTreeMap<Key, Self> {
        &mut store.service_accounts
    }
}

impl Object for Pod {
    const NAMESPACED: bool = true;
    const DELETE_RETURNS_OBJECT: bool = true;

    fn table(store: &Store) -> &BTreeMap<Key, Self> {
        &store.pods
    }
    fn table_mut(store: &mut Store) -> &mut BTreeMap<Key, Self> {
        &mut store.pods
    }

    // The ServiceAccount admission plugin: a pod runs as an existing service account (`default` if it names none).
    fn admit(&mut self, store: &Store, namespace: &str, name: &str) -> Result<(), StatusError> {
        let service_account = admission::default_service_account(self.spec.get_or_insert_with(Default::default));
        match store.get::<ServiceAccount>(namespace, service_account) {
            Some(_) => Ok(()),
            None => Err(admission::missing_service_account(namespace, name, service_account).into()),
        }
    }

    fn apply_api_defaults(&mut self) {
        object_defaults::pod_api_defaults(self);
    }

    fn begin_deletion(&mut self, now: Time) -> bool {
        object_defaults::pod_deleted(self, now);
        false
    }

    // podStrategy.PrepareForUpdate: status is the kubelet's, through `status`; a change of the spec is a new
    // generation (observed on kube-apiserver v1.37.1 by the differential check).
    fn prepare_for_update(&mut self, old: &Self) {
        self.status.clone_from(&old.status);
        if self.spec != old.spec {
            self.metadata.generation = Some(old.metadata.generation.unwrap_or_default() + 1);
        }
    }

    // ValidatePodUpdate (pkg/apis/core/validation/validation.go): of a pod's spec, only images, the active
    // deadline, added tolerations and the grace period may change. kube-apiserver appends a diff of its internal
    // PodSpec to the message, which this server does not reproduce.
    fn validate_update(&self, old: &Self) -> Vec<FieldError> {
        let mutable_cleared = |pod: &Pod| {
            let mut spec = serde_json::to_value(&pod.spec).unwrap_or_default();
            for list in ["containers", "initContainers"] {
                if let Some(containers) = spec.get_mut(list).and_then(serde_json::Value::as_array_mut) {
                    for container in containers {
                        container["image"] = serde_json::Value::Null;
                    }
                }
            }
            if let Some(spec) = spec.as_object_mut() {
                for field in ["activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"] {
                    spec.remove(field);
                }
            }
            spec
        };
        if mutable_cleared(self) == mutable_cleared(old) {
            return Vec::new();
        }
        vec![FieldError::forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,\
             `spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),\
             `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
        )]
    }

    fn prepare_for_create(&mut self) -> Vec<FieldError> {
        let Some(spec) = self.spec.as_mut() else {
            return vec![required("spec.containers")];
        };
        if spec.containers.is_empty() {
            return vec![required("spec.containers")];
        }
        self.apply_api_defaults();
        object_defaults::pod_admitted(self);
        Vec::new()
    }
}

impl Object for Secret {
    const NAMESPACED: bool = true;
    const DELETE_RETURNS_OBJECT: bool = false;

    fn table(store: &Store) -> &BTreeMap<Key, Self> {
        &store.secrets
    }
    fn table_mut(store: &mut Store) -> &mut BTreeMap<Key, Self> {
        &mut store.secrets
    }

    // Decoding a v1 Secret: SetDefaults_Secret (pkg/apis/core/v1/defaults.go) gives it type Opaque, and the
    // conversion to the internal type (pkg/apis/core/v1/conversion.go `Convert_v1_Secret_To_core_Secret`) merges
    // `stringData` into `data`, a key of both taking its `stringData` value; the internal type has no
    // `stringData`, so it is never stored nor answered.
    fn apply_api_defaults(&mut self) {
        self.type_.get_or_insert_with(|| "Opaque".to_owned());
        if let Some(strings) = self.string_data.take() {
            let data = self.data.get_or_insert_with(BTreeMap::new);
            for (key, value) in strings {
                data.insert(key, ByteString(value.into_bytes()));
            }
        }
    }

    fn prepare_for_create(&mut self) -> Vec<FieldError> {
        self.apply_api_defaults();
        Vec::new()
    }

    // ValidateSecretUpdate: the type never changes; an immutable secret keeps its data and stays immutable.
    fn validate_update(&self, old: &Self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.type_ != old.type_ {
            errors.push(FieldError::invalid(
                "type",
                FieldValue::Str(self.type_.clone().unwrap_or_default()),
                "field is immutable",
            ));
        }
        if old.immutable == Some(true) {
            const DETAIL: &str = "field is immutable when `immutable` is set";
            if self.immutable != Some(true) {
                errors.push(FieldError::forbidden("immutable", DETAIL));
            }
            if self.data != old.data {
                errors.push(FieldError::forbidden("data", DETAIL));
            }
        }
        errors
    }
}

impl Object for Node {
    const NAMESPACED: bool = false;
    const DELETE_RETURNS_OBJECT: bool = false;

    fn table(store: &Store) -> &BTreeMap<Key, Self> {
        &store.nodes
    }
    fn table_mut(store: &mut Store) -> &mut BTreeMap<Key, Self> {
        &mut store.nodes
    }

    fn prepare_for_create(&mut self) -> Vec<FieldError> {
        object_defaults::node(self);
        Vec::new()
    }

    // nodeStrategy.PrepareForUpdate: status is the kubelet's.
    fn prepare_for_update(&mut self, old: &Self) {
        self.status.clone_from(&old.status);
    }
}

fn required(field: &str) -> FieldError {
    FieldError {
        kind: FieldErrorKind::Required,
        field: field.to_owned(),
        value: None,
        detail: String::new(),
    }
}

impl Store {
    /// The current resourceVersion, for lists.
    pub fn resource_version(&self) -> String {
        self.revision.to_string()
    }

    /// An object by namespace (empty for cluster-scoped kinds) and name.
    pub fn get<K: Object>(&self, namespace: &str, name: &str) -> Option<&K> {
        K::table(self).get(&(namespace.to_owned(), name.to_owned()))
    }

    /// Objects of a kind, in one namespace or all, in key order (as etcd lists them).
    pub fn list<'a, K: Object>(&'a self, namespace: Option<&'a str>) -> impl Iterator<Item = &'a K> + 'a {
        K::table(self)
            .iter()
            .filter(move |((ns, _), _)| namespace.is_none_or(|want| want == ns))
            .map(|(_, o)| o)
    }

    /// Whether a namespace exists.
    pub fn namespace_exists(&self, name: &str) -> bool {
        self.get::<Namespace>("", name).is_some()
    }

    /// Creates an object the way the generic registry store does (staging/src/k8s.io/apiserver/pkg/registry/
    /// generic/registry/store.go `Create`): name from `generateName`, validation, namespace existence, 409 when
    /// the name is taken, then uid, creationTimestamp and the next resourceVersion. With `dry_run`, everything but
    /// the write happens (and no resourceVersion is given).
    pub fn create<K: Object>(&mut self, namespace: &str, mut object: K, dry_run: bool) -> Result<K, StatusError> {
        let namespace = if K::NAMESPACED { namespace } else { "" };
        let meta = object.metadata_mut();
        if meta.name.as_deref().unwrap_or("").is_empty()
            && let Some(prefix) = meta.generate_name.as_deref().filter(|p| !p.is_empty())
        {
            meta.name = Some(generate_name(prefix));
        }
        let name = meta.name.clone().unwrap_or_default();
        meta.namespace = K::NAMESPACED.then(|| namespace.to_owned());
        // What only the server sets (BeforeCreate): the kind's defaults may set some of it again. `managedFields` are
        // the caller's to record (the create handler, from the request).
        meta.deletion_timestamp = None;
        meta.deletion_grace_period_seconds = None;
        meta.generation = None;
        meta.resource_version = None;
        // Admission first (NamespaceLifecycle, then the kind's plugins), then the storage's validation.
        if K::NAMESPACED && !self.namespace_exists(namespace) {
            return Err(status::not_found("", "namespaces", namespace).into());
        }
        if K::NAMESPACED && self.namespace_terminating(namespace) {
            return Err(admission::namespace_terminating(K::URL_PATH_SEGMENT, &name, namespace).into());
        }
        object.admit(self, namespace, &name)?;
        let mut errors = validate_name::<K>(&name);
        if errors.is_empty() {
            errors = object.prepare_for_create();
        }
        if !errors.is_empty() {
            return Err(status::invalid(K::GROUP, K::KIND, &name, &errors).into());
        }
        let key = (namespace.to_owned(), name.clone());
        if K::table(self).contains_key(&key) {
            return Err(status::already_exists(K::GROUP, K::URL_PATH_SEGMENT, &name).into());
        }
        let meta = object.metadata_mut();
        meta.uid = Some(uuid::Uuid::new_v4().to_string());
        meta.creation_timestamp = Some(now_time());
        if dry_run {
            return Ok(object);
        }
        self.revision += 1;
        object.metadata_mut().resource_version = Some(self.revision.to_string());
        K::table_mut(self).insert(key, object.clone());
        self.record(ChangeType::Added, &object, None);
        Ok(object)
    }

    /// Replaces an object the way the generic registry store's `Update` does after a PATCH (`rest.BeforeUpdate`):
    /// a `resourceVersion` in `object` is a precondition (409 when stale); uid, creation time, deletion marks and
    /// generation are kept from the stored object; the kind keeps what its strategy keeps; name, uid and the kind's
    /// rules are validated (422); then the next resourceVersion. With `dry_run`, nothing is written.
    /// `record` sees the stored object and the new one, validated, just before it is written (the field manager's
    /// turn).
    pub fn update<K: Object>(
        &mut self,
        namespace: &str,
        name: &str,
        mut object: K,
        dry_run: bool,
        record: impl FnOnce(&K, &mut K),
    ) -> Result<K, StatusError> {
        let namespace = if K::NAMESPACED { namespace } else { "" };
        let key = (namespace.to_owned(), name.to_owned());
        let old = K::table(self)
            .get(&key)
            .cloned()
            .ok_or_else(|| StatusError::from(status::not_found(K::GROUP, K::URL_PATH_SEGMENT, name)))?;
        let old_meta = old.metadata();
        let sent_version = object.metadata().resource_version.clone().filter(|v| !v.is_empty());
        if sent_version.is_some() && sent_version != old_meta.resource_version {
            return Err(status::conflict(
                K::GROUP,
                K::URL_PATH_SEGMENT,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            )
            .into());
        }
        let mut errors = Vec::new();
        let meta = object.metadata_mut();
        if meta.uid.as_deref().is_none_or(str::is_empty) {
            meta.uid.clone_from(&old_meta.uid);
        } else if meta.uid != old_meta.uid {
            errors.push(FieldError::invalid(
                "metadata.uid",
                FieldValue::Str(meta.uid.clone().unwrap_or_default()),
                "field is immutable",
            ));
        }
        meta.namespace = K::NAMESPACED.then(|| namespace.to_owned());
        meta.creation_timestamp.clone_from(&old_meta.creation_timestamp);
        meta.deletion_timestamp.clone_from(&old_meta.deletion_timestamp);
        meta.deletion_grace_period_seconds = old_meta.deletion_grace_period_seconds;
        meta.generation = old_meta.generation;
        object.apply_api_defaults();
        object.prepare_for_update(&old);
        errors.extend(object.validate_update(&old));
        if !errors.is_empty() {
            return Err(status::invalid(K::GROUP, K::KIND, name, &errors).into());
        }
        record(&old, &mut object);
        if dry_run {
            object
                .metadata_mut()
                .resource_version
                .clone_from(&old.metadata().resource_version);
            return Ok(object);
        }
        self.revision += 1;
        object.metadata_mut().resource_version = Some(self.revision.to_string());
        K::table_mut(self).insert(key, object.clone());
        self.record(ChangeType::Modified, &object, Some(&old));
        Ok(object)
    }

    /// Deletes an object: removed at once, or (a namespace) marked Terminating until
    /// [`Store::finalize_namespaces`]. The answer is the object as deleted; deleting a namespace that is already
    /// Terminating changes nothing and answers it as it is.
    pub fn delete<K: Object>(&mut self, namespace: &str, name: &str, dry_run: bool) -> Option<K> {
        let namespace = if K::NAMESPACED { namespace } else { "" };
        let key = (namespace.to_owned(), name.to_owned());
        let mut object = K::table(self).get(&key)?.clone();
        if object.metadata().deletion_timestamp.is_some() {
            return Some(object);
        }
        let stays = object.begin_deletion(now_time());
        if dry_run {
            return Some(object);
        }
        self.revision += 1;
        // The answer carries the revision of this delete, stamped under the same write lock: read later, another
        // write could have moved it on and two writes would report one resourceVersion.
        object.metadata_mut().resource_version = Some(self.resource_version());
        if stays {
            let previous = K::table_mut(self).insert(key, object.clone());
            self.record(ChangeType::Modified, &object, previous.as_ref());
        } else {
            K::table_mut(self).remove(&key);
            self.record(ChangeType::Deleted, &object, None);
        }
        Some(object)
    }

    /// Whether namespace `name` exists and is Terminating (new content is refused: NamespaceLifecycle admission).
    pub fn namespace_terminating(&self, name: &str) -> bool {
        self.get::<Namespace>("", name)
            .is_some_and(|ns| ns.metadata.deletion_timestamp.is_some())
    }

    /// Whether the controllers have nothing to do: no namespace Terminating since `cutoff` or before, and a
    /// `default` service account in every active namespace.
    pub fn controllers_idle(&self, cutoff: Timestamp) -> bool {
        self.terminating_since(cutoff).next().is_none()
            && self
                .namespaces_without(crate::controllers::DEFAULT_SERVICE_ACCOUNT)
                .is_empty()
    }

    /// When the namespace Terminating the longest began terminating, if one is.
    pub fn first_termination(&self) -> Option<Timestamp> {
        self.namespaces
            .values()
            .filter_map(|ns| ns.metadata.deletion_timestamp.as_ref().map(|t| t.0))
            .min()
    }

    /// The namespaces Terminating since `cutoff` or before.
    fn terminating_since(&self, cutoff: Timestamp) -> impl Iterator<Item = &Namespace> {
        self.namespaces
            .values()
            .filter(move |ns| ns.metadata.deletion_timestamp.as_ref().is_some_and(|t| t.0 <= cutoff))
    }

    /// The active namespaces that have no service account named `name`.
    pub fn namespaces_without(&self, name: &str) -> Vec<String> {
        self.namespaces
            .values()
            .filter(|ns| ns.metadata.deletion_timestamp.is_none())
            .filter_map(|ns| ns.metadata.name.clone())
            .filter(|ns| !self.service_accounts.contains_key(&(ns.clone(), name.to_owned())))
            .collect()
    }

    /// The namespace controller's work, done at once: every namespace Terminating since `cutoff` or before goes,
    /// with everything in it. Returns the names of those that went.
    pub fn finalize_namespaces(&mut self, cutoff: Timestamp) -> Vec<String> {
        let done: Vec<String> = self
            .terminating_since(cutoff)
            .filter_map(|ns| ns.metadata.name.clone())
            .collect();
        for name in &done {
            self.remove_all::<ServiceAccount>(name);
            self.remove_all::<Pod>(name);
            self.remove_all::<Secret>(name);
            self.remove_all::<Namespace>(name);
        }
        done
    }

    /// Removes every object of `K` in namespace `namespace` (the namespace itself, for `Namespace`), one revision
    /// and one change each.
    fn remove_all<K: Object>(&mut self, namespace: &str) {
        let keys: Vec<Key> = K::table(self)
            .iter()
            .filter(|((ns, name), _)| {
                if K::NAMESPACED {
                    ns == namespace
                } else {
                    name == namespace
                }
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in keys {
            if let Some(mut object) = K::table_mut(self).remove(&key) {
                self.revision += 1;
                object.metadata_mut().resource_version = Some(self.revision.to_string());
                self.record(ChangeType::Deleted, &object, None);
            }
        }
    }

    /// Remembers a change made at the current revision and wakes the watches.
    fn record<K: Object>(&mut self, change: ChangeType, object: &K, previous: Option<&K>) {
        self.changes.push_back(Change {
            revision: self.revision,
            resource: K::URL_PATH_SEGMENT,
            namespace: object.metadata().namespace.clone().unwrap_or_default(),
            change,
            object: serde_json::to_value(object).unwrap_or_default(),
            previous: previous.map(|p| serde_json::to_value(p).unwrap_or_default()),
        });
        while self.changes.len() > HISTORY {
            if let Some(forgotten) = self.changes.pop_front() {
                self.compacted = forgotten.revision;
            }
        }
        self.notify.send_replace(self.revision);
    }

    /// The current revision.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// A receiver that changes whenever the store does.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.notify.subscribe()
    }

    /// The changes after `revision`, or `Err(oldest)` when some of them are forgotten (410 Expired for a watch).
    pub fn changes_since(&self, revision: u64) -> Result<impl Iterator<Item = &Change>, u64> {
        if revision < self.compacted {
            return Err(self.compacted);
        }
        Ok(self.changes.iter().filter(move |c| c.revision > revision))
    }
}

/// The current time at kube-apiserver's precision (seconds).
pub fn now_time() -> Time {
    Time(Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// `generateName` + 5 characters from the alphabet of k8s.io/apimachinery/pkg/util/rand (no vowels, no
/// look-alikes), as staging/src/k8s.io/apiserver/pkg/storage/names/generate.go does.
fn generate_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    // Names are at most 63 characters for the generated part's sake (maxGeneratedNameLength = 63 - 5).
    let prefix: String = prefix.chars().take(58).collect();
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{suffix}")
}

const DNS1123_SUBDOMAIN_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL_MESSAGE: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

/// Object names: namespaces are DNS-1123 labels, the other kinds DNS-1123 subdomains
/// (staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go).
fn validate_name<K: Object>(name: &str) -> Vec<FieldError> {
    if name.is_empty() {
        return vec![FieldError {
            kind: FieldErrorKind::Required,
            field: "metadata.name".to_owned(),
            value: None,
            detail: "name or generateName is required".to_owned(),
        }];
    }
    let label = K::KIND == Namespace::KIND;
    let (max, message) = if label {
        (63, DNS1123_LABEL_MESSAGE)
    } else {
        (253, DNS1123_SUBDOMAIN_MESSAGE)
    };
    let value = || FieldValue::Str(name.to_owned());
    let mut errors = Vec::new();
    if name.len() > max {
        errors.push(FieldError::invalid(
            "metadata.name",
            value(),
            &format!("must be no more than {max} characters"),
        ));
    }
    let part_ok = |part: &str| {
        let bytes = part.as_bytes();
        !bytes.is_empty()
            && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
            && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
            && bytes
                .iter()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || *b == b'-')
    };
    let ok = if label {
        part_ok(name)
    } else {
        name.split('.').all(part_ok)
    };
    if !ok {
        errors.push(FieldError::invalid("metadata.name", value(), message));
    }
    errors
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn named<K: Object + Default>(name: &str) -> K {
        let mut object = K::default();
        object.metadata_mut().name = Some(name.to_owned());
        object
    }

    #[test]
    fn resource_version_strictly_increases_and_dry_run_writes_nothing() {
        let mut store = Store::default();
        let ns: Namespace = store.create("", named("a"), false).unwrap();
        let sa: ServiceAccount = store.create("a", named("sa"), false).unwrap();
        let rv = |m: &ObjectMeta| m.resource_version.clone().unwrap().parse::<u64>().unwrap();
        assert!(rv(&sa.metadata) > rv(&ns.metadata));
        let dry: ServiceAccount = store.create("a", named("dry"), true).unwrap();
        assert!(dry.metadata.uid.is_some() && dry.metadata.resource_version.is_none());
        assert!(store.get::<ServiceAccount>("a", "dry").is_none());
    }

    #[test]
    fn create_conflicts_and_missing_namespace() {
        let mut store = Store::default();
        let err = store.create::<ServiceAccount>("nope", named("sa"), false).unwrap_err();
        assert_eq!(err.message.as_deref(), Some("namespaces \"nope\" not found"));
        store.create::<Namespace>("", named("a"), false).unwrap();
        store.create::<Secret>("a", named("s"), false).unwrap();
        let err = store.create::<Secret>("a", named("s"), false).unwrap_err();
        assert_eq!(err.message.as_deref(), Some("secrets \"s\" already exists"));
        let err = store.create::<Secret>("a", named("Bad_Name"), false).unwrap_err();
        assert_eq!(status::code(&err), 422);
    }

    #[test]
    fn generate_name_makes_a_name() {
        let mut store = Store::default();
        store.create::<Namespace>("", named("a"), false).unwrap();
        let mut sa = ServiceAccount::default();
        sa.metadata.generate_name = Some("robot-".to_owned());
        let sa = store.create("a", sa, false).unwrap();
        let name = sa.metadata.name.unwrap();
        assert!(name.starts_with("robot-") && name.len() == 11, "{name}");
    }

    #[test]
    fn a_deleted_namespace_terminates_then_goes_with_its_content() {
        let mut store = Store::default();
        store.create::<Namespace>("", named("a"), false).unwrap();
        store.create::<ServiceAccount>("a", named("sa"), false).unwrap();
        let deleted = store.delete::<Namespace>("", "a", false).unwrap();
        let since = deleted.metadata.deletion_timestamp.clone().unwrap().0;
        assert_eq!(deleted.status.unwrap().phase.as_deref(), Some("Terminating"));
        // Terminating: still there with its content, closed to new content, and a second delete changes nothing.
        assert!(store.namespace_exists("a") && store.namespace_terminating("a"));
        assert!(store.get::<ServiceAccount>("a", "sa").is_some());
        let err = store.create::<Secret>("a", named("s"), false).unwrap_err();
        assert_eq!(
            err.message.as_deref(),
            Some(
                r#"secrets "s" is forbidden: unable to create new content in namespace a because it is being terminated"#
            )
        );
        let again = store.delete::<Namespace>("", "a", false).unwrap();
        assert_eq!(again.metadata.resource_version, deleted.metadata.resource_version);
        // The controller: nothing before the cutoff, then the namespace and everything in it.
        assert!(store.finalize_namespaces(since - Duration::from_secs(1)).is_empty());
        assert_eq!(store.finalize_namespaces(since), ["a"]);
        assert!(!store.namespace_exists("a"));
        assert_eq!(store.list::<ServiceAccount>(None).count(), 0);
    }
}
