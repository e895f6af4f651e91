//! Expiration (R4–R10): defaults, bounds, clamping to the cluster's max with its Warning, the 3607 s extension of
//! pod-bound tokens, and the times in the response and the token. Expected lifetimes come from
//! `ExpirationPolicy::lifetime` for the probed policy.

use serde_json::{Value, json};
use tokenrequest_types::binding::BoundKind;
use tokenrequest_types::expiration::{EXTENDED_REQUEST_SECONDS, MAX_EXPIRATION_SECONDS, MIN_EXPIRATION_SECONDS};
use tokenrequest_types::validation;

use super::binding::create_bindable;
use super::{SA, expect_lifetime, expect_status};
use crate::api::Issued;
use crate::ctx::Ctx;
use crate::failure::{CheckFailure, ensure, expect_eq};
use crate::objects::bound_ref;

checks!("expiration" =>
    r4_default_3600 ["R4", "R10"]
        "a request without expirationSeconds is issued for 3600 s in spec.expirationSeconds, \
         status.expirationTimestamp and exp - iat, with no warnafter and no Warning",
    r5_below_minimum_invalid ["R5", "R7"]
        "expirationSeconds 599 and 60 are each the 422 \"may not specify a duration less than 10 minutes\"",
    r5_zero_not_defaulted ["R4", "R5"]
        "an explicit expirationSeconds 0 is the 422 for a duration under 10 minutes, not defaulted to 3600",
    r5_minimum_accepted ["R5", "R10"]
        "expirationSeconds 600 is issued for 600 s",
    r6_maximum_accepted ["R6", "R8"]
        "expirationSeconds 2^32 is accepted: issued for 2^32 s, or clamped to the max with its Warning",
    r6_above_maximum_invalid ["R6", "R7"]
        "expirationSeconds 2^32 + 1 is the 422 \"may not specify a duration larger than 2^32 seconds\", before any \
         clamping",
    r8_clamps_to_max ["R8", "R10"]
        "a request for twice the max (at most 2^32 s) is clamped to the max with the Warning \"requested expiration of \
         … seconds shortened to … seconds\"; without a max, 2^32 s is granted in full",
    r8_within_max_no_warning ["R8", "R28"]
        "requests for 3600 s and for exactly the max are granted without any Warning header",
    r9_extension_pod_bound_3607 ["R9", "R10"]
        "a pod-bound token asked for 3607 s for the API audiences lives one year with warnafter at iat + 3607, spec \
         and status still saying 3607 s, when extension is on and no max below 3607 s applies",
    r9_no_extension_for_secret ["R9"]
        "a secret-bound token asked for 3607 s is not extended: no warnafter, exp at iat + the granted seconds",
    r9_no_extension_for_node ["R9"]
        "a node-bound token asked for 3607 s is not extended: no warnafter, exp at iat + the granted seconds",
    r9_no_extension_unbound ["R9"]
        "an unbound token asked for 3607 s is not extended: no warnafter, exp at iat + the granted seconds",
    r9_no_extension_for_non_api_audience ["R9"]
        "a pod-bound token asked for 3607 s for a non-API audience is not extended",
    r9_no_extension_for_3608 ["R9"]
        "a pod-bound token asked for 3608 s is not extended: only exactly 3607 s is",
    r10_timestamps_match_claims ["R10", "R19"]
        "for an unbound and a pod-bound 3607 s token, creationTimestamp is at most 1 s before iat and \
         expirationTimestamp is at most exp, within 1 s unless extended",
    r10_iat_near_server_clock ["R10", "R19"]
        "nbf equals iat, and iat is within 5 s of the server's Date header",
);

