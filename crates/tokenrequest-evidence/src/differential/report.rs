//! Differences for people: grouped into classes (same kind of request, same differing fields),
//! each shown as the request and a line diff of the two normalised answers (`-` real
//! kube-apiserver, `+` embedded). Everything printed passes through the JWT redactor as well,
//! although normalised answers hold no tokens.

use std::collections::BTreeMap;

use serde_json::Value;

use super::run::Difference;

/// Differences that share a request kind and the set of differing fields.
#[derive(Debug)]
pub(crate) struct Class<'a> {
    pub(crate) key: String,
    pub(crate) members: Vec<&'a Difference>,
}

/// The fields (dotted paths, array indexes as `[]`) where `a` and `b` differ.
pub(crate) fn differing_paths(a: &Value, b: &Value, at: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let sub = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => differing_paths(p, q, &sub, out),
                    _ => out.push(sub),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (p, q) in x.iter().zip(y) {
                differing_paths(p, q, &format!("{at}[]"), out);
            }
        }
        _ if a != b => out.push(at.to_owned()),
        _ => {}
    }
}

/// The request's kind, without object names: `TokenRequest`, `create pod`, `truncated JSON`.
fn request_kind(summary: &str) -> String {
    let words: Vec<&str> = summary.split([',', ' ']).filter(|w| !w.is_empty()).collect();
    match words.first().copied() {
        Some(w @ ("TokenRequest" | "TokenReview")) => w.to_owned(),
        Some("create" | "delete" | "get") => words.iter().take(2).copied().collect::<Vec<_>>().join(" "),
        _ => summary.split(',').next().unwrap_or(summary).trim().to_owned(),
    }
}

/// A differing field, cut to three levels (`body.spec.containers[]`): the pod defaults differ in
/// a dozen leaves that are one finding.
fn field_group(path: &str) -> String {
    path.split('.').take(3).collect::<Vec<_>>().join(".")
}

/// Groups differences into classes (request kind × differing field), in order of first
/// appearance; a difference with several differing fields is in several classes.
pub(crate) fn classes(diffs: &[Difference]) -> Vec<Class<'_>> {
    let mut order: Vec<String> = Vec::new();
    let mut by_key: BTreeMap<String, Vec<&Difference>> = BTreeMap::new();
    for d in diffs {
        let mut paths = Vec::new();
        differing_paths(&d.real, &d.embedded, "", &mut paths);
        let mut groups: Vec<String> = paths.iter().map(|p| field_group(p)).collect();
        groups.dedup();
        for group in groups {
            let key = format!("{} → {group}", request_kind(&d.request.summary));
            if !by_key.contains_key(&key) {
                order.push(key.clone());
            }
            let members = by_key.entry(key).or_default();
            if members.last().is_none_or(|m| m.step != d.step) {
                members.push(d);
            }
        }
    }
    order
        .into_iter()
        .map(|key| {
            let members = by_key.remove(&key).unwrap_or_default();
            Class { key, members }
        })
        .collect()
}

/// One difference: the request, then the answers' line diff.
pub(crate) fn render(d: &Difference, class_size: usize) -> String {
    let mut out = format!(
        "── difference at step {} ({} like it) ──\n{}\n",
        d.step,
        class_size,
        request_text(d)
    );
    out.push_str(&line_diff(
        &serde_json::to_string_pretty(&d.real).unwrap_or_default(),
        &serde_json::to_string_pretty(&d.embedded).unwrap_or_default(),
    ));
    tokenrequest_types::token::redact_jwts(&out).into_owned()
}

fn request_text(d: &Difference) -> String {
    let r = &d.request;
    let mut out = format!("request: {}\n  {} {}", r.summary, r.method, r.path);
    for (name, v) in [("Content-Type", r.content_type), ("Accept", r.accept)] {
        out.push_str(&format!("\n  {name}: {}", v.unwrap_or("(none)")));
    }
    if let Some(body) = &r.body {
        let shown: String = body.chars().take(400).collect();
        out.push_str(&format!("\n  body: {shown}"));
    }
    out
}

/// A line diff (longest common subsequence; answers are tens of lines): `-` real, `+` embedded.
pub(crate) fn line_diff(real: &str, embedded: &str) -> String {
    let a: Vec<&str> = real.lines().collect();
    let b: Vec<&str> = embedded.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = String::from("  (- real kube-apiserver, + embedded)\n");
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("   {}\n", a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("  +{}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("  -{}\n", a[i]));
            i += 1;
        }
    }
    out
}

/// The classes as Markdown, for `DIFFERENTIAL.md`.
pub(crate) fn markdown(classes: &[Class<'_>], n: usize, seed: u64, policy: &str) -> String {
    let total: usize = classes.iter().map(|c| c.members.len()).sum();
    let mut out = format!(
        "Run: seed {seed}, policy `{policy}`: {n} requests, {total} differences, {} classes.\n\n",
        classes.len()
    );
    let mut first_class = BTreeMap::new();
    for (i, c) in classes.iter().enumerate() {
        let d = c.members[0];
        out.push_str(&format!(
            "### D{} — {} ({} requests; first at step {})\n\n",
            i + 1,
            c.key,
            c.members.len(),
            d.step
        ));
        // A request that differs in several fields is written out once, under its first class.
        if let Some(k) = first_class.get(&d.step) {
            out.push_str(&format!("Step {} is shown under D{k}.\n\n", d.step));
            continue;
        }
        first_class.insert(d.step, i + 1);
        out.push_str(&format!(
            "```\n{}\n\n{}```\n\n",
            request_text(d),
            line_diff(
                &serde_json::to_string_pretty(&d.real).unwrap_or_default(),
                &serde_json::to_string_pretty(&d.embedded).unwrap_or_default()
            )
        ));
    }
    tokenrequest_types::token::redact_jwts(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_name_where_answers_differ() {
        let mut out = Vec::new();
        differing_paths(
            &json!({"code": 400, "body": {"message": "a", "details": {"causes": [{"field": "x"}]}}}),
            &json!({"code": 400, "body": {"message": "b", "details": {"causes": [{"field": "y"}]}, "extra": 1}}),
            "",
            &mut out,
        );
        assert_eq!(out, ["body.details.causes[].field", "body.extra", "body.message"]);
    }

    #[test]
    fn a_line_diff_marks_each_side() {
        assert_eq!(
            line_diff("a\nb\nc", "a\nx\nc"),
            "  (- real kube-apiserver, + embedded)\n   a\n  +x\n  -b\n   c\n"
        );
    }

    #[test]
    fn request_kinds_group_by_intent_not_names() {
        assert_eq!(request_kind("TokenRequest d1-a/sa-0, aud [], exp 600"), "TokenRequest");
        assert_eq!(request_kind("create pod d1-a/pod-0 (sa sa-0, node -)"), "create pod");
        assert_eq!(request_kind("truncated JSON"), "truncated JSON");
    }
}
