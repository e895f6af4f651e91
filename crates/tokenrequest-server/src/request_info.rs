//! What a request is about, for authorization and error messages: kube-apiserver's `RequestInfo`
//! (staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go), parsed from the method, path and query.

use http::Method;

/// The authorization attributes of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// The URL path, for non-resource requests.
    pub path: String,
    /// `get`, `list`, `watch`, `create`, `delete`, … for resources; the lower-cased method otherwise.
    pub verb: String,
    /// Whether the path names an API resource (`/api/v1/...`, `/apis/{group}/{version}/...`).
    pub is_resource_request: bool,
    /// The API group (empty for the core group).
    pub api_group: String,
    /// The API version (`v1`).
    pub version: String,
    /// The namespace, when the path has one.
    pub namespace: Option<String>,
    /// The resource (`pods`, `serviceaccounts`, …).
    pub resource: String,
    /// The subresource (`token`, `status`, …).
    pub subresource: Option<String>,
    /// The object name, when the path has one.
    pub name: Option<String>,
}

impl RequestInfo {
    /// Parses a request line the way kube-apiserver does.
    pub fn parse(method: &Method, path: &str, query: Option<&str>) -> Self {
        let mut info = RequestInfo {
            path: path.to_owned(),
            verb: method.as_str().to_lowercase(),
            is_resource_request: false,
            api_group: String::new(),
            version: String::new(),
            namespace: None,
            resource: String::new(),
            subresource: None,
            name: None,
        };
        let parts: Vec<&str> = path.trim_matches('/').split('/').filter(|p| !p.is_empty()).collect();
        if parts.len() < 3 || !matches!(parts[0], "api" | "apis") {
            return info;
        }
        let mut rest = &parts[1..];
        if parts[0] == "apis" {
            if rest.len() < 3 {
                return info;
            }
            info.api_group = rest[0].to_owned();
            rest = &rest[1..];
        }
        info.is_resource_request = true;
        info.version = rest[0].to_owned();
        rest = &rest[1..];
        info.verb = match *method {
            Method::POST => "create",
            Method::GET | Method::HEAD => "get",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE => "delete",
            _ => "",
        }
        .to_owned();
        if rest.first() == Some(&"watch") && rest.len() >= 2 {
            info.verb = "watch".to_owned();
            rest = &rest[1..];
        }
        if rest.first() == Some(&"namespaces") && rest.len() > 1 {
            info.namespace = Some(rest[1].to_owned());
            if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
                rest = &rest[2..];
            }
        }
        if let Some(resource) = rest.first() {
            info.resource = (*resource).to_owned();
        }
        if let Some(name) = rest.get(1) {
            info.name = Some((*name).to_owned());
        }
        if let Some(sub) = rest.get(2) {
            info.subresource = Some((*sub).to_owned());
        }
        if info.name.is_none() && info.verb == "get" {
            let watch = query
                .into_iter()
                .flat_map(|q| form_urlencoded::parse(q.as_bytes()))
                .find(|(k, _)| k == "watch")
                .map(|(_, v)| !matches!(v.to_lowercase().as_str(), "false" | "0"));
            info.verb = if watch == Some(true) { "watch" } else { "list" }.to_owned();
        }
        if info.name.is_none() && info.verb == "delete" {
            info.verb = "deletecollection".to_owned();
        }
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_subresource() {
        let info = RequestInfo::parse(&Method::POST, "/api/v1/namespaces/ns/serviceaccounts/sa/token", None);
        assert_eq!(info.verb, "create");
        assert_eq!(info.namespace.as_deref(), Some("ns"));
        assert_eq!(
            (
                info.resource.as_str(),
                info.name.as_deref(),
                info.subresource.as_deref()
            ),
            ("serviceaccounts", Some("sa"), Some("token"))
        );
    }

    #[test]
    fn discovery_is_not_a_resource() {
        for path in [
            "/api",
            "/api/v1",
            "/apis",
            "/apis/authentication.k8s.io/v1",
            "/version",
            "/.well-known/openid-configuration",
        ] {
            assert!(
                !RequestInfo::parse(&Method::GET, path, None).is_resource_request,
                "{path}"
            );
        }
    }

    #[test]
    fn list_watch_namespace() {
        assert_eq!(RequestInfo::parse(&Method::GET, "/api/v1/pods", None).verb, "list");
        assert_eq!(
            RequestInfo::parse(&Method::GET, "/api/v1/namespaces/a/pods", Some("watch=1")).verb,
            "watch"
        );
        let ns = RequestInfo::parse(&Method::DELETE, "/api/v1/namespaces/a", None);
        assert_eq!(
            (ns.verb.as_str(), ns.resource.as_str(), ns.name.as_deref()),
            ("delete", "namespaces", Some("a"))
        );
    }
}
