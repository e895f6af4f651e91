//! Validation of a `TokenRequest` (R2, R5–R7), returning the 422 `Status` kube-apiserver sends.
//!
//! Sources: `pkg/apis/authentication/validation/validation.go` (`ValidateTokenRequest`) and
//! `pkg/registry/core/serviceaccount/storage/token.go` (the name check against the URL).

use k8s_openapi::api::authentication::v1::TokenRequest;

use crate::AUTHENTICATION_GROUP;
use crate::expiration::{MAX_EXPIRATION_SECONDS, MIN_EXPIRATION_SECONDS};
use crate::field::{FieldError, FieldValue};
use crate::status::{self, StatusError};

const KIND: &str = "TokenRequest";

/// R2: a `metadata.name` in the body must equal the service account named in the URL.
pub fn validate_name(request: &TokenRequest, service_account: &str) -> Result<(), StatusError> {
    match request.metadata.name.as_deref() {
        Some(name) if !name.is_empty() && name != service_account => Err(status::invalid(
            AUTHENTICATION_GROUP,
            KIND,
            service_account,
            &[FieldError::invalid(
                "metadata.name",
                FieldValue::Str(name.to_owned()),
                "must match the service account name if specified",
            )],
        )
        .into()),
        _ => Ok(()),
    }
}

/// R29: a `metadata.uid` in the body, if set, must be the service account's uid (409 Conflict;
/// `TokenRequestServiceAccountUIDValidation`, on since 1.34; observed on kube-apiserver 1.37.1).
pub fn check_service_account_uid(
    request: &TokenRequest,
    service_account: &str,
    service_account_uid: &str,
) -> Result<(), StatusError> {
    match request.metadata.uid.as_deref() {
        Some(uid) if !uid.is_empty() && uid != service_account_uid => Err(status::conflict(
            AUTHENTICATION_GROUP,
            KIND,
            service_account,
            &format!(
                "the UID in the token request ({uid}) does not match the UID of the service account ({service_account_uid})"
            ),
        )
        .into()),
        _ => Ok(()),
    }
}

/// R5/R6: the field errors of a (defaulted) spec; empty when valid.
pub fn spec_errors(expiration_seconds: i64) -> Vec<FieldError> {
    let field = "spec.expirationSeconds";
    let mut errors = Vec::new();
    if expiration_seconds < MIN_EXPIRATION_SECONDS {
        errors.push(FieldError::invalid(
            field,
            FieldValue::Int(expiration_seconds),
            "may not specify a duration less than 10 minutes",
        ));
    }
    if expiration_seconds > MAX_EXPIRATION_SECONDS {
        errors.push(FieldError::invalid(
            field,
            FieldValue::Int(expiration_seconds),
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    errors
}

/// R5–R7: validates the defaulted spec; the error is the 422 with an empty name, as kube-apiserver sends it.
pub fn validate_spec(expiration_seconds: i64) -> Result<(), StatusError> {
    let errors = spec_errors(expiration_seconds);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(status::invalid(AUTHENTICATION_GROUP, KIND, "", &errors).into())
    }
}

/// R2 then R5–R7 on a request whose spec has been defaulted ([`crate::defaults::default_expiration`]).
pub fn validate_token_request(request: &TokenRequest, service_account: &str) -> Result<(), StatusError> {
    validate_name(request, service_account)?;
    let seconds = request.spec.as_ref().and_then(|s| s.expiration_seconds);
    validate_spec(seconds.unwrap_or(crate::expiration::DEFAULT_EXPIRATION_SECONDS))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::authentication::v1::TokenRequestSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use proptest::prelude::*;
    use rstest::rstest;

    use super::*;

    fn request(name: Option<&str>, seconds: i64) -> TokenRequest {
        TokenRequest {
            metadata: ObjectMeta {
                name: name.map(str::to_owned),
                ..Default::default()
            },
            spec: Some(TokenRequestSpec {
                expiration_seconds: Some(seconds),
                ..Default::default()
            }),
            status: None,
        }
    }

    #[test]
    fn r2_name_mismatch() {
        let err = validate_token_request(&request(Some("other"), 3600), "robot").unwrap_err();
        assert_eq!(status::code(&err), 422);
        assert_eq!(
            err.message.as_deref(),
            Some(
                "TokenRequest.authentication.k8s.io \"robot\" is invalid: metadata.name: Invalid value: \"other\": \
                 must match the service account name if specified"
            )
        );
        assert!(validate_token_request(&request(Some("robot"), 3600), "robot").is_ok());
        assert!(validate_token_request(&request(Some(""), 3600), "robot").is_ok());
    }

    #[test]
    fn r29_service_account_uid_mismatch() {
        let mut req = request(None, 3600);
        req.metadata.uid = Some("0000".to_owned());
        let err = check_service_account_uid(&req, "sa1", "3329").unwrap_err();
        assert_eq!(err.code(), 409);
        assert_eq!(
            err.to_string(),
            "Operation cannot be fulfilled on TokenRequest.authentication.k8s.io \"sa1\": the UID in the token \
             request (0000) does not match the UID of the service account (3329)"
        );
        let details = err.into_status().details.unwrap();
        assert_eq!(details.group.as_deref(), Some("authentication.k8s.io"));
        assert_eq!(details.kind.as_deref(), Some("TokenRequest"));
        req.metadata.uid = Some("3329".to_owned());
        assert!(check_service_account_uid(&req, "sa1", "3329").is_ok());
    }

    #[test]
    fn r5_min_expiration() {
        let err = validate_spec(60).unwrap_err();
        assert_eq!(
            err.message.as_deref(),
            Some(
                "TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: 60: may \
                 not specify a duration less than 10 minutes"
            )
        );
        let cause = &err.into_status().details.unwrap().causes.unwrap()[0];
        assert_eq!(cause.field.as_deref(), Some("spec.expirationSeconds"));
        assert_eq!(cause.reason.as_deref(), Some("FieldValueInvalid"));
    }

    #[rstest]
    #[case::zero(0, false)]
    #[case::negative(-1, false)]
    #[case::below_min(599, false)]
    #[case::min(600, true)]
    #[case::max(1 << 32, true)]
    #[case::above_max((1 << 32) + 1, false)]
    fn r5_r6_bounds(#[case] seconds: i64, #[case] valid: bool) {
        assert_eq!(validate_spec(seconds).is_ok(), valid);
    }

    #[test]
    fn r6_max_expiration_message() {
        let err = validate_spec((1 << 32) + 1).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("Invalid value: 4294967297: may not specify a duration larger than 2^32 seconds")
        );
    }

    proptest! {
        #[test]
        fn valid_iff_within_bounds(seconds in -(1i64 << 34)..(1i64 << 34)) {
            let ok = (MIN_EXPIRATION_SECONDS..=MAX_EXPIRATION_SECONDS).contains(&seconds);
            prop_assert_eq!(validate_spec(seconds).is_ok(), ok);
        }
    }
}
