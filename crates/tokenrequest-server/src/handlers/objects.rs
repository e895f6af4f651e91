//! Create, get, list and delete of the stored kinds, as the generic REST handlers do them
//! (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/{create,get,delete}.go): what kubectl and kube-rs need to
//! set up service accounts and the objects tokens are bound to.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Secret, ServiceAccount};
use serde_json::{Value, json};
use tokenrequest_types::field::{FieldError, FieldValue};
use tokenrequest_types::status;

use crate::decode::{self, Expected, InputFormat};
use crate::error::ApiError;
use crate::handlers::watch::{self, WatchQuery};
use crate::handlers::with_warnings;
use crate::managed_fields;
use crate::patch::PatchType;
use crate::selector::Selector;
use crate::state::AppState;
use crate::store::Object;

/// Runs `$body` with `$K` bound to the kind served at `$resource`, or answers 404 for a resource this server
/// does not have (as kube-apiserver does for an unknown path).
macro_rules! with_kind {
    ($resource:expr, $K:ident => $body:expr) => {
        match $resource {
            "namespaces" => {
                type $K = Namespace;
                $body
            }
            "nodes" => {
                type $K = Node;
                $body
            }
            "pods" => {
                type $K = Pod;
                $body
            }
            "secrets" => {
                type $K = Secret;
                $body
            }
            "serviceaccounts" => {
                type $K = ServiceAccount;
                $body
            }
            _ => Err(status::path_not_found().into()),
        }
    };
}

fn resource_of(uri_path: &str) -> &str {
    uri_path.trim_end_matches('/').rsplit('/').next().unwrap_or("")
}

/// `GET /api/v1/{namespaces,nodes}`.
pub async fn list_cluster_scoped(
    State(state): State<AppState>,
    uri: http::Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let resource = resource_of(uri.path()).to_owned();
    with_kind!(resource.as_str(), K => list::<K>(&state, None, query.as_deref(), &headers))
}

/// `GET /api/v1/{pods,secrets,serviceaccounts}`: across namespaces.
pub async fn list_all_namespaces(
    State(state): State<AppState>,
    uri: http::Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let resource = resource_of(uri.path()).to_owned();
    with_kind!(resource.as_str(), K => list::<K>(&state, None, query.as_deref(), &headers))
}

