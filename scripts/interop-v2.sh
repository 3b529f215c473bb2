#!/usr/bin/env bash
# Interop with the official TypeScript SDK v2, both directions, on 127.0.0.1:
#
# 1. its client (@modelcontextprotocol/client, scripts/interop-v2/ts2-client.mjs)
#    against our server (the `conformance` example) in three negotiation
#    modes: legacy (2025 `initialize`), auto (`server/discover` probe, then
#    2026-07-28) and pinned 2026-07-28 — tools/list, a structured result,
#    progress, and an elicitation (multi-round-trip at 2026-07-28);
# 2. our client (the `conformance-client` example, `--interop-v2 ERA`) against
#    its server (@modelcontextprotocol/server, scripts/interop-v2/ts2-server.mjs)
#    in the legacy, auto and modern eras — tools/list, a structured result,
#    progress, and at 2026-07-28 a multi-round-trip elicitation.
#
#   bash scripts/interop-v2.sh
#
# Installs on first use, pinned, into .cache/ (git-ignored): Node >= 22 in
# .cache/node (scripts/lib/node22.sh, shared with the other scripts) and the
# npm packages of scripts/interop-v2/package-lock.json in .cache/interop-v2.
# Every step must pass. Results: results/interop-v2/ (git-ignored).
# Environment: CONFORMANCE_PROFILE (cargo profile of our binaries, default release).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=$ROOT/.cache
OUT=$ROOT/results/interop-v2
PROFILE=${CONFORMANCE_PROFILE:-release}
PINS=$ROOT/scripts/interop-v2
T0=$SECONDS
say() { echo "[interop-v2 $((SECONDS - T0))s] $*"; }

# shellcheck source=lib/node22.sh
source "$ROOT/scripts/lib/node22.sh"
NODE_BIN=$(ensure_node22 "$CACHE")
export PATH="$NODE_BIN:$PATH"

TOOLS=$CACHE/interop-v2
# The stamp is written only after a complete install, so an interrupted one is redone.
if ! cmp -s "$PINS/package-lock.json" "$TOOLS/installed.lock"; then
  say "installing the pinned TypeScript SDK v2 into $TOOLS"
  mkdir -p "$TOOLS"
  rm -f "$TOOLS/installed.lock"
  cp "$PINS/package.json" "$PINS/package-lock.json" "$TOOLS/"
  (cd "$TOOLS" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$PINS/package-lock.json" "$TOOLS/installed.lock"
fi
# The scripts run from the tools folder so that they resolve the pinned SDK.
cp "$PINS/ts2-client.mjs" "$PINS/ts2-server.mjs" "$TOOLS/"
say "node $(node --version), @modelcontextprotocol/client $(node -p "require('$TOOLS/node_modules/@modelcontextprotocol/client/package.json').version"), /server $(node -p "require('$TOOLS/node_modules/@modelcontextprotocol/server/package.json').version")"

say "building the conformance and conformance-client fixtures ($PROFILE)"
cargo build --quiet --profile "$PROFILE" --workspace --bin conformance --bin conformance-client
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
case $PROFILE in dev | test) PDIR=debug ;; *) PDIR=$PROFILE ;; esac
FIXTURE=$TARGET_DIR/$PDIR/conformance
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

start_server() { # name pattern cmd... -> sets URL; pattern: sed expression printing the URL from the log
  local name=$1 pattern=$2 log=$OUT/$1-server.log
  shift 2
  "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  URL=
  for _ in $(seq 1 100); do
    URL=$(sed -n "$pattern" "$log" | head -n 1)
    [ -n "$URL" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$URL" ]; then
    echo "$name: the server did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
  say "$name on $URL"
}

status=0
PASSED=0
TOTAL=0
run_client() { # label cmd... : one JSON line per step on stdout, exit 0 when all passed
  local label=$1 rc=0 ok all
  shift
  timeout 60 "$@" >"$OUT/$label.jsonl" 2>"$OUT/$label.log" || rc=$?
  ok=$(grep -c '"ok":true' "$OUT/$label.jsonl" || true)
  all=$(grep -c '"ok":' "$OUT/$label.jsonl" || true)
  PASSED=$((PASSED + ok))
  TOTAL=$((TOTAL + all))
  if [ "$rc" -eq 0 ] && [ "$ok" -eq "$all" ] && [ "$all" -gt 0 ]; then
    say "$label: $ok/$all steps passed"
  else
    say "$label: FAILED (exit $rc, $ok/$all steps passed)"
    grep '"ok":false' "$OUT/$label.jsonl" | cut -c1-600 >&2 || true
    tail -n 5 "$OUT/$label.log" >&2
    status=1
  fi
}

start_server streamable 's#.*\(http://127\.0\.0\.1:[0-9]*/mcp\).*#\1#p' "$FIXTURE" --bind 127.0.0.1:0
for mode in legacy auto pin; do
  run_client "ts2-client-$mode" node "$TOOLS/ts2-client.mjs" "$mode" "$URL"
done
stop_server

start_server ts2-server 's#^PORT \([0-9]*\)$#http://127.0.0.1:\1/mcp#p' node "$TOOLS/ts2-server.mjs"
for era in legacy auto modern; do
  run_client "our-client-$era" "$CLIENT" --interop-v2 "$era" "$URL"
done
stop_server

say "interop-v2: $PASSED/$TOTAL steps passed"
echo "interop-v2: $PASSED passed, $((TOTAL - PASSED)) failed"
exit $status
