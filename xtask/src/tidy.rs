//! Repository-wide rules checked by `cargo test`, so a laptop and CI give the same answer (the
//! rust-analyzer idea of tidy-as-a-test): every Rust file says what it is for in a `//!` module
//! doc, no committed file contains anything that looks like a JWT, and nothing cites a document
//! outside the repository (the spec and findings code cites live in `docs/`).
//!
//! A token in the repository is a credential someone may have copied from a real cluster, and
//! grepping a diff for them is how leaks are found; so test tokens are built at run time. The two
//! exceptions are explicit: fuzz seeds (`fuzz/corpus/`, inputs that must be whole tokens, signed by
//! keys made for the corpus) and a line that says `tidy:allow-jwt` (a synthetic token whose literal
//! form is the point of the test, e.g. a redaction test).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Files git tracks or would track (untracked but not ignored), so `target/` and other ignored
/// output are never scanned.
fn repository_files(root: &Path) -> Vec<PathBuf> {
    let output = Command::new("git")
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .current_dir(root)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git ls-files failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(|p| root.join(p))
        .filter(|p| p.is_file())
        .collect()
}

/// Generated code carries no hand-written module doc.
fn is_generated(path: &Path, text: &str) -> bool {
    path.components().any(|c| c.as_os_str() == "generated")
        || text
            .lines()
            .take(3)
            .any(|l| l.contains("@generated") || l.contains("DO NOT EDIT"))
}

#[test]
fn every_rust_file_starts_with_a_module_doc() {
    let root = crate::project_root();
    let mut missing = Vec::new();
    for path in repository_files(&root) {
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if is_generated(&path, &text) {
            continue;
        }
        if !text.starts_with("//!") {
            missing.push(path.strip_prefix(&root).unwrap_or(&path).display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "these files do not start with a `//!` module doc saying what they are for:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn no_file_contains_a_jwt() {
    let root = crate::project_root();
    let mut found = Vec::new();
    for path in repository_files(&root) {
        let relative = path.strip_prefix(&root).unwrap_or(&path);
        if relative.starts_with("fuzz/corpus") {
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let text = String::from_utf8_lossy(&bytes);
        for (idx, line) in text.lines().enumerate() {
            if tokenrequest_types::token::find_jwt(line, 0).is_some() && !line.contains("tidy:allow-jwt") {
                found.push(format!("{}:{}", relative.display(), idx + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "JWT-looking strings are committed (build test tokens at run time, or mark a synthetic one `tidy:allow-jwt`):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn nothing_cites_documents_outside_the_repository() {
    let root = crate::project_root();
    // Built at run time, so this file does not match its own patterns.
    let outside = [
        ["..", "/shared"].concat(),
        ["shared/", "SPEC.md"].concat(),
        ["-REQUESTS", ".md"].concat(),
    ];
    let mut found = Vec::new();
    for path in repository_files(&root) {
        let relative = path.strip_prefix(&root).unwrap_or(&path);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for (idx, line) in text.lines().enumerate() {
            if outside.iter().any(|pattern| line.contains(pattern.as_str())) {
                found.push(format!("{}:{}", relative.display(), idx + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "these lines cite a document outside the repository (cite docs/ instead):\n  {}",
        found.join("\n  ")
    );
}
