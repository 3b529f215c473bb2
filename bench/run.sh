#!/usr/bin/env bash
# The whole comparison in one command, from a clean clone:
#
#   bench/run.sh
#
# Builds streamable-bench, our example server and the hyper-echo reference;
# installs and builds the peers into the git-ignored .cache/bench/ (rmcp from
# crates.io in its own cargo project, the TypeScript SDK from npm, the Python
# SDK and uvicorn from PyPI in a venv); then runs every target on 127.0.0.1
# with identical settings, one fresh server process per run, rounds in
# alternating order; and prints the tables with ratios against hyper-echo and
# against the fastest peer. Results: .cache/bench/results-*.jsonl.
#
# Settings (environment): CONNS=32 DURATION=10 ROUNDS=2 SSE_STREAMS=1000
# EVENTS=10 INTERVAL_MS=100 SESSIONS=10000,100000 PY_SESSIONS=10000
# PHASES="json sse modern sessions" TARGETS="hyper-echo streamable-json ..."
#
# The concurrency sweep of issue 19 (sharded drivers): PHASES=scale runs
# hyper-echo, streamable with one driver (streamable-n1) and with one per
# core (streamable-ncores), and rmcp, interleaved, at each of
# SCALE_CONNS="1 8 32 128 512" connections; both streamable targets are the
# example server built with the driver-metrics feature, so each run also
# reports the driver's serial time per call and the Amdahl projection:
#
#   PHASES=scale DURATION=10 ROUNDS=2 bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=$ROOT/.cache/bench
mkdir -p "$CACHE"

CONNS=${CONNS:-32}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
SSE_STREAMS=${SSE_STREAMS:-1000}
EVENTS=${EVENTS:-10}
INTERVAL_MS=${INTERVAL_MS:-100}
SESSIONS=${SESSIONS:-10000,100000}
PY_SESSIONS=${PY_SESSIONS:-10000}
PHASES=${PHASES:-json sse modern sessions}
SCALE_CONNS=${SCALE_CONNS:-1 8 32 128 512}
SHARDS_N=${SHARDS_N:-$(nproc)}
TARGETS=${TARGETS:-hyper-echo streamable-json streamable-sse streamable-auto streamable-n1 streamable-ncores rmcp ts-sdk py-sdk}
OUT=${OUT:-$CACHE/results-$(date -u +%Y%m%dT%H%M%SZ).jsonl}

ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true

log() { echo "== $*" >&2; }

# --- build ---------------------------------------------------------------
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
log "building streamable-bench, the example server and hyper-echo (release)"
cargo build --release -q -p streamable-bench --bin streamable-bench --example hyper_echo
if [[ " $PHASES " == *" scale "* ]]; then
  # The metered build first, kept aside (the plain build below replaces it).
  log "building the example server with driver-metrics (release)"
  cargo build --release -q -p streamable-hyper --features driver-metrics --example server
  cp "$TARGET_DIR/release/examples/server" "$CACHE/server-metered"
fi
cargo build --release -q -p streamable-hyper --example server
BENCH=$TARGET_DIR/release/streamable-bench
OURS=$TARGET_DIR/release/examples/server
METERED=$CACHE/server-metered
METRICS=$CACHE/driver-metrics
ECHO=$TARGET_DIR/release/examples/hyper_echo

have() { [[ " $TARGETS " == *" $1 "* ]]; }

if have rmcp; then
  log "building the rmcp peer (latest rmcp from crates.io) in .cache/bench/rmcp-server"
  mkdir -p "$CACHE/rmcp-server/src"
  # Copied only when changed: a new mtime would rebuild the crate.
  cmp -s bench/peers/rmcp/Cargo.toml "$CACHE/rmcp-server/Cargo.toml" ||
    cp bench/peers/rmcp/Cargo.toml "$CACHE/rmcp-server/Cargo.toml"
  cmp -s bench/peers/rmcp/main.rs "$CACHE/rmcp-server/src/main.rs" ||
    cp bench/peers/rmcp/main.rs "$CACHE/rmcp-server/src/main.rs"
  (cd "$CACHE/rmcp-server" && CARGO_TARGET_DIR=$CACHE/rmcp-server/target cargo build --release -q)
  grep -A1 '^name = "rmcp"$' "$CACHE/rmcp-server/Cargo.lock" | tail -1 | sed 's/^/   rmcp /' >&2
