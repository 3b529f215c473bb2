#!/usr/bin/env bash
# The Redis store benchmark (issue 17), in one command from a clean clone:
#
#   bash redis/bench.sh
#
# Runs itself under scripts/redis.sh (a fresh redis-server on 127.0.0.1,
# no persistence), builds streamable-bench and the scaleout_server example,
# then measures, one fresh server process per run:
#   - CPU per tools/call (json mode) and per SSE event (sse-stream mode) of
#     one instance with no shared store, the in-process MemorySharedStore,
#     and RedisSharedStore; with Redis, redis-server's own CPU is read from
#     /proc too and reported per call beside the server's;
#   - calls/s with 1, 2 and 3 instances on Redis behind the round-robin
#     proxy (all on this machine's cores: the figures show the cost of the
#     store and the proxy hop, not a scale-out gain).
# Prints each run; results in .cache/bench/redis-*.jsonl. No figure is
# asserted.
#
# Settings: DURATION=3 CONNS=16 SSE_STREAMS=200 EVENTS=10 INTERVAL_MS=50
# RECHECK_MS=1000 (the recheck interval of the "-recheck" runs)
# PROFILE=test (opt-level 1, reuses the test build; PROFILE=release for
# figures comparable with docs/benchmarks.md's main tables) PORT=18720.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z ${STREAMABLE_REDIS_URL:-} ]]; then
  exec bash scripts/redis.sh bash "$0" "$@"
fi
ROOT=$PWD
DURATION=${DURATION:-3}
CONNS=${CONNS:-16}
SSE_STREAMS=${SSE_STREAMS:-200}
EVENTS=${EVENTS:-10}
INTERVAL_MS=${INTERVAL_MS:-50}
PROFILE=${PROFILE:-test}
PORT=${PORT:-18720}
RECHECK_MS=${RECHECK_MS:-1000}
mkdir -p "$ROOT/.cache/bench"
OUT=${OUT:-$ROOT/.cache/bench/redis-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
log() { echo "== $*" >&2; }

cargo build -q --profile "$PROFILE" -p streamable-bench --bin streamable-bench \
  -p streamable-redis --example scaleout_server
dir=$PROFILE
[[ $PROFILE == test || $PROFILE == dev ]] && dir=debug
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BENCH=$TARGET_DIR/$dir/streamable-bench
SERVER=$TARGET_DIR/$dir/examples/scaleout_server

PID=
cleanup() {
  if [[ -n $PID ]]; then
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  PID=
}
trap cleanup EXIT INT TERM

cpu_ticks() { # pid -> utime+stime in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}

# run LABEL MODE STORE INSTANCES ARGS...
run() {
  local label=$1 mode=$2 store=$3 n=$4; shift 4
  "$SERVER" --bind "127.0.0.1:$PORT" --store "$store" --redis "$STREAMABLE_REDIS_URL" \
    --instances "$n" ${SERVER_EXTRA:-} 2>/dev/null &
  PID=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
  done
  sleep 0.3
  redis-cli -u "$STREAMABLE_REDIS_URL" flushall >/dev/null
  local r0 r1
  r0=$(cpu_ticks "${STREAMABLE_REDIS_PID:-0}")
  "$BENCH" --url "http://127.0.0.1:$PORT/mcp" --mode "$mode" --pid "$PID" --label "$label" \
    --role ours --out "$OUT" -d "$DURATION" "$@" || log "$label $mode failed"
  r1=$(cpu_ticks "${STREAMABLE_REDIS_PID:-0}")
  if [[ $store == redis ]]; then
    echo "   redis-server CPU during the run: $(((r1 - r0) * 1000000 / $(getconf CLK_TCK))) us (divide by the calls or events above)"
  fi
  cleanup
}

for store in none memory redis; do
  run "$store-1" json "$store" 1 -c "$CONNS"
done
# StoreConfig::recheck_interval (STORE-11): a held session is trusted for
# RECHECK_MS after the store confirmed it, so most calls need no store
# command at all.
for store in memory redis; do
  SERVER_EXTRA="--recheck-ms $RECHECK_MS" run "$store-1-recheck" json "$store" 1 -c "$CONNS"
done
for store in none redis; do
  run "$store-1" sse-stream "$store" 1 -c "$SSE_STREAMS" --events "$EVENTS" --interval-ms "$INTERVAL_MS"
done
for n in 2 3; do
  run "redis-$n" json redis "$n" -c "$CONNS"
done
log "results: $OUT"
