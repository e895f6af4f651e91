//! Reading HTTP `Warning` headers (RFC 7234 §5.5) as kube-apiserver writes them: `299 - "text"`.
//!
//! The suite needs the text of the clamping warning (R8) and of unknown-field warnings (R28), so only the quoted
//! text is kept; code and agent are dropped.

use http::HeaderMap;

/// The texts of every `Warning` header, in order. Values that are not `code agent "text"` are kept verbatim, so
/// a warning is never silently lost.
pub(crate) fn warning_texts(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(http::header::WARNING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(|value| warning_text(value).unwrap_or_else(|| value.to_owned()))
        .collect()
}

/// The quoted text of one `Warning` value, with `\"` and `\\` unescaped.
fn warning_text(value: &str) -> Option<String> {
    let mut parts = value.trim().splitn(3, ' ');
    let _code = parts.next()?;
    let _agent = parts.next()?;
    let quoted = parts.next()?.strip_prefix('"')?;
    let mut text = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => text.push(chars.next()?),
            // A date may follow the closing quote; it is not part of the text.
            '"' => return Some(text),
            other => text.push(other),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn reads_kube_apiserver_warnings() {
        let mut headers = HeaderMap::new();
        headers.append(
            http::header::WARNING,
            HeaderValue::from_static(r#"299 - "requested expiration of 7200 seconds shortened to 3600 seconds""#),
        );
        headers.append(
            http::header::WARNING,
            HeaderValue::from_static(r#"299 - "unknown field \"spec.foo\"" "Sat, 01 Jan 2000 00:00:00 GMT""#),
        );
        headers.append(http::header::WARNING, HeaderValue::from_static("garbage"));
        assert_eq!(
            warning_texts(&headers),
            [
                "requested expiration of 7200 seconds shortened to 3600 seconds",
                r#"unknown field "spec.foo""#,
                "garbage",
            ]
        );
    }
}
