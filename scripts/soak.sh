#!/usr/bin/env bash
# Soak run: two `srelab serve` instances on one SQLite file under open-model
# load (`srelab load -r`) at a fixed fraction of their measured capacity,
# sampled every few seconds; then the first and the last minute after
# warm-up side by side, the slopes, and a verdict. 127.0.0.1 only.
#
#   scripts/soak.sh [DURATION]          # default 10m; e.g. 30s, 10m, 1h
#
# Sampled per instance: RSS (/proc/PID/status VmRSS), open descriptors
# (/proc/PID/fd), threads; the WAL file's size; the servers' p99 over the
# API routes (http_request_duration_seconds of both instances, summed and
# interpolated within buckets as Prometheus' histogram_quantile does).
# Targets (the verdict): RSS and open descriptors each grow under 5% from
# the first to the last minute after warm-up; the WAL's largest size in the
# last minute is at most 16 MiB (4 × SQLite's auto-checkpoint threshold of
# 1000 pages of 4 KiB); the last minute's p99 is at most twice the first's
# (the histogram's buckets are a factor 2 to 2.5 apart).
# Windows: the warm-up and each compared window are a minute long for runs
# of 6 minutes or more, a sixth and a quarter of the run when shorter.
#
# Environment:
#   SRELAB             the binary (default: target/release/srelab, built with cargo)
#   SOAK_RATE          requests/s to run at; unset: a short capacity search
#                      (`srelab load --find-capacity`, p99 < 50 ms) first
#   SOAK_FRACTION      share of the measured capacity to run at (default 0.5)
#   SOAK_CONCURRENCY   most requests in flight, the load tool's -c (default 64)
#   SOAK_SAMPLE        seconds between samples (default 5; 2 for runs under 2 minutes)
#   SOAK_VERDICT_EXIT  1 (default): exit 1 when the verdict is FAIL; 0: exit 0
#                      whatever the verdict (the suite's short run: 30 s is too
#                      short to judge growth, it keeps the script working)
#   SOAK_KEEP          1: keep the work directory (samples, logs) and print it
# Exit: 0 the verdict is PASS (or SOAK_VERDICT_EXIT=0), 1 FAIL or a failure, 2 usage.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/soak.sh [DURATION]  (e.g. 30s, 10m, 1h; default 10m)" >&2; exit 2; }
[ $# -le 1 ] || usage
arg=${1:-10m}
[[ "$arg" =~ ^([0-9]+)([smh])$ ]] || usage
case ${BASH_REMATCH[2]} in s) unit=1 ;; m) unit=60 ;; h) unit=3600 ;; esac
DURATION=$(( BASH_REMATCH[1] * unit ))
[ "$DURATION" -ge 20 ] || { echo "error: DURATION must be at least 20s" >&2; exit 2; }
FRACTION=${SOAK_FRACTION:-0.5}
if [ "$DURATION" -lt 120 ]; then SAMPLE=${SOAK_SAMPLE:-2}; else SAMPLE=${SOAK_SAMPLE:-5}; fi
VERDICT_EXIT=${SOAK_VERDICT_EXIT:-1}
CONCURRENCY=${SOAK_CONCURRENCY:-64}
# The latency buckets of src/contract.rs (LATENCY_BUCKETS), as the le labels print them.
LES="0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 +Inf"
WAL_LIMIT_MIB=16

if [ -z "${SRELAB:-}" ]; then
  cargo build --release --locked --bin srelab >&2
  SRELAB=target/release/srelab
