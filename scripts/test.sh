#!/usr/bin/env bash
# The native test path: installs on a Debian machine what the tests need,
# then runs every check. `.ci/run` calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: promtool/prometheus for the metric and lab tests,
# node exporter for the lab, Alertmanager (with amtool) for the alert
# delivery tests and the drill, PostgreSQL (initdb/postgres under
# /usr/lib/postgresql/VERSION/bin; the tests start their own clusters, never
# the system service) and its exporter for the PostgreSQL backend, nix-bin
# to parse the .nix files, chromium for the HTML report tests (headless),
# wrk and sqlite3 for the benchmark script.
packages=(prometheus prometheus-node-exporter prometheus-alertmanager postgresql prometheus-postgres-exporter nix-bin chromium wrk sqlite3)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  bash scripts/apt-install.sh "${packages[@]}"
fi

for tool in promtool prometheus; do
  command -v "$tool" >/dev/null || {
    echo "error: $tool not found; install Debian's prometheus package (or use nix develop)" >&2
    exit 1
  }
done
command -v amtool >/dev/null || {
  echo "error: amtool not found; install Debian's prometheus-alertmanager package (or use nix develop)" >&2
  exit 1
}

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "==> cargo test"
cargo test --locked
echo "==> Nix checks"
bash scripts/check-nix.sh
