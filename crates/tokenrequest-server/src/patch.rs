//! PATCH bodies, applied to an object's JSON as kube-apiserver's patcher does
//! (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go): the patch type comes from `Content-Type`,
//! JSON patch (RFC 6902) and merge patch (RFC 7386) are the `json-patch` crate's, and strategic merge patch is
//! written here for the kinds this server stores.
//!
//! Strategic merge patch is a merge patch in which some lists merge by a key instead of being replaced, and
//! `$`-directives steer the merge (staging/src/k8s.io/apimachinery/pkg/util/strategicpatch/patch.go). The lists
//! and keys are the `patchStrategy:"merge"` / `patchMergeKey` tags of the Go types of these kinds
//! ([`MERGE_LISTS`]); the directives handled are `$patch: replace|delete|merge`, `$retainKeys`,
//! `$deleteFromPrimitiveList/<list>` and `$setElementOrder/<list>` (an ordering hint: the merged list keeps the
//! order of the patch for the items it names). No crate implements strategic merge for Rust, hence this module.
//!
//! Server-side apply (`application/apply-patch+yaml`) is not implemented: it is refused with 415, and the accepted
//! media types the answer lists leave it out.

use serde_json::{Map, Value};
use tokenrequest_types::status::{self, StatusError};

/// The patch types served, in the order kube-apiserver lists them (apply left out: see the module doc).
pub const ACCEPTED: [&str; 3] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

/// kube-apiserver's limit on the operations of one JSON patch (patch.go `maxJSONPatchOperations`).
const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// A patch type, from `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`.
    Json,
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
}

impl PatchType {
    /// The patch type of a media type (`decode::content_media_type`); 415 for any other, naming those accepted.
    pub fn from_media_type(media: &str) -> Result<Self, StatusError> {
        match media {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            _ => Err(status::unsupported_media_type_of(&ACCEPTED).into()),
        }
    }
}

/// Lists that merge by a key in a strategic merge patch: (list field, merge key); `None` merges a list of
/// scalars as a set. From the `patchStrategy:"merge"` tags of k8s.io/api/core/v1 and meta/v1 types.
const MERGE_LISTS: &[(&str, Option<&str>)] = &[
    ("containers", Some("name")),
    ("initContainers", Some("name")),
    ("ephemeralContainers", Some("name")),
    ("volumes", Some("name")),
    ("imagePullSecrets", Some("name")),
    ("env", Some("name")),
    ("ports", Some("containerPort")),
    ("volumeMounts", Some("mountPath")),
    ("volumeDevices", Some("devicePath")),
    ("hostAliases", Some("ip")),
    ("conditions", Some("type")),
    ("addresses", Some("type")),
    ("secrets", Some("name")),
    ("ownerReferences", Some("uid")),
    ("resourceClaims", Some("name")),
    ("finalizers", None),
];

/// Applies `body`, a patch of `patch_type`, to `current`; the error is the `Status` kube-apiserver answers.
pub fn apply(patch_type: PatchType, current: &Value, body: &[u8]) -> Result<Value, StatusError> {
    let mut patched = current.clone();
    match patch_type {
        PatchType::Json => {
            let operations: json_patch::Patch =
                serde_json::from_slice(body).map_err(|e| StatusError::from(status::bad_request(e.to_string())))?;
            if operations.0.len() > MAX_JSON_PATCH_OPERATIONS {
                return Err(status::request_entity_too_large_message(&format!(
                    "The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {}",
                    operations.0.len()
                ))
                .into());
            }
            json_patch::patch(&mut patched, &operations.0).map_err(|error| {
                tracing::debug!(%error, "JSON patch does not apply");
                StatusError::from(status::patch_not_applied())
            })?;
        }
        PatchType::Merge => json_patch::merge(&mut patched, &patch_object(body)?),
        PatchType::Strategic => strategic_merge(&mut patched, &patch_object(body)?),
    }
    Ok(patched)
}

/// A merge or strategic patch must be a JSON object (400 otherwise, as the JSON decoder of patch.go says).
fn patch_object(body: &[u8]) -> Result<Value, StatusError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => {
            Err(status::bad_request("json: cannot unmarshal into Go value of type map[string]interface {}").into())
        }
        Err(e) => Err(status::bad_request(e.to_string()).into()),
    }
}

