#!/usr/bin/env bash
# Mutation testing of the files that carry srelab's claims: cargo-mutants
# breaks the code one small change at a time and runs the tests that cover
# it; a mutant no test notices ("missed") is a claim nothing defends.
# Not run in CI: hours on two cores (each mutant is a rebuild).
#
# Usage: scripts/mutants.sh [GROUP...]   (default: store load verify)
#   store   src/serve/store/*.rs          the SQLite store, group commit, turnstile
#   load    src/load/{suite,schedule,gates}.rs   open model, schedule, SLO gates
#   verify  src/verify/check.rs           the checks of srelab verify
# Environment: MUTANTS_OUT (default target/mutants) holds GROUP/mutants.out;
# MUTANTS_ARGS adds cargo-mutants options (e.g. "--shard 1/4", "-F schedule").
# Needs cargo-mutants (`cargo install --locked cargo-mutants`) and what the
# tests need (promtool and prometheus on PATH, as scripts/test.sh installs).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-mutants >/dev/null || {
  echo "error: cargo-mutants not found: cargo install --locked cargo-mutants" >&2
  exit 1
}
out=${MUTANTS_OUT:-target/mutants}
read -r -a extra <<<"${MUTANTS_ARGS:-}"

# Each group: the files to mutate, then (after --) the tests that cover them.
group() {
  case $1 in
  store) echo "src/serve/store/*.rs -- --lib --test serve_api --test serve_shared_db \
--test serve_group_commit --test serve_durability --test serve_lifecycle \
--test serve_abandoned --test serve_metrics" ;;
  load) echo "src/load/suite.rs src/load/schedule.rs src/load/gates.rs -- \
--lib --test load_cli --test load_serve" ;;
  verify) echo "src/verify/check.rs -- --lib --test verify_prometheus" ;;
  *)
    echo "usage: scripts/mutants.sh [store|load|verify]..." >&2
    exit 2
    ;;
  esac
}

# Per file: caught, missed, timeout and unviable mutants of one run.
summary() {
  local dir=$1/mutants.out
  for outcome in caught missed timeout unviable; do
    [ -f "$dir/$outcome.txt" ] || continue
    cut -d: -f1 "$dir/$outcome.txt" | sed "s/\$/ $outcome/"
  done | sort | uniq -c | awk '
    { n[$2, $3] = $1; files[$2] = 1 }
    END {
      printf "%-32s %7s %7s %7s %9s\n", "file", "caught", "missed", "timeout", "unviable"
      for (f in files)
        printf "%-32s %7d %7d %7d %9d\n", f, n[f, "caught"], n[f, "missed"], n[f, "timeout"], n[f, "unviable"]
    }'
}

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(store load verify)
for name in "${groups[@]}"; do
  spec=$(group "$name")
  read -r -a files <<<"${spec%% -- *}"
  read -r -a tests <<<"${spec#* -- }"
  file_args=()
  for f in "${files[@]}"; do file_args+=(-f "$f"); done
  echo "==> $name: cargo mutants ${file_args[*]} -- ${tests[*]}"
  mkdir -p "$out/$name"
  status=0
  cargo mutants --no-shuffle "${file_args[@]}" -o "$out/$name" \
    --minimum-test-timeout 60 "${extra[@]}" -- "${tests[@]}" || status=$?
  # 2: some mutants missed, 3: some timed out; anything else is a failure
  # of the run itself (1: usage, 4: the unmutated tree fails its tests).
  case $status in
  0 | 2 | 3) summary "$out/$name" ;;
  *)
    echo "error: cargo mutants exited $status for $name; see $out/$name/mutants.out/debug.log" >&2
    exit 1
    ;;
  esac
done