fi
RMCP=$CACHE/rmcp-server/target/release/rmcp-bench-server

NODE=${NODE:-$(command -v node || true)}
[[ -z $NODE && -x $ROOT/.cache/node/bin/node ]] && NODE=$ROOT/.cache/node/bin/node
if have ts-sdk; then
  if [[ -z $NODE ]]; then
    log "no node: skipping ts-sdk"; TARGETS=${TARGETS/ts-sdk/}
  else
    mkdir -p "$CACHE/ts"
    cp bench/peers/ts/server.mjs "$CACHE/ts/server.mjs"
    if [[ ! -d $CACHE/ts/node_modules/@modelcontextprotocol/sdk ]]; then
      log "installing @modelcontextprotocol/sdk (npm)"
      echo '{"name":"bench-ts","private":true,"type":"module"}' > "$CACHE/ts/package.json"
      (cd "$CACHE/ts" && npm install --silent --no-audit --no-fund @modelcontextprotocol/sdk@latest zod)
    fi
    grep '"version"' "$CACHE/ts/node_modules/@modelcontextprotocol/sdk/package.json" | sed 's/^/   ts-sdk /' >&2
  fi
fi

if have py-sdk; then
  if [[ ! -x $CACHE/py/venv/bin/python ]] || ! "$CACHE/py/venv/bin/python" -c 'import mcp, uvicorn' 2>/dev/null; then
    log "installing mcp and uvicorn (PyPI) into .cache/bench/py/venv"
    mkdir -p "$CACHE/py"
    python3 -m venv "$CACHE/py/venv"
    "$CACHE/py/venv/bin/pip" install -q mcp uvicorn
  fi
  "$CACHE/py/venv/bin/pip" show mcp 2>/dev/null | grep '^Version' | sed 's/^/   py-sdk mcp /' >&2
fi

# --- targets -------------------------------------------------------------
PID=
cleanup() {
  if [[ -n $PID ]]; then
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  PID=
}
trap cleanup EXIT INT TERM

port_of() {
  case $1 in
    hyper-echo) echo 18710 ;; streamable-json) echo 18711 ;; streamable-sse) echo 18712 ;;
    streamable-auto) echo 18713 ;; rmcp) echo 18714 ;; ts-sdk) echo 18715 ;; py-sdk) echo 18716 ;;
    streamable-n1) echo 18717 ;; streamable-ncores) echo 18718 ;;
  esac
}
role_of() {
  case $1 in hyper-echo) echo reference ;; streamable-*) echo ours ;; *) echo peer ;; esac
}

# start NAME [MAX_SESSIONS]: one fresh server process; sets PID.
start() {
  local name=$1 max=${2:-} addr=127.0.0.1:$(port_of "$1")
  case $name in
    hyper-echo) "$ECHO" "$addr" 2>/dev/null & ;;
    streamable-json) "$OURS" --bind "$addr" --response-mode json ${max:+--max-sessions $max} 2>/dev/null & ;;
    streamable-sse) "$OURS" --bind "$addr" --response-mode sse ${max:+--max-sessions $max} 2>/dev/null & ;;
    streamable-auto) "$OURS" --bind "$addr" ${max:+--max-sessions $max} 2>/dev/null & ;;
    streamable-n1) rm -f "$METRICS"; "$METERED" --bind "$addr" --response-mode json --shards 1 --metrics-file "$METRICS" 2>/dev/null & ;;
    streamable-ncores) rm -f "$METRICS"; "$METERED" --bind "$addr" --response-mode json --shards "$SHARDS_N" --metrics-file "$METRICS" 2>/dev/null & ;;
    rmcp) "$RMCP" "$addr" 2>/dev/null & ;;
    ts-sdk) (cd "$CACHE/ts" && exec "$NODE" server.mjs "$addr") 2>/dev/null & ;;
    py-sdk) "$CACHE/py/venv/bin/python" bench/peers/py/server.py "$addr" ${max:+--max-sessions $max} 2>/dev/null & ;;
  esac
  PID=$!
  for _ in $(seq 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$(port_of "$name")") 2>/dev/null; then return 0; fi
    kill -0 "$PID" 2>/dev/null || { log "$name exited at start"; PID=; return 1; }
    sleep 0.1
  done
  log "$name did not listen within 30 s"; cleanup; return 1
}

