#!/usr/bin/env bash
# Benchmark of `srelab serve` against a bare hyper hello-world (the ceiling),
# with wrk, on 127.0.0.1 only. Prints requests/s, p50, p99 and peak RSS per
# run and the ratios to the ceiling; asserts nothing.
#
#   scripts/bench.sh                    # defaults: best of 3 runs of 3 s, 16 and 64 connections
#   BENCH_DURATION=10s BENCH_REPEAT=1 BENCH_CONNS="8 32 128" scripts/bench.sh
#   BENCH_POSTGRES=0 BENCH_INSTRUCTIONS=0 BENCH_LB=0 scripts/bench.sh   # SQLite and the ceiling only
#   BENCH_SQLITE=0 BENCH_POSTGRES=0 BENCH_INSTRUCTIONS=0 scripts/bench.sh  # HAProxy in front only
#
# Runs: the ceiling; then, with instrumentation on and off (hidden flag
# --no-metrics; host sampling is off in both): POST /api/items on two
# instances sharing one SQLite file (synchronous=FULL, one wrk per instance,
# half the connections each), GET /api/items/{id} (random ids among the rows
# the POST runs stored) and GET /api/items. Then each backend, SQLite and
# PostgreSQL (a throwaway cluster in the work directory, fsync on, the
# instances' sessions synchronous_commit=on), with instrumentation on:
# durable POST and GET by id on one and on two instances. Then HAProxy in
# front of two instances (SQLite): durable POST and GET by id straight to the
# instances and through HAProxy, back to back, the ratio, the p99 the hop
# adds and each side's CPU time per request, beside the same for two bare
# hyper hello-worlds (what the hop leaves of any server). Last, the
# instrumentation's cost in CPU instructions per request (callgrind over a
# fixed number of requests, metrics on and off, both backends; and with
# `--faults` but no fault set, the cost of the fault hooks on the request
# path): wall-clock on/off differences drown in the noise of a shared
# 2-core machine.
# wrk, the servers and PostgreSQL share the machine's cores.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-3s}
# Each measurement is repeated and the run with the most requests/s kept:
# the machine is shared, and a neighbour's burst only ever slows a run down.
REPEAT=${BENCH_REPEAT:-3}
CONNS=${BENCH_CONNS:-16 64}
BENCH_POSTGRES=${BENCH_POSTGRES:-1}
BENCH_INSTRUCTIONS=${BENCH_INSTRUCTIONS:-1}
BENCH_LB=${BENCH_LB:-1}
BENCH_SQLITE=${BENCH_SQLITE:-1}
# Requests per callgrind count.
INSTR_REQUESTS=${BENCH_INSTR_REQUESTS:-2000}
for tool in wrk sqlite3 cargo; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found (apt-get install wrk sqlite3)" >&2; exit 1; }
done
PG_BIN=
if [ "$BENCH_POSTGRES" = 1 ]; then
  # Like `srelab lab`: PATH, then Debian's newest /usr/lib/postgresql/VERSION/bin.
  for dir in "${SRELAB_POSTGRES_BIN_DIR:-}" "$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)")" \
             $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -nr); do
    [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ] && { PG_BIN=$dir; break; }
  done
  [ -n "$PG_BIN" ] || { echo "error: PostgreSQL not found (apt-get install postgresql), or BENCH_POSTGRES=0" >&2; exit 1; }
  PSQL=$PG_BIN/psql
  [ -x "$PSQL" ] || PSQL=$(command -v psql) || { echo "error: psql not found (apt-get install postgresql-client)" >&2; exit 1; }
fi
HAPROXY=
if [ "$BENCH_LB" = 1 ]; then
  HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
  [ -x "$HAPROXY" ] || { echo "error: haproxy not found (apt-get install haproxy), or BENCH_LB=0" >&2; exit 1; }
fi
if [ "$BENCH_INSTRUCTIONS" = 1 ]; then
  command -v callgrind_control >/dev/null || { echo "error: valgrind not found (apt-get install valgrind), or BENCH_INSTRUCTIONS=0" >&2; exit 1; }
