//! Kubernetes `Status` errors, built exactly as apimachinery builds them.
//!
//! Source: `staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go` (`NewNotFound`, `NewConflict`, `NewInvalid`,
//! ...) and `staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go` (authorization denials).
//! The server sends these on the wire; the suite compares what a cluster sent against them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, Status, StatusCause, StatusDetails};

use crate::field::{FieldError, aggregate};

/// The largest request body kube-apiserver reads (`DefaultMaxRequestSizeBytes`, 3 MiB).
pub const MAX_REQUEST_BODY_BYTES: usize = 3 * 1024 * 1024;

/// The media types kube-apiserver can decode and encode, in the order its errors list them.
pub const SUPPORTED_MEDIA_TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];

/// A group and resource (or kind) as `schema.GroupResource.String()` prints it: `pods`, `tokenreviews.authentication.k8s.io`.
fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_owned()
    } else {
        format!("{resource}.{group}")
    }
}

fn failure(code: u16, reason: &str, message: String, details: Option<StatusDetails>) -> Status {
    Status {
        code: Some(i32::from(code)),
        details,
        message: Some(message),
        metadata: ListMeta::default(),
        reason: Some(reason.to_owned()),
        status: Some("Failure".to_owned()),
    }
}

fn details(group: &str, kind: &str, name: &str) -> StatusDetails {
    StatusDetails {
        group: non_empty(group),
        kind: non_empty(kind),
        name: non_empty(name),
        ..StatusDetails::default()
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// A `Status` as an error value: boxed (a `Status` is large) and printable as its message.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusError(Box<Status>);

impl StatusError {
    /// The `Status` to send or compare.
    pub fn status(&self) -> &Status {
        &self.0
    }

    /// The `Status`, owned.
    pub fn into_status(self) -> Status {
        *self.0
    }

    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        code(&self.0)
    }
}

impl From<Status> for StatusError {
    fn from(status: Status) -> Self {
        Self(Box::new(status))
    }
}

impl std::ops::Deref for StatusError {
    type Target = Status;

    fn deref(&self) -> &Status {
        &self.0
    }
}

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.message.as_deref().unwrap_or("unknown error"))
    }
}

impl std::error::Error for StatusError {}

/// The HTTP status code of a `Status` (500 if it carries none, which our builders never do).
pub fn code(status: &Status) -> u16 {
    status.code.and_then(|c| u16::try_from(c).ok()).unwrap_or(500)
}

/// 400 `BadRequest` with a bare message (`NewBadRequest`).
pub fn bad_request(message: impl Into<String>) -> Status {
    failure(400, "BadRequest", message.into(), None)
}

/// 401 `Unauthorized` as the authentication filter sends it (`responsewriters.Unauthorized`).
pub fn unauthorized() -> Status {
    failure(401, "Unauthorized", "Unauthorized".to_owned(), None)
}

/// 403 `Forbidden` for a resource request the authorizer denied (`responsewriters.ForbiddenStatusError`).
///
/// The message names the user, the verb, the resource with its subresource, the group and the namespace (or
/// `at the cluster scope`); the details name only the resource, without its subresource.
pub fn forbidden(user: &str, verb: &str, target: &ResourceTarget<'_>) -> Status {
    let resource_path = match target.subresource {
        Some(sub) => format!("{}/{sub}", target.resource),
        None => target.resource.to_owned(),
    };
    let scope = match target.namespace {
        Some(ns) => format!("in the namespace {}", quote(ns)),
        None => "at the cluster scope".to_owned(),
    };
    let reason = format!(
        "User {} cannot {verb} resource {} in API group {} {scope}",
        quote(user),
        quote(&resource_path),
        quote(target.group)
    );
    forbidden_object(target.group, target.resource, target.name.unwrap_or(""), &reason)
}

/// 403 `Forbidden` for an object, with why (`NewForbidden`, which admission plugins also use through
/// `admission.NewForbidden`): `pods "web" is forbidden: {reason}`, or `pods is forbidden: {reason}` without a name.
pub fn forbidden_object(group: &str, resource: &str, name: &str, reason: &str) -> Status {
    let qualified_resource = qualified(group, resource);
    let message = if name.is_empty() {
        format!("{qualified_resource} is forbidden: {reason}")
    } else {
        format!("{qualified_resource} {} is forbidden: {reason}", quote(name))
    };
    failure(403, "Forbidden", message, Some(details(group, resource, name)))
}

/// 403 `Forbidden` for a non-resource URL (`forbidden: User "x" cannot get path "/foo"`).
pub fn forbidden_path(user: &str, verb: &str, path: &str) -> Status {
    let message = format!("forbidden: User {} cannot {verb} path {}", quote(user), quote(path));
    failure(403, "Forbidden", message, Some(StatusDetails::default()))
}

