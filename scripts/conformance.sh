#!/usr/bin/env bash
# External checks of the server: the official MCP conformance suite
# (`conformance server --requirements REV` for both revisions we serve), the
# official Python SDK client and the MCP Inspector CLI, all against the
# `conformance` fixture (fixtures/src/bin/conformance/main.rs) on 127.0.0.1.
#
#   bash scripts/conformance.sh
#
# Installs what it needs on first use, pinned, into .cache/ (git-ignored):
# Node >= 22 (scripts/lib/node22.sh), the npm tools of
# scripts/conformance/package-lock.json, and a Python venv with
# scripts/conformance/requirements.txt. Later runs reuse them while the pins
# are unchanged.
#
# The suite runs each revision's frozen requirement set (`--requirements
# 2026-07-28`, which also runs and reports the unscored extension (tasks) and
# pending scenarios, and `--requirements 2025-11-25`) against the default
# configuration (response mode Auto) and with `--response-mode sse`: four
# legs, auto-2026, auto-2025, sse-2026, sse-2025. Any FAILURE or WARNING fails
# the run, scored or not, except in a scenario that
# scripts/conformance/expected-failures.txt lists for that leg with its reason
# (a listed scenario that runs clean fails the run too, so the list cannot
# go stale). Results: results/conformance/ (git-ignored):
# <leg>/server-*/checks.json, logs, and summary.md (the table
# docs/compliance.md quotes).
#
# Environment: CONFORMANCE_PROFILE (cargo profile of the fixture, default
# release), CONFORMANCE_OUT (results folder).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=$ROOT/.cache
OUT=${CONFORMANCE_OUT:-$ROOT/results/conformance}
PROFILE=${CONFORMANCE_PROFILE:-release}
PINS=$ROOT/scripts/conformance
T0=$SECONDS

say() { echo "[conformance $((SECONDS - T0))s] $*"; }

# ------------------------------------------------------------------ installs
# shellcheck source=lib/node22.sh
source "$ROOT/scripts/lib/node22.sh"
NODE_BIN=$(ensure_node22 "$CACHE")
export PATH="$NODE_BIN:$PATH"
say "node $(node --version) from $NODE_BIN"

TOOLS=$CACHE/conformance
# The stamp is written only after a complete install, so an interrupted one
# is redone.
if ! cmp -s "$PINS/package-lock.json" "$TOOLS/installed.lock"; then
  say "installing the pinned npm tools into $TOOLS"
  mkdir -p "$TOOLS"
  rm -f "$TOOLS/installed.lock"
  cp "$PINS/package.json" "$PINS/package-lock.json" "$TOOLS/"
  (cd "$TOOLS" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$PINS/package-lock.json" "$TOOLS/installed.lock"
fi
CONFORMANCE="$TOOLS/node_modules/@modelcontextprotocol/conformance/dist/index.js"
INSPECTOR="$TOOLS/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js"

VENV=$CACHE/venv
if ! cmp -s "$PINS/requirements.txt" "$VENV/installed.txt"; then
  say "installing the Python SDK into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$PINS/requirements.txt"
  cp "$PINS/requirements.txt" "$VENV/installed.txt"
fi

# ------------------------------------------------------------------- fixture
say "building the conformance fixture ($PROFILE)"
cargo build --quiet --profile "$PROFILE" --workspace --bin conformance
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
case $PROFILE in dev | test) PDIR=debug ;; *) PDIR=$PROFILE ;; esac
FIXTURE=$TARGET_DIR/$PDIR/conformance

rm -rf "$OUT"
mkdir -p "$OUT"
FIXTURE_PID=
stop_fixture() {
  if [ -n "$FIXTURE_PID" ]; then
    kill "$FIXTURE_PID" 2>/dev/null || true
    wait "$FIXTURE_PID" 2>/dev/null || true
    FIXTURE_PID=
  fi
}
trap stop_fixture EXIT

start_fixture() { # mode -> sets URL (port chosen by the OS, so runs never collide)
  local log=$OUT/fixture-$1.log
  "$FIXTURE" --bind 127.0.0.1:0 --response-mode "$1" 2>"$log" &
  FIXTURE_PID=$!
  URL=
  for _ in $(seq 1 100); do
    URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*/mcp' "$log" || true)
    [ -n "$URL" ] && break
    kill -0 "$FIXTURE_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$URL" ]; then
    echo "the fixture did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
  say "fixture ($1) on $URL"
}

FAILED=()
RESULTS=()

run_suite() { # mode revision
  local mode=$1 rev=$2 leg="$1-${2:0:4}" rc=0
  say "conformance server --requirements $rev ($mode)"
  # The suite's own exit code is 1 whenever any check fails, expected or not;
  # summarize.py judges instead. A timeout (124) or a crash with no
  # checks.json still fails the leg.
  timeout 300 node "$CONFORMANCE" server --url "$URL" --requirements "$rev" -o "$OUT/$leg" \
    >"$OUT/suite-$leg.log" 2>&1 || rc=$?
  [ "$rc" -eq 124 ] || rc=0
  python3 "$PINS/summarize.py" "$OUT/$leg" "$leg" --expected "$PINS/expected-failures.txt" \
    >"$OUT/table-$leg.md" || rc=1
  grep -E '^(PROBLEM|EXPECTED-BECAUSE)' "$OUT/table-$leg.md" || true
  local line
  line=$(python3 "$PINS/summarize.py" --line "$OUT/$leg" 2>/dev/null || echo "no summary")
  RESULTS+=("conformance suite --requirements $rev, response mode $mode: $line (exit $rc)")
  [ "$rc" -eq 0 ] || FAILED+=("conformance suite ($leg): see $OUT/suite-$leg.log and $OUT/table-$leg.md")
}