fi

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
  for _ in $(seq 600); do
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
  : >"$out.count"
  for _ in $(seq "$REPEAT"); do
    wrk "${args[@]}" "$url" >"$out.try" 2>&1
    awk '/ requests in / {print $1}' "$out.try" >>"$out.count"
    rps=$(rps_of "$out.try")
    if awk -v a="${rps:-0}" -v b="$best" 'BEGIN {exit !(a > b)}'; then
      best=${rps:-0}
      mv "$out.try" "$out"
    fi
  done
}
rps_of() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
# sum_of FILE : the sum of the numbers in FILE, one per line (OUT.count: the
# requests of every run of wrk_run OUT)
sum_of() { awk '{s += $1} END {print s + 0}' "$1"; }
max() { awk -v x="$1" -v y="$2" 'BEGIN {print (x > y ? x : y)}'; }

# wrk_pair TAG URL_A URL_B CONNS SCRIPT : one wrk per instance, half the
# connections each, both at once (BENCH_TAG a$TAG and b$TAG); their outputs
# in $WORK/pa.txt and $WORK/pb.txt, read by the pair_* functions below
wrk_pair() {
  local half=$(( ($4 + 1) / 2 ))
  BENCH_TAG="a$1" wrk_run "$WORK/pa.txt" "$2" "$half" 1 "$5" &
  local wa=$!
  BENCH_TAG="b$1" wrk_run "$WORK/pb.txt" "$3" "$half" 1 "$5" &
  local wb=$!
  wait "$wa" "$wb"
}
pair_rps() { awk -v x="$(rps_of "$WORK/pa.txt")" -v y="$(rps_of "$WORK/pb.txt")" 'BEGIN {printf "%.2f", x + y}'; }
pair_pct() { max "$(pct_of "$WORK/pa.txt" "$1")" "$(pct_of "$WORK/pb.txt" "$1")"; }
pair_errors() { echo $(( $(errors_of "$WORK/pa.txt") + $(errors_of "$WORK/pb.txt") )); }
pair_requests() { echo $(( $(sum_of "$WORK/pa.txt.count") + $(sum_of "$WORK/pb.txt.count") )); }
pct_of() { to_ms "$(awk -v p="$2%" '$1 == p {print $2}' "$1")"; }
errors_of() {
  awk '/Non-2xx or 3xx responses:/ {e += $NF} /Socket errors:/ {gsub(",", ""); e += $4 + $6 + $8 + $10} END {print e + 0}' "$1"
}

RESULTS="$WORK/results.tsv"
# record TARGET ENDPOINT MODE CONNS RPS P50 P99 RSS_KIB ERRORS
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }

threads_for() { if [ "$1" -ge 2 ]; then echo 2; else echo 1; fi; }

if [ "$BENCH_SQLITE" = 1 ]; then
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

  echo "==> srelab: POST /api/items, two instances on one file" >&2
  for c in $CONNS; do
    for mode in on off; do
      wrk_pair "$mode$c" "http://${A_ADDR[$mode]}/api/items" "http://${B_ADDR[$mode]}/api/items" "$c" "$WORK/post.lua"
      record sqlite "POST /api/items (2 inst.)" "$mode" "$c" "$(pair_rps)" "$(pair_pct 50)" "$(pair_pct 99)" \
        "$(max "$(hwm_kib "${A_PID[$mode]}")" "$(hwm_kib "${B_PID[$mode]}")")" "$(pair_errors)"
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
        record sqlite "$endpoint" "$mode" "$c" "$(rps_of "$WORK/w.txt")" "$(pct_of "$WORK/w.txt" 50)" \
          "$(pct_of "$WORK/w.txt" 99)" "$(hwm_kib "${A_PID[$mode]}")" "$(errors_of "$WORK/w.txt")"
      done
    done
  done
  stop "${A_PID[on]}" "${A_PID[off]}"
fi


