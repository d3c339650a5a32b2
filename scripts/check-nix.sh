#!/usr/bin/env bash
# The Nix checks that need no nixpkgs (nobody here can evaluate the flake):
#   1. every tracked .nix file parses (nix-instantiate --parse, Debian nix-bin);
#   2. alejandra formatting, through the xtask's alejandra library crate;
#   3. deadnix (crates.io, pinned) reports nothing;
#   4. flake.lock is lock version 7 with the checked nixpkgs pin, matching flake.nix;
#   5. every path the .nix files read is tracked by git (flakes see nothing else);
#   6. the evaluation harness ../shared/nix-eval (when that folder exists):
#      every flake output for every system and every NixOS test node evaluates
#      against a stand-in nixpkgs;
# and lints and tests the xtask that does 2, 4 and 5.
# The test that nixos-modules/defaults.nix agrees with src/lab/defaults.rs is
# tests/nix_defaults.rs, run by `cargo test`. scripts/test.sh calls this script.
set -euo pipefail
cd "$(dirname "$0")/.."

DEADNIX_VERSION=1.3.1

command -v nix-instantiate >/dev/null || {
  echo "error: nix-instantiate not found; install Debian's nix-bin package" >&2
  exit 1
}

mapfile -d '' nix_files < <(git ls-files -z -- '*.nix')
if [ ${#nix_files[@]} -eq 0 ]; then
  echo "error: no git-tracked .nix files" >&2
  exit 1
fi

echo "==> nix-instantiate --parse (${#nix_files[@]} files)"
for f in "${nix_files[@]}"; do
  nix-instantiate --parse "$f" >/dev/null || {
    echo "error: $f does not parse" >&2
    exit 1
  }
done

# `cargo clippy`/`cargo test` in the root cover the root package only.
echo "==> xtask: clippy and tests"
cargo clippy --quiet --locked -p xtask --all-targets -- -D warnings
cargo test --quiet --locked -p xtask

echo "==> alejandra (xtask nix-fmt --check)"
cargo run --quiet --locked -p xtask -- nix-fmt --check

echo "==> deadnix $DEADNIX_VERSION"
if [ "$(deadnix --version 2>/dev/null)" != "deadnix $DEADNIX_VERSION" ]; then
  cargo install --quiet --locked deadnix --version "$DEADNIX_VERSION"
fi
deadnix --fail "${nix_files[@]}"

echo "==> flake.lock"
cargo run --quiet --locked -p xtask -- flake-lock

echo "==> paths the flake reads are tracked"
cargo run --quiet --locked -p xtask -- flake-paths

echo "==> nix-eval harness"
harness=../shared/nix-eval/check
if [ -x "$harness" ]; then
  "$harness" .
else
  echo "nix-eval: $harness not found here; the flake's evaluation is not checked"
fi
