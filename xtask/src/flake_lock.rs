//! `flake-lock`: the hand-written `flake.lock` must be exactly what Nix
//! would accept without re-locking: lock version 7, one `nixpkgs` input of
//! type github with the checked pin (see the shared nix-facts notes), and an
//! `original` that matches the URL in `flake.nix` character for character.

use serde_json::{Value, json};

use crate::git;

const OWNER: &str = "NixOS";
const REPO: &str = "nixpkgs";
const REF: &str = "nixos-26.05";
const REV: &str = "b18a4b905f8d028dc4476412e6d6891728695379";
const NAR_HASH: &str = "sha256-gwrPcFf/rDjHPaVflbDZ040ZDmBTRj/7+s8ZmE2SaIM=";
const LAST_MODIFIED: u64 = 1_787_101_114;

pub fn run() -> Result<(), String> {
    let root = git::root()?;
    let read = |name: &str| {
        std::fs::read_to_string(root.join(name)).map_err(|e| format!("reading {name}: {e}"))
    };
    let lock: Value =
        serde_json::from_str(&read("flake.lock")?).map_err(|e| format!("flake.lock: {e}"))?;
    check_lock(&lock)?;
    let url = format!("\"github:{OWNER}/{REPO}/{REF}\"");
    if !read("flake.nix")?.contains(&format!("inputs.nixpkgs.url = {url};")) {
        return Err(format!(
            "flake.nix must say `inputs.nixpkgs.url = {url};` to match flake.lock"
        ));
    }
    println!("flake-lock: version 7, nixpkgs {REF} at {REV}");
    Ok(())
}

fn check_lock(lock: &Value) -> Result<(), String> {
    let expected = json!({
        "nodes": {
            "nixpkgs": {
                "locked": {
                    "lastModified": LAST_MODIFIED,
                    "narHash": NAR_HASH,
                    "owner": OWNER,
                    "repo": REPO,
                    "rev": REV,
                    "type": "github"
                },
                "original": {
                    "owner": OWNER,
                    "ref": REF,
                    "repo": REPO,
                    "type": "github"
                }
            },
            "root": { "inputs": { "nixpkgs": "nixpkgs" } }
        },
        "root": "root",
        "version": 7
    });
    if lock == &expected {
        return Ok(());
    }
    Err(format!(
        "flake.lock differs from the checked pin; expected:\n{}",
        serde_json::to_string_pretty(&expected).unwrap_or_default()
    ))
}