# ---------------------------------------------------------------- PostgreSQL
PG_DIR=$WORK/pg
PG_URL=
PG_PID=
start_postgres() {
  mkdir -p "$PG_DIR/data" "$PG_DIR/run"
  chmod 700 "$PG_DIR/data" "$PG_DIR/run"
  local as=()
  if [ "$(id -u)" = 0 ]; then
    # PostgreSQL refuses root: run it as nobody, as `srelab lab` does.
    chmod 755 "$WORK"
    chown nobody "$PG_DIR/data" "$PG_DIR/run"
    as=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
  fi
  "${as[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U srelab --auth=trust -E UTF8 --locale=C \
    --no-instructions >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; exit 1; }
  "${as[@]}" "$PG_BIN/postgres" -D "$PG_DIR/data" -k "$PG_DIR/run" -p 5432 -c listen_addresses= \
    -c max_connections=100 -c shared_buffers=128MB >"$WORK/postgres.log" 2>&1 &
  PG_PID=$!
  PIDS+=("$PG_PID")
  PG_URL="postgresql://srelab@/postgres?host=$PG_DIR/run&port=5432"
  for _ in $(seq 100); do
    [ -S "$PG_DIR/run/.s.PGSQL.5432" ] && return
    sleep 0.1
  done
  cat "$WORK/postgres.log" >&2; exit 1
}

# db_for BACKEND NAME : the --db of a fresh database
db_for() {
  if [ "$1" = postgres ]; then
    "$PSQL" -q "$PG_URL" -c "CREATE DATABASE $2" >/dev/null
    echo "postgresql://srelab@/$2?host=$PG_DIR/run&port=5432"
  else
    echo "$WORK/$2.db"
  fi
}

# max_id ADDR : the newest id, from the API (works for both backends)
max_id() { curl -s "http://$1/api/items?limit=1" | sed -n 's/.*"id":\([0-9]*\).*/\1/p'; }

if [ -n "$PG_BIN" ]; then
  echo "==> PostgreSQL from $PG_BIN" >&2
  start_postgres
fi
backends=()
[ "$BENCH_SQLITE" = 1 ] && backends+=(sqlite)
[ -n "$PG_BIN" ] && backends+=(postgres)

# Each backend, instrumentation on: durable POST and GET by id, one and two instances.
for backend in "${backends[@]}"; do
  db=$(db_for "$backend" "bench_$backend")
  start "$backend-a" "$BIN" serve --listen 127.0.0.1:0 --db "$db" --no-host-metrics
  a_pid=$START_PID a_addr=$START_ADDR
  start "$backend-b" "$BIN" serve --listen 127.0.0.1:0 --db "$db" --no-host-metrics
  b_pid=$START_PID b_addr=$START_ADDR
  echo "==> $backend: POST /api/items, one and two instances" >&2
  for c in $CONNS; do
    BENCH_TAG="one$c" wrk_run "$WORK/p1.txt" "http://$a_addr/api/items" "$c" "$(threads_for "$c")" "$WORK/post.lua"
    record "$backend" "POST /api/items (1 inst.)" on "$c" "$(rps_of "$WORK/p1.txt")" "$(pct_of "$WORK/p1.txt" 50)" \
      "$(pct_of "$WORK/p1.txt" 99)" "$(hwm_kib "$a_pid")" "$(errors_of "$WORK/p1.txt")"
    wrk_pair "$c" "http://$a_addr/api/items" "http://$b_addr/api/items" "$c" "$WORK/post.lua"
    record "$backend" "POST /api/items (2 inst.)" on "$c" "$(pair_rps)" "$(pair_pct 50)" "$(pair_pct 99)" \
      "$(max "$(hwm_kib "$a_pid")" "$(hwm_kib "$b_pid")")" "$(pair_errors)"
  done
  ids=$(max_id "$a_addr")
  echo "==> $backend: GET /api/items/{id}, one and two instances ($ids rows)" >&2
  for c in $CONNS; do
    BENCH_IDS=$ids wrk_run "$WORK/g1.txt" "http://$a_addr/" "$c" "$(threads_for "$c")" "$WORK/get_id.lua"
    record "$backend" "GET /api/items/{id} (1 inst.)" on "$c" "$(rps_of "$WORK/g1.txt")" "$(pct_of "$WORK/g1.txt" 50)" \
      "$(pct_of "$WORK/g1.txt" 99)" "$(hwm_kib "$a_pid")" "$(errors_of "$WORK/g1.txt")"
    BENCH_IDS=$ids wrk_pair "$c" "http://$a_addr/" "http://$b_addr/" "$c" "$WORK/get_id.lua"
    record "$backend" "GET /api/items/{id} (2 inst.)" on "$c" "$(pair_rps)" "$(pair_pct 50)" "$(pair_pct 99)" \
      "$(max "$(hwm_kib "$a_pid")" "$(hwm_kib "$b_pid")")" "$(pair_errors)"
  done
  stop "$a_pid" "$b_pid"
