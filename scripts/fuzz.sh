#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets/) under libFuzzer for a bounded
# time each, then prints executions per second and the time fuzzed.
#
#   scripts/fuzz.sh [SECONDS] [TARGET…]     (default: 60 s, every target)
#
# cargo-fuzz on the stable toolchain: RUSTC_BOOTSTRAP=1 lets it use the
# nightly-only flags it passes, `--sanitizer none` leaves AddressSanitizer
# out (safe Rust; keeps the speed). cargo-fuzz is installed from crates.io
# when missing. New inputs go to fuzz/work/TARGET (ignored by git); the
# committed seeds in fuzz/corpus/TARGET are only read. A crash leaves its
# input in fuzz/artifacts/TARGET/: add it to the seed corpus (the
# regression test, tests/fuzz_corpus.rs) before fixing it.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(http1_response request verify_spec prom_answer verify_rules)
fi
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
command -v c++ >/dev/null || {
  echo "error: libFuzzer is built from C++: install a C++ compiler (Debian: g++)" >&2
  exit 1
}

export RUSTC_BOOTSTRAP=1
# Build first, so the time per target below is time fuzzed.
cargo fuzz build --sanitizer none
summary=()
for target in "${targets[@]}"; do
  mkdir -p "fuzz/work/$target"
  log="fuzz/work/$target.log"
  echo "==> $target for ${seconds}s"
  status=0
  start=$(date +%s)
  cargo fuzz run --sanitizer none "$target" "fuzz/work/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1 || status=$?
  took=$(($(date +%s) - start))
  grep -E -A2 '^(#[0-9]+ +DONE|==[0-9]+== ERROR|SUMMARY|stat::)|panicked at' "$log" || true
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  secs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  summary+=("$target: ${runs:-?} executions in ${took}s, ${secs:-?} exec/s, exit $status")
  if [ "$status" != 0 ]; then
    echo "error: $target failed; its input is in fuzz/artifacts/$target/" >&2
  fi
done
echo "==> summary"
printf '%s\n' "${summary[@]}"
! printf '%s\n' "${summary[@]}" | grep -qv 'exit 0$'
