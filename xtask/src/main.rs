//! Developer tasks that need no Nix: `nix-fmt` formats (or, with `--check`,
//! checks) every git-tracked `.nix` file with the `alejandra` library, the
//! same formatter the flake exposes as `formatter` (`nix fmt`), so CI
//! machines without Nix still hold the Nix code to one format.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use alejandra::format::Status;

const USAGE: &str = "usage: cargo run -p xtask -- nix-fmt [--check]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["nix-fmt"] => false,
        ["nix-fmt", "--check"] => true,
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match nix_fmt(check) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Formats or checks every tracked `.nix` file; fails when a file does not
/// parse or, in check mode, would change.
fn nix_fmt(check: bool) -> Result<ExitCode, String> {
    let root = repo_root()?;
    let files = tracked_nix_files(&root)?;
    if files.is_empty() {
        return Err("no git-tracked .nix files found".into());
    }
    let mut bad = 0usize;
    for rel in &files {
        if !format_one(&root, rel, check)? {
            bad += 1;
        }
    }
    let verb = if check { "checked" } else { "formatted" };
    if bad > 0 {
        let what = if check { "need formatting" } else { "failed" };
        eprintln!("{bad} of {} .nix files {what}", files.len());
        if check {
            eprintln!("run: cargo run -p xtask -- nix-fmt");
        }
        return Ok(ExitCode::FAILURE);
    }
    println!("nix-fmt: {verb} {} .nix files with alejandra", files.len());
    Ok(ExitCode::SUCCESS)
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

fn repo_root() -> Result<PathBuf, String> {
    let out = git(Path::new("."), &["rev-parse", "--show-toplevel"])?;
    Ok(PathBuf::from(out.trim_end()))
}

fn tracked_nix_files(root: &Path) -> Result<Vec<PathBuf>, String> {
    let out = git(root, &["ls-files", "-z", "--", "*.nix"])?;
    Ok(out
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .filter(|p| root.join(p).is_file())
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