# run NAME MODE ARGS...: one measurement against a fresh server.
run() {
  local name=$1 mode=$2; shift 2
  local max=
  [[ $mode == sessions ]] && max=200000
  start "$name" $max || return 0
  sleep 0.5
  local metered=()
  [[ $name == streamable-n1 || $name == streamable-ncores ]] && metered=(--driver-metrics "$METRICS")
  "$BENCH" --url "http://127.0.0.1:$(port_of "$name")/mcp" --mode "$mode" --pid "$PID" \
    --label "$name" --role "$(role_of "$name")" --out "$OUT" "${metered[@]}" "$@" || log "$name $mode failed"
  cleanup
}

# Rounds alternate the order of targets (forward, backward, ...).
rounds() {
  local -n list=$1; shift
  local r t order
  for ((r = 0; r < ROUNDS; r++)); do
    if ((r % 2 == 0)); then order=("${list[@]}"); else order=(); for ((t = ${#list[@]} - 1; t >= 0; t--)); do order+=("${list[t]}"); done; fi
    for t in "${order[@]}"; do "$@" "$t"; done
  done
}

pick() { local t out=(); for t in "$@"; do have "$t" && out+=("$t"); done; echo "${out[@]}"; }

json_run() { run "$1" json -c "$CONNS" -d "$DURATION"; }
sse_run() { run "$1" sse-stream -c "$SSE_STREAMS" -d "$DURATION" --events "$EVENTS" --interval-ms "$INTERVAL_MS"; }
modern_run() { run "$1" modern -c "$CONNS" -d "$DURATION"; }
scale_run() { run "$1" json -c "$SCALE_C" -d "$DURATION"; }
sessions_run() {
  case $1 in
    py-sdk) run "$1" sessions -c "$CONNS" --sessions "$PY_SESSIONS" --timeout 60 ;;
    *) run "$1" sessions -c "$CONNS" --sessions "$SESSIONS" --timeout 60 ;;
  esac
}

{
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "settings: CONNS=$CONNS DURATION=$DURATION ROUNDS=$ROUNDS SSE_STREAMS=$SSE_STREAMS EVENTS=$EVENTS INTERVAL_MS=$INTERVAL_MS SESSIONS=$SESSIONS PY_SESSIONS=$PY_SESSIONS"
} >&2

for phase in $PHASES; do
  case $phase in
    json) read -ra L <<< "$(pick hyper-echo streamable-json streamable-sse streamable-auto rmcp ts-sdk py-sdk)"; log "json"; rounds L json_run ;;
    sse) read -ra L <<< "$(pick hyper-echo streamable-sse streamable-auto rmcp ts-sdk py-sdk)"; log "sse-stream"; rounds L sse_run ;;
    modern) read -ra L <<< "$(pick hyper-echo streamable-auto rmcp ts-sdk py-sdk)"; log "modern"; ROUNDS=1 rounds L modern_run ;;
    scale)
      read -ra L <<< "$(pick hyper-echo streamable-n1 streamable-ncores rmcp)"
      log "scale: ${L[*]} at $SCALE_CONNS connections (streamable-ncores: $SHARDS_N shards)"
      for SCALE_C in $SCALE_CONNS; do rounds L scale_run; done ;;
    sessions) read -ra L <<< "$(pick streamable-auto rmcp ts-sdk py-sdk)"; log "sessions"; ROUNDS=1 rounds L sessions_run ;;
    *) log "unknown phase $phase" ;;
  esac
done

cp "$OUT" "$CACHE/latest.jsonl"
log "results: $OUT"
"$BENCH" report "$OUT"
