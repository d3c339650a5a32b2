#!/usr/bin/env bash
# Benchmark of `srelab load` (printed, not asserted):
#   1. its maximum request rate beside wrk's, at the same connection count,
#      both against the minimal hyper server examples/bare_hyper (release);
#   2. its peak RSS with 1,000 concurrent workers;
#   3. the rate of two local workers (`srelab load --worker`) under one
#      coordinator (`--workers`) beside one process, same connections.
# Targets: >= 80% of wrk's rate and RSS < 64 MiB at 1,000 workers (issue 3);
# coordination costs under 5% of the rate (issue 13).
#
# Usage: scripts/bench-load.sh   (CONNS=64 DURATION=5 ROUNDS=3 WORKERS=1000 THREADS=2 to change)
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-64}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-1000}
THREADS=${THREADS:-2}

command -v wrk >/dev/null || { echo "error: wrk not found (Debian package wrk)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "error: /usr/bin/time not found (Debian package time)" >&2; exit 1; }

echo "==> cargo build --release (srelab, examples/bare_hyper)"
cargo build --release --quiet --bin srelab --example bare_hyper
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
srelab="$target_dir/release/srelab"
bare="$target_dir/release/examples/bare_hyper"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bare" "127.0.0.1:$port" >/dev/null 2>&1 &
bare_pid=$!
tmp=$(mktemp -d)
worker_pids=()
trap 'kill "$bare_pid" "${worker_pids[@]}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
url="http://127.0.0.1:$port"

# Rounds alternate wrk and srelab load so both see the same background
# load; the medians are compared. Each client's CPU time (user + system,
# from /usr/bin/time) per request is printed too: on a shared 2-core
# machine it varies far less than the rate does.
load_field() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["iters"][sys.argv[2]])' "$1" "$2"
}
cpu_us_per_request() { # time file, requests
  awk -v n="$2" '{printf "%.2f", ($1 + $2) * 1e6 / n}' "$1"
}
wrk_rates=() load_rates=() wrk_cpu=() load_cpu=()
for round in $(seq "$ROUNDS"); do
  echo "==> round $round: wrk -t$THREADS -c$CONNS -d${DURATION}s $url/healthz"
  /usr/bin/time -f '%U %S' -o "$tmp/wrk.time" \
    wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" "$url/healthz" >"$tmp/wrk.txt"
  wrk_rates+=("$(awk '/^Requests\/sec:/ {print $2}' "$tmp/wrk.txt")")
  wrk_cpu+=("$(cpu_us_per_request "$tmp/wrk.time" "$(awk '/ requests in / {print $1}' "$tmp/wrk.txt")")")
  echo "==> round $round: srelab load --target $url --mix health=1 -c $CONNS -d ${DURATION}s -q -o json"
  /usr/bin/time -f '%U %S' -o "$tmp/load.time" \
    "$srelab" load --target "$url" --mix health=1 -c "$CONNS" -d "${DURATION}s" -q -o json >"$tmp/load.json"
  load_rates+=("$(load_field "$tmp/load.json" rate)")
  load_cpu+=("$(cpu_us_per_request "$tmp/load.time" "$(load_field "$tmp/load.json" total)")")
done

echo "==> /usr/bin/time -v srelab load --target $url --mix health=1 -c $WORKERS -d ${DURATION}s -q -o json"
/usr/bin/time -v "$srelab" load --target "$url" --mix health=1 -c "$WORKERS" -d "${DURATION}s" -q -o json \
  >"$tmp/load1000.json" 2>"$tmp/time.txt"
rss_kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time.txt")
rate_1000=$(load_field "$tmp/load1000.json" rate)

# One process, then one worker and two workers under a coordinator, in
# turn. The rate is the srelab section's steady throughput for each; CPU
# per request counts the workers' CPU time (from /proc) and the
# coordinator's. One worker against one process is the cost of the
# coordination itself; two workers also share the two cores between two
# processes.
for i in 1 2; do
  "$srelab" load --worker --listen 127.0.0.1:0 >"$tmp/worker$i.out" 2>"$tmp/worker$i.err" &
  worker_pids+=($!)
done
for i in 1 2; do
  for _ in $(seq 50); do grep -q 'listening on' "$tmp/worker$i.out" && break; sleep 0.1; done
