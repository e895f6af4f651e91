//! What kube-apiserver's Go types drop when they are encoded: fields tagged `omitempty` whose value is empty.
//! k8s-openapi keeps `Some("")` and `Some(vec![])` as the client sent them, so an answer that echoes a request
//! would show them where kube-apiserver shows nothing (and list them in `managedFields`).
//!
//! Source: `staging/src/k8s.io/api/authentication/v1/types.go` (`BoundObjectReference`: every field
//! `omitempty`; `TokenReviewSpec.Audiences` `omitempty`). `TokenRequestSpec.Audiences` has no `omitempty`: an empty
//! list stays, and kube-apiserver v1.37.1 lists it in `managedFields` (`f:audiences`).

use crate::{BoundObjectReference, TokenRequest, TokenReviewSpec};

/// A TokenRequest as kube-apiserver holds it after decoding: no empty `boundObjectRef` field (an empty audience
/// list is kept).
pub fn omit_empty_token_request(request: &mut TokenRequest) {
    if let Some(reference) = request.spec.as_mut().and_then(|s| s.bound_object_ref.as_mut()) {
        omit_empty_bound_object_ref(reference);
    }
}

/// A `boundObjectRef` without its empty fields.
pub fn omit_empty_bound_object_ref(reference: &mut BoundObjectReference) {
    for field in [
        &mut reference.api_version,
        &mut reference.kind,
        &mut reference.name,
        &mut reference.uid,
    ] {
        *field = field.take().filter(|v| !v.is_empty());
    }
}

/// A TokenReview spec without an empty audience list.
pub fn omit_empty_token_review_spec(spec: &mut TokenReviewSpec) {
    spec.audiences = spec.audiences.take().filter(|a| !a.is_empty());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TokenRequestSpec;

    #[test]
    fn empty_fields_are_dropped_and_set_ones_kept() {
        let mut request = TokenRequest {
            spec: Some(TokenRequestSpec {
                audiences: Some(vec![]),
                bound_object_ref: Some(BoundObjectReference {
                    api_version: Some(String::new()),
                    kind: Some("Pod".to_owned()),
                    name: Some("web".to_owned()),
                    uid: Some(String::new()),
                }),
                expiration_seconds: Some(3600),
                ..TokenRequestSpec::default()
            }),
            ..TokenRequest::default()
        };
        omit_empty_token_request(&mut request);
        let spec = request.spec.unwrap();
        assert_eq!(spec.audiences, Some(vec![]));
        assert_eq!(
            spec.bound_object_ref,
            Some(BoundObjectReference {
                api_version: None,
                kind: Some("Pod".to_owned()),
                name: Some("web".to_owned()),
                uid: None,
            })
        );
        assert_eq!(spec.expiration_seconds, Some(3600));

        let mut review = TokenReviewSpec {
            audiences: Some(vec![]),
            token: "t".to_owned(),
        };
        omit_empty_token_review_spec(&mut review);
        assert_eq!(review.audiences, None);
        let mut kept = TokenReviewSpec {
            audiences: Some(vec!["api".to_owned()]),
            token: String::new(),
        };
        omit_empty_token_review_spec(&mut kept);
        assert_eq!(kept.audiences, Some(vec!["api".to_owned()]));
    }
}
