//! `metadata.managedFields` for what a request sets, as kube-apiserver's field manager records it on every write
//! (staging/src/k8s.io/apimachinery/pkg/util/managedfields): seen on TokenRequest and TokenReview answers of
//! kube-apiserver v1.37.1 (xtask/controlplane/observed/01, 02, 08, 17, 60). The field set is built from the decoded
//! object (unknown fields already dropped, defaults applied): nested objects become `f:` keys, maps (labels,
//! annotations) also own themselves (`"."`), lists are atomic, empty values are left out (Go's `omitempty`), and
//! the identity fields the manager strips (name, namespace, uid, …) are not recorded.

use http::HeaderMap;
use serde_json::{Map, Value, json};

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
const MAP_FIELDS: &[&str] = &["labels", "annotations"];

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
                    insert(&mut fields, key, &meta, false);
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
    if empty(value) && !(value.is_array() && LISTS_SET_WHEN_EMPTY.contains(&key)) {
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
            if set.is_empty() {
                return;
            }
            Value::Object(set)
        }
        _ => json!({}),
    };
    fields.insert(format!("f:{key}"), set);
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
