//! `?watch=true` on a collection: a stream of JSON watch events (`{"type":"ADDED","object":{...}}`, one per line),
//! as kube-apiserver's watch handler writes them (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/watch.go) from
//! its watch cache (staging/src/k8s.io/apiserver/pkg/storage/cacher):
//!
//! - without `resourceVersion` (or `0`), the objects that exist come first as `ADDED`, then every later change;
//! - with `resourceVersion=N`, the changes after N; when those are no longer remembered (`store::HISTORY`), one
//!   `ERROR` event carrying a 410 `Expired` Status ends the stream, and the client lists again;
//! - label and field selectors filter the events; an object that starts or stops matching on an update is
//!   `ADDED` or `DELETED` for that watch;
//! - the stream ends after `timeoutSeconds` (default 30 minutes, kube-apiserver's `--min-request-timeout`);
//!   `allowWatchBookmarks=true` adds a `BOOKMARK` with the current revision every minute of quiet.
//!
//! Protobuf stream framing is not served (issue 14): a watch is JSON whatever the `Accept`.

use std::collections::VecDeque;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};
use tokenrequest_types::status;

use crate::error::ApiError;
use crate::selector::Selector;
use crate::state::AppState;
use crate::store::{Change, ChangeType, Object};

/// `--min-request-timeout`'s default: how long a watch without `timeoutSeconds` lasts.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// How often a quiet watch that allows bookmarks gets one (the watch cache's bookmark frequency).
const BOOKMARK_EVERY: Duration = Duration::from_secs(60);

/// The query parameters of a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchQuery {
    resource_version: Option<u64>,
    timeout: Duration,
    bookmarks: bool,
}

impl WatchQuery {
    /// `Some` when the query asks for a watch (`watch=true` or `watch=1`); a bad `resourceVersion` or
    /// `timeoutSeconds` is 400.
    pub fn from_query(query: Option<&str>) -> Result<Option<Self>, ApiError> {
        let mut watch = false;
        let mut parsed = WatchQuery {
            resource_version: None,
            timeout: DEFAULT_TIMEOUT,
            bookmarks: false,
        };
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match key.as_ref() {
                "watch" => watch = value == "true" || value == "1",
                "resourceVersion" if !value.is_empty() => {
                    let version = value.parse::<u64>().map_err(|_| {
                        ApiError::from(status::bad_request(format!("invalid resource version: {value}")))
                    })?;
                    parsed.resource_version = Some(version).filter(|v| *v > 0);
                }
                "timeoutSeconds" => {
                    let seconds = value
                        .parse::<u64>()
                        .map_err(|_| ApiError::from(status::bad_request(format!("invalid timeoutSeconds: {value}"))))?;
                    parsed.timeout = Duration::from_secs(seconds);
                }
                "allowWatchBookmarks" => parsed.bookmarks = value == "true" || value == "1",
                _ => {}
            }
        }
        Ok(watch.then_some(parsed))
    }
}

