//! Reading a request the way kube-apiserver's generic handlers do
//! (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/create.go, rest.go, negotiation/negotiate.go):
//! output negotiation (406), input media type (415), the 3 MiB body limit (413), create options (dryRun,
//! fieldValidation: 422), then decoding with kube-apiserver's messages (400) and unknown-field warnings.

use axum::body::{Body, Bytes};
use http::HeaderMap;
use serde::de::DeserializeOwned;
use tokenrequest_types::field::{FieldError, FieldErrorKind, FieldValue};
use tokenrequest_types::status::{self, MAX_REQUEST_BODY_BYTES};

use crate::error::ApiError;
use crate::protobuf;

/// The query parameters of a create (`metav1.CreateOptions`) that change behaviour here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CreateOptions {
    /// `dryRun=All`.
    pub dry_run: bool,
    /// What to do with unknown fields.
    pub field_validation: FieldValidation,
}

/// `fieldValidation`: kube-apiserver's default is `Warn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Drop unknown fields silently.
    Ignore,
    /// Drop them with a `Warning` header each.
    #[default]
    Warn,
    /// Refuse the request (400).
    Strict,
}

/// The decoded object and the warnings to send with the response.
#[derive(Debug)]
pub struct Decoded<T> {
    /// The object.
    pub object: T,
    /// `unknown field "spec.foo"`, one per unknown field (when fieldValidation is Warn).
    pub warnings: Vec<String>,
}

/// The group/version and kind a handler expects in a body.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// `v1` or `authentication.k8s.io/v1`.
    pub api_version: &'a str,
    /// `TokenRequest`, `Pod`, …
    pub kind: &'a str,
}

impl Expected<'_> {
    fn version(&self) -> &str {
        self.api_version.rsplit('/').next().unwrap_or(self.api_version)
    }
}

/// 406 unless the client accepts JSON (negotiation.NegotiateOutputMediaType). Clauses asking for a conversion
/// this server does not do (`as=Table`, `as=APIGroupDiscoveryList`, …) are skipped, as kube-apiserver skips the
/// ones an endpoint does not support, so kubectl falls back to its plain `application/json` clause.
pub fn negotiate_output(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(accept) = headers.get(http::header::ACCEPT) else {
        return Ok(());
    };
    let accept = accept.to_str().unwrap_or("");
    if accept.trim().is_empty() {
        return Ok(());
    }
    let acceptable = accept.split(',').any(|clause| {
        let mut parts = clause.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let converts = parts.any(|p| p.to_ascii_lowercase().starts_with("as="));
        !converts && matches!(media.as_str(), "*/*" | "application/*" | "application/json")
    });
    if acceptable {
        Ok(())
    } else {
        Err(crate::error::not_acceptable())
    }
}

/// The body's format, from `Content-Type` (none means JSON, as in negotiation.NegotiateInputSerializer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// `application/json`.
    Json,
    /// `application/yaml`.
    Yaml,
    /// `application/vnd.kubernetes.protobuf`, for the kinds `crate::protobuf` knows.
    Protobuf,
}

/// The media type `Content-Type` names, lowercased and without parameters (`""` when there is none).
pub fn content_media_type(headers: &HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// 415 for a body this server cannot decode.
pub fn input_format(headers: &HeaderMap) -> Result<InputFormat, ApiError> {
    match content_media_type(headers).as_str() {
        "" | "application/json" => Ok(InputFormat::Json),
        "application/yaml" => Ok(InputFormat::Yaml),
        "application/vnd.kubernetes.protobuf" => Ok(InputFormat::Protobuf),
        _ => Err(status::unsupported_media_type().into()),
    }
}

/// Reads at most 3 MiB (kube-apiserver's `MaxRequestBodyBytes`); more is 413.
pub async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_REQUEST_BODY_BYTES)
        .await
        .map_err(|_| status::request_entity_too_large(MAX_REQUEST_BODY_BYTES).into())
}

/// Parses and validates `dryRun` and `fieldValidation` (staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/validation/
/// validation.go `ValidateCreateOptions`: 422 on `CreateOptions.meta.k8s.io ""`). `pretty` and `fieldManager` are
/// accepted and change nothing here.
pub fn create_options(query: Option<&str>) -> Result<CreateOptions, ApiError> {
    write_options(query, "CreateOptions")
}