done

# ------------------------------------------------------------ through HAProxy
# Two instances on one SQLite file, instrumentation on: durable POST and GET
# by id sent straight to the instances (one wrk per instance, half the
# connections each) and, right after, through HAProxy in front of them (one
# wrk, all the connections) with the lab's one configuration
# (haproxy/srelab.cfg, rendered as src/lab/haproxy.rs does and checked by
# `haproxy -c`). The reference: the same pair of runs with two bare hyper
# hello-worlds behind the same configuration, the most any server can keep
# through the hop here. HAProxy, wrk and the servers share the cores, so each
# row also gives the CPU time per request of the servers and of HAProxy
# (utime + stime from /proc over all the runs of the row, divided by their
# requests): that split is what decides the ratio, and a neighbour's load
# does not skew it.
if [ "$BENCH_LB" = 1 ]; then
  LB_RESULTS="$WORK/lb.tsv"
  CLK_TCK=$(getconf CLK_TCK)
  free_port() {
    local p
    while :; do
      p=$(( 20000 + RANDOM % 20000 ))
      (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
  }
  # cpu_ticks PID... : utime + stime of the processes, in clock ticks
  cpu_ticks() { for pid in "$@"; do cut -d' ' -f14,15 "/proc/$pid/stat"; done | awk '{t += $1 + $2} END {print t + 0}'; }
  # us_per_request TICKS REQUESTS
  us_per_request() { awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN {printf "%.1f", (n > 0) ? t * 1e6 / hz / n : 0}'; }
  # start_haproxy NAME ADDR_A ADDR_B : HAProxy in front of two servers; sets LB_PID, LB_ADDR
  start_haproxy() {
    local name=$1 listen=127.0.0.1:$(free_port) exporter=127.0.0.1:$(free_port)
    awk -v listen="$listen" -v exporter="$exporter" -v a="$2" -v b="$3" '
      { gsub(/@LISTEN@/, listen); gsub(/@EXPORTER_LISTEN@/, exporter) }
      /^@SERVERS@$/ { print "    server srelab-1 " a; print "    server srelab-2 " b; next }
      { print }' haproxy/srelab.cfg >"$WORK/$name.cfg"
    "$HAPROXY" -c -q -f "$WORK/$name.cfg"
    "$HAPROXY" -db -f "$WORK/$name.cfg" >"$WORK/$name.log" 2>&1 &
    LB_PID=$! LB_ADDR=$listen
    PIDS+=("$LB_PID")
    for _ in $(seq 200); do
      curl -s "http://$exporter/metrics" 2>/dev/null |
        grep -q '^haproxy_backend_active_servers{proxy="srelab"} 2$' && return
      sleep 0.1
    done
    echo "error: HAProxy did not report both servers up" >&2; cat "$WORK/$name.log" >&2; exit 1
  }
  # lb_row ENDPOINT PATH CONNS SCRIPT : straight to the servers (SRV_A_PID at
  # SRV_A_ADDR, SRV_B_PID at SRV_B_ADDR), then through HAProxy (LB_PID at LB_ADDR)
  lb_row() {
    local endpoint=$1 path=$2 c=$3 script=$4
    local t0 h0 n
    t0=$(cpu_ticks "$SRV_A_PID" "$SRV_B_PID")
    wrk_pair "d$c" "http://$SRV_A_ADDR$path" "http://$SRV_B_ADDR$path" "$c" "$script"
    n=$(pair_requests)
    printf '%s\t%s\tdirect\t%s\t%s\t%s\t%s\t%s\n' "$endpoint" "$c" "$(pair_rps)" "$(pair_pct 99)" "$(pair_errors)" \
      "$(us_per_request $(( $(cpu_ticks "$SRV_A_PID" "$SRV_B_PID") - t0 )) "$n")" - >>"$LB_RESULTS"
    t0=$(cpu_ticks "$SRV_A_PID" "$SRV_B_PID") h0=$(cpu_ticks "$LB_PID")
    BENCH_TAG="lb$c" wrk_run "$WORK/lb.txt" "http://$LB_ADDR$path" "$c" "$(threads_for "$c")" "$script"
    n=$(sum_of "$WORK/lb.txt.count")
    printf '%s\t%s\tlb\t%s\t%s\t%s\t%s\t%s\n' "$endpoint" "$c" "$(rps_of "$WORK/lb.txt")" \
      "$(pct_of "$WORK/lb.txt" 99)" "$(errors_of "$WORK/lb.txt")" \
      "$(us_per_request $(( $(cpu_ticks "$SRV_A_PID" "$SRV_B_PID") - t0 )) "$n")" \
      "$(us_per_request $(( $(cpu_ticks "$LB_PID") - h0 )) "$n")" >>"$LB_RESULTS"
  }
  echo "==> reference: GET / on two bare hyper servers, direct and through HAProxy" >&2
  start lb-bare-a "$BARE" 127.0.0.1:0
  SRV_A_PID=$START_PID SRV_A_ADDR=$START_ADDR
  start lb-bare-b "$BARE" 127.0.0.1:0
  SRV_B_PID=$START_PID SRV_B_ADDR=$START_ADDR
  start_haproxy haproxy-bare "$SRV_A_ADDR" "$SRV_B_ADDR"
  for c in $CONNS; do lb_row "GET / (bare hyper)" / "$c" ""; done
  stop "$LB_PID" "$SRV_A_PID" "$SRV_B_PID"

  db="$WORK/lb.db"
  start lb-a "$BIN" serve --listen 127.0.0.1:0 --db "$db" --no-host-metrics
  SRV_A_PID=$START_PID SRV_A_ADDR=$START_ADDR
  start lb-b "$BIN" serve --listen 127.0.0.1:0 --db "$db" --no-host-metrics
  SRV_B_PID=$START_PID SRV_B_ADDR=$START_ADDR
  start_haproxy haproxy "$SRV_A_ADDR" "$SRV_B_ADDR"
  echo "==> sqlite: POST /api/items, direct and through HAProxy" >&2
  for c in $CONNS; do lb_row "POST /api/items" /api/items "$c" "$WORK/post.lua"; done
  ids=$(max_id "$SRV_A_ADDR")
  echo "==> sqlite: GET /api/items/{id}, direct and through HAProxy ($ids rows)" >&2
  for c in $CONNS; do BENCH_IDS=$ids lb_row "GET /api/items/{id}" / "$c" "$WORK/get_id.lua"; done
  stop "$LB_PID" "$SRV_A_PID" "$SRV_B_PID"
fi

# Instructions per request under callgrind: the server starts with
# instrumentation off (fast), warms up, then counts exactly
# INSTR_REQUESTS requests of one kind on one connection.
INSTR="$WORK/instructions.tsv"
# fixed ADDR KIND N : exactly N requests (post: POST /api/items, get: GET
# /api/items/{id} over ids 1..200) on one keep-alive connection (curl with
# a generated config); fails on any status but 200/201.
fixed() {
  local addr=$1 kind=$2 n=$3
  awk -v a="$addr" -v k="$kind" -v n="$n" 'BEGIN { srand(7)
    for (i = 1; i <= n; i++) {
      if (k == "post") {
        printf "url = \"http://%s/api/items\"\nheader = \"Content-Type: application/json\"\n", a
        printf "data = \"{\\\"name\\\":\\\"instr-%d\\\",\\\"value\\\":%d}\"\n", i, i
      } else printf "url = \"http://%s/api/items/%d\"\n", a, 1 + int(rand() * 200)
      printf "output = \"/dev/null\"\nwrite-out = \"%%{http_code}\\n\"\n"
      if (i < n) print "next"
    } }' >"$WORK/fixed.curl"
  curl -s -K "$WORK/fixed.curl" >"$WORK/fixed.codes"
  local bad; bad=$(grep -cvE '^(200|201)$' "$WORK/fixed.codes" || true)
  [ "$bad" = 0 ] && [ "$(wc -l <"$WORK/fixed.codes")" = "$n" ] || { echo "error: $bad of $n requests failed" >&2; exit 1; }
}

# cg PID ADDR ARGS… : a callgrind_control command. Valgrind reads commands
# only while the program runs, so an idle server is woken by one /healthz
# (outside the counted window, or one request among thousands inside it).
cg() {
  local pid=$1 addr=$2; shift 2
  callgrind_control "$@" "$pid" >/dev/null &
  local ctl=$!
  while kill -0 "$ctl" 2>/dev/null; do curl -s -o /dev/null "http://$addr/healthz" || true; sleep 0.2; done
  wait "$ctl"
}
count_instructions() { # BACKEND MODE (on, off, or faults: metrics on and --faults, none set)
  local backend=$1 mode=$2 flags=(--no-host-metrics)
  [ "$mode" = off ] && flags+=(--no-metrics)
  [ "$mode" = faults ] && flags+=(--faults)
  local db; db=$(db_for "$backend" "instr_${backend}_$mode")
  local out="$WORK/cg-$backend-$mode"
  start "cg-$backend-$mode" valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out.%p" \
    "$BIN" serve --listen 127.0.0.1:0 --db "$db" "${flags[@]}" --readers 1
  local pid=$START_PID addr=$START_ADDR
  for kind in post get; do
    fixed "$addr" "$kind" 200
    cg "$pid" "$addr" -i on
    cg "$pid" "$addr" -z
    fixed "$addr" "$kind" "$INSTR_REQUESTS"
    cg "$pid" "$addr" -i off
    cg "$pid" "$addr" -d "$kind"
    local dump; dump=$(grep -l "^desc: Trigger: .*$kind" "$out".* | head -1)
    # `totals:` sums what was collected since the zero (`summary:` does not).
    local ir; ir=$(awk '/^totals:/ {print $2; exit}' "$dump")
    printf '%s\t%s\t%s\t%s\n' "$backend" "$kind" "$mode" "$(( ir / INSTR_REQUESTS ))" >>"$INSTR"
  done
  stop "$pid"
}
if [ "$BENCH_INSTRUCTIONS" = 1 ]; then
  for backend in "${backends[@]}"; do
    for mode in on off faults; do
      echo "==> instructions per request: $backend, $mode (callgrind, $INSTR_REQUESTS requests)" >&2
      count_instructions "$backend" "$mode"
    done
  done
fi
[ -n "$PG_PID" ] && stop "$PG_PID"
if [ -s "$RESULTS" ]; then
  echo
  echo "srelab bench: wrk, best of $REPEAT runs of $DURATION, $(nproc) cores shared by wrk and the servers"
  echo "(2 inst.: one wrk per instance, half the connections each, summed req/s, worse p50/p99 of the two;"
  echo " SQLite: one file, synchronous=FULL; PostgreSQL: $( [ -n "$PG_BIN" ] && "$PG_BIN/postgres" --version || echo "not run"), local socket,"
  echo " fsync=on, shared_buffers=128MB, sessions synchronous_commit=on, pool of 8 per instance;"
  echo " ceiling = bare hyper at the same connection count; RSS = VmHWM of the instance, cumulative)"
  echo "targets: SQLite GET by id >= 50% of the ceiling, durable POST (2 instances) >= 25%, RSS < 30 MiB;"
  echo "         PostgreSQL GET by id >= 35%, durable POST (2 instances) >= 15%; instrumentation < 3% of instructions;"
  echo "         --faults with no fault set: no measurable instructions per request"
  echo
  awk -F'\t' '
    $1 == "bare_hyper" { ceil[$4] = $5 }
    { rows[NR] = $0 }
    # The on/off pairs are those of the first section; later "on" rows do not replace them.
    $1 != "bare_hyper" { key = $1 SUBSEP $2 SUBSEP $4; if ($3 == "on" && !(key in on)) on[key] = $5; else if ($3 == "off") off[key] = $5 }
    END {
      printf "%-10s %-30s %-5s %5s %10s %9s %9s %8s %8s %7s\n", "store", "endpoint", "instr", "conns", "req/s", "p50 ms", "p99 ms", "RSS MiB", "ceiling", "errors"
      for (i = 1; i <= NR; i++) {
        split(rows[i], f, "\t")
        ratio = (f[4] in ceil && ceil[f[4]] > 0) ? sprintf("%.1f%%", 100 * f[5] / ceil[f[4]]) : "-"
        printf "%-10s %-30s %-5s %5s %10.0f %9.3f %9.3f %8.1f %8s %7s\n", f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8] / 1024, ratio, f[9]
      }
      print ""
      print "instrumentation overhead in req/s (lost with metrics on, vs off; negative = on was faster; noisy):"
      for (i = 1; i <= NR; i++) {
        split(rows[i], f, "\t")
        k = f[1] SUBSEP f[2] SUBSEP f[4]
        if (f[1] != "bare_hyper" && f[3] == "on" && off[k] > 0 && !(k in shown)) {
          shown[k] = 1
          printf "  %-10s %-30s c=%-4s %+.1f%%\n", f[1], f[2], f[4], 100 * (off[k] - on[k]) / off[k]
        }
      }
    }' "$RESULTS"
