//! Where a token argument comes from: the command line, or stdin for `-` or no argument (so a token need not
//! appear in shell history or `ps`).

use std::io::{IsTerminal as _, Read as _};

use anyhow::Context as _;

/// Reads the token given as `arg`, or from stdin when `arg` is `-` or absent. Surrounding whitespace is dropped.
pub fn read_token(arg: Option<&str>) -> anyhow::Result<String> {
    let token = match arg {
        Some(token) if token != "-" => token.to_owned(),
        _ => read_stdin()?,
    };
    let token = token.trim();
    if token.is_empty() {
        anyhow::bail!("no token: pass TOKEN, or - and a token on stdin");
    }
    Ok(token.to_owned())
}

fn read_stdin() -> anyhow::Result<String> {
    let mut stdin = std::io::stdin().lock();
    if stdin.is_terminal() {
        anyhow::bail!("no token: pass TOKEN, or pipe one on stdin");
    }
    let mut token = String::new();
    stdin
        .read_to_string(&mut token)
        .context("cannot read the token from stdin")?;
    Ok(token)
}
