//! The `--kubeconfig PATH` target: an existing cluster. Nothing is started, stopped or deleted,
//! and no policy is assumed: the suite probes it (and compares with `--policy` when one is given).

use std::path::{Path, PathBuf};

use crate::error::Result;

/// Checks that the file exists and names a cluster, so a typo fails before anything runs; returns it absolute.
pub fn check(path: &Path) -> Result<PathBuf> {
    let text = std::fs::read_to_string(path).map_err(|err| format_err!("--kubeconfig {}: {err}", path.display()))?;
    tokenrequest_types::kubeconfig::parse(&text)
        .map_err(|err| format_err!("--kubeconfig {}: {err}", path.display()))?;
    Ok(std::path::absolute(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_wrong_file_is_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        assert!(check(&missing).unwrap_err().to_string().starts_with("--kubeconfig "));
        let wrong = dir.path().join("wrong");
        std::fs::write(&wrong, "clusters: []\n").unwrap();
        assert_eq!(
            check(&wrong).unwrap_err().to_string(),
            format!("--kubeconfig {}: no contexts in it", wrong.display())
        );
    }
}
