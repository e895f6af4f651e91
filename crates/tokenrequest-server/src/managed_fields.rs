//! `metadata.managedFields` for what a request sets, as kube-apiserver's field manager records it on every write
//! (staging/src/k8s.io/apimachinery/pkg/util/managedfields): seen on TokenRequest and TokenReview answers of
//! kube-apiserver v1.37.1 (docs/observed/01, 02, 08, 17, 60). The field set is built from the decoded
//! object (unknown fields already dropped, defaults applied): nested objects become `f:` keys, maps (labels,
//! annotations) also own themselves (`"."`), lists are atomic, empty values are left out (Go's `omitempty`), and
//! the identity fields the manager strips (name, namespace, uid, …) are not recorded.

use http::HeaderMap;
use serde_json::{Map, Value, json};

use crate::store::{Object, now_time};

/// Fields of `metadata` the field manager never records.
const STRIPPED_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "resourceVersion",
    "generation",
    "managedFields",
    "selfLink",
];

/// Fields that are maps in the Kubernetes types (their entries are owned one by one, plus the map itself).
const MAP_FIELDS: &[&str] = &["labels", "annotations", "data", "stringData", "nodeSelector"];

/// Lists whose items are owned one by one, keyed by a field (`+listType=map` with that `+listMapKey`):
/// `k:{"name":"c"}`. Other lists are atomic: owned as a whole.
const KEYED_LISTS: &[(&str, &str)] = &[
    ("containers", "name"),
    ("initContainers", "name"),
    ("ephemeralContainers", "name"),
    ("volumes", "name"),
    ("env", "name"),
];

/// Lists without `omitempty` in the Go types, so set even when empty: `TokenRequestSpec.Audiences` (kube-apiserver
/// v1.37.1 lists `f:audiences` for `audiences: []`). TokenReviewSpec's is `omitempty`, and dropped when decoded.
const LISTS_SET_WHEN_EMPTY: &[&str] = &["audiences"];

/// The manager: `fieldManager`, else the User-Agent up to its first `/` (`fieldmanager.ManagerOrUserAgent`).
pub fn manager(query: Option<&str>, headers: &HeaderMap) -> String {
    let explicit = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "fieldManager")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty());
    explicit.unwrap_or_else(|| {
        let agent = headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        agent.split('/').next().unwrap_or("").chars().take(128).collect()
    })
}

/// Applies the API defaults decoding applies to a new `object` and records what its writer (`manager`) set,
/// defaults included, as its only `managedFields` entry (fieldmanager on create; none when nothing but the name
/// was set).
pub fn record<K: Object>(object: &mut K, manager: &str) {
    object.apply_api_defaults();
    let set = serde_json::to_value(&*object).unwrap_or(Value::Null);
    let time = serde_json::to_value(now_time()).unwrap_or(Value::Null);
    let entry = entry(&set, manager, K::API_VERSION, None, &time);
    let set_nothing = entry["fieldsV1"].as_object().is_none_or(Map::is_empty);
    object.metadata_mut().managed_fields = if set_nothing {
        None
    } else {
        serde_json::from_value(json!([entry])).ok()
    };
}

/// The `managedFields` after an update by `manager` from `old` to `new` (both as JSON), as the field manager keeps
/// them (staging/src/k8s.io/apimachinery/pkg/util/managedfields/internal/managedfieldsupdater.go): fields that
/// are gone leave every entry; the fields this update changed or added move to the manager's `Update` entry (made
/// if it has none); entries left owning nothing are dropped. An object that has no `managedFields` keeps none: the
/// field manager does not start tracking on an update (skipnonapplied.go; observed on kube-apiserver v1.37.1 by
/// the differential check).
pub fn after_update(old: &Value, new: &Value, manager: &str, api_version: &str) -> Value {
    if old["metadata"]["managedFields"].as_array().is_none_or(Vec::is_empty) {
        return Value::Array(Vec::new());
    }
    let time = serde_json::to_value(now_time()).unwrap_or(Value::Null);
    let fields_of = |object: &Value| entry(object, manager, api_version, None, &time)["fieldsV1"].clone();
    let remaining = fields_of(new);
    let mut changed = fields_of(&changed(old, new));
    disown_existing(&mut changed, &fields_of(old));
    let mut entries = old["metadata"]["managedFields"].as_array().cloned().unwrap_or_default();
    for existing in &mut entries {
        intersect(&mut existing["fieldsV1"], &remaining);
        subtract(&mut existing["fieldsV1"], &changed);
    }
    entries.retain(|e| e["fieldsV1"].as_object().is_some_and(|f| !f.is_empty()));
    if changed.as_object().is_some_and(|f| !f.is_empty()) {
        let own = entries.iter_mut().find(|e| {
            e["manager"] == manager
                && e["operation"] == "Update"
                && e["apiVersion"] == api_version
                && e.get("subresource").is_none()
        });
        match own {
            Some(own) => {
                union(&mut own["fieldsV1"], &changed);
                own["time"] = time;
            }
            None => {
                let mut own = entry(&Value::Null, manager, api_version, None, &time);
                own["fieldsV1"] = changed;
                entries.push(own);
            }
        }
    }
    Value::Array(entries)
}

