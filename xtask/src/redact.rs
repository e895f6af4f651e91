//! Keeps tokens out of reports: every text that came from a test run passes through
//! [`redact_jwts`] before it is written anywhere.
//!
//! The pattern is the one a JWT always has, `eyJ<b64url>.<b64url>.<b64url>` (the header is JSON,
//! so its base64url starts with `eyJ`). A hand-written scanner instead of the regex crate keeps
//! xtask's dependencies light; [`find_jwt`] is also what the tidy test uses on committed files.

use std::borrow::Cow;
use std::ops::Range;

/// What a token is replaced with.
pub(crate) const REDACTED: &str = "<redacted>";

/// `text` with every JWT-looking string replaced by `<redacted>`.
pub(crate) fn redact_jwts(text: &str) -> Cow<'_, str> {
    replace_jwts(text, REDACTED)
}

/// `text` with every JWT-looking string replaced by `replacement` (XML needs `&lt;redacted&gt;`).
pub(crate) fn replace_jwts<'a>(text: &'a str, replacement: &str) -> Cow<'a, str> {
    let Some(first) = find_jwt(text, 0) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut next = Some(first);
    while let Some(range) = next {
        out.push_str(&text[copied..range.start]);
        out.push_str(replacement);
        copied = range.end;
        next = find_jwt(text, copied);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// The first match of `eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+` at or after `from`.
pub(crate) fn find_jwt(text: &str, from: usize) -> Option<Range<usize>> {
    let bytes = text.as_bytes();
    let mut search = from;
    while let Some(offset) = text.get(search..)?.find("eyJ") {
        let start = search + offset;
        if let Some(end) = jwt_end(bytes, start) {
            return Some(start..end);
        }
        search = start + 3;
    }
    None
}

/// Where a JWT starting at `start` (which holds `eyJ`) ends, if the three segments are there.
fn jwt_end(bytes: &[u8], start: usize) -> Option<usize> {
    let is_b64url = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
    let segment = |at: usize| at + bytes[at..].iter().take_while(|b| is_b64url(b)).count();
    // The header segment must go on past `eyJ`, as in the regex `eyJ[...]+`.
    let header_end = segment(start + 3);
    if header_end == start + 3 {
        return None;
    }
    let mut at = header_end;
    for _ in 0..2 {
        if bytes.get(at) != Some(&b'.') {
            return None;
        }
        let end = segment(at + 1);
        if end == at + 1 {
            return None;
        }
        at = end;
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Built at run time so that no JWT-looking literal is committed (the tidy test forbids them).
    fn jwt() -> String {
        ["eyJ", "hbGciOiJSUzI1NiJ9", ".", "eyJzdWIiOiJ4In0", ".", "c2ln-_A"].concat()
    }

    #[test]
    fn tokens_are_redacted_everywhere_in_a_message() {
        let text = format!("left: \"{}\"\nright: Bearer {}, done", jwt(), jwt());
        assert_eq!(
            redact_jwts(&text),
            "left: \"<redacted>\"\nright: Bearer <redacted>, done"
        );
    }

    #[test]
    fn text_without_tokens_is_unchanged_and_not_copied() {
        let text = "expected 3600, got eyJ but no dots; a.b.c is not a token";
        assert!(matches!(redact_jwts(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn incomplete_tokens_are_left_alone() {
        for text in ["eyJabc.def", "eyJ.abc.def", "eyJabc..def", "eyJabc.def."] {
            assert_eq!(redact_jwts(text), text, "{text}");
        }
    }

    #[test]
    fn a_token_after_a_false_start_is_found() {
        let text = format!("eyJx {} eyJ", jwt());
        assert_eq!(redact_jwts(&text), "eyJx <redacted> eyJ");
    }
}