run_python_client() {
  local rc=0
  say "Python SDK client"
  timeout 120 "$VENV/bin/python" "$PINS/py_client.py" "$URL" >"$OUT/python-client.log" 2>&1 || rc=$?
  RESULTS+=("Python SDK client ($(grep -o 'mcp==[0-9.]*' "$PINS/requirements.txt")): $(tail -n 1 "$OUT/python-client.log") (exit $rc)")
  if [ "$rc" -ne 0 ]; then
    grep -E '^FAIL|Error' "$OUT/python-client.log" >&2 || tail -n 20 "$OUT/python-client.log" >&2
    FAILED+=("Python SDK client: see $OUT/python-client.log")
  fi
}

inspector() { # args... ; JSON on stdout, exit code as the Inspector's
  HOME=$CACHE/inspector-home timeout 120 node "$INSPECTOR" --cli "$URL" --transport http \
    --format json -q "$@"
}

run_inspector() {
  say "Inspector CLI"
  local ok=0 total=0 rc log=$OUT/inspector.log
  mkdir -p "$CACHE/inspector-home"
  : >"$log"
  expect() { # name, expected exit code, python expression over `r` (the JSON result), inspector args...
    local name=$1 want=$2 test=$3 rc=0 json
    shift 3
    total=$((total + 1))
    json=$(inspector "$@" 2>>"$log") || rc=$?
    echo "== $name (exit $rc): $json" >>"$log"
    if [ "$rc" -eq "$want" ] && python3 -c "import json,sys; r=json.loads(sys.argv[1])['result']; sys.exit(0 if ($test) else 1)" "$json" 2>>"$log"; then
      ok=$((ok + 1))
    else
      echo "Inspector check failed: $name (exit $rc, wanted $want): ${json:0:300}" >&2
    fi
  }
  # Every tool the fixture registers (legacy, 2026-07-28, MRTR and tasks fixtures).
  local tools=34
  expect "tools/list" 0 "len(r['tools']) == $tools and all(t.get('description') for t in r['tools'])" \
    --method tools/list
  expect "tools/list --strict (schema portability)" 0 "len(r['tools']) == $tools" \
    --method tools/list --strict
  expect "tools/call add" 0 'r["structuredContent"] == {"sum": 42}' \
    --method tools/call --tool-name add --tool-arg a=2 b=40
  expect "tools/call isError (exit 5)" 5 'r["isError"] is True' \
    --method tools/call --tool-name test_error_handling
  expect "resources/read" 0 'r["contents"][0]["text"].startswith("This is the content")' \
    --method resources/read --uri test://static-text
  expect "prompts/get" 0 "\"arg1='x', arg2='y'\" in r[\"messages\"][0][\"content\"][\"text\"]" \
    --method prompts/get --prompt-name test_prompt_with_arguments --prompt-args arg1=x arg2=y
  expect "tools/call --load (200 calls, 10 at once)" 0 'r["ok"] == 200 and r["errors"] == 0 and r["toolErrors"] == 0' \
    --method tools/call --tool-name test_simple_text --load --load-requests 200 --load-concurrency 10
  RESULTS+=("Inspector CLI ($(node "$INSPECTOR" --version 2>/dev/null | tail -n 1)): $ok/$total checks ok")
  [ "$ok" -eq "$total" ] || FAILED+=("Inspector CLI: see $log")
}

start_fixture auto
run_suite auto 2026-07-28
run_suite auto 2025-11-25
run_python_client
run_inspector
stop_fixture

start_fixture sse
run_suite sse 2026-07-28
run_suite sse 2025-11-25
stop_fixture

{
  echo "# Conformance run"
  echo
  echo "conformance $(node -p "require('$TOOLS/node_modules/@modelcontextprotocol/conformance/package.json').version"), Node $(node --version), $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  for r in "${RESULTS[@]}"; do echo "- $r"; done
  echo
  python3 "$PINS/summarize.py" --merge "auto-2026=$OUT/auto-2026" "sse-2026=$OUT/sse-2026" \
    "auto-2025=$OUT/auto-2025" "sse-2025=$OUT/sse-2025"
} >"$OUT/summary.md"

echo
echo "=== CONFORMANCE SUMMARY ($((SECONDS - T0)) s) ==="
printf '%s\n' "${RESULTS[@]}"
echo "results: $OUT (summary.md)"
if [ "${#FAILED[@]}" -gt 0 ]; then
  printf 'FAILED: %s\n' "${FAILED[@]}" >&2
  exit 1
fi
echo "conformance: everything passed"