/// The same options of a PATCH: kube-apiserver validates them as `PatchOptions` (`ValidatePatchOptions`).
pub fn patch_options(query: Option<&str>) -> Result<CreateOptions, ApiError> {
    write_options(query, "PatchOptions")
}

fn write_options(query: Option<&str>, kind: &str) -> Result<CreateOptions, ApiError> {
    let mut dry_run = Vec::new();
    let mut field_validation = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "dryRun" => dry_run.push(value.into_owned()),
            "fieldValidation" => field_validation = Some(value.into_owned()),
            _ => {}
        }
    }
    let mut errors = Vec::new();
    if dry_run.iter().any(|v| v != "All") {
        // The []string value is printed as JSON (observed/40-dryrun-invalid.txt); FieldValue has no list variant,
        // so the whole body is the detail.
        let values = serde_json::to_string(&dry_run).unwrap_or_default();
        errors.push(FieldError {
            kind: FieldErrorKind::NotSupported,
            field: "dryRun".to_owned(),
            value: None,
            detail: format!("{values}: supported values: \"All\""),
        });
    }
    let validation = match field_validation.as_deref() {
        None | Some("") | Some("Warn") => FieldValidation::Warn,
        Some("Ignore") => FieldValidation::Ignore,
        Some("Strict") => FieldValidation::Strict,
        Some(other) => {
            errors.push(FieldError::not_supported(
                "fieldValidation",
                FieldValue::Str(other.to_owned()),
                &["", "Ignore", "Strict", "Warn"],
            ));
            FieldValidation::Warn
        }
    };
    if !errors.is_empty() {
        return Err(status::invalid("meta.k8s.io", kind, "", &errors).into());
    }
    Ok(CreateOptions {
        dry_run: !dry_run.is_empty(),
        field_validation: validation,
    })
}

/// Decodes a body into `T` as the JSON serializer of staging/src/k8s.io/apimachinery/pkg/runtime/serializer/json
/// and `transformDecodeError` in create.go do: unparsable data is "unrecognized", a foreign apiVersion is refused,
/// type errors and strict-mode unknown fields name the kind, and unknown fields become warnings otherwise.
pub fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    format: InputFormat,
    expected: Expected<'_>,
    validation: FieldValidation,
) -> Result<Decoded<T>, ApiError> {
    // Go's strict decoder (sigs.k8s.io/json) reports keys given twice as well as unknown ones: both fail a Strict
    // request and are warnings under Warn. JSON only: YAML keys are unique.
    let mut duplicates = Vec::new();
    let value: serde_json::Value = match format {
        InputFormat::Json => {
            let (value, repeated) =
                parse_json(bytes).map_err(|e| unrecognized(expected, &go_json_error(&e, bytes), bytes))?;
            duplicates = repeated;
            value
        }
        InputFormat::Yaml if flow_depth(bytes) > MAX_YAML_DEPTH => {
            return Err(unrecognized(
                expected,
                &format!("error converting YAML to JSON: yaml: exceeded max depth of {MAX_YAML_DEPTH}"),
                bytes,
            ));
        }
        InputFormat::Yaml => serde_yaml::from_slice(bytes)
            .map_err(|e| unrecognized(expected, &format!("error converting YAML to JSON: {e}"), bytes))?,
        InputFormat::Protobuf => protobuf::to_json(bytes, expected.kind).map_err(|e| match e {
            // A kind this server cannot read as protobuf: as if the media type were unsupported.
            protobuf::ProtobufError::Kind(_) => ApiError::from(status::unsupported_media_type()),
            other => cannot_handle(expected, &other.to_string()),
        })?,
    };
    let serde_json::Value::Object(map) = &value else {
        let found = match value {
            serde_json::Value::Array(_) => "array",
            serde_json::Value::String(_) => "string",
            serde_json::Value::Number(_) => "number",
            serde_json::Value::Bool(_) => "bool",
            _ => "null",
        };
        // json.Unmarshal into the apiVersion/kind probe struct fails this way.
        let message = format!(
            "couldn't get version/kind; json parse error: json: cannot unmarshal {found} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}"
        );
        return Err(unrecognized(expected, &message, bytes));
    };
    let data_api_version = map.get("apiVersion").and_then(|v| v.as_str()).filter(|s| !s.is_empty());
    let data_kind = map.get("kind").and_then(|v| v.as_str()).filter(|s| !s.is_empty());
    let api_version = data_api_version.unwrap_or(expected.api_version);
    let kind = data_kind.unwrap_or(expected.kind);
    if (api_version, kind) != (expected.api_version, expected.kind) {
        return Err(foreign_kind(expected, api_version, kind));
    }
    let mut unknown = Vec::new();
    let mut record_unknown = |path: serde_ignored::Path<'_>| {
        let path = field_path(&path);
        // apiVersion and kind are TypeMeta: known to every kind even where k8s-openapi has no field for them.
        if path != "apiVersion" && path != "kind" {
            unknown.push(path);
        }
    };
    let tracked = serde_ignored::Deserializer::new(&value, &mut record_unknown);
    let object: T = serde_path_to_error::deserialize(tracked).map_err(|e| {
        let path = e.path().to_string();
        let message = go_type_error(expected.kind, &path, &value).unwrap_or_else(|| format!("json: {}", e.inner()));
        cannot_handle(expected, &message)
    })?;
    // Duplicates are listed before unknown fields.
    let warnings: Vec<String> = duplicates
        .iter()
        .map(|path| format!("duplicate field {}", quote(path)))
        .chain(unknown.iter().map(|path| format!("unknown field {}", quote(path))))
        .collect();
    match validation {
        FieldValidation::Strict if !warnings.is_empty() => Err(cannot_handle(
            expected,
            &format!("strict decoding error: {}", warnings.join(", ")),
        )),
        FieldValidation::Warn => Ok(Decoded { object, warnings }),
        _ => Ok(Decoded {
            object,
            warnings: Vec::new(),
        }),
    }
}

