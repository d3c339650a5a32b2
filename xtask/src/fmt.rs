//! `nix-fmt`: alejandra over every tracked `.nix` file.

use std::path::Path;

use alejandra::format::Status;

use crate::git;

/// Formats, or with `check` only checks, every tracked `.nix` file; fails
/// when a file does not parse or, in check mode, would change.
pub fn run(check: bool) -> Result<(), String> {
    let root = git::root()?;
    let files = git::tracked(&root, "*.nix")?;
    if files.is_empty() {
        return Err("no git-tracked .nix files found".into());
    }
    let mut bad = 0usize;
    for rel in &files {
        if !format_one(&root, rel, check)? {
            bad += 1;
        }
    }
    if bad > 0 {
        let hint = if check {
            "; run: cargo run -p xtask -- nix-fmt"
        } else {
            ""
        };
        return Err(format!(
            "{bad} of {} .nix files do not parse or are not formatted{hint}",
            files.len()
        ));
    }
    let verb = if check { "checked" } else { "formatted" };
    println!("nix-fmt: {verb} {} .nix files with alejandra", files.len());
    Ok(())
}

/// Returns false when the file does not parse, or needs formatting in check mode.
fn format_one(root: &Path, rel: &Path, check: bool) -> Result<bool, String> {
    let path = root.join(rel);
    let before =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", rel.display()))?;
    let (status, after) = alejandra::format::in_memory(rel.display().to_string(), before);
    match status {
        Status::Error(reason) => {
            eprintln!("{}: does not parse: {reason}", rel.display());
            Ok(false)
        }
        Status::Changed(false) => Ok(true),
        Status::Changed(true) if check => {
            eprintln!("{}: not formatted", rel.display());
            Ok(false)
        }
        Status::Changed(true) => {
            std::fs::write(&path, after).map_err(|e| format!("writing {}: {e}", rel.display()))?;
            println!("formatted {}", rel.display());
            Ok(true)
        }
    }
}