/// `GET /api/v1/namespaces/{namespace}/{resource}`.
pub async fn list_namespaced(
    State(state): State<AppState>,
    Path((namespace, resource)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    with_kind!(resource.as_str(), K => namespaced::<K>().and_then(|()| list::<K>(&state, Some(&namespace), query.as_deref(), &headers)))
}

/// `GET /api/v1/{namespaces,nodes}/{name}`.
pub async fn get_cluster_scoped(
    State(state): State<AppState>,
    uri: http::Uri,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let resource = cluster_resource(uri.path());
    with_kind!(resource, K => get::<K>(&state, "", &name, &headers))
}

/// `GET /api/v1/namespaces/{namespace}/{resource}/{name}`.
pub async fn get_namespaced(
    State(state): State<AppState>,
    Path((namespace, resource, name)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    with_kind!(resource.as_str(), K => namespaced::<K>().and_then(|()| get::<K>(&state, &namespace, &name, &headers)))
}

/// `POST /api/v1/{namespaces,nodes}`.
pub async fn create_cluster_scoped(
    State(state): State<AppState>,
    uri: http::Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let resource = resource_of(uri.path()).to_owned();
    let bytes = read(&headers, body).await?;
    with_kind!(resource.as_str(), K => create::<K>(&state, "", query.as_deref(), &headers, &bytes))
}

/// `POST /api/v1/namespaces/{namespace}/{resource}`.
pub async fn create_namespaced(
    State(state): State<AppState>,
    Path((namespace, resource)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    with_kind!(resource.as_str(), K => {
        namespaced::<K>()?;
        let bytes = read(&headers, body).await?;
        create::<K>(&state, &namespace, query.as_deref(), &headers, &bytes)
    })
}

/// `PATCH /api/v1/{namespaces,nodes}/{name}`.
pub async fn patch_cluster_scoped(
    State(state): State<AppState>,
    uri: http::Uri,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let resource = cluster_resource(uri.path());
    let bytes = decode::read_body(body).await?;
    with_kind!(resource, K => patch::<K>(&state, "", &name, query.as_deref(), &headers, &bytes))
}

/// `PATCH /api/v1/namespaces/{namespace}/{resource}/{name}`.
pub async fn patch_namespaced(
    State(state): State<AppState>,
    Path((namespace, resource, name)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = decode::read_body(body).await?;
    with_kind!(resource.as_str(), K => namespaced::<K>().and_then(|()| patch::<K>(&state, &namespace, &name, query.as_deref(), &headers, &bytes)))
}

/// `DELETE /api/v1/{namespaces,nodes}/{name}`.
pub async fn delete_cluster_scoped(
    State(state): State<AppState>,
    uri: http::Uri,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let resource = cluster_resource(uri.path());
    let bytes = decode::read_body(body).await?;
    with_kind!(resource, K => delete::<K>(&state, "", &name, query.as_deref(), &headers, &bytes))
}

/// `DELETE /api/v1/namespaces/{namespace}/{resource}/{name}`.
pub async fn delete_namespaced(
    State(state): State<AppState>,
    Path((namespace, resource, name)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = decode::read_body(body).await?;
    with_kind!(resource.as_str(), K => namespaced::<K>().and_then(|()| delete::<K>(&state, &namespace, &name, query.as_deref(), &headers, &bytes)))
}

/// `/api/v1/namespaces/{name}` or `/api/v1/nodes/{name}`: the resource is the third segment.
fn cluster_resource(path: &str) -> &'static str {
    if path.starts_with("/api/v1/nodes/") {
        "nodes"
    } else {
        "namespaces"
    }
}

/// A cluster-scoped kind under `/namespaces/{ns}/` is a path kube-apiserver does not serve.
fn namespaced<K: Object>() -> Result<(), ApiError> {
    if K::NAMESPACED {
        Ok(())
    } else {
        Err(status::path_not_found().into())
    }
}

async fn read(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, ApiError> {
    // create.go's order: output negotiation (406), input media type (415), then the body (413).
    decode::negotiate_output(headers)?;
    decode::input_format(headers)?;
    decode::read_body(body).await
}

fn list<K: Object>(
    state: &AppState,
    namespace: Option<&str>,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    decode::negotiate_output(headers)?;
    let selector = Selector::from_query(query)?;
    if let Some(watch) = WatchQuery::from_query(query)? {
        return Ok(watch::watch::<K>(state, namespace, selector, watch));
    }
    let store = state.read();
    let items: Vec<Value> = store
        .list::<K>(namespace)
        .filter(|object| selector.matches(object.metadata()))
        .map(|object| {
            let mut item = serde_json::to_value(object).unwrap_or(Value::Null);
            // Items of a typed list carry no apiVersion/kind on the wire.
            if let Value::Object(map) = &mut item {
                map.remove("apiVersion");
                map.remove("kind");
            }
            item
        })
        .collect();
    let body = json!({
        "kind": format!("{}List", K::KIND),
        "apiVersion": K::API_VERSION,
        "metadata": {"resourceVersion": store.resource_version()},
        "items": items,
    });
    Ok(Json(body).into_response())
}

fn get<K: Object>(state: &AppState, namespace: &str, name: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    decode::negotiate_output(headers)?;
    let store = state.read();
    let object = store
        .get::<K>(namespace, name)
        .ok_or_else(|| ApiError::from(status::not_found(K::GROUP, K::URL_PATH_SEGMENT, name)))?;
    Ok(Json(object).into_response())
}

fn create<K: Object>(
    state: &AppState,
    namespace: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<Response, ApiError> {
    let format = decode::input_format(headers)?;
    let options = decode::create_options(query)?;
    let decoded = decode::decode::<K>(
        bytes,
        format,
        Expected {
            api_version: K::API_VERSION,
            kind: K::KIND,
        },
        options.field_validation,
    )?;
    let mut object = decoded.object;
    managed_fields::record(&mut object, &managed_fields::manager(query, headers));
    // Warnings go out with the answer, an error included (see handlers::token).
    let response = match store_new(state, namespace, object, options.dry_run) {
        Ok(created) => (StatusCode::CREATED, Json(created)).into_response(),
        Err(error) => error.into_response(),
    };
    Ok(with_warnings(response, &decoded.warnings))
}

/// Admits, validates and stores a decoded object.
fn store_new<K: Object>(state: &AppState, namespace: &str, object: K, dry_run: bool) -> Result<K, ApiError> {
    // rest.EnsureObjectNamespaceMatchesRequestNamespace: a namespaced object may name its namespace only if it is
    // the request's; a cluster-scoped one may not name any.
    match object.metadata().namespace.as_deref().filter(|ns| !ns.is_empty()) {
        Some(ns) if K::NAMESPACED && ns != namespace => {
            return Err(status::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            )
            .into());
        }
        Some(_) if !K::NAMESPACED => {
            return Err(status::bad_request("not allowed to set namespace on a cluster-scoped object").into());
        }
        _ => {}
    }
    let created = state.write().create(namespace, object, dry_run)?;
    tracing::info!(
        kind = K::KIND,
        namespace,
        name = created.metadata().name.as_deref().unwrap_or(""),
        dry_run,
        "created"
    );
    Ok(created)
}

/// Applies a patch (handlers/patch.go): output negotiation (406), the patch type (415), options (422), the object
/// (404), the patch itself (400, 422), decoding the result as the kind, the name and namespace against the URL
/// (400), then the store's update (409, 422). The answer is 200 with the object as stored.
fn patch<K: Object>(
    state: &AppState,
    namespace: &str,
    name: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    decode::negotiate_output(headers)?;
    let patch_type = PatchType::from_media_type(&decode::content_media_type(headers))?;
    let options = decode::patch_options(query)?;
    let manager = managed_fields::manager(query, headers);
    let mut store = state.write();
    let current = store
        .get::<K>(namespace, name)
        .ok_or_else(|| ApiError::from(status::not_found(K::GROUP, K::URL_PATH_SEGMENT, name)))?;
    let patched = crate::patch::apply(patch_type, &serde_json::to_value(current).unwrap_or_default(), body)?;
    let bytes = serde_json::to_vec(&patched).unwrap_or_default();
    let expected = Expected {
        api_version: K::API_VERSION,
        kind: K::KIND,
    };
    let decoded = decode::decode::<K>(&bytes, InputFormat::Json, expected, options.field_validation)?;
    let object = decoded.object;
    let patched_name = object.metadata().name.clone().unwrap_or_default();
    if patched_name != name {
        return Err(status::bad_request(format!(
            "the name of the object ({patched_name}) does not match the name on the URL ({name})"
        ))
        .into());
    }
    if let Some(ns) = object
        .metadata()
        .namespace
        .as_deref()
        .filter(|ns| K::NAMESPACED && *ns != namespace)
    {
        return Err(status::bad_request(format!(
            "the namespace of the object ({ns}) does not match the namespace on the URL ({namespace})"
        ))
        .into());
    }
    let updated = store.update(namespace, name, object, options.dry_run, |old, new| {
        let fields = managed_fields::after_update(
            &serde_json::to_value(old).unwrap_or_default(),
            &serde_json::to_value(&*new).unwrap_or_default(),
            &manager,
            K::API_VERSION,
        );
        new.metadata_mut().managed_fields = serde_json::from_value(fields).ok().filter(|f: &Vec<_>| !f.is_empty());
    })?;
    drop(store);
    tracing::info!(kind = K::KIND, namespace, name, dry_run = options.dry_run, "patched");
    Ok(with_warnings(Json(updated).into_response(), &decoded.warnings))
}

fn delete<K: Object>(
    state: &AppState,
    namespace: &str,
    name: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    decode::negotiate_output(headers)?;
    // DeleteOptions may come in the query or the body; only dryRun and preconditions.uid matter here.
    let options: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::from(status::bad_request(format!(
                "couldn't get version/kind; json parse error: {e}"
            )))
        })?
    };
    let dry_run = form_urlencoded::parse(query.unwrap_or("").as_bytes()).any(|(k, v)| k == "dryRun" && v == "All")
        || options["dryRun"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "All"));
    // ValidateDeleteOptions (staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/validation/validation.go), before the
    // object is looked up. Nothing here has dependents or a grace period, so a valid policy changes nothing.
    let policy = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "propagationPolicy")
        .map(|(_, v)| v.into_owned())
        .or_else(|| options["propagationPolicy"].as_str().map(str::to_owned));
    if let Some(policy) = policy.filter(|p| !["Orphan", "Background", "Foreground"].contains(&p.as_str())) {
        let error = FieldError::not_supported(
            "propagationPolicy",
            FieldValue::Str(policy),
            &["Foreground", "Background", "Orphan", "nil"],
        );
        return Err(status::invalid("meta.k8s.io", "DeleteOptions", "", &[error]).into());
    }
    let mut store = state.write();
    let current = store
        .get::<K>(namespace, name)
        .ok_or_else(|| ApiError::from(status::not_found(K::GROUP, K::URL_PATH_SEGMENT, name)))?;
    let uid = current.metadata().uid.clone().unwrap_or_default();
    if let Some(wanted) = options["preconditions"]["uid"].as_str().filter(|u| *u != uid) {
        return Err(status::conflict(
            K::GROUP,
            K::URL_PATH_SEGMENT,
            name,
            &format!("Precondition failed: UID in precondition: {wanted}, UID in object meta: {uid}"),
        )
        .into());
    }
    let version = current.metadata().resource_version.clone().unwrap_or_default();
    if let Some(wanted) = options["preconditions"]["resourceVersion"]
        .as_str()
        .filter(|v| *v != version)
    {
        return Err(status::conflict(
            K::GROUP,
            K::URL_PATH_SEGMENT,
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {wanted}, ResourceVersion in object meta: {version}"
            ),
        )
        .into());
    }
    let removed = store
        .delete::<K>(namespace, name, dry_run)
        .ok_or_else(|| ApiError::from(status::not_found(K::GROUP, K::URL_PATH_SEGMENT, name)))?;
    drop(store);
    tracing::info!(kind = K::KIND, namespace, name, dry_run, "deleted");
    if !K::DELETE_RETURNS_OBJECT {
        let success = status::success_deleted(K::GROUP, K::URL_PATH_SEGMENT, name, &uid);
        return Ok(Json(success).into_response());
    }
    Ok(Json(removed).into_response())
}