/// The kinds of the groups this server knows, to tell "not registered" from "cannot be converted".
fn registered(api_version: &str, kind: &str) -> bool {
    match api_version {
        "authentication.k8s.io/v1" => matches!(kind, "TokenRequest" | "TokenReview" | "SelfSubjectReview"),
        "v1" => matches!(
            kind,
            "Binding"
                | "ConfigMap"
                | "Endpoints"
                | "Event"
                | "LimitRange"
                | "Namespace"
                | "Node"
                | "PersistentVolume"
                | "PersistentVolumeClaim"
                | "Pod"
                | "PodTemplate"
                | "ReplicationController"
                | "ResourceQuota"
                | "Secret"
                | "Service"
                | "ServiceAccount"
                | "Status"
                | "DeleteOptions"
                | "List"
        ),
        _ => false,
    }
}

/// A body naming another kind or version than the endpoint's. Seen on kube-apiserver v1.37.1
/// (docs/observed/43-wrong-apiversion.txt, 44-wrong-kind.txt): an unregistered kind is "no kind ...
/// is registered", a registered one fails its conversion to the endpoint's internal type; both name the data's kind
/// and version first (create.go `transformDecodeError`).
fn foreign_kind(expected: Expected<'_>, api_version: &str, kind: &str) -> ApiError {
    let version = api_version.rsplit('/').next().unwrap_or(api_version);
    let detail = if registered(api_version, kind) {
        let internal = if expected.api_version.contains('/') {
            expected.api_version.split('.').next().unwrap_or("")
        } else {
            "core"
        };
        format!(
            "converting ({version}.{kind}) to ({internal}.{}): unknown conversion",
            expected.kind
        )
    } else {
        format!(
            "no kind {} is registered for version {} in scheme \"pkg/runtime/scheme.go:111\"",
            quote(kind),
            quote(api_version)
        )
    };
    status::bad_request(format!(
        "{kind} in version {} cannot be handled as a {}: {detail}",
        quote(version),
        expected.kind
    ))
    .into()
}

fn cannot_handle(expected: Expected<'_>, message: &str) -> ApiError {
    let kind = expected.kind;
    status::bad_request(format!(
        "{kind} in version {} cannot be handled as a {kind}: {message}",
        quote(expected.version())
    ))
    .into()
}

