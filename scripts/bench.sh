#!/usr/bin/env bash
# Benchmark of `srelab serve` against a bare hyper hello-world (the ceiling),
# with wrk, on 127.0.0.1 only. Prints requests/s, p50, p99 and peak RSS per
# run and the ratios to the ceiling; asserts nothing.
#
#   scripts/bench.sh                    # defaults: best of 3 runs of 3 s, 16 and 64 connections
#   BENCH_DURATION=10s BENCH_REPEAT=1 BENCH_CONNS="8 32 128" scripts/bench.sh
#
# Runs: the ceiling; then, with instrumentation on and off (hidden flag
# --no-metrics; host sampling is off in both): POST /api/items on two
# instances sharing one SQLite file (synchronous=FULL, one wrk per instance,
# half the connections each), GET /api/items/{id} (random ids among the rows
# the POST runs stored) and GET /api/items.
# wrk and the servers share the machine's cores.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-3s}
# Each measurement is repeated and the run with the most requests/s kept:
# the machine is shared, and a neighbour's burst only ever slows a run down.
REPEAT=${BENCH_REPEAT:-3}
CONNS=${BENCH_CONNS:-16 64}
for tool in wrk sqlite3 cargo; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found (apt-get install wrk sqlite3)" >&2; exit 1; }
done

echo "==> cargo build --release (srelab, examples/bare_hyper)" >&2
cargo build --release --quiet --bin srelab --example bare_hyper
BIN=target/release/srelab
BARE=target/release/examples/bare_hyper

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/get_id.lua" <<'LUA'
local ids = tonumber(os.getenv("BENCH_IDS"))
math.randomseed(7)
request = function()
  return wrk.format("GET", "/api/items/" .. math.random(1, ids))
end
LUA
cat >"$WORK/post.lua" <<'LUA'
local tag = os.getenv("BENCH_TAG")
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + 1
  return wrk.format(nil, nil, nil, '{"name":"bench-' .. tag .. '-' .. i .. '","value":' .. i .. '}')
end
LUA

# start NAME CMD... : runs CMD in the background, waits for its startup
# line; sets START_PID and START_ADDR.
start() {
  local name=$1; shift
  "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  START_PID=$!
  PIDS+=("$START_PID")
  for _ in $(seq 200); do
    if grep -q '^listening on http://' "$WORK/$name.out" 2>/dev/null; then
      START_ADDR=$(sed -n 's|^listening on http://||p' "$WORK/$name.out" | head -1)
      return
    fi
    kill -0 "$START_PID" 2>/dev/null || { cat "$WORK/$name.err" >&2; exit 1; }
    sleep 0.05
  done
  echo "error: $name printed no startup line" >&2; exit 1
}

stop() { kill -TERM "$@" 2>/dev/null || true; for pid in "$@"; do wait "$pid" 2>/dev/null || true; done; }

hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# to_ms "123.45us" -> milliseconds
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000;
    printf "%.3f", n }'
}

# wrk_run OUT URL CONNS THREADS [SCRIPT] : runs wrk REPEAT times, keeps
# the output of the fastest run in OUT
wrk_run() {
  local out=$1 url=$2 conns=$3 threads=$4 script=${5:-}
  local args=(-t"$threads" -c"$conns" -d"$DURATION" --latency)
  [ -n "$script" ] && args+=(-s "$script")
  local best=-1 rps
  for _ in $(seq "$REPEAT"); do
    wrk "${args[@]}" "$url" >"$out.try" 2>&1
    rps=$(rps_of "$out.try")
    if awk -v a="${rps:-0}" -v b="$best" 'BEGIN {exit !(a > b)}'; then
      best=${rps:-0}
      mv "$out.try" "$out"
    fi
  done
}
rps_of() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
pct_of() { to_ms "$(awk -v p="$2%" '$1 == p {print $2}' "$1")"; }
errors_of() {
  awk '/Non-2xx or 3xx responses:/ {e += $NF} /Socket errors:/ {gsub(",", ""); e += $4 + $6 + $8 + $10} END {print e + 0}' "$1"
}

RESULTS="$WORK/results.tsv"
# record TARGET ENDPOINT MODE CONNS RPS P50 P99 RSS_KIB ERRORS
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }

threads_for() { if [ "$1" -ge 2 ]; then echo 2; else echo 1; fi; }

echo "==> ceiling: bare hyper" >&2
start bare "$BARE" 127.0.0.1:0
for c in $CONNS; do
  wrk_run "$WORK/w.txt" "http://$START_ADDR/" "$c" "$(threads_for "$c")"
  record bare_hyper "GET /" - "$c" "$(rps_of "$WORK/w.txt")" "$(pct_of "$WORK/w.txt" 50)" \
    "$(pct_of "$WORK/w.txt" 99)" "$(hwm_kib "$START_PID")" "$(errors_of "$WORK/w.txt")"
done
stop "$START_PID"

# Instances with instrumentation on and off run side by side (idle while the
# other is measured), and each measurement runs on then off back to back, so
# background noise on the machine hits both alike.
declare -A A_PID A_ADDR B_PID B_ADDR
for mode in on off; do
  flags=(--no-host-metrics)
  [ "$mode" = off ] && flags+=(--no-metrics)
  db="$WORK/bench-$mode.db"
  start "a-$mode" "$BIN" serve --listen 127.0.0.1:0 --db "$db" "${flags[@]}"
  A_PID[$mode]=$START_PID A_ADDR[$mode]=$START_ADDR
  start "b-$mode" "$BIN" serve --listen 127.0.0.1:0 --db "$db" "${flags[@]}"
  B_PID[$mode]=$START_PID B_ADDR[$mode]=$START_ADDR
