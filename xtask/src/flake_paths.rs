//! `flake-paths`: a flake sees only the files git tracks, so every path
//! literal (`./x`, `../x`) in a tracked `.nix` file must name a tracked file
//! or a directory holding tracked files. Comments are skipped.

use std::path::{Component, Path, PathBuf};

use crate::git;

pub fn run() -> Result<(), String> {
    let root = git::root()?;
    let files = git::tracked(&root, "*.nix")?;
    let mut missing = Vec::new();
    let mut count = 0usize;
    for rel in &files {
        let text = std::fs::read_to_string(root.join(rel))
            .map_err(|e| format!("reading {}: {e}", rel.display()))?;
        let dir = rel.parent().unwrap_or(Path::new(""));
        for literal in path_literals(&text) {
            count += 1;
            let target = normalize(&dir.join(&literal));
            let spec = if target.as_os_str().is_empty() {
                ".".to_owned()
            } else {
                target.display().to_string()
            };
            if git::tracked(&root, &spec)?.is_empty() {
                missing.push(format!("{}: {literal} -> {spec}", rel.display()));
            }
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "paths the flake reads that git does not track:\n  {}",
            missing.join("\n  ")
        ));
    }
    println!(
        "flake-paths: {count} path literals in {} files, all tracked",
        files.len()
    );
    Ok(())
}

/// Path literals of a Nix text: `./` or `../` starting a token, outside
/// `#` comments and not the argument of `maybeMissing`.
fn path_literals(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let code = strip_comment(line);
        let bytes = code.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let starts = code[i..].starts_with("./") || code[i..].starts_with("../");
            let boundary = i == 0 || !is_path_char(bytes[i - 1]);
            if starts && boundary {
                let end = code[i..]
                    .find(|c: char| !c.is_ascii() || !is_path_char(c as u8))
                    .map_or(code.len(), |n| i + n);
                // `lib.fileset.maybeMissing ../x` may name what is absent.
                if !code[..i].trim_end().ends_with("maybeMissing") {
                    found.push(code[i..end].to_owned());
                }
                i = end;
            } else {
                i += 1;
            }
        }
    }
    found
}

fn is_path_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+' | b'/')
}

/// The line up to a `#` that starts a comment (at the start or after
/// whitespace).
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

/// Resolves `.` and `..` without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_path_literals_outside_comments() {
        let text = "src = ../src; # see ./ignored\n  (fs.maybeMissing ../tests)\n  x = \"${../grafana/dashboards}\";\n  r = ../.;\n  u = \"http://a/b\";";
        assert_eq!(
            path_literals(text),
            ["../src", "../grafana/dashboards", "../."]
        );
    }

    #[test]
    fn normalizes_parent_components() {
        assert_eq!(
            normalize(Path::new("nix/../spec/signals.toml")),
            PathBuf::from("spec/signals.toml")
        );
        assert_eq!(normalize(Path::new("nix/..")), PathBuf::new());
    }
}