fn unrecognized(expected: Expected<'_>, message: &str, body: &[u8]) -> ApiError {
    status::bad_request(format!(
        "the object provided is unrecognized (must be of type {}): {message} ({})",
        expected.kind,
        summarize(body)
    ))
    .into()
}

/// create.go `summarizeData(data, 30)`.
fn summarize(body: &[u8]) -> String {
    const MAX: usize = 30;
    let (head, more) = if body.len() > MAX {
        (&body[..MAX], " ...")
    } else {
        (body, "")
    };
    match body.first() {
        None => "<empty>".to_owned(),
        Some(b'{') => format!("{}{more}", String::from_utf8_lossy(head)),
        Some(_) => format!("{}{more}", head.iter().map(|b| format!("{b:02x}")).collect::<String>()),
    }
}

/// Go's encoding/json message for the common failures, behind the probe's prefix.
fn go_json_error(error: &serde_json::Error, bytes: &[u8]) -> String {
    let detail = if error.is_eof() {
        "unexpected end of JSON input".to_owned()
    } else {
        let offending = offending_char(bytes, error.line(), error.column());
        match offending {
            Some(c) => format!("invalid character {} looking for beginning of value", go_quote_char(c)),
            None => "unexpected end of JSON input".to_owned(),
        }
    };
    format!("couldn't get version/kind; json parse error: {detail}")
}

fn offending_char(bytes: &[u8], line: usize, column: usize) -> Option<char> {
    let text = String::from_utf8_lossy(bytes);
    let line_text = text.lines().nth(line.saturating_sub(1))?;
    line_text.chars().nth(column.saturating_sub(1))
}

fn go_quote_char(c: char) -> String {
    match c {
        '\'' => "'\\''".to_owned(),
        '"' => "'\"'".to_owned(),
        c => format!("'{c}'"),
    }
}

/// go-yaml's nesting limit (since CVE-2022-3064). Checked before parsing because serde_yaml's parser takes time
/// quadratic in the nesting depth of flow collections (found by the reliability barrage, `tests/reliability_barrage.rs`).
const MAX_YAML_DEPTH: usize = 10_000;

