//! Redaction: tokens out of every message, and snapshot values normalised so that ONE snapshot holds on every
//! target and policy. Each rule first asserts the value's format (a JWT has three parts, a timestamp parses, a uid
//! is present) and only then replaces it with a placeholder, so a redaction can never hide a wrong value.

use serde_json::Value;

use crate::failure::CheckFailure;

/// What a token-shaped substring becomes.
pub const REDACTED: &str = tokenrequest_types::token::REDACTED;

/// How one value in a snapshot is normalised.
#[derive(Debug, Clone)]
pub enum Rule {
    /// A compact JWS (three base64url parts): `[jwt]`.
    Jwt,
    /// An RFC 3339 timestamp: `[timestamp]`.
    Timestamp,
    /// Unix seconds (a JSON integer): `[unix-seconds]`.
    UnixSeconds,
    /// A non-empty string that differs per object (uid, jti, kid, key material): the placeholder.
    NonEmpty(&'static str),
    /// Must equal this value (checked), then shown as the placeholder: names with random parts, policy values.
    Known(Value, &'static str),
}

/// Applies `rules` (JSON pointers, e.g. `/status/token`) to a copy of `value`. A pointer that is absent is left
/// absent: the snapshot shows that. A value of the wrong format is a failure.
pub fn apply(value: &Value, rules: &[(&str, Rule)]) -> Result<Value, CheckFailure> {
    let mut value = value.clone();
    for (pointer, rule) in rules {
        let Some(slot) = value.pointer_mut(pointer) else {
            continue;
        };
        let placeholder = check(pointer, rule, slot)?;
        *slot = Value::String(placeholder);
    }
    Ok(value)
}

fn check(pointer: &str, rule: &Rule, slot: &Value) -> Result<String, CheckFailure> {
    let bad = |expected: &str| CheckFailure::mismatch(format!("format of {pointer}"), expected, redacted_value(slot));
    match rule {
        Rule::Jwt => {
            let s = slot.as_str().ok_or_else(|| bad("a JWT string"))?;
            let parts: Vec<&str> = s.split('.').collect();
            if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
                return Err(bad("a JWT with three non-empty parts"));
            }
            Ok("[jwt]".to_owned())
        }
        Rule::Timestamp => {
            let s = slot.as_str().ok_or_else(|| bad("an RFC 3339 timestamp"))?;
            s.parse::<k8s_openapi::jiff::Timestamp>()
                .map_err(|_| bad("an RFC 3339 timestamp"))?;
            Ok("[timestamp]".to_owned())
        }
        Rule::UnixSeconds => {
            slot.as_i64().ok_or_else(|| bad("integer unix seconds"))?;
            Ok("[unix-seconds]".to_owned())
        }
        Rule::NonEmpty(placeholder) => match slot.as_str() {
            Some(s) if !s.is_empty() => Ok((*placeholder).to_owned()),
            _ => Err(bad("a non-empty string")),
        },
        Rule::Known(expected, placeholder) => {
            if slot == expected {
                Ok((*placeholder).to_owned())
            } else {
                Err(CheckFailure::mismatch(
                    format!("value at {pointer}"),
                    expected,
                    redacted_value(slot),
                ))
            }
        }
    }
}

/// Replaces every occurrence of `needle` inside the strings of `value` with `placeholder`: for names and uids
/// that the check itself created and knows exactly (a namespace with the run id, a uid), wherever they appear in
/// messages and details.
pub fn replace_everywhere(value: &Value, needle: &str, placeholder: &str) -> Value {
    match value {
        Value::String(s) if !needle.is_empty() => Value::String(s.replace(needle, placeholder)),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| replace_everywhere(v, needle, placeholder))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), replace_everywhere(v, needle, placeholder)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A JSON value as text with tokens redacted, for failure messages.
pub fn redacted_value(value: &Value) -> String {
    tokenrequest_types::token::redact_jwts(&value.to_string()).into_owned()
}

/// A string as a JSON value, for [`Rule::Known`].
pub fn known(value: &str, placeholder: &'static str) -> Rule {
    Rule::Known(Value::String(value.to_owned()), placeholder)
}

/// A list of strings as a JSON value, for [`Rule::Known`] (policy-dependent audiences).
pub fn known_list(values: &[String], placeholder: &'static str) -> Rule {
    Rule::Known(Value::from(values.to_vec()), placeholder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_assert_before_masking() {
        let v = serde_json::json!({"status": {"token": "a.b.c", "expirationTimestamp": "2026-01-01T00:00:00Z"}});
        let out = apply(
            &v,
            &[
                ("/status/token", Rule::Jwt),
                ("/status/expirationTimestamp", Rule::Timestamp),
            ],
        )
        .unwrap();
        assert_eq!(out["status"]["token"], "[jwt]");
        let bad = serde_json::json!({"status": {"token": "nope"}});
        assert!(apply(&bad, &[("/status/token", Rule::Jwt)]).is_err());
    }
}
