//! Sends the plan to both servers, step by step (real first, then embedded, so their clocks and
//! states move together), resolves each server's markers, normalises and compares the answers.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::Value;
use tokenrequest_envtest::http::{self, Endpoint};

use super::normalize::{self, Normalized, Symbols};
use super::plan::{Effect, Request};

/// The same `User-Agent` for both servers: kube-apiserver records its first word as the `managedFields` manager,
/// so it must not differ between them.
const USER_AGENT: &str = "kube-tokenrequest-differential/1";

/// After a delete or a create in the generated part: kube-apiserver's token validators read
/// informer caches, which follow etcd by milliseconds; without the pause a review right after a
/// delete could see the old object on the real server only.
const SETTLE: Duration = Duration::from_millis(250);

/// One server and what it has issued and created so far.
pub(crate) struct Side {
    pub(crate) name: &'static str,
    endpoint: Endpoint,
    symbols: Symbols,
    tokens: HashMap<usize, String>,
    /// Object key → its uids, oldest first.
    uids: HashMap<String, Vec<String>>,
}

impl Side {
    pub(crate) fn new(name: &'static str, endpoint: Endpoint) -> Self {
        Self {
            name,
            endpoint,
            symbols: Symbols::default(),
            tokens: HashMap::new(),
            uids: HashMap::new(),
        }
    }
}

/// A step whose normalised answers differ.
#[derive(Debug, Clone)]
pub(crate) struct Difference {
    pub(crate) step: usize,
    pub(crate) request: Request,
    pub(crate) real: Value,
    pub(crate) embedded: Value,
}

/// Resolves the markers of `body` for `side`; `other` supplies foreign tokens.
fn resolve(body: &str, side: &mut Side, other: &Side) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find("@@") {
        let Some(len) = rest[start + 2..].find("@@") else { break };
        out.push_str(&rest[..start]);
        let marker = &rest[start + 2..start + 2 + len];
        let (kind, arg) = marker.split_once(':').unwrap_or((marker, ""));
        let step: usize = arg.parse().unwrap_or(usize::MAX);
        // Placeholders for what a server did not produce (a failed create or TokenRequest): the
        // difference is already reported at that step; here both get the same stand-in.
        let value = match kind {
            "uid" => side.uids.get(arg).and_then(|u| u.last().cloned()),
            "olduid" => side
                .uids
                .get(arg)
                .and_then(|u| u.len().checked_sub(2).map(|i| u[i].clone())),
            "token" => side.tokens.get(&step).cloned(),
            "foreign" => other.tokens.get(&step).cloned().inspect(|t| {
                side.symbols
                    .insert(t.clone(), format!("<the other server's token #{step}>"));
            }),
            "tampered" => side.tokens.get(&step).map(|t| tamper(t)).inspect(|t| {
                side.symbols.insert(t.clone(), format!("<tampered token #{step}>"));
            }),
            _ => None,
        };
        out.push_str(&value.unwrap_or_else(|| match kind {
            "uid" | "olduid" => "00000000-0000-4000-8000-0000000000aa".to_owned(),
            _ => "no-token-was-issued".to_owned(),
        }));
        rest = &rest[start + 2 + len + 2..];
    }
    out.push_str(rest);
    out
}

/// The token with `sub` changed and the signature kept: a forgery the signature check must catch.
fn tamper(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let Some(mut claims) = normalize::decode_jwt(token).map(|(_, c)| c) else {
        return format!("{token}x");
    };
    claims["sub"] = Value::String("system:serviceaccount:kube-system:admin".into());
    format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(claims.to_string()),
        parts.get(2).unwrap_or(&"")
    )
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Sends `req` (step `step`) to `side` and normalises the answer.
fn exchange(step: usize, req: &Request, side: &mut Side, other: &Side) -> anyhow::Result<Normalized> {
    let body = req.body.as_deref().map(|b| resolve(b, side, other));
    let mut headers = vec![("User-Agent", USER_AGENT)];
    headers.extend(req.accept.map(|accept| ("Accept", accept)));
    headers.extend(req.content_type.map(|ct| ("Content-Type", ct)));
    let out = http::Request {
        headers: &headers,
        body: body.as_deref().map(str::as_bytes),
        ..http::Request::new(req.method, &req.path)
    };
    let sent = now();
    let resp = side
        .endpoint
        .send(&out)
        .map_err(|e| anyhow::format_err!("step {step} ({}) to the {} server: {e}", req.summary, side.name))?;
    // Object uids are registered before normalising, so the create's own answer shows the label.
    if let Effect::Created(key) = &req.effect
        && resp.status == 201
        && let Ok(v) = serde_json::from_slice::<Value>(&resp.body)
        && let Some(uid) = v["metadata"]["uid"].as_str()
    {
        let uids = side.uids.entry(key.clone()).or_default();
        uids.push(uid.to_owned());
        side.symbols.insert(uid, format!("<uid {key}#{}>", uids.len()));
    }
    let normalized = normalize::normalize(&resp, step, sent, &mut side.symbols);
    if let Some(token) = &normalized.token {
        side.tokens.insert(step, token.clone());
    }
    Ok(normalized)
}

/// Runs `plan` against both sides; `fixtures` is the number of leading fixture steps (no pause
/// after each, one pause after all of them). `progress` is called after every step.
pub(crate) fn run(
    plan: &[Request],
    fixtures: usize,
    real: &mut Side,
    embedded: &mut Side,
    mut progress: impl FnMut(usize, usize),
) -> anyhow::Result<Vec<Difference>> {
    let mut diffs = Vec::new();
    for (step, req) in plan.iter().enumerate() {
        if tokenrequest_envtest::interrupt::requested() {
            return Err(tokenrequest_envtest::Error::Interrupted.into());
        }
        let a = exchange(step, req, real, embedded)?;
        let b = exchange(step, req, embedded, real)?;
        if a.value != b.value {
            diffs.push(Difference {
                step,
                request: req.clone(),
                real: a.value,
                embedded: b.value,
            });
        }
        let settles = matches!(req.effect, Effect::Created(_) | Effect::Deleted(_));
        if (settles && step >= fixtures) || step + 1 == fixtures {
            std::thread::sleep(SETTLE);
        }
        progress(step + 1, diffs.len());
    }
    Ok(diffs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tampering_keeps_header_and_signature() {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let t = format!(
            "{}.{}.{}",
            b64.encode(r#"{"alg":"RS256"}"#),
            b64.encode(r#"{"sub":"a"}"#),
            "c2ln"
        );
        let x = tamper(&t);
        assert_ne!(x, t);
        assert_eq!(x.split('.').next(), t.split('.').next());
        assert_eq!(x.split('.').nth(2), Some("c2ln"));
    }
}