/// The deepest nesting of `[`/`{` in a YAML document, ignoring quoted scalars roughly (a bound, not a parser).
fn flow_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max, mut quote) = (0usize, 0usize, None::<u8>);
    for &b in bytes {
        match (quote, b) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'[' | b'{') => {
                depth += 1;
                max = max.max(depth);
            }
            (None, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Go's `UnmarshalTypeError` for a value of the wrong JSON type at `path` (serde_path_to_error's `spec.audiences[0]`
/// form): `json: cannot unmarshal string into Go struct field TokenRequestSpec.spec.expirationSeconds of type
/// int64`. Known for the fields of TokenRequest and TokenReview; `None` elsewhere, or when the value there has
/// the right JSON type (the error was about something else).
fn go_type_error(kind: &str, path: &str, document: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let field_path: String = path
        .split('.')
        .map(|segment| segment.split('[').next().unwrap_or(segment))
        .collect::<Vec<_>>()
        .join(".");
    let element = path.ends_with(']');
    let (go_struct, go_type) = go_field(kind, &field_path, element)?;
    let pointer = format!("/{}", path.replace(']', "").replace(['.', '['], "/"));
    let value = document.pointer(&pointer)?;
    let right_type = match go_type {
        "string" | "types.UID" => value.is_string(),
        "int64" => value.is_i64() || value.is_u64(),
        "[]string" => value.is_array(),
        _ => value.is_object(),
    };
    if right_type {
        return None;
    }
    let found = match value {
        Value::String(_) => "string".to_owned(),
        Value::Number(n) if go_type.starts_with("int") && !(n.is_i64() || n.is_u64()) => format!("number {n}"),
        Value::Number(_) => "number".to_owned(),
        Value::Array(_) => "array".to_owned(),
        Value::Object(_) => "object".to_owned(),
        Value::Bool(_) => "bool".to_owned(),
        Value::Null => return None,
    };
    Some(format!(
        "json: cannot unmarshal {found} into Go struct field {go_struct}.{field_path} of type {go_type}"
    ))
}

/// The Go struct holding the field at `path` of `kind`, and the field's Go type (of its elements with `element`),
/// from staging/src/k8s.io/api/authentication/v1/types.go.
fn go_field(kind: &str, path: &str, element: bool) -> Option<(&'static str, &'static str)> {
    Some(match (kind, path, element) {
        ("TokenRequest", "metadata", false) => ("TokenRequest", "v1.ObjectMeta"),
        ("TokenRequest", "spec", false) => ("TokenRequest", "v1.TokenRequestSpec"),
        ("TokenRequest", "status", false) => ("TokenRequest", "v1.TokenRequestStatus"),
        ("TokenRequest", "spec.audiences", false) => ("TokenRequestSpec", "[]string"),
        ("TokenRequest", "spec.audiences", true) => ("TokenRequestSpec", "string"),
        ("TokenRequest", "spec.expirationSeconds", false) => ("TokenRequestSpec", "int64"),
        ("TokenRequest", "spec.boundObjectRef", false) => ("TokenRequestSpec", "v1.BoundObjectReference"),
        (
            "TokenRequest",
            "spec.boundObjectRef.kind" | "spec.boundObjectRef.apiVersion" | "spec.boundObjectRef.name",
            false,
        ) => ("BoundObjectReference", "string"),
        ("TokenRequest", "spec.boundObjectRef.uid", false) => ("BoundObjectReference", "types.UID"),
        ("TokenReview", "metadata", false) => ("TokenReview", "v1.ObjectMeta"),
        ("TokenReview", "spec", false) => ("TokenReview", "v1.TokenReviewSpec"),
        ("TokenReview", "status", false) => ("TokenReview", "v1.TokenReviewStatus"),
        ("TokenReview", "spec.token", false) => ("TokenReviewSpec", "string"),
        ("TokenReview", "spec.audiences", false) => ("TokenReviewSpec", "[]string"),
        ("TokenReview", "spec.audiences", true) => ("TokenReviewSpec", "string"),
        _ => return None,
    })
}

/// Parses a JSON document as `serde_json::from_slice` does (a repeated key keeps its last value, as in Go), in the
/// same pass noting the paths of the keys given twice in one object (`spec.expirationSeconds`), in the order the
/// repeats are met.
fn parse_json(bytes: &[u8]) -> Result<(serde_json::Value, Vec<String>), serde_json::Error> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde_json::Value;

    struct Walk<'a> {
        path: String,
        repeated: &'a mut Vec<String>,
    }

    impl Walk<'_> {
        fn child(&mut self, segment: &str) -> Walk<'_> {
            let path = match (self.path.is_empty(), segment.starts_with('[')) {
                (true, _) | (false, true) => format!("{}{segment}", self.path),
                (false, false) => format!("{}.{segment}", self.path),
            };
            Walk {
                path,
                repeated: &mut *self.repeated,
            }
        }
    }

    impl<'de> DeserializeSeed<'de> for Walk<'_> {
        type Value = Value;
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
            deserializer.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Walk<'_> {
        type Value = Value;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Value, A::Error> {
            let mut object = serde_json::Map::new();
            while let Some(key) = map.next_key::<String>()? {
                let child = self.child(&key);
                if object.contains_key(&key) {
                    child.repeated.push(child.path.clone());
                }
                let value = map.next_value_seed(child)?;
                object.insert(key, value);
            }
            Ok(Value::Object(object))
        }
        fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element_seed(self.child(&format!("[{}]", items.len())))? {
                items.push(item);
            }
            Ok(Value::Array(items))
        }
        fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
            Ok(Value::Bool(b))
        }
        fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
            Ok(Value::from(n))
        }
        fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
            Ok(Value::from(n))
        }
        fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Value, E> {
            serde_json::Number::from_f64(n)
                .map(Value::Number)
                .ok_or_else(|| E::custom("a JSON number that is not finite"))
        }
        fn visit_str<E>(self, s: &str) -> Result<Value, E> {
            Ok(Value::String(s.to_owned()))
        }
        fn visit_string<E>(self, s: String) -> Result<Value, E> {
            Ok(Value::String(s))
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
    }

    let mut repeated = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let walk = Walk {
        path: String::new(),
        repeated: &mut repeated,
    };
    let value = walk.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok((value, repeated))
}

