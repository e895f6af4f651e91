//! The request counter at `/metrics`: `apiserver_request_total`, labelled as kube-apiserver labels it
//! (`staging/src/k8s.io/apiserver/pkg/endpoints/metrics/metrics.go`: `verb`, `dry_run`, `group`, `version`,
//! `resource`, `subresource`, `scope`, `component`, `code`), in the Prometheus text format.
//!
//! It exists so that a test can count the TokenRequests that reached a server the same way on this server and on
//! a real kube-apiserver (`apiserver_request_total{resource="serviceaccounts",subresource="token",verb="POST"}`).
//! Written by hand, not with a metrics crate: it is one counter family with fixed labels, and the text format of a
//! counter is one line per series.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

use crate::request_info::RequestInfo;

/// The labels of one series, in the order kube-apiserver declares them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Series {
    verb: String,
    dry_run: String,
    group: String,
    version: String,
    resource: String,
    subresource: String,
    scope: &'static str,
    code: u16,
}

/// Requests served, per series.
#[derive(Debug, Default)]
pub(crate) struct RequestCounter(Mutex<BTreeMap<Series, u64>>);

impl RequestCounter {
    /// Counts one answered resource request. Non-resource requests (discovery, health) are not counted, as in
    /// kube-apiserver, whose instrumentation wraps the resource handlers.
    pub(crate) fn record(&self, info: &RequestInfo, query: Option<&str>, code: u16) {
        if !info.is_resource_request {
            return;
        }
        let scope = match (&info.name, &info.namespace) {
            (Some(_), _) => "resource",
            (None, Some(_)) => "namespace",
            (None, None) => "cluster",
        };
        let dry_run = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .filter(|(key, _)| key == "dryRun")
            .map(|(_, value)| value.into_owned())
            .collect::<Vec<_>>()
            .join(",");
        let series = Series {
            verb: clean_verb(&info.verb),
            dry_run,
            group: info.api_group.clone(),
            version: info.version.clone(),
            resource: info.resource.clone(),
            subresource: info.subresource.clone().unwrap_or_default(),
            scope,
            code,
        };
        *self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(series)
            .or_default() += 1;
    }

    /// The exposition text.
    pub(crate) fn render(&self) -> String {
        let mut text = String::from(
            "# HELP apiserver_request_total [STABLE] Counter of apiserver requests broken out for each verb, dry run \
             value, group, version, resource, scope, component, and HTTP response code.\n\
             # TYPE apiserver_request_total counter\n",
        );
        for (series, count) in self.0.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let _ = writeln!(
                text,
                "apiserver_request_total{{code=\"{}\",component=\"apiserver\",dry_run=\"{}\",group=\"{}\",resource=\"{}\",scope=\"{}\",subresource=\"{}\",verb=\"{}\",version=\"{}\"}} {count}",
                series.code,
                series.dry_run,
                series.group,
                series.resource,
                series.scope,
                series.subresource,
                series.verb,
                series.version,
            );
        }
        text
    }
}

/// metrics.go's `CleanVerb`: the HTTP method for writes, `LIST`/`WATCH` for collection reads.
fn clean_verb(verb: &str) -> String {
    match verb {
        "create" => "POST",
        "get" => "GET",
        "list" => "LIST",
        "watch" => "WATCH",
        "update" => "PUT",
        "patch" => "PATCH",
        "delete" => "DELETE",
        "deletecollection" => "DELETE",
        other => return other.to_uppercase(),
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;

    #[test]
    fn token_requests_are_counted_per_code_as_kube_apiserver_labels_them() {
        let counter = RequestCounter::default();
        let path = "/api/v1/namespaces/default/serviceaccounts/builder/token";
        let info = RequestInfo::parse(&Method::POST, path, None);
        counter.record(&info, None, 201);
        counter.record(&info, None, 201);
        counter.record(&info, Some("dryRun=All"), 201);
        counter.record(&RequestInfo::parse(&Method::GET, "/version", None), None, 200);
        let text = counter.render();
        assert!(text.contains(
            "apiserver_request_total{code=\"201\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"serviceaccounts\",scope=\"resource\",subresource=\"token\",verb=\"POST\",version=\"v1\"} 2\n"
        ), "{text}");
        assert!(text.contains("dry_run=\"All\""), "{text}");
        assert!(!text.contains("/version"), "{text}");
    }
}
