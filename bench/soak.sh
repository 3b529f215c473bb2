#!/usr/bin/env bash
# The soak (issue 18): the example server holds STREAMS standalone SSE
# streams plus a tools/call load for MINUTES minutes; RSS and open file
# descriptors are printed every SAMPLE_SECS. Not part of CI (it takes the
# machine for ten minutes); the result is kept in docs/benchmarks.md.
#
#   bench/soak.sh                      # 10,000 streams, 10 minutes
#   STREAMS=1000 MINUTES=1 bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
STREAMS=${STREAMS:-10000}
MINUTES=${MINUTES:-10}
CALL_CONNS=${CALL_CONNS:-8}
CALLS_PER_SEC=${CALLS_PER_SEC:-2000}
SAMPLE_SECS=${SAMPLE_SECS:-60}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}

# A descriptor per stream in each process (server and soak) plus headroom;
# as many as the hard limit allows.
WANT=$((STREAMS + 4096))
HARD=$(ulimit -Hn)
if [ "$HARD" != unlimited ] && [ "$HARD" -lt "$WANT" ]; then
  echo "soak: the hard limit of open files is $HARD; $STREAMS streams need about $WANT" >&2
  WANT=$HARD
fi
ulimit -n "$WANT"

cargo build --release -q -p streamable-bench --bin soak
cargo build --release -q -p streamable-hyper --example server

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$TARGET_DIR/release/examples/server" --bind "127.0.0.1:$PORT" \
  --max-sessions $((STREAMS + CALL_CONNS * 4 + 1000)) >/dev/null 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  (echo >/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break
  sleep 0.1
done
"$TARGET_DIR/release/soak" --url "http://127.0.0.1:$PORT/mcp" --pid "$SERVER" \
  --streams "$STREAMS" --minutes "$MINUTES" --call-conns "$CALL_CONNS" --calls-per-sec "$CALLS_PER_SEC" --sample-secs "$SAMPLE_SECS"
