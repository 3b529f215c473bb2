#!/usr/bin/env bash
# A real Redis for the tests (issue 17). Usage:
#
#   bash scripts/redis.sh COMMAND [ARGS...]
#
# installs Debian's redis-server (pinned) when it is missing, starts a fresh
# one bound to 127.0.0.1 on a free port, with no persistence, runs COMMAND
# with STREAMABLE_REDIS_URL=redis://127.0.0.1:PORT/ in its environment, then
# stops that Redis by its PID (also on failure or interrupt) and exits with
# COMMAND's status. The Redis tests (crate streamable-redis) read that
# variable; without it they say so loudly, and fail under CI=true.
#
# STREAMABLE_REDIS_PORT=N picks the port (default: a free one in 20000-29999).
set -euo pipefail

REDIS_PIN=5:7.0.15-1~deb12u7

if [ $# -eq 0 ]; then
  echo "usage: bash scripts/redis.sh COMMAND [ARGS...]" >&2
  exit 2
fi

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "redis.sh: redis-server is missing; install it (Debian: apt-get install redis-server=$REDIS_PIN)" >&2
    exit 1
  fi
  echo "redis.sh: installing redis-server=$REDIS_PIN" >&2
  export DEBIAN_FRONTEND=noninteractive
  # The package lists may be stale or absent on a fresh machine: update once if needed.
  apt-get install -y -q "redis-server=$REDIS_PIN" >&2 ||
    { apt-get update -q >&2 && apt-get install -y -q "redis-server=$REDIS_PIN" >&2; }
  # Debian's package starts a system service on 6379 where an init system
  # runs; the tests never use it (they get their own server below).
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/streamable-redis.XXXXXX")
REDIS_PID=
stop_redis() {
  if [ -n "$REDIS_PID" ]; then
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap stop_redis EXIT
trap 'exit 130' INT TERM

port_free() { # port -> true when nothing listens on 127.0.0.1:port
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_on() { # port -> true once that Redis answers PING
  local port=$1
  redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --pidfile "$dir/redis.pid" --dir "$dir" --logfile "$dir/redis.log" \
    --protected-mode yes --daemonize no &
  REDIS_PID=$!
  for _ in $(seq 1 100); do
    if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
      return 0
    fi
    kill -0 "$REDIS_PID" 2>/dev/null || break
    sleep 0.05
  done
  kill "$REDIS_PID" 2>/dev/null || true
  wait "$REDIS_PID" 2>/dev/null || true
  REDIS_PID=
  return 1
}

if [ -n "${STREAMABLE_REDIS_PORT:-}" ]; then
  candidates=$STREAMABLE_REDIS_PORT
else
  candidates=$(shuf -i 20000-29999 -n 20)
fi
RPORT=
for p in $candidates; do
  if port_free "$p" && start_on "$p"; then
    RPORT=$p
    break
  fi
done
if [ -z "$RPORT" ]; then
  echo "redis.sh: could not start redis-server (tried: $candidates)" >&2
  cat "$dir/redis.log" >&2 2>/dev/null || true
  exit 1
fi

export STREAMABLE_REDIS_URL="redis://127.0.0.1:$RPORT/"
export STREAMABLE_REDIS_PID=$REDIS_PID
echo "redis.sh: $(redis-server --version | cut -d' ' -f1-3) at $STREAMABLE_REDIS_URL (pid $REDIS_PID)" >&2
status=0
"$@" || status=$?
exit "$status"
