//! Turns one server's answer into a value that is equal for the two servers exactly when they
//! behaved the same: what is legitimately different (uids, jtis, tokens, resourceVersions, the
//! clock) becomes a placeholder *naming what it stands for*, so a uid that points at the wrong
//! object, or an expiration that is off by an hour, still shows up as a difference.
//!
//! Kept: status code, `Content-Type`, `Cache-Control`, every `Warning`, the whole body (Status
//! reason, message, details; the TokenRequest echo; metadata including `managedFields`, whose
//! manager comes from our fixed User-Agent and whose time becomes a placeholder), and the decoded
//! JWT header and claims with times as offsets. Dropped: headers that are per-request by design
//! (`Audit-Id`, `Date`, `X-Kubernetes-Pf-*` flow-control uids, `Content-Length`).
//! A token is never kept: it becomes `<token #N>` (N = the step that issued it).

use std::collections::HashMap;

use base64::Engine as _;
use serde_json::{Map, Value, json};
use tokenrequest_envtest::http::Response;

/// What each server-specific string stands for (uid → `<uid pod/ns/p#2>`, jti, tokens).
#[derive(Debug, Default, Clone)]
pub(crate) struct Symbols {
    labels: HashMap<String, String>,
}

impl Symbols {
    pub(crate) fn insert(&mut self, raw: impl Into<String>, label: impl Into<String>) {
        self.labels.insert(raw.into(), label.into());
    }

    fn get(&self, raw: &str) -> Option<&str> {
        self.labels.get(raw).map(String::as_str)
    }
}

/// A normalised answer, and the token it carried (kept by the runner, never printed).
#[derive(Debug, Clone)]
pub(crate) struct Normalized {
    pub(crate) value: Value,
    pub(crate) token: Option<String>,
}

/// Normalises `resp`, the answer to step `step`, received at `now` (Unix seconds).
/// A token in the body is registered in `symbols` as `<token #step>`, its jti as `<jti #step>`.
pub(crate) fn normalize(resp: &Response<Vec<u8>>, step: usize, now: i64, symbols: &mut Symbols) -> Normalized {
    let mut out = Map::new();
    out.insert("code".into(), json!(resp.status));
    for header in ["content-type", "cache-control", "warning"] {
        let values = resp.header_values(header);
        if !values.is_empty() {
            out.insert(header.into(), json!(values));
        }
    }
    let mut token = None;
    let body = if resp.body.is_empty() {
        Value::Null
    } else if let Ok(mut v) = serde_json::from_slice::<Value>(&resp.body) {
        token = take_token(&mut v, step, symbols);
        if let Some((header, claims)) = token.as_deref().and_then(decode_jwt) {
            let created = v["metadata"]["creationTimestamp"].as_str().and_then(parse_rfc3339);
            out.insert(
                "jwt".into(),
                json!({"header": normalize_header(header), "claims": claims_times(claims, created)}),
            );
        }
        times(&mut v, now);
        v
    } else if resp.header_values("content-type").iter().any(|c| c.contains("yaml"))
        && let Ok(v) = serde_yaml::from_slice::<Value>(&resp.body)
    {
        let mut v = v;
        times(&mut v, now);
        v
    } else if let Some(mut events) = watch_events(&resp.body) {
        times(&mut events, now);
        events
    } else {
        // Text bodies (406, some 404s): compared as text, JWTs redacted like everything else.
        Value::String(String::from_utf8_lossy(&resp.body).chars().take(600).collect())
    };
    out.insert("body".into(), body);
    let mut value = Value::Object(out);
    strings(&mut value, symbols, &mut 0);
    Normalized {
        value: sorted(value),
        token,
    }
}

/// The events of a watch stream (one JSON object with a `type` per line), in order.
fn watch_events(body: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(body).ok()?;
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str::<Value>(line)
                .ok()
                .filter(|event| event.get("type").is_some())
        })
        .collect::<Option<Vec<_>>>()
        .map(Value::Array)
}

/// Removes `status.token` of a TokenRequest, registering it and its jti.
fn take_token(v: &mut Value, step: usize, symbols: &mut Symbols) -> Option<String> {
    if v["kind"] != "TokenRequest" {
        return None;
    }
    let token = v.get_mut("status")?.get_mut("token")?;
    let raw = token.as_str()?.to_owned();
    *token = json!(format!("<token #{step}>"));
    symbols.insert(raw.clone(), format!("<token #{step}>"));
    if let Some((_, claims)) = decode_jwt(&raw)
        && let Some(jti) = claims["jti"].as_str()
    {
        symbols.insert(jti, format!("<jti #{step}>"));
    }
    Some(raw)
}

