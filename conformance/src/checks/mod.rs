//! The checks, one module per rule group, each an `async fn(&Ctx) -> Result<(), CheckFailure>` listed in its
//! module's `CHECKS` with the SPEC rules it covers and one line saying what it verifies. Also the assertions
//! several groups share (an error `Status` equal to the one `tokenrequest-types` builds, the 401 body, a token's
//! lifetime).

use serde_json::Value;
use tokenrequest_types::Status;
use tokenrequest_types::expiration::Lifetime;
use tokenrequest_types::status;

use crate::api::{Issued, Reply};
use crate::failure::{CheckFailure, expect_eq};

/// Declares a module's `CHECKS` table: `name ["R1", ...] "what it verifies"` for each `async fn name(&Ctx)` in the
/// module.
macro_rules! checks {
    ($group:literal => $($name:ident [$($rule:literal),*] $verifies:literal),* $(,)?) => {
        /// This group's checks.
        pub const CHECKS: &[$crate::check::Check] = &[$(
            $crate::check::Check {
                group: $group,
                name: stringify!($name),
                rules: &[$($rule),*],
                verifies: $verifies,
                run: |ctx| Box::pin($name(ctx)),
            }
        ),*];
    };
}

pub mod audiences;
pub mod binding;
pub mod claims;
pub mod concurrency;
pub mod controllers;
pub mod discovery;
pub mod errors;
pub mod expiration;
pub mod invalidation;
pub mod policy;
pub mod request;
pub mod review;
pub mod rotation;

/// The service account most checks request tokens for.
pub const SA: &str = "robot";

/// The answer is exactly `expected` (code and `Status` body, compared as JSON).
pub fn expect_status(what: &str, reply: &Reply, expected: &Status) -> Result<(), CheckFailure> {
    reply.expect_code(what, status::code(expected))?;
    let actual = reply.status_object(what)?;
    expect_eq(&format!("{what}: Status"), to_value(expected), to_value(&actual))
}

/// The `Status` as JSON (a `Status` always serialises).
pub fn to_value(status: &Status) -> Value {
    serde_json::to_value(status).unwrap_or(Value::Null)
}

/// R8–R10: the response and the token carry `lifetime` (reported seconds, `exp - iat`, `warnafter`, the Warning
/// header, `status.expirationTimestamp`).
pub fn expect_lifetime(issued: &Issued, lifetime: &Lifetime) -> Result<(), CheckFailure> {
    let claims = &issued.claims;
    expect_eq(
        "spec.expirationSeconds",
        Some(lifetime.expiration_seconds),
        issued.expiration_seconds(),
    )?;
    expect_eq(
        "exp - iat of the token",
        lifetime.token_seconds,
        claims.exp - claims.iat,
    )?;
    let warnafter = claims.kubernetes_io.as_ref().and_then(|k| k.warnafter);
    expect_eq(
        "kubernetes.io.warnafter",
        lifetime.warn_after_seconds.map(|w| claims.iat + w),
        warnafter,
    )?;
    expect_eq(
        "Warning headers",
        lifetime.warning.iter().cloned().collect::<Vec<_>>(),
        issued.reply.warnings(),
    )?;
    let (Some(created), Some(expires)) = (issued.creation_timestamp(), issued.expiration_timestamp()) else {
        return Err(CheckFailure::mismatch(
            "metadata.creationTimestamp and status.expirationTimestamp",
            "both set",
            (issued.creation_timestamp(), issued.expiration_timestamp()),
        ));
    };
    // Both come from one clock reading, truncated to seconds separately: allow one second.
    let reported = expires - created;
    if (reported - lifetime.expiration_seconds).abs() > 1 {
        return Err(CheckFailure::mismatch(
            "status.expirationTimestamp - metadata.creationTimestamp",
            lifetime.expiration_seconds,
            reported,
        ));
    }
    Ok(())
}
