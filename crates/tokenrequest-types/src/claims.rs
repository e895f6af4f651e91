//! The claims of a service-account JWT, laid out byte for byte as kube-apiserver writes them (R17, R19).
//!
//! Source: `pkg/serviceaccount/claims.go` (`Claims`, `privateClaims`, `kubernetes`, `ref`) and go-jose's
//! `jwt.Claims`. Empty parts are omitted (`omitempty`); `aud` is always an array; times are integer seconds.
//! Field order is not part of the contract (kube-apiserver's is alphabetical, ours is declaration order).

use serde::{Deserialize, Deserializer, Serialize};

use crate::binding::{BoundKind, BoundObject};
use crate::expiration::Lifetime;

/// The username of a service account: `system:serviceaccount:{namespace}:{name}`.
pub fn service_account_username(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// A name and uid pair (`ref` in claims.go); an empty uid is omitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ObjectRef {
    /// The object's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The object's uid.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
}

impl ObjectRef {
    /// A reference with both parts.
    pub fn new(name: impl Into<String>, uid: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            uid: uid.into(),
        }
    }
}

/// The private `kubernetes.io` claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct KubernetesClaims {
    /// The service account's namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The service account (always present, as Go never omits a struct).
    #[serde(default)]
    pub serviceaccount: ObjectRef,
    /// The bound pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<ObjectRef>,
    /// The bound secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ObjectRef>,
    /// The bound node, or the node of a bound pod (R17).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<ObjectRef>,
    /// Unix seconds after which a user of an extended token should warn (R9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnafter: Option<i64>,
}

impl KubernetesClaims {
    /// The bound object of a token (pod, secret or node-only binding), as the claims record it.
    pub fn bound_object(&self) -> Option<(BoundKind, &ObjectRef)> {
        if let Some(pod) = &self.pod {
            return Some((BoundKind::Pod, pod));
        }
        if let Some(secret) = &self.secret {
            return Some((BoundKind::Secret, secret));
        }
        self.node.as_ref().map(|node| (BoundKind::Node, node))
    }
}

/// All claims of a service-account token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Audiences; a lone string is accepted when reading foreign tokens, an array is always written.
    #[serde(deserialize_with = "string_or_array")]
    pub aud: Vec<String>,
    /// Expiry (unix seconds).
    pub exp: i64,
    /// Issue time (unix seconds).
    pub iat: i64,
    /// Issuer.
    pub iss: String,
    /// Token id (a UUID; GA since 1.32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The private claims; absent only in tokens not issued by a TokenRequest.
    #[serde(rename = "kubernetes.io", default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_io: Option<KubernetesClaims>,
    /// Not before (= iat).
    pub nbf: i64,
    /// Subject: `system:serviceaccount:{ns}:{name}`.
    pub sub: String,
}

/// Everything that goes into the claims of one token, decided before signing.
#[derive(Debug, Clone)]
pub struct ClaimsInput<'a> {
    /// The issuer (`--service-account-issuer`).
    pub issuer: &'a str,
    /// The service account's namespace.
    pub namespace: &'a str,
    /// The service account's name and uid.
    pub service_account: ObjectRef,
    /// The effective audiences ([`crate::audience::AudiencePolicy::effective`]).
    pub audiences: Vec<String>,
    /// The bound object, if any.
    pub bound: Option<BoundObject>,
    /// For a pod-bound token, the pod's node: name and uid, or name only when the Node does not exist (R17).
    pub pod_node: Option<ObjectRef>,
    /// The token's times ([`crate::expiration::ExpirationPolicy::lifetime`]).
    pub lifetime: &'a Lifetime,
    /// Issue time, unix seconds.
    pub now: i64,
    /// A fresh UUID (R20).
    pub jti: String,
}

