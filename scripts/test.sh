#!/usr/bin/env bash
# The native test path: installs on a Debian machine what the tests need,
# then runs every check. `.ci/run` calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: promtool/prometheus for the metric and lab tests,
# node exporter for the lab, PostgreSQL (initdb/postgres under
# /usr/lib/postgresql/VERSION/bin; the tests start their own clusters, never
# the system service) and its exporter for the PostgreSQL backend, nix-bin
# to parse the .nix files, chromium for the HTML report tests (headless),
# wrk and sqlite3 for the benchmark script.
packages=(prometheus prometheus-node-exporter postgresql prometheus-postgres-exporter nix-bin chromium wrk sqlite3)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  bash scripts/apt-install.sh "${packages[@]}"
fi

# Grafana's LogQL grammar for tests/logql_syntax.rs, from the npm registry
# with the machine's Node.js (Debian's nodejs and npm where there is none).
if ! command -v npm >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  bash scripts/apt-install.sh nodejs npm
fi
npm ci --prefix tests/logql --no-audit --no-fund --loglevel=error

for tool in promtool prometheus; do
  command -v "$tool" >/dev/null || {
    echo "error: $tool not found; install Debian's prometheus package (or use nix develop)" >&2
    exit 1
  }
done

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "==> cargo test"
cargo test --locked
echo "==> Nix checks"
bash scripts/check-nix.sh