/// A JWT's header and claims (signature not checked: that is what the TokenReviews are for).
pub(crate) fn decode_jwt(token: &str) -> Option<(Value, Value)> {
    let mut parts = token.split('.');
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = serde_json::from_slice(&b64.decode(parts.next()?).ok()?).ok()?;
    let claims = serde_json::from_slice(&b64.decode(parts.next()?).ok()?).ok()?;
    Some((header, claims))
}

/// `kid` differs per key; its *form* (base64url of a SHA-256, R18) is what both must share.
fn normalize_header(mut header: Value) -> Value {
    if let Some(kid) = header.get_mut("kid") {
        let shaped = kid
            .as_str()
            .is_some_and(|k| k.len() == 43 && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        *kid = json!(if shaped {
            "<kid: base64url sha-256>"
        } else {
            "<kid: other form>"
        });
    }
    header
}

/// Claim times as offsets: iat from the response's creationTimestamp, the others from iat.
fn claims_times(mut claims: Value, created: Option<i64>) -> Value {
    let Some(iat) = claims["iat"].as_i64() else {
        return claims;
    };
    claims["iat"] = json!(match created {
        Some(c) if (iat - c).abs() <= 1 => "creationTimestamp (±1 s)".to_owned(),
        Some(c) => format!("creationTimestamp {:+} s", iat - c),
        None => "<no creationTimestamp>".to_owned(),
    });
    for name in ["nbf", "exp"] {
        if let Some(t) = claims[name].as_i64() {
            claims[name] = json!(format!("iat {:+} s", t - iat));
        }
    }
    if let Some(w) = claims.pointer_mut("/kubernetes.io/warnafter")
        && let Some(t) = w.as_i64()
    {
        *w = json!(format!("iat {:+} s", t - iat));
    }
    claims
}

/// Timestamps and resourceVersions. A timestamp within [`RECENT_SECONDS`] of our clock is `<recent>`;
/// `status.expirationTimestamp` is stated relative to `creationTimestamp` and `spec.expirationSeconds`.
fn times(v: &mut Value, now: i64) {
    let created = v["metadata"]["creationTimestamp"].as_str().and_then(parse_rfc3339);
    let expiration = v["spec"]["expirationSeconds"].as_i64();
    if let Some(e) = v.pointer_mut("/status/expirationTimestamp")
        && let Some(t) = e.as_str().and_then(parse_rfc3339)
    {
        *e = json!(match (created, expiration) {
            (Some(c), Some(x)) if (t - c - x).abs() <= 1 =>
                "creationTimestamp + spec.expirationSeconds (±1 s)".to_owned(),
            (Some(c), _) => format!("creationTimestamp {:+} s", t - c),
            _ => "<no creationTimestamp>".to_owned(),
        });
    }
    generic_times(v, now);
}

/// How far from our clock a timestamp may be and still be `<recent>`: a whole run. The two servers write the
/// same object's timestamps a few milliseconds apart, at one-second precision; a tighter window (it was 5 s) put
/// one side's `<now>` next to the other's `<now -6 s>` whenever the pair straddled its edge. Grossly wrong
/// timestamps (hours off, the epoch) still show.
const RECENT_SECONDS: i64 = 3600;

fn generic_times(v: &mut Value, now: i64) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                match (k.as_str(), val.as_str()) {
                    ("creationTimestamp" | "deletionTimestamp" | "time" | "lastTransitionTime", Some(s)) => {
                        *val = json!(match parse_rfc3339(s) {
                            Some(t) if (t - now).abs() <= RECENT_SECONDS => "<recent>".to_owned(),
                            Some(t) => format!("<now {:+} s>", t - now),
                            None => format!("<unparsable time {s:?}>"),
                        });
                    }
                    ("resourceVersion", Some(_)) => *val = json!("<resourceVersion>"),
                    _ => generic_times(val, now),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| generic_times(i, now)),
        _ => {}
    }
}

