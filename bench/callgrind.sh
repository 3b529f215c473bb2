#!/usr/bin/env bash
# Instructions per tools/call, counted by callgrind: the noise-free companion
# of run.sh for the native targets (wall-clock figures on a shared machine
# move with its load; instruction counts do not).
#
#   bench/callgrind.sh            # after bench/run.sh has built everything
#
# Each server runs under `valgrind --tool=callgrind` while streamable-bench
# sends json-mode calls for DURATION seconds over CONNS connections; the
# server's total instructions, less those of an idle start and stop of the
# same server, divided by the calls counted, is the figure.
# Settings (environment): CONNS=8 DURATION=8 TARGETS="hyper-echo streamable-json ..."
# (also streamable-n1 / streamable-ncores: one driver, one per core; compare
# CONNS=32 with CONNS=512 for what grows with concurrency, issue 19)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=$ROOT/.cache/bench
CONNS=${CONNS:-8}
DURATION=${DURATION:-8}
TARGETS=${TARGETS:-hyper-echo streamable-json streamable-sse streamable-auto rmcp}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BENCH=$TARGET_DIR/release/streamable-bench
OURS=$TARGET_DIR/release/examples/server
ECHO=$TARGET_DIR/release/examples/hyper_echo
RMCP=$CACHE/rmcp-server/target/release/rmcp-bench-server
ADDR=127.0.0.1:18740
OUT=$CACHE/callgrind
mkdir -p "$OUT"

cmd() {
  case $1 in
    hyper-echo) echo "$ECHO $ADDR" ;;
    streamable-json) echo "$OURS --bind $ADDR --response-mode json" ;;
    streamable-sse) echo "$OURS --bind $ADDR --response-mode sse" ;;
    streamable-auto) echo "$OURS --bind $ADDR" ;;
    streamable-n1) echo "$OURS --bind $ADDR --response-mode json --shards 1" ;;
    streamable-ncores) echo "$OURS --bind $ADDR --response-mode json --shards $(nproc)" ;;
    rmcp) echo "$RMCP $ADDR" ;;
  esac
}

# measure NAME LOAD: total instructions of the server (LOAD=1: with calls).
measure() {
  local name=$1 load=$2 file=$OUT/$1-$2.out pid calls=0
  # shellcheck disable=SC2046
  valgrind --tool=callgrind --callgrind-out-file="$file" $(cmd "$name") 2>/dev/null &
  pid=$!
  for _ in $(seq 300); do (exec 3<>"/dev/tcp/${ADDR%:*}/${ADDR#*:}") 2>/dev/null && break; sleep 0.1; done
  if [[ $load == 1 ]]; then
    rm -f "$OUT/$name.jsonl"
    "$BENCH" --url "http://$ADDR/mcp" --mode json -c "$CONNS" -d "$DURATION" --warmup 0 \
      --label "$name" --out "$OUT/$name.jsonl" --timeout 60 >/dev/null
    calls=$(grep -o '"ok":[0-9]*' "$OUT/$name.jsonl" | cut -d: -f2)
  else
    sleep 1
  fi
  kill -INT "$pid" 2>/dev/null || true
  sleep 1
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "$(grep '^totals:' "$file" | awk '{print $2}') $calls"
}

printf '| target | calls | instructions/call | x hyper-echo |\n|---|---:|---:|---:|\n'
base=
for t in $TARGETS; do
  read -r idle _ <<< "$(measure "$t" 0)"
  read -r total calls <<< "$(measure "$t" 1)"
  per=$(( (total - idle) / (calls > 0 ? calls : 1) ))
  [[ $t == hyper-echo ]] && base=$per
  ratio=-
  [[ -n $base ]] && ratio=$(awk -v a="$base" -v b="$per" 'BEGIN{printf "%.2f", a/b}')
  printf '| %s | %s | %s | %s |\n' "$t" "$calls" "$per" "$ratio"
done
