//! Fuzzes the CLI's token input: what `kube-tokenrequest inspect` and `verify` do with the bytes they are handed
//! as an argument or on stdin, before any network call.
//!
//! STOPGAP (see crates/tokenrequest-server/RELIABILITY-REQUESTS.md, request 1): the CLI is a binary crate without a
//! library target, so its reading function cannot be linked here yet. Until it is, this target exercises what that
//! function is expected to hand the token to: the bytes as stdin would deliver them (invalid UTF-8 refused, surrounding
//! whitespace and a trailing newline trimmed), `Token`'s redaction, and `UnverifiedToken::parse`.
//!
//! Properties: no panic; a `Token` never shows its text through `Display` or `Debug`; parse errors never echo
//! the input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenrequest_types::token::{REDACTED, Token, UnverifiedToken};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let input = text.trim();
    let token = Token::new(input);
    assert_eq!(token.to_string(), REDACTED);
    assert_eq!(format!("{token:?}"), format!("Token({REDACTED})"));
    if let Err(error) = UnverifiedToken::parse(token.expose()) {
        // A JWT-shaped input cannot be rebuilt from constant text; a short one ("found 1") could by chance.
        let checked = input.len() >= 16 && input.matches('.').count() >= 2;
        assert!(
            !checked || !error.to_string().contains(input),
            "parse error echoes the input"
        );
    }
});