/// The parts of `new` that differ from `old`: changed or added fields, and the changed items of keyed lists
/// (with their key, so that they can be named).
fn changed(old: &Value, new: &Value) -> Value {
    let (Value::Object(old), Value::Object(new)) = (old, new) else {
        return new.clone();
    };
    let mut out = Map::new();
    for (key, value) in new {
        match old.get(key) {
            Some(before) if before == value => {}
            Some(before @ Value::Object(_)) if value.is_object() => {
                out.insert(key.clone(), changed(before, value));
            }
            Some(Value::Array(before)) => {
                let keyed = KEYED_LISTS.iter().find(|(list, _)| *list == key);
                match (keyed, value) {
                    (Some((_, item_key)), Value::Array(items)) => {
                        let items = items
                            .iter()
                            .filter_map(|item| {
                                let id = item.get(*item_key)?;
                                match before.iter().find(|b| b.get(*item_key) == Some(id)) {
                                    Some(previous) if previous == item => None,
                                    Some(previous) => {
                                        let mut delta = changed(previous, item);
                                        delta[*item_key] = id.clone();
                                        Some(delta)
                                    }
                                    None => Some(item.clone()),
                                }
                            })
                            .collect();
                        out.insert(key.clone(), Value::Array(items));
                    }
                    _ => {
                        out.insert(key.clone(), value.clone());
                    }
                }
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    Value::Object(out)
}

/// Removes from a changed field set what only names where the change is: the `.` of maps and list items that
/// existed before, and the key field of an existing keyed item.
fn disown_existing(changed: &mut Value, before: &Value) {
    let Value::Object(changed) = changed else { return };
    if before.is_object() {
        changed.remove(".");
    }
    for (key, child) in changed.iter_mut() {
        if let Some(previous) = before.get(key) {
            if let Some(item_key) = key
                .strip_prefix("k:")
                .and_then(|k| serde_json::from_str::<Map<String, Value>>(k).ok())
                .and_then(|k| k.keys().next().cloned())
                && let Some(item) = child.as_object_mut()
            {
                item.remove(&format!("f:{item_key}"));
            }
            disown_existing(child, previous);
        }
    }
}

/// Keeps in `set` only what is also in `other`.
fn intersect(set: &mut Value, other: &Value) {
    let Value::Object(set) = set else { return };
    set.retain(|key, _| other.get(key).is_some());
    for (key, child) in set.iter_mut() {
        intersect(child, &other[key]);
    }
}

/// Removes from `set` every leaf of `removed` (a field set: `{}` is a leaf).
fn subtract(set: &mut Value, removed: &Value) {
    let (Value::Object(set), Value::Object(removed)) = (set, removed) else {
        return;
    };
    for (key, child) in removed {
        if child.as_object().is_some_and(Map::is_empty) {
            set.remove(key);
        } else if let Some(own) = set.get_mut(key) {
            subtract(own, child);
            if own.as_object().is_some_and(Map::is_empty) {
                set.remove(key);
            }
        }
    }
}

/// Adds every field of `added` to `set`.
fn union(set: &mut Value, added: &Value) {
    let Value::Object(added) = added else { return };
    if !set.is_object() {
        *set = Value::Object(Map::new());
    }
    if let Value::Object(set) = set {
        for (key, child) in added {
            union(
                set.entry(key.clone()).or_insert_with(|| Value::Object(Map::new())),
                child,
            );
        }
    }
}

/// One `managedFields` entry for `object` (its JSON), written at `time` (RFC 3339).
pub fn entry(object: &Value, manager: &str, api_version: &str, subresource: Option<&str>, time: &Value) -> Value {
    let mut fields = Map::new();
    if let Value::Object(top) = object {
        for (key, value) in top {
            match key.as_str() {
                "apiVersion" | "kind" => {}
                "metadata" => {
                    let mut meta = value.clone();
                    if let Value::Object(m) = &mut meta {
                        m.retain(|k, _| !STRIPPED_METADATA.contains(&k.as_str()));
                    }
                    if !empty(&meta) {
                        insert(&mut fields, key, &meta, false);
                    }
                }
                _ => insert(&mut fields, key, value, false),
            }
        }
    }
    let mut entry = json!({
        "manager": manager,
        "operation": "Update",
        "apiVersion": api_version,
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    });
    if let Some(subresource) = subresource {
        entry["subresource"] = json!(subresource);
    }
    entry
}

fn empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn insert(fields: &mut Map<String, Value>, key: &str, value: &Value, _parent_is_map: bool) {
    // Empty values are omitted when Go encodes them, except the lists without `omitempty` and structs (an empty
    // `{}` that is not a map: `resources: {}`, a defaulted `securityContext: {}`), which Go always encodes.
    let kept_when_empty = match value {
        Value::Array(_) => LISTS_SET_WHEN_EMPTY.contains(&key),
        Value::Object(_) => !MAP_FIELDS.contains(&key),
        _ => false,
    };
    if empty(value) && !kept_when_empty {
        return;
    }
    let set = match value {
        Value::Object(children) => {
            let is_map = MAP_FIELDS.contains(&key);
            let mut set = Map::new();
            if is_map {
                set.insert(".".to_owned(), json!({}));
            }
            for (child, child_value) in children {
                if is_map {
                    set.insert(format!("f:{child}"), json!({}));
                } else {
                    insert(&mut set, child, child_value, false);
                }
            }
            if set.is_empty() && !children.is_empty() {
                return;
            }
            Value::Object(set)
        }
        Value::Array(items) => match KEYED_LISTS.iter().find(|(list, _)| *list == key) {
            Some((_, item_key)) => keyed_items(items, item_key),
            None => json!({}),
        },
        _ => json!({}),
    };
    fields.insert(format!("f:{key}"), set);
}

/// The field set of a keyed list: each item under `k:{"KEY":value}`, owning itself (`.`) and its fields.
fn keyed_items(items: &[Value], item_key: &str) -> Value {
    let mut set = Map::new();
    for item in items {
        let Value::Object(fields) = item else { continue };
        let Some(key_value) = fields.get(item_key) else {
            continue;
        };
        let mut item_set = Map::new();
        item_set.insert(".".to_owned(), json!({}));
        for (child, child_value) in fields {
            insert(&mut item_set, child, child_value, false);
        }
        set.insert(format!("k:{}", json!({ item_key: key_value })), Value::Object(item_set));
    }
    Value::Object(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_request_field_set_as_observed() {
        // observed/02-create-labels-status-echo.txt
        let object = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "metadata": {"name": "sa1", "namespace": "tr", "uid": "u", "labels": {"l": "v"}, "annotations": {"a": "v"}},
            "spec": {"audiences": ["vault"], "expirationSeconds": 600},
            "status": {"token": "client-sent", "expirationTimestamp": "2000-01-01T00:00:00Z"}});
        let e = entry(&object, "curl", "authentication.k8s.io/v1", Some("token"), &json!("t"));
        assert_eq!(
            e["fieldsV1"],
            json!({"f:metadata": {"f:annotations": {".": {}, "f:a": {}}, "f:labels": {".": {}, "f:l": {}}},
                   "f:spec": {"f:audiences": {}, "f:expirationSeconds": {}},
                   "f:status": {"f:expirationTimestamp": {}, "f:token": {}}})
        );
        assert_eq!(e["subresource"], "token");
        let mut headers = HeaderMap::new();
        headers.insert(http::header::USER_AGENT, "curl/8.5.0".parse().unwrap());
        assert_eq!(manager(None, &headers), "curl");
        assert_eq!(manager(Some("fieldManager=x&pretty=true"), &headers), "x");
    }

    #[test]
    fn object_field_sets_as_observed() {
        // The Secret and Pod of `cargo xtask differential`, as kube-apiserver v1.37.1 recorded them.
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "secret-0"},
            "data": {"k": "dg=="}, "type": "Opaque"});
        let e = entry(&secret, "m", "v1", None, &json!("t"));
        assert_eq!(e["fieldsV1"], json!({"f:data": {".": {}, "f:k": {}}, "f:type": {}}));
        let pod = json!({"metadata": {"name": "pod-0"}, "spec": {"automountServiceAccountToken": false,
            "containers": [{"image": "i", "name": "c", "args": ["a"], "resources": {}}], "nodeName": "n"}});
        let e = entry(&pod, "m", "v1", None, &json!("t"));
        assert_eq!(
            e["fieldsV1"],
            json!({"f:spec": {"f:automountServiceAccountToken": {}, "f:nodeName": {},
                "f:containers": {"k:{\"name\":\"c\"}": {".": {}, "f:args": {}, "f:image": {}, "f:name": {},
                    "f:resources": {}}}}})
        );
    }

    #[test]
    fn an_empty_audience_list_is_set_but_other_empty_fields_are_not() {
        // As kube-apiserver v1.37.1 recorded `{"spec":{"audiences":[],"boundObjectRef":{...}}}` (DIFFERENTIAL.md D3).
        let object = json!({"metadata": {"labels": {}}, "spec": {"audiences": [], "expirationSeconds": 3607,
            "boundObjectRef": {"kind": "Node", "name": ""}}});
        let e = entry(&object, "m", "authentication.k8s.io/v1", Some("token"), &json!("t"));
        assert_eq!(
            e["fieldsV1"],
            json!({"f:spec": {"f:audiences": {}, "f:expirationSeconds": {}, "f:boundObjectRef": {"f:kind": {}}}})
        );
    }
}