/// What a resource request addresses, for authorization errors.
#[derive(Debug, Clone, Copy)]
pub struct ResourceTarget<'a> {
    /// API group, empty for core.
    pub group: &'a str,
    /// Plural resource name, e.g. `serviceaccounts`.
    pub resource: &'a str,
    /// Subresource, e.g. `token`.
    pub subresource: Option<&'a str>,
    /// Object name, if the request names one.
    pub name: Option<&'a str>,
    /// Namespace, if the resource is namespaced.
    pub namespace: Option<&'a str>,
}

/// 404 `NotFound` for a named object (`NewNotFound`): `pods "web" not found`.
pub fn not_found(group: &str, resource: &str, name: &str) -> Status {
    let message = format!("{} {} not found", qualified(group, resource), quote(name));
    failure(404, "NotFound", message, Some(details(group, resource, name)))
}

/// 404 for a path no handler serves (`the server could not find the requested resource`).
pub fn path_not_found() -> Status {
    failure(
        404,
        "NotFound",
        "the server could not find the requested resource".to_owned(),
        Some(StatusDetails::default()),
    )
}

/// 409 `AlreadyExists` (`NewAlreadyExists`).
pub fn already_exists(group: &str, resource: &str, name: &str) -> Status {
    let message = format!("{} {} already exists", qualified(group, resource), quote(name));
    failure(409, "AlreadyExists", message, Some(details(group, resource, name)))
}

/// 409 `Conflict` (`NewConflict`): `Operation cannot be fulfilled on {resource} "{name}": {reason}`.
///
/// TokenRequest passes a *kind* as the resource (`Pod`, `TokenRequest`), and so do we.
pub fn conflict(group: &str, resource: &str, name: &str, reason: &str) -> Status {
    let message = format!(
        "Operation cannot be fulfilled on {} {}: {reason}",
        qualified(group, resource),
        quote(name)
    );
    failure(409, "Conflict", message, Some(details(group, resource, name)))
}

