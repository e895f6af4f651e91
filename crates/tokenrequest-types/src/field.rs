//! Field errors as apimachinery reports them (`k8s.io/apimachinery/pkg/util/validation/field/errors.go`).
//!
//! A field error knows its path, its type and the offending value, and renders the same `Error()` and
//! `ErrorBody()` strings as Go, because those strings end up verbatim in a 422 `Status` message and its causes.

use std::fmt;

/// The `type` of a field error; its `reason` string is what a `StatusCause` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// `FieldValueInvalid`: the value is of the right type but not allowed.
    Invalid,
    /// `FieldValueRequired`: a required value is missing.
    Required,
    /// `FieldValueNotSupported`: the value is not one of a fixed set.
    NotSupported,
    /// `FieldValueForbidden`: the field may not be set or changed.
    Forbidden,
}

impl FieldErrorKind {
    /// The reason string used in `StatusCause.reason`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Invalid => "FieldValueInvalid",
            Self::Required => "FieldValueRequired",
            Self::NotSupported => "FieldValueNotSupported",
            Self::Forbidden => "FieldValueForbidden",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Invalid => "Invalid value",
            Self::Required => "Required value",
            Self::NotSupported => "Unsupported value",
            Self::Forbidden => "Forbidden",
        }
    }
}

/// A value as Go's `%#v`-ish field error formatting prints it: strings quoted, numbers bare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    /// A string value, printed quoted.
    Str(String),
    /// An integer value, printed bare.
    Int(i64),
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Go's strconv.Quote; serde_json's escaping agrees for the printable strings we report.
            Self::Str(s) => write!(f, "{}", serde_json::Value::String(s.clone())),
            Self::Int(n) => write!(f, "{n}"),
        }
    }
}

/// One field error: `{field}: {Invalid value: {value}: {detail}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The error type.
    pub kind: FieldErrorKind,
    /// The JSON path of the field, e.g. `spec.expirationSeconds`.
    pub field: String,
    /// The offending value, when the error type shows one.
    pub value: Option<FieldValue>,
    /// The human explanation, e.g. `may not specify a duration less than 10 minutes`.
    pub detail: String,
}

impl FieldError {
    /// `field.Invalid(path, value, detail)`.
    pub fn invalid(field: &str, value: FieldValue, detail: &str) -> Self {
        Self {
            kind: FieldErrorKind::Invalid,
            field: field.to_owned(),
            value: Some(value),
            detail: detail.to_owned(),
        }
    }

    /// `field.NotSupported(path, value, supported)`.
    pub fn not_supported(field: &str, value: FieldValue, supported: &[&str]) -> Self {
        let list: Vec<String> = supported
            .iter()
            .map(|s| FieldValue::Str((*s).to_owned()).to_string())
            .collect();
        Self {
            kind: FieldErrorKind::NotSupported,
            field: field.to_owned(),
            value: Some(value),
            detail: format!("supported values: {}", list.join(", ")),
        }
    }

    /// `field.Forbidden(path, detail)`.
    pub fn forbidden(field: &str, detail: &str) -> Self {
        Self {
            kind: FieldErrorKind::Forbidden,
            field: field.to_owned(),
            value: None,
            detail: detail.to_owned(),
        }
    }

    /// What Go's `ErrorBody()` returns: the message without the field path.
    pub fn body(&self) -> String {
        match &self.value {
            Some(value) if !self.detail.is_empty() => format!("{}: {}: {}", self.kind.label(), value, self.detail),
            Some(value) => format!("{}: {}", self.kind.label(), value),
            None if !self.detail.is_empty() => format!("{}: {}", self.kind.label(), self.detail),
            None => self.kind.label().to_owned(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// Joins errors as `utilerrors.NewAggregate(errs).Error()` does: one error bare, several in `[a, b]`.
pub fn aggregate(errors: &[FieldError]) -> String {
    match errors {
        [one] => one.to_string(),
        many => format!(
            "[{}]",
            many.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_go() {
        let e = FieldError::invalid("spec.expirationSeconds", FieldValue::Int(60), "too short");
        assert_eq!(e.to_string(), "spec.expirationSeconds: Invalid value: 60: too short");
        let s = FieldError::invalid("metadata.name", FieldValue::Str("a\"b".into()), "bad");
        assert_eq!(s.body(), r#"Invalid value: "a\"b": bad"#);
        let n = FieldError::not_supported("dryRun", FieldValue::Str("x".into()), &["All"]);
        assert_eq!(
            n.to_string(),
            r#"dryRun: Unsupported value: "x": supported values: "All""#
        );
        assert_eq!(aggregate(&[e.clone(), e.clone()]), format!("[{e}, {e}]"));
    }
}
