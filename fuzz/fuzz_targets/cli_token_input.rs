//! Fuzzes the CLI's token input: `read_token`, the function `kube-tokenrequest inspect`, `verify` and `review` use
//! to take a token from their argument, and then what they hand it to (`UnverifiedToken::parse`).
//!
//! The CLI is a binary crate (no library target to link), so its source file `token_input.rs` is compiled into this
//! target as a module: the very code the commands run, not a copy. Only the argument path is fuzzed: `-` and no
//! argument read the process's stdin, which here is the fuzzer's.
//!
//! Properties: no panic; the token comes back trimmed; a `Token` never shows its text through `Display`/`Debug`;
//! no error message (from reading or parsing) echoes the input.

#![no_main]

#[path = "../../crates/kube-tokenrequest/src/token_input.rs"]
mod token_input;

use libfuzzer_sys::fuzz_target;
use tokenrequest_types::token::{REDACTED, Token, UnverifiedToken};

fuzz_target!(|data: &[u8]| {
    // A command-line argument is a string (clap refuses invalid UTF-8 before the command runs).
    let Ok(arg) = std::str::from_utf8(data) else { return };
    if arg == "-" {
        return;
    }
    // A JWT-shaped input cannot be rebuilt from constant text; a short one ("found 1") could by chance.
    let checked = arg.trim().len() >= 16 && arg.matches('.').count() >= 2;
    let read = match token_input::read_token(Some(arg)) {
        Ok(read) => read,
        Err(error) => {
            assert!(arg.trim().is_empty(), "only an empty argument is refused");
            assert!(
                !checked || !format!("{error:#}").contains(arg.trim()),
                "read error echoes the input"
            );
            return;
        }
    };
    assert_eq!(read, arg.trim());
    let token = Token::new(read.clone());
    assert_eq!(token.to_string(), REDACTED);
    assert_eq!(format!("{token:?}"), format!("Token({REDACTED})"));
    if let Err(error) = UnverifiedToken::parse(token.expose()) {
        assert!(
            !checked || !error.to_string().contains(&read),
            "parse error echoes the input"
        );
    }
});
