# shellcheck shell=bash
# `srelab lab --check` as checks.lab runs it in the Nix build sandbox, with
# `srelab` and `promtool` on PATH and SRELAB_PROMETHEUS naming Prometheus;
# scripts/sandbox-twin.sh runs this same file in its sandbox. No node
# exporter (the sandbox has no /sys) and no Grafana (the VM test has it).
set -eu
cd "$TMPDIR"
export HOME="$TMPDIR"
srelab lab --check --no-node-exporter --no-grafana
