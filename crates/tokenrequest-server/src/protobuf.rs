//! Decoding the Kubernetes protobuf encoding of the few kinds kubectl's typed clients send that way
//! (`kubectl create namespace/serviceaccount/secret/token`, `kubectl auth whoami`): the `k8s\0` envelope around a
//! `runtime.Unknown` (staging/src/k8s.io/apimachinery/pkg/runtime/serializer/protobuf/protobuf.go), and the
//! messages of staging/src/k8s.io/api/{core,authentication}/v1/generated.proto, turned into the JSON form the rest
//! of the server decodes. Answers are always JSON (every client that sends protobuf also accepts JSON).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

/// Why a protobuf body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// The `k8s\0` prefix is missing.
    #[error("provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]")]
    Prefix,
    /// The bytes end inside a field.
    #[error("unexpected EOF")]
    Truncated,
    /// A wire type this decoder does not handle where the schema expects something else.
    #[error("proto: illegal wireType {0}")]
    WireType(u64),
    /// A kind this server does not read as protobuf.
    #[error("no protobuf schema for kind {0:?}")]
    Kind(String),
}

#[derive(Clone, Copy)]
enum Ty {
    Str,
    Bytes,
    Int,
    Bool,
    Time,
    Msg(&'static [Field]),
    MapStr,
    MapBytes,
}

#[derive(Clone, Copy)]
struct Field {
    number: u64,
    name: &'static str,
    ty: Ty,
    repeated: bool,
}

const fn f(number: u64, name: &'static str, ty: Ty) -> Field {
    Field {
        number,
        name,
        ty,
        repeated: false,
    }
}

const fn rep(number: u64, name: &'static str, ty: Ty) -> Field {
    Field {
        number,
        name,
        ty,
        repeated: true,
    }
}

const OWNER_REFERENCE: &[Field] = &[
    f(5, "apiVersion", Ty::Str),
    f(1, "kind", Ty::Str),
    f(3, "name", Ty::Str),
    f(4, "uid", Ty::Str),
    f(6, "controller", Ty::Bool),
    f(7, "blockOwnerDeletion", Ty::Bool),
];

const OBJECT_META: &[Field] = &[
    f(1, "name", Ty::Str),
    f(2, "generateName", Ty::Str),
    f(3, "namespace", Ty::Str),
    f(5, "uid", Ty::Str),
    f(6, "resourceVersion", Ty::Str),
    f(7, "generation", Ty::Int),
    f(8, "creationTimestamp", Ty::Time),
    f(9, "deletionTimestamp", Ty::Time),
    f(10, "deletionGracePeriodSeconds", Ty::Int),
    f(11, "labels", Ty::MapStr),
    f(12, "annotations", Ty::MapStr),
    rep(13, "ownerReferences", Ty::Msg(OWNER_REFERENCE)),
    rep(14, "finalizers", Ty::Str),
];

const OBJECT_REFERENCE: &[Field] = &[
    f(1, "kind", Ty::Str),
    f(2, "namespace", Ty::Str),
    f(3, "name", Ty::Str),
    f(4, "uid", Ty::Str),
    f(5, "apiVersion", Ty::Str),
    f(6, "resourceVersion", Ty::Str),
    f(7, "fieldPath", Ty::Str),
];

const LOCAL_OBJECT_REFERENCE: &[Field] = &[f(1, "name", Ty::Str)];

const NAMESPACE: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    f(2, "spec", Ty::Msg(&[rep(1, "finalizers", Ty::Str)])),
];

const SERVICE_ACCOUNT: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    rep(2, "secrets", Ty::Msg(OBJECT_REFERENCE)),
    rep(3, "imagePullSecrets", Ty::Msg(LOCAL_OBJECT_REFERENCE)),
    f(4, "automountServiceAccountToken", Ty::Bool),
];

const SECRET: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    f(2, "data", Ty::MapBytes),
    f(3, "type", Ty::Str),
    f(4, "stringData", Ty::MapStr),
    f(5, "immutable", Ty::Bool),
];

