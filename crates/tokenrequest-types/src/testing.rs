//! Proptest strategies for TokenRequests, shared by this crate's tests and the conformance suite.
//!
//! Values are generated valid or invalid *by construction* (no filtering), mixing the boundaries of every rule
//! (600, 2^32, 3607, clamping limits) with the ranges between them.

use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequestSpec};
use proptest::prelude::*;

use crate::expiration::{EXTENDED_REQUEST_SECONDS, MAX_EXPIRATION_SECONDS, MIN_EXPIRATION_SECONDS};

/// Audience lists: empty (defaulted), duplicates, empty strings, long and unicode values.
pub fn arb_audiences() -> impl Strategy<Value = Vec<String>> {
    let one = prop_oneof![
        3 => "[a-z][a-z0-9.-]{0,20}",
        1 => Just(String::new()),
        1 => "\\PC{1,12}",
        1 => "https://[a-z]{1,10}\\.example/[a-z]{0,30}",
        1 => "[a-z]{200,300}",
    ];
    prop_oneof![
        1 => Just(Vec::new()),
        3 => prop::collection::vec(one.clone(), 1..4),
        1 => one.prop_map(|a| vec![a.clone(), a]),
    ]
}

/// `expirationSeconds` across `[0, 2^33]`, weighted to the rule boundaries.
pub fn arb_expiration_seconds() -> impl Strategy<Value = i64> {
    prop_oneof![
        2 => prop::sample::select(vec![
            0,
            1,
            MIN_EXPIRATION_SECONDS - 1,
            MIN_EXPIRATION_SECONDS,
            3600,
            EXTENDED_REQUEST_SECONDS,
            86_400,
            MAX_EXPIRATION_SECONDS,
            MAX_EXPIRATION_SECONDS + 1,
        ]),
        3 => MIN_EXPIRATION_SECONDS..=200_000i64,
        1 => 0..=(MAX_EXPIRATION_SECONDS * 2),
    ]
}

/// A bound reference to a named object: valid kinds and apiVersions, and invalid kinds/groups.
pub fn arb_bound_object_ref(names: Vec<String>) -> impl Strategy<Value = BoundObjectReference> {
    let kind = prop_oneof![
        4 => prop::sample::select(vec!["Pod", "Secret", "Node"]),
        1 => prop::sample::select(vec!["ConfigMap", "pod", "Deployment", ""]),
    ];
    let api_version = prop_oneof![
        4 => Just("v1"),
        1 => prop::sample::select(vec!["", "v2", "apps/v1", "authentication.k8s.io/v1"]),
    ];
    (kind, api_version, prop::sample::select(names)).prop_map(|(kind, api_version, name)| BoundObjectReference {
        api_version: Some(api_version.to_owned()),
        kind: Some(kind.to_owned()),
        name: Some(name),
        uid: None,
    })
}

/// A spec with generated audiences and expiration and no binding.
pub fn arb_token_request_spec() -> impl Strategy<Value = TokenRequestSpec> {
    (arb_audiences(), prop::option::of(arb_expiration_seconds())).prop_map(|(audiences, expiration_seconds)| {
        TokenRequestSpec {
            audiences: Some(audiences),
            expiration_seconds,
            ..Default::default()
        }
    })
}