fi
[ -x "$SRELAB" ] || { echo "error: $SRELAB is not an executable" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/srelab-soak.XXXXXX")
PIDS=()
# Stops a child: SIGTERM (again while it runs: a signal that arrives
# between bash's fork and the exec is taken by the copy of this script's
# trap), SIGKILL after 10 s.
# shellcheck disable=SC2317 # run by the EXIT trap
stop() {
  local pid=$1
  for _ in $(seq 100); do
    kill "$pid" 2>/dev/null || break
    [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" = Z ] && break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop "$pid"; done
  if [ "${SOAK_KEEP:-0}" = 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Starts an instance on port 0; sets PID and PORT.
start_instance() {
  local name=$1 line=""
  # Created here: the child's redirections may come after the first read.
  : >"$WORK/$name.out"
  "$SRELAB" serve --listen 127.0.0.1:0 --db "$WORK/soak.db" --no-host-metrics \
    >"$WORK/$name.out" 2>"$WORK/$name.log" &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 100); do
    line=$(head -n1 "$WORK/$name.out")
    [ -n "$line" ] && break
    kill -0 "$PID" 2>/dev/null || { echo "error: instance $name exited:" >&2; cat "$WORK/$name.log" >&2; exit 1; }
    sleep 0.1
  done
  PORT=${line##*:}
  [[ "$PORT" =~ ^[0-9]+$ ]] || { echo "error: no startup line from instance $name" >&2; exit 1; }
}

# The cumulative counts of http_request_duration_seconds over the API
# routes of the instances on the given ports, summed, one per bucket in LES order.
buckets() {
  local port
  for port in "$@"; do
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    cat <&3
    exec 3<&-
  done | awk -v les="$LES" '
    /^http_request_duration_seconds_bucket\{/ && /route="\/api\// {
      match($0, /le="[^"]*"/); sum[substr($0, RSTART + 4, RLENGTH - 5)] += $NF
    }
    END { n = split(les, le, " "); for (i = 1; i <= n; i++) printf "%s%d", (i > 1 ? " " : ""), sum[le[i]] }'
}

# RSS in KiB, open descriptors and threads of a process.
proc_sample() {
  local rss threads
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status")
  threads=$(awk '/^Threads:/ { print $2 }' "/proc/$1/status")
  # shellcheck disable=SC2012 # descriptor numbers, counted
  echo "$rss $(ls "/proc/$1/fd" | wc -l) $threads"
}

start_instance a; PID_A=$PID; PORT_A=$PORT
start_instance b; PID_B=$PID; PORT_B=$PORT
TARGETS=(--target "http://127.0.0.1:$PORT_A" --target "http://127.0.0.1:$PORT_B")

if [ -n "${SOAK_RATE:-}" ]; then
  RATE=$SOAK_RATE
  HOW="SOAK_RATE"
else
  echo "measuring capacity (srelab load --find-capacity, p99 < 50 ms, short steps)…" >&2
  "$SRELAB" load --find-capacity "${TARGETS[@]}" --slo 'p99<50ms' --step 3s --settle 1s \
    --precision 25% -q >"$WORK/capacity.txt" 2>"$WORK/capacity.log" || true
  CAPACITY=$(sed -n 's/^capacity: \(at least \)\{0,1\}\([0-9.]*\) requests\/s.*/\2/p' "$WORK/capacity.txt")
  [ -n "$CAPACITY" ] || { echo "error: the capacity search found no capacity (set SOAK_RATE):" >&2; cat "$WORK/capacity.txt" "$WORK/capacity.log" >&2; exit 1; }
  RATE=$(awk -v c="$CAPACITY" -v f="$FRACTION" 'BEGIN { r = int(c * f); print (r < 1 ? 1 : r) }')
  HOW="$FRACTION × the capacity of $CAPACITY requests/s"
fi

echo "soak: ${DURATION}s, instances a (pid $PID_A) and b (pid $PID_B) on one SQLite file, open model at $RATE requests/s ($HOW), a sample every ${SAMPLE}s"
"$SRELAB" load "${TARGETS[@]}" -r "$RATE" -c "$CONCURRENCY" -d "${DURATION}s" -q --max-error-ratio 1 \
  >"$WORK/load.txt" 2>"$WORK/load.log" &
LOAD_PID=$!
PIDS+=("$LOAD_PID")
START=$(date +%s.%N)
: >"$WORK/samples"
while kill -0 "$LOAD_PID" 2>/dev/null; do
  now=$(awk -v s="$START" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }')
  if awk -v t="$now" -v d="$DURATION" 'BEGIN { exit !(t > d) }'; then break; fi
  wal=$(stat -c %s "$WORK/soak.db-wal" 2>/dev/null || echo 0)
  echo "$now $(proc_sample "$PID_A") $(proc_sample "$PID_B") $wal $(buckets "$PORT_A" "$PORT_B")" >>"$WORK/samples"
  sleep "$SAMPLE"
done
wait "$LOAD_PID" || echo "note: srelab load exited with $? (its report: $WORK/load.txt)" >&2
echo "the load tool's view of the whole run (client side, latency from each request's due time):"
grep -E "^ *(target +route|all targets)|^schedule lag|^interrupted|trustworthy|kept up" "$WORK/load.txt" | sed 's/^ */  /' || true

# The table, the slopes and the verdict.
awk -v D="$DURATION" -v les="$LES" -v wal_limit="$WAL_LIMIT_MIB" '
  { n++; t[n] = $1; for (i = 2; i <= 8; i++) v[n, i] = $i; for (j = 1; j <= nb; j++) b[n, j] = $(8 + j) }
  BEGIN { nb = split(les, le, " ")
          W = (D >= 360 ? 60 : D / 4); WARM = (D >= 360 ? 60 : D / 6)
          lo1 = WARM; hi1 = WARM + W; lo2 = D - W; hi2 = D }
  function mean(c, lo, hi,   i, s, k) { for (i = 1; i <= n; i++) if (t[i] >= lo && t[i] <= hi) { s += v[i, c]; k++ } return k ? s / k : 0 }
  function maxv(c, lo, hi,   i, m) { for (i = 1; i <= n; i++) if (t[i] >= lo && t[i] <= hi && v[i, c] > m) m = v[i, c]; return m + 0 }
  # Least-squares slope per minute of column c after the warm-up.
  function slope(c,   i, k, sx, sy, sxx, sxy) {
    for (i = 1; i <= n; i++) if (t[i] >= WARM) { k++; sx += t[i]; sy += v[i, c]; sxx += t[i] * t[i]; sxy += t[i] * v[i, c] }
    return (k > 1 && k * sxx - sx * sx > 0) ? 60 * (k * sxy - sx * sy) / (k * sxx - sx * sx) : 0 }
  function first(lo,   i) { for (i = 1; i <= n; i++) if (t[i] >= lo) return i; return n }
  function last(hi,   i) { for (i = n; i >= 1; i--) if (t[i] <= hi) return i; return 1 }
  # Requests per second in the window, from the +Inf bucket.
  function rps(lo, hi,   f, l) { f = first(lo); l = last(hi); return t[l] > t[f] ? (b[l, nb] - b[f, nb]) / (t[l] - t[f]) : 0 }
  # p99 in ms over the window, interpolated within its bucket.
  function p99(lo, hi,   f, l, j, total, rank, below, count, lower) {
    f = first(lo); l = last(hi); total = b[l, nb] - b[f, nb]
    if (total <= 0) return -1
    rank = 0.99 * total
    for (j = 1; j <= nb; j++) {
      count = b[l, j] - b[f, j]
      if (count >= rank) {
        if (j == nb) return 1000 * le[nb - 1]
        lower = (j == 1 ? 0 : le[j - 1]); below = (j == 1 ? 0 : b[l, j - 1] - b[f, j - 1])
        return 1000 * (lower + (le[j] - lower) * (count > below ? (rank - below) / (count - below) : 1))
      }
    }
  }
  function growth(a, z) { return a > 0 ? (z - a) / a : 0 }
  function row(name, a, z, s, unit) { printf "%-22s %14.2f %14.2f %+9.1f%% %+12.3f%s\n", name, a, z, 100 * growth(a, z), s, unit }
  END {
    if (n < 4) { print "error: only " n " samples" > "/dev/stderr"; exit 1 }
    printf "\nwindows: first %.0f–%.0fs, last %.0f–%.0fs after the load started (warm-up %.0fs); %d samples\n", lo1, hi1, lo2, hi2, WARM, n
    printf "%-22s %14s %14s %10s %13s\n", "", "first window", "last window", "change", "slope/min"
    names[2] = "RSS a (MiB)"; names[3] = "open fds a"; names[4] = "threads a"
    names[5] = "RSS b (MiB)"; names[6] = "open fds b"; names[7] = "threads b"
    for (c = 2; c <= 7; c++) {
      scale = (c == 2 || c == 5) ? 1024 : 1
      m1[c] = mean(c, lo1, hi1); m2[c] = mean(c, lo2, hi2)
      row(names[c], m1[c] / scale, m2[c] / scale, slope(c) / scale, "")
    }
    w1 = maxv(8, lo1, hi1) / 1048576; w2 = maxv(8, lo2, hi2) / 1048576
    row("WAL max (MiB)", w1, w2, slope(8) / 1048576, "")
    q1 = p99(lo1, hi1); q2 = p99(lo2, hi2)
    printf "%-22s %14.2f %14.2f %+9.1f%%\n", "server p99 (ms)", q1, q2, 100 * growth(q1, q2)
    printf "%-22s %14.1f %14.1f %+9.1f%%\n", "requests/s (servers)", rps(lo1, hi1), rps(lo2, hi2), 100 * growth(rps(lo1, hi1), rps(lo2, hi2))
    ok = 1; why = ""
    for (c = 2; c <= 6; c += 3) if (growth(m1[c], m2[c]) >= 0.05) { ok = 0; why = why sprintf("; %s grew %.1f%%", names[c], 100 * growth(m1[c], m2[c])) }
    for (c = 3; c <= 6; c += 3) if (growth(m1[c], m2[c]) >= 0.05) { ok = 0; why = why sprintf("; %s grew %.1f%%", names[c], 100 * growth(m1[c], m2[c])) }
    if (w2 > wal_limit) { ok = 0; why = why sprintf("; WAL reached %.1f MiB (> %d MiB)", w2, wal_limit) }
    if (q1 < 0 || q2 < 0) { ok = 0; why = why "; no requests in a window" }
    else if (q2 > 2 * q1) { ok = 0; why = why sprintf("; p99 went from %.2f to %.2f ms (> 2×)", q1, q2) }
    printf "verdict: %s (targets: RSS and open fds growth < 5%%, WAL ≤ %d MiB, p99 ≤ 2× the first window%s)\n", ok ? "PASS" : "FAIL", wal_limit, ok ? "" : why
    exit (ok ? 0 : 3)
  }' "$WORK/samples" && verdict=0 || verdict=$?
[ "$verdict" = 3 ] || [ "$verdict" = 0 ] || exit 1
if [ "$verdict" = 3 ] && [ "$VERDICT_EXIT" = 1 ]; then exit 1; fi
exit 0