const BOUND_OBJECT_REFERENCE: &[Field] = &[
    f(1, "kind", Ty::Str),
    f(2, "apiVersion", Ty::Str),
    f(3, "name", Ty::Str),
    f(4, "uid", Ty::Str),
];

const TOKEN_REQUEST: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Ty::Msg(&[
            rep(1, "audiences", Ty::Str),
            f(4, "expirationSeconds", Ty::Int),
            f(3, "boundObjectRef", Ty::Msg(BOUND_OBJECT_REFERENCE)),
        ]),
    ),
];

const TOKEN_REVIEW: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Ty::Msg(&[f(1, "token", Ty::Str), rep(2, "audiences", Ty::Str)]),
    ),
];

const SELF_SUBJECT_REVIEW: &[Field] = &[f(1, "metadata", Ty::Msg(OBJECT_META))];

const TYPE_META: &[Field] = &[f(1, "apiVersion", Ty::Str), f(2, "kind", Ty::Str)];

const UNKNOWN: &[Field] = &[
    f(1, "typeMeta", Ty::Msg(TYPE_META)),
    f(2, "raw", Ty::Bytes),
    f(3, "contentEncoding", Ty::Str),
];

fn schema(kind: &str) -> Option<&'static [Field]> {
    Some(match kind {
        "Namespace" => NAMESPACE,
        "ServiceAccount" => SERVICE_ACCOUNT,
        "Secret" => SECRET,
        "TokenRequest" => TOKEN_REQUEST,
        "TokenReview" => TOKEN_REVIEW,
        "SelfSubjectReview" => SELF_SUBJECT_REVIEW,
        _ => return None,
    })
}

/// Turns a protobuf body into the JSON object it stands for (with `apiVersion` and `kind` from the envelope).
pub fn to_json(body: &[u8], expected_kind: &str) -> Result<Value, ProtobufError> {
    let inner = body.strip_prefix(b"k8s\0").ok_or(ProtobufError::Prefix)?;
    let envelope = message(inner, UNKNOWN)?;
    let type_meta = envelope.get("typeMeta").cloned().unwrap_or(Value::Null);
    let kind = type_meta["kind"]
        .as_str()
        .filter(|k| !k.is_empty())
        .unwrap_or(expected_kind)
        .to_owned();
    let raw = envelope.get("raw").and_then(Value::as_str).unwrap_or("");
    let raw = STANDARD.decode(raw).map_err(|_| ProtobufError::Truncated)?;
    let fields = schema(&kind).ok_or_else(|| ProtobufError::Kind(kind.clone()))?;
    let mut object = message(&raw, fields)?;
    if let Some(api_version) = type_meta["apiVersion"].as_str().filter(|v| !v.is_empty()) {
        object.insert("apiVersion".to_owned(), Value::String(api_version.to_owned()));
    }
    object.insert("kind".to_owned(), Value::String(kind));
    Ok(Value::Object(object))
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.bytes.split_first().ok_or(ProtobufError::Truncated)?;
            self.bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::Truncated)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtobufError> {
        if self.bytes.len() < n {
            return Err(ProtobufError::Truncated);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn delimited(&mut self) -> Result<&'a [u8], ProtobufError> {
        let n = usize::try_from(self.varint()?).map_err(|_| ProtobufError::Truncated)?;
        self.take(n)
    }
}