/// Merges `patch` into `target`.
fn strategic_merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut replacement = patch.clone();
            replacement.remove("$patch");
            *target = Value::Object(strip_directives(replacement));
            return;
        }
        Some("delete") => {
            *target = Value::Null;
            return;
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(object) = target else { return };
    if let Some(Value::Array(retained)) = patch.get("$retainKeys") {
        let keep: Vec<&str> = retained.iter().filter_map(Value::as_str).collect();
        object.retain(|key, _| keep.contains(&key.as_str()));
    }
    for (key, value) in patch {
        if let Some(list) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Value::Array(removed)) = (object.get_mut(list), value) {
                items.retain(|item| !removed.contains(item));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        match value {
            Value::Null => {
                object.remove(key);
            }
            Value::Object(_) => strategic_merge(object.entry(key.clone()).or_insert(Value::Null), value),
            Value::Array(items) => match MERGE_LISTS.iter().find(|(list, _)| *list == key) {
                Some((_, merge_key)) => {
                    let order = patch.get(&format!("$setElementOrder/{key}")).and_then(Value::as_array);
                    let current = object.entry(key.clone()).or_insert_with(|| Value::Array(Vec::new()));
                    merge_list(current, items, *merge_key, order);
                }
                None => {
                    object.insert(key.clone(), value.clone());
                }
            },
            _ => {
                object.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Merges the items of a patch list into a list with a merge strategy.
fn merge_list(current: &mut Value, patch: &[Value], merge_key: Option<&str>, order: Option<&Vec<Value>>) {
    if !current.is_array() {
        *current = Value::Array(Vec::new());
    }
    let Value::Array(items) = current else { return };
    match merge_key {
        // A set of scalars: the patch's items are added if absent.
        None => {
            for item in patch {
                if !items.contains(item) {
                    items.push(item.clone());
                }
            }
        }
        Some(key) => {
            for item in patch {
                let id = item.get(key);
                let position = items
                    .iter()
                    .position(|existing| id.is_some() && existing.get(key) == id);
                let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                match (position, delete) {
                    (Some(i), true) => {
                        items.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => strategic_merge(&mut items[i], item),
                    (None, false) => {
                        let mut added = Value::Null;
                        strategic_merge(&mut added, item);
                        items.push(added);
                    }
                }
            }
            if let Some(order) = order {
                // The items the order names come first, in its order; the others keep theirs after them.
                let rank = |item: &Value| {
                    order
                        .iter()
                        .position(|o| o.get(key).is_some() && o.get(key) == item.get(key))
                        .unwrap_or(usize::MAX)
                };
                items.sort_by_key(rank);
            }
        }
    }
}

fn strip_directives(mut object: Map<String, Value>) -> Map<String, Value> {
    object.retain(|key, _| !key.starts_with('$'));
    object
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn strategic(current: Value, patch: Value) -> Value {
        apply(PatchType::Strategic, &current, patch.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn containers_merge_by_name_and_maps_merge() {
        let pod = json!({"metadata": {"labels": {"a": "1", "b": "2"}},
            "spec": {"containers": [{"name": "c", "image": "old"}, {"name": "d", "image": "x"}]}});
        let patched = strategic(
            pod,
            json!({"metadata": {"labels": {"a": null, "c": "3"}},
                   "spec": {"containers": [{"name": "c", "image": "new"}, {"name": "e", "image": "y"}]}}),
        );
        assert_eq!(patched["metadata"]["labels"], json!({"b": "2", "c": "3"}));
        assert_eq!(
            patched["spec"]["containers"],
            json!([{"name": "c", "image": "new"}, {"name": "d", "image": "x"}, {"name": "e", "image": "y"}])
        );
    }

    #[test]
    fn directives_delete_replace_and_order() {
        let pod = json!({"metadata": {"finalizers": ["a", "b"]},
            "spec": {"containers": [{"name": "c"}, {"name": "d"}], "nodeSelector": {"x": "1", "y": "2"}}});
        let patched = strategic(
            pod,
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["z"]},
                   "spec": {"$setElementOrder/containers": [{"name": "d"}, {"name": "c"}],
                            "containers": [{"name": "c", "$patch": "delete"}, {"name": "d", "image": "i"}],
                            "nodeSelector": {"$patch": "replace", "z": "3"}}}),
        );
        assert_eq!(patched["metadata"]["finalizers"], json!(["b", "z"]));
        assert_eq!(patched["spec"]["containers"], json!([{"name": "d", "image": "i"}]));
        assert_eq!(patched["spec"]["nodeSelector"], json!({"z": "3"}));
    }

    #[test]
    fn other_lists_are_replaced_and_json_and_merge_patches_follow_their_rfcs() {
        let current = json!({"spec": {"tolerations": [{"key": "a"}]}, "metadata": {"labels": {"a": "1"}}});
        let patched = strategic(current.clone(), json!({"spec": {"tolerations": [{"key": "b"}]}}));
        assert_eq!(patched["spec"]["tolerations"], json!([{"key": "b"}]));
        let merged = apply(
            PatchType::Merge,
            &current,
            br#"{"metadata":{"labels":{"a":null,"b":"2"}}}"#,
        )
        .unwrap();
        assert_eq!(merged["metadata"]["labels"], json!({"b": "2"}));
        let json_patched = apply(
            PatchType::Json,
            &current,
            br#"[{"op":"add","path":"/metadata/labels/c","value":"3"}]"#,
        )
        .unwrap();
        assert_eq!(json_patched["metadata"]["labels"], json!({"a": "1", "c": "3"}));
    }

    #[test]
    fn bad_patches_get_kube_apiserver_codes() {
        let current = json!({"metadata": {}});
        let code = |t, body: &[u8]| apply(t, &current, body).unwrap_err().code.unwrap_or_default();
        assert_eq!(code(PatchType::Json, b"{not json"), 400);
        assert_eq!(
            code(PatchType::Json, br#"[{"op":"remove","path":"/spec/nothing"}]"#),
            422
        );
        assert_eq!(code(PatchType::Merge, b"[1]"), 400);
        assert_eq!(code(PatchType::Strategic, b"nope"), 400);
        let unsupported = PatchType::from_media_type("application/apply-patch+yaml").unwrap_err();
        assert_eq!(unsupported.code, Some(415));
        assert_eq!(
            PatchType::from_media_type("application/merge-patch+json").unwrap(),
            PatchType::Merge
        );
    }
}