/// Starts a watch of `K` (in `namespace`, or everywhere) and answers with its stream.
pub fn watch<K: Object>(state: &AppState, namespace: Option<&str>, selector: Selector, query: WatchQuery) -> Response {
    let filter = Filter {
        resource: K::URL_PATH_SEGMENT,
        kind: K::KIND,
        api_version: K::API_VERSION,
        namespace: namespace.map(str::to_owned),
        selector,
    };
    let store = state.read();
    let mut pending = VecDeque::new();
    let (from, expired) = match query.resource_version {
        None => {
            for object in store.list::<K>(namespace) {
                if filter.selector.matches(object.metadata()) {
                    pending.push_back(event("ADDED", &serde_json::to_value(object).unwrap_or_default()));
                }
            }
            (store.revision(), None)
        }
        Some(version) => match store.changes_since(version) {
            Ok(_) => (version, None),
            Err(oldest) => (version, Some(oldest)),
        },
    };
    let receiver = store.subscribe();
    drop(store);
    let mut watcher = Watcher {
        state: state.clone(),
        filter,
        pending,
        from,
        receiver,
        deadline: tokio::time::Instant::now() + query.timeout,
        bookmarks: query.bookmarks,
        done: false,
    };
    if let Some(oldest) = expired {
        watcher.expire(oldest);
    }
    let stream = futures_util::stream::unfold(watcher, |mut watcher| async move {
        let chunk = watcher.next().await?;
        Some((Ok::<_, std::convert::Infallible>(chunk), watcher))
    });
    (
        StatusCode::OK,
        [(http::header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Which changes a watch sees.
struct Filter {
    resource: &'static str,
    kind: &'static str,
    api_version: &'static str,
    namespace: Option<String>,
    selector: Selector,
}

impl Filter {
    fn matches(&self, object: &Value) -> bool {
        let meta: ObjectMeta = serde_json::from_value(object["metadata"].clone()).unwrap_or_default();
        self.selector.matches(&meta)
    }

    /// The event this change is for the watch, if any.
    fn event(&self, change: &Change) -> Option<Bytes> {
        if change.resource != self.resource || self.namespace.as_deref().is_some_and(|ns| ns != change.namespace) {
            return None;
        }
        let now = self.matches(&change.object);
        let before = change.previous.as_ref().is_some_and(|p| self.matches(p));
        let kind = match (change.change, before, now) {
            (ChangeType::Added, _, true) => "ADDED",
            (ChangeType::Deleted, _, true) => "DELETED",
            (ChangeType::Modified, true, true) => "MODIFIED",
            (ChangeType::Modified, false, true) => "ADDED",
            (ChangeType::Modified, true, false) => "DELETED",
            _ => return None,
        };
        Some(event(kind, &change.object))
    }
}

/// One watch's state between chunks.
struct Watcher {
    state: AppState,
    filter: Filter,
    pending: VecDeque<Bytes>,
    /// The revision up to which changes have been looked at.
    from: u64,
    receiver: tokio::sync::watch::Receiver<u64>,
    deadline: tokio::time::Instant,
    bookmarks: bool,
    done: bool,
}

impl Watcher {
    /// The next chunk of the stream, or `None` when it ends.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some(chunk);
            }
            if self.done {
                return None;
            }
            self.collect();
            if !self.pending.is_empty() || self.done {
                continue;
            }
            let quiet = tokio::time::sleep(BOOKMARK_EVERY);
            tokio::select! {
                changed = self.receiver.changed() => {
                    if changed.is_err() {
                        self.done = true;
                    }
                }
                () = tokio::time::sleep_until(self.deadline) => self.done = true,
                () = quiet, if self.bookmarks => self.pending.push_back(self.bookmark()),
            }
        }
    }

    /// Queues the events of the changes since the last look.
    fn collect(&mut self) {
        let state = self.state.clone();
        let store = state.read();
        let latest = store.revision();
        let events: Result<Vec<Bytes>, u64> = store
            .changes_since(self.from)
            .map(|changes| changes.filter_map(|c| self.filter.event(c)).collect());
        drop(store);
        match events {
            Ok(events) => {
                self.pending.extend(events);
                self.from = latest;
            }
            Err(oldest) => self.expire(oldest),
        }
    }

    /// Ends the watch with kube-apiserver's 410 for a resourceVersion older than what is remembered.
    fn expire(&mut self, oldest: u64) {
        let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("too old resource version: {} ({oldest})", self.from),
            "reason": "Expired", "code": 410});
        self.pending.push_back(event("ERROR", &status));
        self.done = true;
    }

    /// An object of the watched kind with nothing but the revision the watch has reached.
    fn bookmark(&self) -> Bytes {
        let object = json!({"kind": self.filter.kind, "apiVersion": self.filter.api_version,
            "metadata": {"resourceVersion": self.from.to_string()}});
        event("BOOKMARK", &object)
    }
}

fn event(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}
