#!/usr/bin/env bash
# The official MCP conformance suite's CLIENT scenarios against our client
# (fixtures/src/bin/conformance-client.rs).
#
#   bash scripts/conformance-client.sh [--requirements REV] [scenario...]
#
# Without --requirements: the legacy scenarios at the suite's default wire
# (2025-11-25): initialize, tools_call, sse-retry,
# elicitation-sep1034-client-defaults.
# With --requirements 2026-07-28: every scenario runs at that revision's
# wire (`--spec-version 2026-07-28`, which sets MCP_CONFORMANCE_PROTOCOL_VERSION
# for the client); the default list is the revision's non-auth client set:
# tools_call, request-metadata, sep-2322-client-request-state,
# http-standard-headers, http-custom-headers, http-invalid-tool-headers,
# json-schema-ref-no-deref, json-schema-2020-12-preservation (the last one
# added after the release). Named scenarios replace the default list.
#
# Installs what it needs on first use, pinned, into .cache/ (git-ignored):
# Node >= 22 in .cache/node (scripts/lib/node22.sh, shared with
# scripts/conformance.sh) and the npm tools of scripts/interop/package-lock.json
# in .cache/client-interop. The suite's per-scenario servers are kept on
# 127.0.0.1 by scripts/interop/bind-loopback.cjs.
#
# Any FAILURE or WARNING check, or a client that exits with an error, fails
# the run. Results: results/conformance-client/ (git-ignored; with
# --requirements REV: results/conformance-client-REV/), one folder per
# scenario with checks.json.
#
# Environment: CONFORMANCE_PROFILE (cargo profile of the client, default
# release); CONFORMANCE_SUITE (path of a conformance suite's dist/index.js
# to use instead of the pinned one, e.g. a newer suite installed elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=$ROOT/.cache
REQUIREMENTS=
if [ "${1:-}" = --requirements ]; then
  REQUIREMENTS=${2:?--requirements needs a revision}
  shift 2
fi
OUT=$ROOT/results/conformance-client${REQUIREMENTS:+-$REQUIREMENTS}
PROFILE=${CONFORMANCE_PROFILE:-release}
T0=$SECONDS
say() { echo "[conformance-client $((SECONDS - T0))s] $*"; }

# shellcheck source=lib/node22.sh
source "$ROOT/scripts/lib/node22.sh"
NODE_BIN=$(ensure_node22 "$CACHE")
export PATH="$NODE_BIN:$PATH"
if [ -n "${CONFORMANCE_SUITE:-}" ]; then
  CONFORMANCE=$CONFORMANCE_SUITE
  say "node $(node --version), conformance from $CONFORMANCE"
else
  # shellcheck source=interop/install.sh
  source "$ROOT/scripts/interop/install.sh"
  TOOLS=$(ensure_npm_tools "$CACHE")
  CONFORMANCE="$TOOLS/node_modules/@modelcontextprotocol/conformance/dist/index.js"
  say "node $(node --version), conformance $(node -p "require('$TOOLS/node_modules/@modelcontextprotocol/conformance/package.json').version")"
fi

say "building the conformance-client fixture ($PROFILE)"
cargo build --quiet --profile "$PROFILE" --workspace --bin conformance-client
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
case $PROFILE in dev | test) PDIR=debug ;; *) PDIR=$PROFILE ;; esac
CLIENT=$TARGET_DIR/$PDIR/conformance-client

SCENARIOS=("$@")
WIRE=()
if [ -n "$REQUIREMENTS" ]; then
  WIRE=(--spec-version "$REQUIREMENTS")
  case $REQUIREMENTS in
  2026-07-28) DEFAULT=(tools_call request-metadata sep-2322-client-request-state
    http-standard-headers http-custom-headers http-invalid-tool-headers
    json-schema-ref-no-deref json-schema-2020-12-preservation) ;;
  *) DEFAULT=() ;;
  esac
else
  DEFAULT=(initialize tools_call sse-retry elicitation-sep1034-client-defaults)
fi
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=("${DEFAULT[@]}")
if [ ${#SCENARIOS[@]} -eq 0 ]; then
  echo "conformance-client: no default scenarios for $REQUIREMENTS; name them" >&2
  exit 2
fi
rm -rf "$OUT"
mkdir -p "$OUT"
status=0
for s in "${SCENARIOS[@]}"; do
  say "scenario $s"
  if ! node --require "$ROOT/scripts/interop/bind-loopback.cjs" "$CONFORMANCE" client \
    --command "$CLIENT" --scenario "$s" "${WIRE[@]}" --timeout 30000 -o "$OUT/$s" >"$OUT/$s.log" 2>&1; then
    say "scenario $s: the suite reports a failure (checks or the client's exit status)"
    status=1
  fi
  tail -n 3 "$OUT/$s.log"
done

# Every check of every scenario: FAILURE and WARNING fail the run.
python3 - "$OUT" <<'EOF' || status=1
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
bad, total, rows = 0, 0, []
for f in sorted(out.rglob("checks.json")):
    checks = json.loads(f.read_text())
    for c in checks:
        if c.get("status") in ("SUCCESS", "FAILURE", "WARNING"):
            total += 1
        if c.get("status") in ("FAILURE", "WARNING"):
            bad += 1
            print(f"  {c['status']}: {f.parent.name}: {c.get('id')}: {c.get('errorMessage', '')}")
    rows.append((f.relative_to(out).parts[0], sum(c.get("status") == "SUCCESS" for c in checks)))
for scenario, ok in rows:
    print(f"  {scenario}: {ok} checks passed")
print(f"conformance-client: {total - bad} passed, {bad} failed")
sys.exit(1 if bad or not rows else 0)
EOF
say "done (status $status)"
exit $status