/// kube-apiserver's field path: `spec.foo`, `spec.containers[0].foo`.
fn field_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", field_path(parent)),
        Path::Map { parent, key } => {
            let parent = field_path(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => field_path(parent),
    }
}

fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::authentication::v1::TokenRequest;

    use super::*;

    const TR: Expected<'static> = Expected {
        api_version: "authentication.k8s.io/v1",
        kind: "TokenRequest",
    };

    fn message(err: ApiError) -> String {
        err.status().message.clone().unwrap_or_default()
    }

    #[test]
    fn wrong_types_are_worded_as_go_words_them() {
        // As kube-apiserver v1.37.1 answered (DIFFERENTIAL.md, D12).
        let prefix = "TokenRequest in version \"v1\" cannot be handled as a TokenRequest: json: cannot unmarshal ";
        for (body, expected) in [
            (
                r#"{"spec":{"expirationSeconds":"soon"}}"#,
                "string into Go struct field TokenRequestSpec.spec.expirationSeconds of type int64",
            ),
            (
                r#"{"spec":{"audiences":"api"}}"#,
                "string into Go struct field TokenRequestSpec.spec.audiences of type []string",
            ),
            (
                r#"{"spec":[]}"#,
                "array into Go struct field TokenRequest.spec of type v1.TokenRequestSpec",
            ),
            (
                r#"{"spec":{"audiences":["a",1]}}"#,
                "number into Go struct field TokenRequestSpec.spec.audiences of type string",
            ),
            (
                r#"{"spec":{"expirationSeconds":1.5}}"#,
                "number 1.5 into Go struct field TokenRequestSpec.spec.expirationSeconds of type int64",
            ),
            (
                r#"{"spec":{"boundObjectRef":{"kind":true}}}"#,
                "bool into Go struct field BoundObjectReference.spec.boundObjectRef.kind of type string",
            ),
        ] {
            let err =
                decode::<TokenRequest>(body.as_bytes(), InputFormat::Json, TR, FieldValidation::Warn).unwrap_err();
            assert_eq!(message(err), format!("{prefix}{expected}"), "{body}");
        }
        let review = Expected {
            api_version: "authentication.k8s.io/v1",
            kind: "TokenReview",
        };
        let err = decode::<k8s_openapi::api::authentication::v1::TokenReview>(
            br#"{"spec":{"token":42}}"#,
            InputFormat::Json,
            review,
            FieldValidation::Warn,
        )
        .unwrap_err();
        assert_eq!(
            message(err),
            "TokenReview in version \"v1\" cannot be handled as a TokenReview: json: cannot unmarshal number into Go struct field TokenReviewSpec.spec.token of type string"
        );
    }

    #[test]
    fn duplicate_fields_fail_strict_and_warn_otherwise() {
        // As kube-apiserver v1.37.1 answered (DIFFERENTIAL.md, D13).
        let body = br#"{"spec":{"expirationSeconds":600,"expirationSeconds":700}}"#;
        let err = decode::<TokenRequest>(body, InputFormat::Json, TR, FieldValidation::Strict).unwrap_err();
        assert_eq!(
            message(err),
            "TokenRequest in version \"v1\" cannot be handled as a TokenRequest: strict decoding error: duplicate field \"spec.expirationSeconds\""
        );
        let ok: Decoded<TokenRequest> = decode(body, InputFormat::Json, TR, FieldValidation::Warn).unwrap();
        assert_eq!(ok.warnings, ["duplicate field \"spec.expirationSeconds\""]);
        assert_eq!(
            ok.object.spec.unwrap().expiration_seconds,
            Some(700),
            "the last one wins, as in Go"
        );
    }

    #[test]
    fn duplicate_fields_are_found_at_every_depth_and_only_there() {
        let body = br#"{"a":1,"b":{"c":[{"d":1,"d":2},{"d":3}],"e":{}},"a":2,"b2":[[{"x":0,"x":0}]]}"#;
        let (value, repeated) = parse_json(body).unwrap();
        assert_eq!(repeated, ["b.c[0].d", "a", "b2[0][0].x"]);
        assert_eq!(
            value,
            serde_json::from_slice::<serde_json::Value>(body).unwrap(),
            "the same document"
        );
        assert!(parse_json(br#"{"a":{"a":1},"b":[1,1]}"#).unwrap().1.is_empty());
    }

    #[test]
    fn r28_unknown_fields_warn_or_fail() {
        let body = br#"{"spec":{"foo":1,"audiences":["a"]},"metadata":{"bar":true}}"#;
        let ok: Decoded<TokenRequest> = decode(body, InputFormat::Json, TR, FieldValidation::Warn).unwrap();
        assert_eq!(
            ok.warnings,
            ["unknown field \"metadata.bar\"", "unknown field \"spec.foo\""]
        );
        let err = decode::<TokenRequest>(body, InputFormat::Json, TR, FieldValidation::Strict).unwrap_err();
        assert_eq!(
            message(err),
            "TokenRequest in version \"v1\" cannot be handled as a TokenRequest: strict decoding error: unknown field \"metadata.bar\", unknown field \"spec.foo\""
        );
        let plain: Decoded<TokenRequest> = decode(
            br#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{}}"#,
            InputFormat::Json,
            TR,
            FieldValidation::Strict,
        )
        .unwrap();
        assert!(plain.warnings.is_empty());
    }

    #[test]
    fn r27_malformed_and_foreign_bodies() {
        let err = decode::<TokenRequest>(br#"{"spec": {"#, InputFormat::Json, TR, FieldValidation::Warn).unwrap_err();
        assert_eq!(
            message(err),
            "the object provided is unrecognized (must be of type TokenRequest): couldn't get version/kind; json parse error: unexpected end of JSON input ({\"spec\": {)"
        );
        let err = decode::<TokenRequest>(
            br#"{"apiVersion":"authentication.k8s.io/v1beta1","kind":"TokenRequest"}"#,
            InputFormat::Json,
            TR,
            FieldValidation::Warn,
        )
        .unwrap_err();
        assert_eq!(
            message(err),
            "TokenRequest in version \"v1beta1\" cannot be handled as a TokenRequest: no kind \"TokenRequest\" is registered for version \"authentication.k8s.io/v1beta1\" in scheme \"pkg/runtime/scheme.go:111\""
        );
        let err = decode::<TokenRequest>(
            br#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview"}"#,
            InputFormat::Json,
            TR,
            FieldValidation::Warn,
        )
        .unwrap_err();
        assert_eq!(
            message(err),
            "TokenReview in version \"v1\" cannot be handled as a TokenRequest: converting (v1.TokenReview) to (authentication.TokenRequest): unknown conversion"
        );
        let err = decode::<TokenRequest>(
            br#"{"spec":{"expirationSeconds":"x"}}"#,
            InputFormat::Json,
            TR,
            FieldValidation::Warn,
        )
        .unwrap_err();
        assert!(message(err).starts_with("TokenRequest in version \"v1\" cannot be handled as a TokenRequest: "));
    }

    #[test]
    fn r28_create_options() {
        assert!(
            create_options(Some("dryRun=All&pretty=true&fieldManager=x"))
                .unwrap()
                .dry_run
        );
        let err = create_options(Some("dryRun=Bogus")).unwrap_err();
        assert_eq!(err.code(), 422);
        assert_eq!(
            message(err),
            "CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: [\"Bogus\"]: supported values: \"All\""
        );
        assert_eq!(
            create_options(Some("fieldValidation=Strict")).unwrap().field_validation,
            FieldValidation::Strict
        );
    }

    #[test]
    fn r27_negotiation() {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::ACCEPT, "text/html".parse().unwrap());
        assert_eq!(negotiate_output(&headers).unwrap_err().code(), 406);
        headers.insert(
            http::header::ACCEPT,
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
                .parse()
                .unwrap(),
        );
        assert!(negotiate_output(&headers).is_ok());
        headers.insert(http::header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert_eq!(input_format(&headers).unwrap_err().code(), 415);
    }
}