done
worker_addr=($(sed -n 's/^worker listening on //p' "$tmp/worker1.out" "$tmp/worker2.out"))
steady_field() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["srelab"]["phases"]["steady"][sys.argv[2]])' "$1" "$2"
}
ticks() { # CPU ticks (user + system) of the processes named
  for pid in "$@"; do awk '{print $14 + $15}' "/proc/$pid/stat"; done | awk '{s += $1} END {print s}'
}
hz=$(getconf CLK_TCK)
coordinated() { # N: run under a coordinator with the first N workers; prints "rate cpu_us"
  local n=$1 addrs before after
  addrs=$(IFS=,; echo "${worker_addr[*]:0:$n}")
  echo "==> round $round: srelab load --workers $addrs --target $url --mix health=1 -c $CONNS -d ${DURATION}s -o json" >&2
  before=$(ticks "${worker_pids[@]:0:$n}")
  /usr/bin/time -f '%U %S' -o "$tmp/co.time" \
    "$srelab" load --workers "$addrs" --target "$url" --mix health=1 -c "$CONNS" -d "${DURATION}s" -o json >"$tmp/co.json"
  after=$(ticks "${worker_pids[@]:0:$n}")
  awk -v w=$((after - before)) -v hz="$hz" -v n="$(steady_field "$tmp/co.json" requests)" \
    -v rate="$(steady_field "$tmp/co.json" throughput)" '{printf "%s %.2f\n", rate, (w / hz + $1 + $2) * 1e6 / n}' "$tmp/co.time"
}
one_rates=() one_cpu=() co1_rates=() co1_cpu=() co2_rates=() co2_cpu=()
for round in $(seq "$ROUNDS"); do
  echo "==> round $round: srelab load --target $url --mix health=1 -c $CONNS -d ${DURATION}s -q -o json (one process)"
  /usr/bin/time -f '%U %S' -o "$tmp/one.time" \
    "$srelab" load --target "$url" --mix health=1 -c "$CONNS" -d "${DURATION}s" -q -o json >"$tmp/one.json"
  one_rates+=("$(steady_field "$tmp/one.json" throughput)")
  one_cpu+=("$(cpu_us_per_request "$tmp/one.time" "$(steady_field "$tmp/one.json" requests)")")
  read -r rate cpu < <(coordinated 1)
  co1_rates+=("$rate") co1_cpu+=("$cpu")
  read -r rate cpu < <(coordinated 2)
  co2_rates+=("$rate") co2_cpu+=("$cpu")
done

python3 - "${wrk_rates[*]}" "${load_rates[*]}" "${wrk_cpu[*]}" "${load_cpu[*]}" \
  "$rss_kib" "$rate_1000" "$CONNS" "$WORKERS" \
  "${one_rates[*]}" "${one_cpu[*]}" "${co1_rates[*]}" "${co1_cpu[*]}" "${co2_rates[*]}" "${co2_cpu[*]}" <<'PY'
import statistics, sys
wrk, load, wrk_cpu, load_cpu, rss_kib, rate_1000, conns, workers = sys.argv[1:9]
one, one_cpu, co1, co1_cpu, co2, co2_cpu = ([float(x) for x in v.split()] for v in sys.argv[9:15])
wrk, load, wrk_cpu, load_cpu = (
    [float(x) for x in v.split()] for v in (wrk, load, wrk_cpu, load_cpu)
)
rss = int(rss_kib) / 1024
print()
print(f"connections            {conns}")
for i, (w, l, wc, lc) in enumerate(zip(wrk, load, wrk_cpu, load_cpu), 1):
    print(f"round {i}: wrk {w:10.1f} req/s {wc:5.2f} us CPU/req   "
          f"srelab load {l:10.1f} req/s {lc:5.2f} us CPU/req   ratio {l / w:.2f}")
w, l = statistics.median(wrk), statistics.median(load)
wc, lc = statistics.median(wrk_cpu), statistics.median(load_cpu)
print(f"median wrk             {w:12.1f} req/s   {wc:5.2f} us CPU/req")
print(f"median srelab load     {l:12.1f} req/s   {lc:5.2f} us CPU/req")
print(f"ratio load/wrk         {l / w:12.2f}   (target >= 0.80; CPU per request {lc / wc:.2f}x wrk's)")
print(f"peak RSS, {workers} workers {rss:9.1f} MiB   (target < 64 MiB; {float(rate_1000):.1f} req/s)")
print()
for i, row in enumerate(zip(one, one_cpu, co1, co1_cpu, co2, co2_cpu), 1):
    print(f"round {i}: one process {row[0]:9.1f} req/s {row[1]:5.2f} us CPU/req   "
          f"one worker {row[2]:9.1f} req/s {row[3]:5.2f}   two workers {row[4]:9.1f} req/s {row[5]:5.2f}")
m = statistics.median
print(f"median one process         {m(one):12.1f} req/s   {m(one_cpu):5.2f} us CPU/req")
print(f"median one worker          {m(co1):12.1f} req/s   {m(co1_cpu):5.2f} us CPU/req (worker + coordinator)")
print(f"median two workers         {m(co2):12.1f} req/s   {m(co2_cpu):5.2f} us CPU/req (workers + coordinator)")
print(f"ratio one worker/one       {m(co1) / m(one):12.2f}   (the coordination itself)")
print(f"ratio two workers/one      {m(co2) / m(one):12.2f}   (target >= 0.95: coordination costs under 5%)")
PY