impl Claims {
    /// Builds the claims exactly as `pkg/serviceaccount/claims.go` `Claims` does.
    pub fn for_request(input: ClaimsInput<'_>) -> Self {
        let mut private = KubernetesClaims {
            namespace: input.namespace.to_owned(),
            serviceaccount: input.service_account.clone(),
            warnafter: input.lifetime.warn_after_seconds.map(|w| input.now + w),
            ..KubernetesClaims::default()
        };
        if let Some(bound) = &input.bound {
            let r = ObjectRef::new(bound.name.clone(), bound.uid.clone());
            match bound.kind {
                BoundKind::Pod => {
                    private.pod = Some(r);
                    private.node = input.pod_node.clone();
                }
                BoundKind::Secret => private.secret = Some(r),
                BoundKind::Node => private.node = Some(r),
            }
        }
        Self {
            aud: input.audiences,
            exp: input.now + input.lifetime.token_seconds,
            iat: input.now,
            iss: input.issuer.to_owned(),
            jti: Some(input.jti),
            kubernetes_io: Some(private),
            nbf: input.now,
            sub: service_account_username(input.namespace, &input.service_account.name),
        }
    }
}

fn string_or_array<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expiration::ExpirationPolicy;

    const NOW: i64 = 1_760_000_000;

    fn claims(bound: Option<BoundObject>, pod_node: Option<ObjectRef>, requested: i64) -> Claims {
        let kind = bound.as_ref().map(|b| b.kind);
        let lifetime = ExpirationPolicy::default().lifetime(requested, kind, true);
        Claims::for_request(ClaimsInput {
            issuer: "https://kubernetes.default.svc.cluster.local",
            namespace: "team-a",
            service_account: ObjectRef::new("robot", "sa-uid"),
            audiences: vec!["https://kubernetes.default.svc.cluster.local".to_owned()],
            bound,
            pod_node,
            lifetime: &lifetime,
            now: NOW,
            jti: "jti-1".to_owned(),
        })
    }

    fn bound(kind: BoundKind, name: &str) -> Option<BoundObject> {
        Some(BoundObject {
            kind,
            name: name.to_owned(),
            uid: format!("{name}-uid"),
        })
    }

    #[test]
    fn r19_pod_bound_claims_layout() {
        let c = claims(
            bound(BoundKind::Pod, "web"),
            Some(ObjectRef::new("node-1", "node-uid")),
            3607,
        );
        insta::assert_json_snapshot!("pod_bound_extended", c);
    }

    #[test]
    fn r17_pod_on_missing_node_has_node_name_only() {
        let c = claims(bound(BoundKind::Pod, "web"), Some(ObjectRef::new("gone", "")), 3600);
        insta::assert_json_snapshot!("pod_bound_missing_node", c);
    }

    #[test]
    fn r19_secret_bound_claims_layout() {
        insta::assert_json_snapshot!("secret_bound", claims(bound(BoundKind::Secret, "creds"), None, 3607));
    }

    #[test]
    fn r19_node_bound_claims_layout() {
        insta::assert_json_snapshot!("node_bound", claims(bound(BoundKind::Node, "node-1"), None, 3600));
    }

    #[test]
    fn r19_unbound_claims_layout() {
        insta::assert_json_snapshot!("unbound", claims(None, None, 3600));
    }

    #[test]
    fn r12_aud_is_always_an_array_and_reads_a_string() {
        let c = claims(None, None, 3600);
        let v = serde_json::to_value(&c).unwrap();
        assert!(v["aud"].is_array());
        let mut foreign = v.clone();
        foreign["aud"] = serde_json::json!("single");
        let back: Claims = serde_json::from_value(foreign).unwrap();
        assert_eq!(back.aud, vec!["single".to_owned()]);
    }

    proptest::proptest! {
        #[test]
        fn claims_round_trip(req in 600i64..100_000, pod in proptest::bool::ANY, aud in proptest::collection::vec(".*", 0..4)) {
            let mut c = claims(if pod { bound(BoundKind::Pod, "p") } else { None }, None, req);
            c.aud = aud;
            let json = serde_json::to_string(&c).unwrap();
            let back: Claims = serde_json::from_str(&json).unwrap();
            proptest::prop_assert_eq!(back, c);
        }
    }
}
