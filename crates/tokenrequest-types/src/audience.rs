//! The audience policy (R11, R12, R23): which audiences a token gets, and which a review accepts.
//!
//! Source: `pkg/registry/core/serviceaccount/storage/token.go` (defaulting),
//! `pkg/serviceaccount/jwt.go` (`authenticate`: intersection with the requested audiences) and
//! `staging/src/k8s.io/apiserver/pkg/authentication/authenticator/audiences.go` (`Intersect`).

/// The API server's own audiences (`--api-audiences`, defaulting to the issuers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudiencePolicy {
    api_audiences: Vec<String>,
}

impl AudiencePolicy {
    /// A policy with these API audiences.
    pub fn new(api_audiences: Vec<String>) -> Self {
        Self { api_audiences }
    }

    /// kube-apiserver's default: the API audiences are the issuer.
    pub fn for_issuer(issuer: &str) -> Self {
        Self::new(vec![issuer.to_owned()])
    }

    /// The API audiences.
    pub fn api_audiences(&self) -> &[String] {
        &self.api_audiences
    }

    /// R11/R12: the audiences a token is issued for. Empty means the API audiences; anything else is used as
    /// given (order and duplicates kept, `[""]` is not empty).
    pub fn effective(&self, requested: &[String]) -> Vec<String> {
        if requested.is_empty() {
            self.api_audiences.clone()
        } else {
            requested.to_vec()
        }
    }

    /// Whether every audience is an API audience (a condition of the 3607 s extension, R9).
    pub fn all_api(&self, audiences: &[String]) -> bool {
        audiences.iter().all(|a| self.api_audiences.contains(a))
    }

    /// R23: the audiences a review reports: those requested (the API audiences when none are) that the token
    /// carries, in request order. Empty means the token is rejected for these audiences.
    pub fn review_audiences(&self, requested: &[String], token_audiences: &[String]) -> Vec<String> {
        let requested = if requested.is_empty() {
            &self.api_audiences[..]
        } else {
            requested
        };
        requested
            .iter()
            .filter(|a| token_audiences.contains(a))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn r11_empty_defaults_to_api_audiences() {
        let p = AudiencePolicy::for_issuer("https://kubernetes.default.svc.cluster.local");
        assert_eq!(p.effective(&[]), s(&["https://kubernetes.default.svc.cluster.local"]));
    }

    #[test]
    fn r12_given_audiences_kept_as_is() {
        let p = AudiencePolicy::new(s(&["api"]));
        assert_eq!(p.effective(&s(&["b", "a", "b"])), s(&["b", "a", "b"]));
        assert_eq!(p.effective(&s(&[""])), s(&[""]));
    }

    #[test]
    fn r9_all_api() {
        let p = AudiencePolicy::new(s(&["api", "api2"]));
        assert!(p.all_api(&s(&["api2", "api"])));
        assert!(!p.all_api(&s(&["api", "vault"])));
    }

    #[test]
    fn r23_review_intersection_in_request_order() {
        let p = AudiencePolicy::new(s(&["api"]));
        assert_eq!(
            p.review_audiences(&s(&["c", "a", "x"]), &s(&["a", "b", "c"])),
            s(&["c", "a"])
        );
        assert_eq!(p.review_audiences(&[], &s(&["api", "x"])), s(&["api"]));
        assert!(p.review_audiences(&s(&["x"]), &s(&["api"])).is_empty());
    }
}
