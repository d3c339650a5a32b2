//! Developer tasks for the Nix side that need no Nix, so CI machines without
//! it still check the flake:
//!
//! - `nix-fmt [--check]` ([`fmt`]): formats, or checks, every git-tracked
//!   `.nix` file with the `alejandra` library, the formatter the flake
//!   exposes as `formatter` (`nix fmt`).
//! - `flake-lock` ([`flake_lock`]): `flake.lock` is lock version 7 with the
//!   checked nixpkgs pin, and its `original` matches `flake.nix`'s URL.
//! - `flake-paths` ([`flake_paths`]): every path literal in a tracked `.nix`
//!   file names something git tracks (flakes see only tracked files).

mod flake_lock;
mod flake_paths;
mod fmt;
mod git;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo run -p xtask -- nix-fmt [--check] | flake-lock | flake-paths";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["nix-fmt"] => fmt::run(false),
        ["nix-fmt", "--check"] => fmt::run(true),
        ["flake-lock"] => flake_lock::run(),
        ["flake-paths"] => flake_paths::run(),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
