#!/usr/bin/env bash
# Our client against the official SDK servers, both on 127.0.0.1:
# scripts/interop/ts-server.mjs (@modelcontextprotocol/sdk) and
# scripts/interop/py-server.py (`mcp` on PyPI). The client is the
# conformance-client fixture in `--interop` mode: initialize, tools/list,
# tools/call, progress, a sampling request answered while the call waits,
# and resumption (GET + Last-Event-ID) after the server drops the stream.
#
#   bash scripts/client-interop.sh
#
# Installs on first use, pinned, into .cache/ (git-ignored): Node >= 22 in
# .cache/node (shared with the other scripts), the npm packages of
# scripts/interop/package-lock.json in .cache/client-interop, and a venv with
# scripts/interop/requirements.txt in .cache/client-venv.
# Environment: CONFORMANCE_PROFILE (cargo profile of the client, default release).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=$ROOT/.cache
OUT=$ROOT/results/client-interop
PROFILE=${CONFORMANCE_PROFILE:-release}
T0=$SECONDS
say() { echo "[client-interop $((SECONDS - T0))s] $*"; }

# shellcheck source=lib/node22.sh
source "$ROOT/scripts/lib/node22.sh"
NODE_BIN=$(ensure_node22 "$CACHE")
export PATH="$NODE_BIN:$PATH"
# shellcheck source=interop/install.sh
source "$ROOT/scripts/interop/install.sh"
TOOLS=$(ensure_npm_tools "$CACHE")
VENV=$CACHE/client-venv
if ! cmp -s "$ROOT/scripts/interop/requirements.txt" "$VENV/requirements.txt"; then
  say "installing the Python SDK into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/scripts/interop/requirements.txt"
  cp "$ROOT/scripts/interop/requirements.txt" "$VENV/requirements.txt"
fi

say "building the conformance-client fixture ($PROFILE)"
cargo build --quiet --profile "$PROFILE" --workspace --bin conformance-client
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
case $PROFILE in dev | test) PDIR=debug ;; *) PDIR=$PROFILE ;; esac
CLIENT=$TARGET_DIR/$PDIR/conformance-client

rm -rf "$OUT"
mkdir -p "$OUT"
SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}
trap stop_server EXIT

# run NAME CMD...: start the server, read its port, run the client.
status=0
run() {
  local name=$1
  shift
  "$@" >"$OUT/$name-server.log" 2>&1 &
  SERVER_PID=$!
  local port=
  for _ in $(seq 1 100); do
    port=$(sed -n 's/^PORT \([0-9]*\)$/\1/p' "$OUT/$name-server.log" | head -n 1)
    [ -n "$port" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    say "$name: the server did not start"
    cat "$OUT/$name-server.log"
    status=1
    stop_server
    return
  fi
  if RUST_LOG=streamable_hyper=debug timeout 60 "$CLIENT" --interop "http://127.0.0.1:$port/mcp" >"$OUT/$name.jsonl" 2>"$OUT/$name-client.log"; then
    # The drop must really have happened: exactly one GET resumption.
    local resumed
    resumed=$(grep -c 'method=GET last_event_id=Some' "$OUT/$name-client.log" || true)
    say "$name: $(grep -c '"ok":true' "$OUT/$name.jsonl") steps passed, $resumed resumption(s)"
    [ "$resumed" = 1 ] || { say "$name: expected exactly one GET + Last-Event-ID"; status=1; }
  else
    say "$name: FAILED"
    cat "$OUT/$name.jsonl" "$OUT/$name-client.log"
    status=1
  fi
  stop_server
}

# The TS fixture runs from the tools folder so that it resolves the pinned SDK.
cp "$ROOT/scripts/interop/ts-server.mjs" "$TOOLS/ts-server.mjs"
run ts-sdk node "$TOOLS/ts-server.mjs"
run python-sdk "$VENV/bin/python" "$ROOT/scripts/interop/py-server.py"
say "done (status $status)"
exit $status
