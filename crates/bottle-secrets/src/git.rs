//! Scanning git history: added lines of each commit plus commit messages.

use crate::{Finding, Scanner};
use std::path::Path;

/// Errors running git.
#[derive(Debug, thiserror::Error)]
#[error("git {args}: {message}")]
pub struct GitScanError {
    /// The git arguments.
    pub args: String,
    /// Why it failed.
    pub message: String,
}

/// Scan the commits selected by `revs` (passed to `git log`, e.g.
/// `["<new-sha>", "--not", "--all"]` or `["main..feature"]`) in the repository
/// at `repo` (bare or not): the added lines of every commit and every commit
/// message. Findings carry commit, path and line.
pub fn scan_revs(repo: &Path, revs: &[&str], scanner: &Scanner) -> Result<Vec<Finding>, GitScanError> {
    let _ = (repo, revs, scanner);
    Err(GitScanError {
        args: revs.join(" "),
        message: "history scanning is not implemented yet".into(),
    })
}