/// Every string: a known symbol as its label; UUIDs and JWTs inside text replaced.
fn strings(v: &mut Value, symbols: &Symbols, unknown: &mut usize) {
    match v {
        Value::String(s) => {
            if let Some(label) = symbols.get(s) {
                *s = label.to_owned();
            } else {
                *s = replace_in_text(s, symbols, unknown);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| strings(i, symbols, unknown)),
        Value::Object(map) => {
            // Keys are data too (e.g. `managedFields`' `f:` paths): left as they are.
            map.values_mut().for_each(|val| strings(val, symbols, unknown));
        }
        _ => {}
    }
}

/// UUIDs (uids, jtis inside `JTI=…` and messages) and JWTs inside a text.
pub(crate) fn replace_in_text(text: &str, symbols: &Symbols, unknown: &mut usize) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((start, end, kind)) = next_match(rest) {
        out.push_str(&rest[..start]);
        let found = &rest[start..end];
        match symbols.get(found) {
            Some(label) => out.push_str(label),
            None if kind == Match::Uuid => {
                *unknown += 1;
                out.push_str(&format!("<unknown uuid {unknown}>"));
            }
            None => out.push_str("<unknown jwt>"),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[derive(PartialEq, Eq)]
enum Match {
    Uuid,
    Jwt,
}

fn next_match(text: &str) -> Option<(usize, usize, Match)> {
    let uuid = find_uuid(text);
    let jwt = tokenrequest_types::token::find_jwt(text, 0);
    match (uuid, jwt) {
        (Some(u), Some(j)) if j.start < u.0 => Some((j.start, j.end, Match::Jwt)),
        (Some(u), _) => Some((u.0, u.1, Match::Uuid)),
        (None, Some(j)) => Some((j.start, j.end, Match::Jwt)),
        (None, None) => None,
    }
}

/// The first `8-4-4-4-12` hex group.
fn find_uuid(text: &str) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let groups = [8, 4, 4, 4, 12];
    'outer: for start in 0..b.len() {
        if start > 0 && b[start - 1].is_ascii_hexdigit() {
            continue;
        }
        let mut at = start;
        for (i, len) in groups.iter().enumerate() {
            if at + len > b.len() || !b[at..at + len].iter().all(u8::is_ascii_hexdigit) {
                continue 'outer;
            }
            at += len;
            if i < 4 {
                if b.get(at) != Some(&b'-') {
                    continue 'outer;
                }
                at += 1;
            }
        }
        if b.get(at).is_some_and(u8::is_ascii_hexdigit) {
            continue;
        }
        return Some((start, at));
    }
    None
}

/// `2026-11-25T13:14:41Z` (what both servers write) as Unix seconds.
pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let time = time.split('.').next()?;
    let mut t = time.split(':').map(|p| p.parse::<i64>());
    let (h, min, sec) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    // Days from civil (H. Hinnant's algorithm): no date crate needed for one format.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + min * 60 + sec)
}

