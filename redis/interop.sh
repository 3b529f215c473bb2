#!/usr/bin/env bash
# The TypeScript SDK v2 client against three instances on one real Redis
# behind the tests' round-robin proxy (issue 17):
#
#   bash redis/interop.sh
#
# Runs itself under scripts/redis.sh, uses the SDK that scripts/interop-v2.sh
# installs into .cache/interop-v2 (installing it the same way if missing),
# builds the scaleout_server example (CONFORMANCE_PROFILE, default test) and
# runs redis/interop/ts-client.mjs against it. Exit status 0 when every step
# passed. PORT=18730.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z ${STREAMABLE_REDIS_URL:-} ]]; then
  exec bash scripts/redis.sh bash "$0" "$@"
fi
ROOT=$PWD
PORT=${PORT:-18730}
PROFILE=${CONFORMANCE_PROFILE:-test}
# shellcheck source=../scripts/lib/node22.sh
source "$ROOT/scripts/lib/node22.sh"
export PATH="$(ensure_node22 "$ROOT/.cache"):$PATH"
TOOLS=$ROOT/.cache/interop-v2
PINS=$ROOT/scripts/interop-v2
if ! cmp -s "$PINS/package-lock.json" "$TOOLS/installed.lock"; then
  mkdir -p "$TOOLS"
  rm -f "$TOOLS/installed.lock"
  cp "$PINS/package.json" "$PINS/package-lock.json" "$TOOLS/"
  (cd "$TOOLS" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$PINS/package-lock.json" "$TOOLS/installed.lock"
fi
cp redis/interop/ts-client.mjs "$TOOLS/ts-redis-client.mjs"
cargo build -q --profile "$PROFILE" -p streamable-redis --example scaleout_server
dir=$PROFILE
[[ $PROFILE == test || $PROFILE == dev ]] && dir=debug
SERVER=${CARGO_TARGET_DIR:-$ROOT/target}/$dir/examples/scaleout_server
"$SERVER" --bind "127.0.0.1:$PORT" --store redis --redis "$STREAMABLE_REDIS_URL" --instances 3 &
PID=$!
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done
(cd "$TOOLS" && node ts-redis-client.mjs "http://127.0.0.1:$PORT/mcp")