/// Numbers the objects a check binds to: some checks request several tokens.
static BOUND_OBJECTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Requests `seconds` (None: omitted), bound to a fresh object of `kind`, for `audiences` (None: defaulted).
async fn request(
    ctx: &Ctx,
    seconds: Option<i64>,
    kind: Option<BoundKind>,
    audiences: Option<&[&str]>,
) -> Result<crate::api::Reply, CheckFailure> {
    ctx.ensure_service_account(SA).await?;
    let mut spec = serde_json::Map::new();
    if let Some(seconds) = seconds {
        spec.insert("expirationSeconds".to_owned(), json!(seconds));
    }
    if let Some(audiences) = audiences {
        spec.insert("audiences".to_owned(), json!(audiences));
    }
    if let Some(kind) = kind {
        let n = BOUND_OBJECTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (name, _) = create_bindable(ctx, kind, &format!("bound-{n}")).await?;
        spec.insert("boundObjectRef".to_owned(), json!(bound_ref(kind, &name, None)));
    }
    ctx.request_token_raw(SA, "", &json!({"spec": Value::Object(spec)}))
        .await
}

/// Issues and compares with `ExpirationPolicy::lifetime` for the probed policy.
async fn expect_issued_lifetime(
    ctx: &Ctx,
    seconds: Option<i64>,
    kind: Option<BoundKind>,
    audiences: Option<&[&str]>,
) -> Result<Issued, CheckFailure> {
    let reply = request(ctx, seconds, kind, audiences).await?;
    let issued = Issued::from_reply("TokenRequest", reply)?;
    let requested: Vec<String> = audiences.unwrap_or_default().iter().map(|s| (*s).to_owned()).collect();
    let policy = ctx.policy();
    let effective = policy.audiences.effective(&requested);
    let lifetime = policy.expiration.lifetime(
        seconds.unwrap_or(tokenrequest_types::expiration::DEFAULT_EXPIRATION_SECONDS),
        kind,
        policy.audiences.all_api(&effective),
    );
    expect_lifetime(&issued, &lifetime)?;
    Ok(issued)
}

async fn expect_invalid(ctx: &Ctx, seconds: i64) -> Result<crate::api::Reply, CheckFailure> {
    let reply = request(ctx, Some(seconds), None, None).await?;
    let expected = validation::validate_spec(seconds)
        .err()
        .ok_or_else(|| CheckFailure::setup("model", format!("accepts {seconds} s")))?;
    expect_status(&format!("expirationSeconds {seconds}"), &reply, expected.status())?;
    Ok(reply)
}

async fn r4_default_3600(ctx: &Ctx) -> Result<(), CheckFailure> {
    expect_issued_lifetime(ctx, None, None, None).await.map(|_| ())
}

async fn r5_below_minimum_invalid(ctx: &Ctx) -> Result<(), CheckFailure> {
    expect_invalid(ctx, MIN_EXPIRATION_SECONDS - 1).await?;
    let reply = expect_invalid(ctx, 60).await?;
    ctx.snapshot("status_invalid_expiration", reply.body.clone());
    Ok(())
}

async fn r5_zero_not_defaulted(ctx: &Ctx) -> Result<(), CheckFailure> {
    expect_invalid(ctx, 0).await.map(|_| ())
}

async fn r5_minimum_accepted(ctx: &Ctx) -> Result<(), CheckFailure> {
    expect_issued_lifetime(ctx, Some(MIN_EXPIRATION_SECONDS), None, None)
        .await
        .map(|_| ())
}

async fn r6_maximum_accepted(ctx: &Ctx) -> Result<(), CheckFailure> {
    expect_issued_lifetime(ctx, Some(MAX_EXPIRATION_SECONDS), None, None)
        .await
        .map(|_| ())
}

async fn r6_above_maximum_invalid(ctx: &Ctx) -> Result<(), CheckFailure> {
    expect_invalid(ctx, MAX_EXPIRATION_SECONDS + 1).await.map(|_| ())
}

async fn r8_clamps_to_max(ctx: &Ctx) -> Result<(), CheckFailure> {
    // Above the max when there is one (then clamped with a Warning); else the largest valid request, granted.
    let requested = match ctx.policy().expiration.max_seconds {
        Some(max) => (max * 2).min(MAX_EXPIRATION_SECONDS),
        None => MAX_EXPIRATION_SECONDS,
    };
    expect_issued_lifetime(ctx, Some(requested), None, None)
        .await
        .map(|_| ())
}

