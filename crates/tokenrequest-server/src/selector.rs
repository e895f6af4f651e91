//! List filters: label selectors (equality and set-based: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`,
//! `a`, `!a`) and the field selectors every kind supports (`metadata.name`, `metadata.namespace`), as in
//! staging/src/k8s.io/apimachinery/pkg/labels/selector.go and pkg/fields/selector.go.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use tokenrequest_types::status;

use crate::error::ApiError;

/// One parsed requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, values: &BTreeMap<String, String>) -> bool {
        match self {
            Requirement::Equals(k, v) => values.get(k) == Some(v),
            Requirement::NotEquals(k, v) => values.get(k) != Some(v),
            Requirement::In(k, vs) => values.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => values.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => values.contains_key(k),
            Requirement::DoesNotExist(k) => !values.contains_key(k),
        }
    }
}

/// A label selector and a field selector, both optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    labels: Vec<Requirement>,
    fields: Vec<Requirement>,
}

impl Selector {
    /// Parses `labelSelector` and `fieldSelector` from a query string; a bad selector is 400.
    pub fn from_query(query: Option<&str>) -> Result<Self, ApiError> {
        let mut selector = Selector::default();
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match key.as_ref() {
                "labelSelector" => selector.labels = parse(&value)?,
                "fieldSelector" => {
                    selector.fields = parse(&value)?;
                    if let Some(field) = selector.fields.iter().find_map(|r| match r {
                        Requirement::Equals(k, _) | Requirement::NotEquals(k, _) => {
                            (k != "metadata.name" && k != "metadata.namespace").then(|| k.clone())
                        }
                        _ => Some(String::new()),
                    }) {
                        // The registry's field label conversion refuses unknown fields like this.
                        return Err(status::bad_request(format!(
                            "Unable to find {} in the list of supported field selectors",
                            serde_json::Value::String(field)
                        ))
                        .into());
                    }
                }
                _ => {}
            }
        }
        Ok(selector)
    }

    /// Whether an object's metadata passes both selectors.
    pub fn matches(&self, meta: &ObjectMeta) -> bool {
        let empty = BTreeMap::new();
        let labels = meta.labels.as_ref().unwrap_or(&empty);
        let mut fields = BTreeMap::new();
        fields.insert("metadata.name".to_owned(), meta.name.clone().unwrap_or_default());
        fields.insert(
            "metadata.namespace".to_owned(),
            meta.namespace.clone().unwrap_or_default(),
        );
        self.labels.iter().all(|r| r.matches(labels)) && self.fields.iter().all(|r| r.matches(&fields))
    }
}

fn bad(detail: &str) -> ApiError {
    status::bad_request(format!("unable to parse requirement: {detail}")).into()
}

/// Splits on commas outside parentheses, then parses each requirement.
fn parse(selector: &str) -> Result<Vec<Requirement>, ApiError> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&selector[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(requirement)
        .collect()
}

fn requirement(text: &str) -> Result<Requirement, ApiError> {
    if let Some(key) = text.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(key.trim().to_owned()));
    }
    for (op, make) in [
        ("!=", Requirement::NotEquals as fn(String, String) -> Requirement),
        ("==", Requirement::Equals),
        ("=", Requirement::Equals),
    ] {
        if let Some((key, value)) = text.split_once(op) {
            return Ok(make(key.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let words: Vec<&str> = text.splitn(2, char::is_whitespace).collect();
    if let [key, rest] = words[..] {
        let rest = rest.trim();
        let (negated, list) = if let Some(list) = rest.strip_prefix("notin") {
            (true, list)
        } else if let Some(list) = rest.strip_prefix("in") {
            (false, list)
        } else {
            return Err(bad(&format!("found '{rest}', expected: in, notin, =, ==, !=, gt, lt")));
        };
        let list = list.trim();
        let inner = list
            .strip_prefix('(')
            .and_then(|l| l.strip_suffix(')'))
            .ok_or_else(|| bad(&format!("found '{list}', expected: '('")))?;
        let values = inner
            .split(',')
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect();
        let key = key.to_owned();
        return Ok(if negated {
            Requirement::NotIn(key, values)
        } else {
            Requirement::In(key, values)
        });
    }
    Ok(Requirement::Exists(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(labels: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            name: Some("obj".to_owned()),
            namespace: Some("ns".to_owned()),
            labels: Some(labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn equality_and_set_based() {
        let m = meta(&[("app", "web"), ("tier", "front")]);
        for (query, expected) in [
            ("labelSelector=app%3Dweb", true),
            ("labelSelector=app%3D%3Dweb,tier!%3Dback", true),
            ("labelSelector=app+in+(web,db)", true),
            ("labelSelector=app+notin+(web)", false),
            ("labelSelector=tier", true),
            ("labelSelector=!tier", false),
            ("fieldSelector=metadata.name%3Dobj", true),
            ("fieldSelector=metadata.name%3Dother", false),
        ] {
            assert_eq!(
                Selector::from_query(Some(query)).unwrap().matches(&m),
                expected,
                "{query}"
            );
        }
        assert!(Selector::from_query(Some("fieldSelector=spec.foo%3Dx")).is_err());
    }
}