fn message(bytes: &[u8], fields: &[Field]) -> Result<Map<String, Value>, ProtobufError> {
    let mut reader = Reader { bytes };
    let mut out = Map::new();
    while !reader.bytes.is_empty() {
        let tag = reader.varint()?;
        let (number, wire) = (tag >> 3, tag & 7);
        let Some(field) = fields.iter().find(|f| f.number == number) else {
            skip(&mut reader, wire)?;
            continue;
        };
        let value = match (field.ty, wire) {
            (Ty::Int, 0) => Value::from(reader.varint()? as i64),
            (Ty::Bool, 0) => Value::Bool(reader.varint()? != 0),
            (Ty::Str, 2) => Value::String(String::from_utf8_lossy(reader.delimited()?).into_owned()),
            (Ty::Bytes, 2) => Value::String(STANDARD.encode(reader.delimited()?)),
            (Ty::Msg(inner), 2) => Value::Object(message(reader.delimited()?, inner)?),
            (Ty::Time, 2) => time(reader.delimited()?)?,
            (Ty::MapStr | Ty::MapBytes, 2) => {
                let entry = message(
                    reader.delimited()?,
                    &[f(1, "key", Ty::Str), f(2, "value", map_value(field.ty))],
                )?;
                let key = entry.get("key").and_then(Value::as_str).unwrap_or("").to_owned();
                let value = entry.get("value").cloned().unwrap_or(Value::String(String::new()));
                if let Some(map) = out
                    .entry(field.name)
                    .or_insert_with(|| Value::Object(Map::new()))
                    .as_object_mut()
                {
                    map.insert(key, value);
                }
                continue;
            }
            (_, wire) => return Err(ProtobufError::WireType(wire)),
        };
        if field.repeated {
            if let Some(list) = out
                .entry(field.name)
                .or_insert_with(|| Value::Array(Vec::new()))
                .as_array_mut()
            {
                list.push(value);
            }
        } else {
            out.insert(field.name.to_owned(), value);
        }
    }
    Ok(out)
}

fn map_value(ty: Ty) -> Ty {
    if matches!(ty, Ty::MapBytes) { Ty::Bytes } else { Ty::Str }
}

/// `metav1.Time` is `{seconds = 1, nanos = 2}`; JSON has it as RFC 3339 at second precision.
fn time(bytes: &[u8]) -> Result<Value, ProtobufError> {
    let fields = message(bytes, &[f(1, "seconds", Ty::Int)])?;
    let seconds = fields.get("seconds").and_then(Value::as_i64).unwrap_or(0);
    let ts = k8s_openapi::jiff::Timestamp::from_second(seconds).unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
    Ok(Value::String(ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

fn skip(reader: &mut Reader<'_>, wire: u64) -> Result<(), ProtobufError> {
    match wire {
        0 => reader.varint().map(drop),
        1 => reader.take(8).map(drop),
        2 => reader.delimited().map(drop),
        5 => reader.take(4).map(drop),
        other => Err(ProtobufError::WireType(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(number: u64, wire: u64) -> Vec<u8> {
        varint((number << 3) | wire)
    }

    fn varint(mut n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    fn bytes_field(number: u64, data: &[u8]) -> Vec<u8> {
        let mut out = key(number, 2);
        out.extend(varint(data.len() as u64));
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn token_request_from_kubectl_encoding() {
        let meta = bytes_field(1, b"robot");
        let mut bound = bytes_field(1, b"Pod");
        bound.extend(bytes_field(2, b"v1"));
        bound.extend(bytes_field(3, b"web"));
        let mut spec = bytes_field(1, b"api");
        spec.extend(bytes_field(1, b"vault"));
        spec.extend(key(4, 0));
        spec.extend(varint(3607));
        spec.extend(bytes_field(3, &bound));
        let mut raw = bytes_field(1, &meta);
        raw.extend(bytes_field(2, &spec));
        let mut type_meta = bytes_field(1, b"authentication.k8s.io/v1");
        type_meta.extend(bytes_field(2, b"TokenRequest"));
        let mut body = b"k8s\0".to_vec();
        body.extend(bytes_field(1, &type_meta));
        body.extend(bytes_field(2, &raw));
        let json = to_json(&body, "TokenRequest").unwrap();
        assert_eq!(
            json,
            serde_json::json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "metadata": {"name": "robot"},
                "spec": {"audiences": ["api", "vault"], "expirationSeconds": 3607,
                         "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web"}}})
        );
        assert_eq!(to_json(b"{}", "TokenRequest").unwrap_err(), ProtobufError::Prefix);
        assert_eq!(
            to_json(&body[..body.len() - 3], "TokenRequest").unwrap_err(),
            ProtobufError::Truncated
        );
    }
}
