//! The `--kubeconfig PATH` target: an existing cluster. Nothing is started, stopped or deleted,
//! and no policy is assumed: the suite probes it (and compares with `--policy` when one is given).

use std::path::{Path, PathBuf};

/// Checks that the file exists and looks like a kubeconfig, so a typo fails before the suite builds.
pub(crate) fn existing(path: &Path) -> anyhow::Result<PathBuf> {
    let text =
        std::fs::read_to_string(path).map_err(|err| anyhow::format_err!("--kubeconfig {}: {err}", path.display()))?;
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text)
        .map_err(|err| anyhow::format_err!("--kubeconfig {}: not YAML: {err}", path.display()))?;
    if yaml.get("clusters").is_none() {
        return Err(anyhow::format_err!(
            "--kubeconfig {}: no `clusters` in it",
            path.display()
        ));
    }
    // The suite runs in another working directory: give it an absolute path.
    Ok(std::path::absolute(path)?)
}