/// 422 `Invalid` with one cause per field error (`NewInvalid`).
pub fn invalid(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> Status {
    let message = format!(
        "{} {} is invalid: {}",
        qualified(group, kind),
        quote(name),
        aggregate(errors)
    );
    let causes = errors
        .iter()
        .map(|e| StatusCause {
            field: Some(e.field.clone()),
            message: Some(e.body()),
            reason: Some(e.kind.reason().to_owned()),
        })
        .collect();
    let mut d = details(group, kind, name);
    // Go serialises `name: ""` away (omitempty), so an empty name is simply absent, as here.
    d.causes = Some(causes);
    failure(422, "Invalid", message, Some(d))
}

/// 405 `MethodNotAllowed` (`NewMethodNotSupported`).
pub fn method_not_supported(group: &str, resource: &str, action: &str) -> Status {
    let message = format!(
        "{action} is not supported on resources of kind {}",
        quote(&qualified(group, resource))
    );
    failure(405, "MethodNotAllowed", message, Some(details(group, resource, "")))
}

/// 405 for a method no route serves, as kube-apiserver v1.37.1 sends go-restful's answer
/// (observed: `docs/observed/45-get-method.txt`).
pub fn method_not_allowed() -> Status {
    failure(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource".to_owned(),
        Some(StatusDetails::default()),
    )
}

/// The `Status` a DELETE answers with for resources that return a status rather than the object
/// (`staging/src/k8s.io/apiserver/pkg/endpoints/handlers/delete.go`).
pub fn success_deleted(group: &str, resource: &str, name: &str, uid: &str) -> Status {
    let mut d = details(group, resource, name);
    d.uid = non_empty(uid);
    Status {
        code: None,
        details: Some(d),
        message: None,
        metadata: ListMeta::default(),
        reason: None,
        status: Some("Success".to_owned()),
    }
}

/// 413 `RequestEntityTooLarge` (`NewRequestEntityTooLargeError`).
pub fn request_entity_too_large(limit: usize) -> Status {
    failure(
        413,
        "RequestEntityTooLarge",
        format!("Request entity too large: limit is {limit}"),
        None,
    )
}

/// 415 `UnsupportedMediaType` (`NewUnsupportedMediaTypeError`) for a body to create or review.
pub fn unsupported_media_type() -> Status {
    unsupported_media_type_of(SUPPORTED_MEDIA_TYPES)
}

/// 415 `UnsupportedMediaType` naming the `accepted` media types (a PATCH names its patch types).
pub fn unsupported_media_type_of(accepted: &[&str]) -> Status {
    let message = format!(
        "the body of the request was in an unknown format - accepted media types include: {}",
        accepted.join(", ")
    );
    failure(415, "UnsupportedMediaType", message, None)
}

/// 413 `RequestEntityTooLarge` with kube-apiserver's prefix (`NewRequestEntityTooLargeError`).
pub fn request_entity_too_large_message(message: &str) -> Status {
    failure(
        413,
        "RequestEntityTooLarge",
        format!("Request entity too large: {message}"),
        None,
    )
}

/// 422 for a JSON patch whose operations do not apply to the object: patch.go answers
/// `NewGenericServerResponse(422, ...)` with no resource and no cause, so the client learns nothing more.
pub fn patch_not_applied() -> Status {
    failure(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request".to_owned(),
        Some(StatusDetails::default()),
    )
}

/// 406 as kube-apiserver v1.37.1 sends go-restful's answer, naming what the route produces
/// (observed: `48-accept-html.txt` for API resources, `81b-jwks-accept-json.txt` for the JWKS).
pub fn not_acceptable(representations: &[&str]) -> Status {
    let message = format!(
        "406: Not Acceptable\n\nAvailable representations: {}",
        representations.join(", ")
    );
    failure(406, "NotAcceptable", message, Some(StatusDetails::default()))
}

/// 500 `InternalError`: only for failures of the server itself, never for bad input.
pub fn internal_error(message: &str) -> Status {
    failure(
        500,
        "InternalError",
        format!("Internal error occurred: {message}"),
        None,
    )
}

/// 503 `ServiceUnavailable` with a bare message (`NewServiceUnavailable`): the server cannot serve the request
/// now (its storage is not reachable yet), and a retry may succeed.
pub fn service_unavailable(message: &str) -> Status {
    failure(503, "ServiceUnavailable", message.to_owned(), None)
}

/// Go's `%q` for the strings we print.
pub(crate) fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::FieldValue;

    fn json(status: &Status) -> serde_json::Value {
        serde_json::to_value(status).unwrap()
    }

    #[test]
    fn r3_not_found_names_resource_and_details() {
        let s = not_found("", "serviceaccounts", "robot");
        assert_eq!(
            json(&s),
            serde_json::json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
                "message": "serviceaccounts \"robot\" not found", "reason": "NotFound",
                "details": {"name": "robot", "kind": "serviceaccounts"}, "code": 404})
        );
    }

    #[test]
    fn r22_unauthorized_body() {
        assert_eq!(
            json(&unauthorized()),
            serde_json::json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                "message":"Unauthorized","reason":"Unauthorized","code":401})
        );
    }

    #[test]
    fn r27_forbidden_token_create() {
        let target = ResourceTarget {
            group: "",
            resource: "serviceaccounts",
            subresource: Some("token"),
            name: Some("robot"),
            namespace: Some("ns1"),
        };
        let s = forbidden("system:serviceaccount:ns1:robot", "create", &target);
        assert_eq!(
            s.message.as_deref(),
            Some(
                "serviceaccounts \"robot\" is forbidden: User \"system:serviceaccount:ns1:robot\" cannot create \
                 resource \"serviceaccounts/token\" in API group \"\" in the namespace \"ns1\""
            )
        );
        assert_eq!(code(&s), 403);
    }

    #[test]
    fn r7_invalid_status_layout() {
        let e = FieldError::invalid(
            "spec.expirationSeconds",
            FieldValue::Int(60),
            "may not specify a duration less than 10 minutes",
        );
        let s = invalid("authentication.k8s.io", "TokenRequest", "", &[e]);
        assert_eq!(
            json(&s),
            serde_json::json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
                "message": "TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes",
                "reason": "Invalid", "code": 422,
                "details": {"group": "authentication.k8s.io", "kind": "TokenRequest", "causes": [
                    {"reason": "FieldValueInvalid", "field": "spec.expirationSeconds",
                     "message": "Invalid value: 60: may not specify a duration less than 10 minutes"}]}})
        );
    }

    #[test]
    fn r16_conflict_uses_kind() {
        let s = conflict("", "Pod", "web", "the UID differs");
        assert_eq!(
            s.message.as_deref(),
            Some("Operation cannot be fulfilled on Pod \"web\": the UID differs")
        );
        assert_eq!(code(&s), 409);
    }

    #[test]
    fn r27_method_not_allowed_and_delete_success() {
        assert_eq!(
            json(&method_not_allowed()),
            serde_json::json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                "message":"the server does not allow this method on the requested resource",
                "reason":"MethodNotAllowed","details":{},"code":405})
        );
        assert_eq!(
            not_acceptable(SUPPORTED_MEDIA_TYPES).message.as_deref(),
            Some(
                "406: Not Acceptable\n\nAvailable representations: application/json, application/yaml, \
                 application/vnd.kubernetes.protobuf"
            )
        );
        assert_eq!(
            json(&success_deleted("", "secrets", "s", "u")),
            serde_json::json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success",
                "details":{"name":"s","kind":"secrets","uid":"u"}})
        );
    }

    #[test]
    fn r27_too_large() {
        let s = request_entity_too_large(MAX_REQUEST_BODY_BYTES);
        assert_eq!(s.message.as_deref(), Some("Request entity too large: limit is 3145728"));
    }
}
