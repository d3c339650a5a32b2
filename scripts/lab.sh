#!/usr/bin/env bash
# The lab on Debian in one command: installs Prometheus and the node exporter
# when missing (as root; otherwise it names the packages), builds srelab, and
# runs `srelab lab --load 60s`: two instances, Prometheus, node exporter, and
# a minute of load, then the lab runs until Ctrl-C. Arguments replace
# `--load 60s` and go to `srelab lab` (e.g. `scripts/lab.sh --check`, or
# `scripts/lab.sh --load 5m -- -r 200`).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v apt-get >/dev/null && bash scripts/apt-install.sh prometheus prometheus-node-exporter
command -v cargo >/dev/null || {
  echo "error: cargo not found; install Rust 1.88 or newer (https://rustup.rs)" >&2
  exit 1
}
echo "==> cargo build --release (the first build takes a few minutes)"
cargo build --release --locked

# Debian's packages start system services on the lab's default ports (9090,
# 9100) where systemd runs them: the lab then takes the next free port.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
next_free() {
  local port=$1
  while listening "$port"; do port=$((port + 1)); done
  echo "$port"
}
ports=()
for flag_port in prometheus-port=9090 node-exporter-port=9100; do
  flag=${flag_port%=*} port=${flag_port#*=}
  if listening "$port"; then
    free=$(next_free "$port")
    echo "notice: port $port is taken (Debian's service?); the lab's ${flag%-port} uses $free"
    ports+=("--$flag" "$free")
  fi
done

[ $# -gt 0 ] || set -- --load 60s
exec target/release/srelab lab "${ports[@]}" "$@"