/// The same value with object keys in sorted order, so printing is stable whatever map type
/// serde_json was built with.
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_of_a_run_are_recent_on_both_sides_and_gross_errors_show() {
        let now = parse_rfc3339("2026-11-25T17:00:00Z").unwrap();
        // One server wrote the pod 5 s before the answer was read, the other 6 s: the same write.
        let mut a = json!({"metadata": {"creationTimestamp": "2026-11-25T16:59:55Z",
            "managedFields": [{"time": "2026-11-25T16:59:55Z"}]}});
        let mut b = json!({"metadata": {"creationTimestamp": "2026-11-25T16:59:54Z",
            "managedFields": [{"time": "2026-11-25T16:59:54Z"}]}});
        generic_times(&mut a, now);
        generic_times(&mut b, now);
        assert_eq!(a, b);
        assert_eq!(a["metadata"]["creationTimestamp"], "<recent>");
        let mut epoch = json!({"deletionTimestamp": "1970-01-01T00:00:00Z"});
        generic_times(&mut epoch, now);
        assert_eq!(epoch["deletionTimestamp"], format!("<now {:+} s>", -now));
    }

    fn jwt(claims: &Value) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = json!({"alg": "RS256", "kid": "F7O9SP8NzjGR29qymZxCsverW27RJuZsYFvJL39-FGU"});
        format!(
            "{}.{}.{}",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string()),
            b64.encode("sig")
        )
    }

    fn response(status: u16, body: &Value, headers: &[(&str, &str)]) -> Response<Vec<u8>> {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.to_string().into_bytes(),
        }
    }

    fn token_request(uid: &str, jti: &str, created: &str, iat: i64) -> Value {
        let claims = json!({"aud": ["api"], "iat": iat, "nbf": iat, "exp": iat + 3600, "jti": jti,
                            "kubernetes.io": {"serviceaccount": {"name": "sa", "uid": uid}}});
        json!({"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
               "metadata": {"name": "sa", "uid": uid, "creationTimestamp": created,
                            "managedFields": [{"manager": "x", "time": created}]},
               "spec": {"audiences": ["api"], "expirationSeconds": 3600, "boundObjectRef": null},
               "status": {"token": jwt(&claims), "expirationTimestamp": "2026-11-25T14:14:41Z"}})
    }

    #[test]
    fn two_servers_with_different_uids_jtis_and_clocks_normalise_equal() {
        let now = parse_rfc3339("2026-11-25T13:14:41Z").unwrap();
        let mut real = Symbols::default();
        real.insert("3329f566-b599-46b2-b52f-3a483e24ce20", "<uid sa/ns/sa#1>");
        let mut embedded = Symbols::default();
        embedded.insert("aaaaaaaa-b599-46b2-b52f-3a483e24ce20", "<uid sa/ns/sa#1>");
        let ct = [("content-type", "application/json"), ("audit-id", "1")];
        let a = normalize(
            &response(
                201,
                &token_request(
                    "3329f566-b599-46b2-b52f-3a483e24ce20",
                    "c018233a-eb7d-4ff2-b1d6-09b88e19d3b8",
                    "2026-11-25T13:14:41Z",
                    now,
                ),
                &ct,
            ),
            7,
            now,
            &mut real,
        );
        let b = normalize(
            &response(
                201,
                &token_request(
                    "aaaaaaaa-b599-46b2-b52f-3a483e24ce20",
                    "00000000-eb7d-4ff2-b1d6-09b88e19d3b8",
                    "2026-11-25T13:14:41Z",
                    now,
                ),
                &[("content-type", "application/json"), ("audit-id", "2")],
            ),
            7,
            now + 1,
            &mut embedded,
        );
        assert_eq!(a.value, b.value);
        assert!(a.token.is_some());
        let text = a.value.to_string();
        assert!(!text.contains("eyJ"), "a token leaked into {text}");
        assert_eq!(a.value["body"]["metadata"]["uid"], "<uid sa/ns/sa#1>");
        assert_eq!(a.value["body"]["status"]["token"], "<token #7>");
        assert_eq!(a.value["jwt"]["claims"]["exp"], "iat +3600 s");
        assert_eq!(a.value["jwt"]["claims"]["jti"], "<jti #7>");
        assert_eq!(
            a.value["body"]["status"]["expirationTimestamp"],
            "creationTimestamp + spec.expirationSeconds (±1 s)"
        );
        assert_eq!(a.value["jwt"]["header"]["kid"], "<kid: base64url sha-256>");
        // A later review mentioning the jti in text maps it the same way.
        assert_eq!(
            replace_in_text("JTI=c018233a-eb7d-4ff2-b1d6-09b88e19d3b8", &real, &mut 0),
            "JTI=<jti #7>"
        );
    }

    #[test]
    fn a_wrong_expiration_or_uid_still_differs() {
        let now = 1_795_612_481;
        let mut s = Symbols::default();
        let good = normalize(
            &response(201, &token_request("u1", "j", "2026-11-25T13:14:41Z", now), &[]),
            1,
            now,
            &mut s,
        );
        let mut off = token_request("u1", "j", "2026-11-25T13:14:41Z", now);
        off["status"]["expirationTimestamp"] = json!("2026-11-25T15:14:41Z");
        let off = normalize(&response(201, &off, &[]), 1, now, &mut s);
        assert_ne!(good.value, off.value);
        assert_eq!(
            off.value["body"]["status"]["expirationTimestamp"],
            "creationTimestamp +7200 s"
        );
    }

    #[test]
    fn status_messages_keep_text_and_map_uids() {
        let mut s = Symbols::default();
        s.insert("11111111-2222-4333-8444-555555555555", "<uid pod/a/p#1>");
        let body = json!({"kind": "Status", "message": "the UID in the bound object reference (11111111-2222-4333-8444-555555555555) does not match the UID in record (99999999-2222-4333-8444-555555555555)", "reason": "Conflict", "code": 409});
        let n = normalize(&response(409, &body, &[("warning", "299 - \"x\"")]), 3, 0, &mut s);
        assert_eq!(
            n.value["body"]["message"],
            "the UID in the bound object reference (<uid pod/a/p#1>) does not match the UID in record (<unknown uuid 1>)"
        );
        assert_eq!(n.value["warning"], json!(["299 - \"x\""]));
        assert!(n.token.is_none());
    }

    #[test]
    fn text_bodies_and_timestamps() {
        let r = Response {
            status: 406,
            headers: vec![],
            body: b"406: Not Acceptable".to_vec(),
        };
        assert_eq!(
            normalize(&r, 0, 0, &mut Symbols::default()).value["body"],
            "406: Not Acceptable"
        );
        assert_eq!(parse_rfc3339("1970-01-02T00:00:01Z"), Some(86_401));
        assert_eq!(parse_rfc3339("2026-11-25T13:14:41Z"), Some(1_795_612_481));
        assert_eq!(find_uuid("x 3329f566-b599-46b2-b52f-3a483e24ce20)"), Some((2, 38)));
        assert_eq!(find_uuid("3329f566-b599-46b2-b52f"), None);
    }
}
