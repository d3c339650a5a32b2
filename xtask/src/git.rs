//! The few git queries the tasks need: the work tree's root and what it
//! tracks.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The root of the work tree the command runs in.
pub fn root() -> Result<PathBuf, String> {
    let out = git(Path::new("."), &["rev-parse", "--show-toplevel"])?;
    Ok(PathBuf::from(out.trim_end()))
}

/// Tracked files (also `git add -N`ed ones) matching `pathspec`, relative to
/// `root`, that exist in the work tree.
pub fn tracked(root: &Path, pathspec: &str) -> Result<Vec<PathBuf>, String> {
    let out = git(root, &["ls-files", "-z", "--", pathspec])?;
    Ok(out
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .filter(|p| root.join(p).exists())
        .collect())
}

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("running git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("git output is not UTF-8: {e}"))
}