fi
if [ -s "${LB_RESULTS:-}" ]; then
  echo
  echo "HAProxy in front of two servers (SQLite: one file), its lab configuration; wrk, best of $REPEAT runs of $DURATION;"
  echo "HAProxy, wrk and the servers share the $(nproc) cores."
  echo "target: through HAProxy >= 70% of direct. CPU us/req: utime + stime per request (servers: both together)."
  awk -F'\t' '
    { key = $1 SUBSEP $2; rps[$3, key] = $4; p99[$3, key] = $5; err[$3, key] = $6; srv[$3, key] = $7; lb[key] = $8
      if (!(key in seen)) { seen[key] = 1; order[++n] = key } }
    END {
      printf "  %-22s %5s %11s %11s %7s %9s %7s %19s %8s\n", "endpoint", "conns", "direct r/s", "HAProxy r/s", "ratio", "p99 added", "errors", "servers us/req d->lb", "HAProxy"
      for (i = 1; i <= n; i++) {
        k = order[i]; split(k, p, SUBSEP); d = rps["direct", k]; l = rps["lb", k]
        printf "  %-22s %5s %11.0f %11.0f %6.1f%% %+7.3fms %7d %8.1f -> %8.1f %8.1f\n", p[1], p[2], d, l, (d > 0) ? 100 * l / d : 0,
          p99["lb", k] - p99["direct", k], err["direct", k] + err["lb", k], srv["direct", k], srv["lb", k], lb[k]
      }
    }' "$LB_RESULTS"
fi
if [ -s "${INSTR:-}" ]; then
  echo
  echo "instrumentation overhead in CPU instructions per request of the server (callgrind, $INSTR_REQUESTS requests, one connection):"
  awk -F'\t' '{ v[$1 SUBSEP $2 SUBSEP $3] = $4; k[$1 SUBSEP $2] = 1 }
    END {
      printf "  %-10s %-6s %14s %14s %9s %14s %9s\n", "store", "kind", "metrics on", "metrics off", "overhead", "--faults", "vs on"
      for (x in k) { split(x, p, SUBSEP); on = v[x SUBSEP "on"]; off = v[x SUBSEP "off"]; f = v[x SUBSEP "faults"]
        printf "  %-10s %-6s %14d %14d %+8.2f%% %14d %+8.2f%%\n", p[1], p[2], on, off, 100 * (on - off) / off, f, 100 * (f - on) / on }
    }' "$INSTR" | sort -k1,1r -k2,2
  echo "  (--faults: /admin/faults served, no fault set: the request path reads one atomic flag)"
fi