async fn r8_within_max_no_warning(ctx: &Ctx) -> Result<(), CheckFailure> {
    let issued = expect_issued_lifetime(ctx, Some(3600), None, None).await?;
    expect_eq(
        "Warning headers of an ordinary request",
        Vec::<String>::new(),
        issued.reply.warnings(),
    )?;
    if let Some(max) = ctx.policy().expiration.max_seconds {
        let at_max = expect_issued_lifetime(ctx, Some(max), None, None).await?;
        expect_eq(
            "Warning headers of a request at the max",
            Vec::<String>::new(),
            at_max.reply.warnings(),
        )?;
    }
    Ok(())
}

async fn r9_extension_pod_bound_3607(ctx: &Ctx) -> Result<(), CheckFailure> {
    expect_issued_lifetime(ctx, Some(EXTENDED_REQUEST_SECONDS), Some(BoundKind::Pod), None)
        .await
        .map(|_| ())
}

async fn r9_no_extension_for_secret(ctx: &Ctx) -> Result<(), CheckFailure> {
    expect_issued_lifetime(ctx, Some(EXTENDED_REQUEST_SECONDS), Some(BoundKind::Secret), None)
        .await
        .map(|_| ())
}

async fn r9_no_extension_for_node(ctx: &Ctx) -> Result<(), CheckFailure> {
    expect_issued_lifetime(ctx, Some(EXTENDED_REQUEST_SECONDS), Some(BoundKind::Node), None)
        .await
        .map(|_| ())
}

async fn r9_no_extension_unbound(ctx: &Ctx) -> Result<(), CheckFailure> {
    expect_issued_lifetime(ctx, Some(EXTENDED_REQUEST_SECONDS), None, None)
        .await
        .map(|_| ())
}

async fn r9_no_extension_for_non_api_audience(ctx: &Ctx) -> Result<(), CheckFailure> {
    expect_issued_lifetime(
        ctx,
        Some(EXTENDED_REQUEST_SECONDS),
        Some(BoundKind::Pod),
        Some(&["https://vault.example"]),
    )
    .await
    .map(|_| ())
}

async fn r9_no_extension_for_3608(ctx: &Ctx) -> Result<(), CheckFailure> {
    expect_issued_lifetime(ctx, Some(EXTENDED_REQUEST_SECONDS + 1), Some(BoundKind::Pod), None)
        .await
        .map(|_| ())
}

async fn r10_timestamps_match_claims(ctx: &Ctx) -> Result<(), CheckFailure> {
    for kind in [None, Some(BoundKind::Pod)] {
        let issued = expect_issued_lifetime(ctx, Some(EXTENDED_REQUEST_SECONDS), kind, None).await?;
        let claims = &issued.claims;
        let created = issued.creation_timestamp().unwrap_or(i64::MIN);
        let expires = issued.expiration_timestamp().unwrap_or(i64::MAX);
        ensure(
            created <= claims.iat,
            "creationTimestamp <= iat",
            "true",
            (created, claims.iat),
        )?;
        ensure(
            claims.iat - created <= 1,
            "iat - creationTimestamp",
            "at most 1 s",
            claims.iat - created,
        )?;
        ensure(
            expires <= claims.exp,
            "expirationTimestamp <= exp",
            "true",
            (expires, claims.exp),
        )?;
        let extended = claims.kubernetes_io.as_ref().and_then(|k| k.warnafter).is_some();
        if !extended {
            ensure(
                claims.exp - expires <= 1,
                "exp - expirationTimestamp (not extended)",
                "at most 1 s",
                claims.exp - expires,
            )?;
        }
    }
    Ok(())
}

async fn r10_iat_near_server_clock(ctx: &Ctx) -> Result<(), CheckFailure> {
    let issued = expect_issued_lifetime(ctx, None, None, None).await?;
    let claims = &issued.claims;
    expect_eq("nbf", claims.iat, claims.nbf)?;
    // The Date header is the server's clock at the answer: no clock skew between us and the server matters.
    let date = issued
        .reply
        .date()
        .ok_or_else(|| CheckFailure::mismatch("Date header", "an HTTP date", issued.reply.header("date")))?;
    ensure(
        (claims.iat - date).abs() <= 5,
        "iat against the response's Date header",
        "within 5 s",
        (claims.iat, date),
    )
}