done

max() { awk -v x="$1" -v y="$2" 'BEGIN {print (x > y ? x : y)}'; }

echo "==> srelab: POST /api/items, two instances on one file" >&2
for c in $CONNS; do
  half=$(( (c + 1) / 2 ))
  for mode in on off; do
    BENCH_TAG="a$mode$c" wrk_run "$WORK/pa.txt" "http://${A_ADDR[$mode]}/api/items" "$half" 1 "$WORK/post.lua" &
    wa=$!
    BENCH_TAG="b$mode$c" wrk_run "$WORK/pb.txt" "http://${B_ADDR[$mode]}/api/items" "$half" 1 "$WORK/post.lua" &
    wb=$!
    wait "$wa" "$wb"
    rps=$(awk -v x="$(rps_of "$WORK/pa.txt")" -v y="$(rps_of "$WORK/pb.txt")" 'BEGIN {printf "%.2f", x + y}')
    p50=$(max "$(pct_of "$WORK/pa.txt" 50)" "$(pct_of "$WORK/pb.txt" 50)")
    p99=$(max "$(pct_of "$WORK/pa.txt" 99)" "$(pct_of "$WORK/pb.txt" 99)")
    rss=$(max "$(hwm_kib "${A_PID[$mode]}")" "$(hwm_kib "${B_PID[$mode]}")")
    errs=$(( $(errors_of "$WORK/pa.txt") + $(errors_of "$WORK/pb.txt") ))
    record srelab "POST /api/items (2 inst.)" "$mode" "$c" "$rps" "$p50" "$p99" "$rss" "$errs"
  done
done
busy=$(curl -s "http://${A_ADDR[on]}/metrics" 2>/dev/null | awk '/^srelab_db_busy_retries_total/ {print $2}' || true)
echo "    srelab_db_busy_retries_total of one instance: ${busy:-?}" >&2
stop "${B_PID[on]}" "${B_PID[off]}"

# Ids both databases have, so no GET is a 404.
ids=$(( $(sqlite3 "$WORK/bench-on.db" 'SELECT max(id) FROM items') ))
ids_off=$(( $(sqlite3 "$WORK/bench-off.db" 'SELECT max(id) FROM items') ))
[ "$ids_off" -lt "$ids" ] && ids=$ids_off
for endpoint in "GET /api/items/{id}" "GET /api/items"; do
  echo "==> srelab: $endpoint ($ids rows)" >&2
  for c in $CONNS; do
    for mode in on off; do
      addr=${A_ADDR[$mode]}
      if [ "$endpoint" = "GET /api/items" ]; then
        wrk_run "$WORK/w.txt" "http://$addr/api/items" "$c" "$(threads_for "$c")"
      else
        BENCH_IDS=$ids wrk_run "$WORK/w.txt" "http://$addr/" "$c" "$(threads_for "$c")" "$WORK/get_id.lua"
      fi
      record srelab "$endpoint" "$mode" "$c" "$(rps_of "$WORK/w.txt")" "$(pct_of "$WORK/w.txt" 50)" \
        "$(pct_of "$WORK/w.txt" 99)" "$(hwm_kib "${A_PID[$mode]}")" "$(errors_of "$WORK/w.txt")"
    done
  done
done
stop "${A_PID[on]}" "${A_PID[off]}"

echo
echo "srelab bench: wrk, best of $REPEAT runs of $DURATION, $(nproc) cores shared by wrk and the servers"
echo "(POST: two instances on one SQLite file, synchronous=FULL, summed req/s, worse p50/p99 of the two;"
echo " ceiling = bare hyper at the same connection count; RSS = VmHWM of the instance, cumulative)"
echo "targets: GET by id >= 50% of the ceiling, durable POST (2 instances) >= 25%, instrumentation < 5%, RSS < 30 MiB"
echo
awk -F'\t' '
  $1 == "bare_hyper" { ceil[$4] = $5 }
  { rows[NR] = $0 }
  $1 == "srelab" { key = $2 SUBSEP $4; if ($3 == "on") on[key] = $5; else off[key] = $5 }
  END {
    printf "%-26s %-5s %5s %10s %9s %9s %8s %8s %7s\n", "endpoint", "instr", "conns", "req/s", "p50 ms", "p99 ms", "RSS MiB", "ceiling", "errors"
    for (i = 1; i <= NR; i++) {
      split(rows[i], f, "\t")
      ratio = (f[4] in ceil && ceil[f[4]] > 0) ? sprintf("%.1f%%", 100 * f[5] / ceil[f[4]]) : "-"
      printf "%-26s %-5s %5s %10.0f %9.3f %9.3f %8.1f %8s %7s\n", f[2], f[3], f[4], f[5], f[6], f[7], f[8] / 1024, ratio, f[9]
    }
    print ""
    print "instrumentation overhead (req/s lost with metrics on, vs off; negative = on was faster):"
    for (i = 1; i <= NR; i++) {
      split(rows[i], f, "\t")
      k = f[2] SUBSEP f[4]
      if (f[1] == "srelab" && f[3] == "on" && off[k] > 0)
        printf "  %-26s c=%-4s %+.1f%%\n", f[2], f[4], 100 * (off[k] - on[k]) / off[k]
    }
  }' "$RESULTS"
