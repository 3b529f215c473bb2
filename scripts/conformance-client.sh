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
# added after the release), then its 25 auth/* scenarios (issue 15). With
# --requirements 2025-11-25: that revision's required client set
# (initialize, tools_call, sse-retry, elicitation defaults and its 14
# auth/* scenarios). With --extensions: the six auth extension scenarios
# (client credentials JWT and basic, DPoP with and without nonce,
# enterprise-managed authorization, WIF JWT bearer), run without
# --spec-version (the suite skips extensions at a dated revision). Named
# scenarios replace the default list. The fixture picks OAuth for any
# auth/* scenario from its name and MCP_CONFORMANCE_CONTEXT.
#
# Installs what it needs on first use, pinned, into .cache/ (git-ignored):
# Node >= 22 in .cache/node (scripts/lib/node22.sh, shared with
# scripts/conformance.sh) and the npm tools of scripts/interop/package-lock.json
# in .cache/client-interop. The suite's per-scenario servers are kept on
# 127.0.0.1 by scripts/interop/bind-loopback.cjs.
#
# Any FAILURE or WARNING check, or a client that exits with an error, fails
# the run, except in a scenario listed in
# scripts/conformance/client-expected-failures.txt for this leg (legacy,
# 2026-07-28, 2025-11-25, extensions), each with its reason; a listed
# scenario that runs clean fails the run too (remove its line then).
# Results: results/conformance-client/ (git-ignored; with --requirements
# REV: results/conformance-client-REV/; with --extensions:
# results/conformance-client-extensions/), one folder per
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
EXTENSIONS=
if [ "${1:-}" = --requirements ]; then
  REQUIREMENTS=${2:?--requirements needs a revision}
  shift 2
elif [ "${1:-}" = --extensions ]; then
  EXTENSIONS=1
  shift
fi
LEG=${REQUIREMENTS:-legacy}
[ -z "$EXTENSIONS" ] || LEG=extensions
OUT=$ROOT/results/conformance-client${REQUIREMENTS:+-$REQUIREMENTS}${EXTENSIONS:+-extensions}
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
  AUTH_2025=(auth/metadata-default auth/metadata-var1 auth/metadata-var2
    auth/metadata-var3 auth/basic-cimd auth/scope-from-www-authenticate
    auth/scope-from-scopes-supported auth/scope-omitted-when-undefined
    auth/scope-step-up auth/scope-retry-limit auth/token-endpoint-auth-basic
    auth/token-endpoint-auth-post auth/token-endpoint-auth-none auth/pre-registration)
  case $REQUIREMENTS in
  2026-07-28) DEFAULT=(tools_call request-metadata sep-2322-client-request-state
    http-standard-headers http-custom-headers http-invalid-tool-headers
    json-schema-ref-no-deref json-schema-2020-12-preservation
    "${AUTH_2025[@]}" auth/resource-mismatch auth/offline-access-scope
    auth/offline-access-not-supported auth/authorization-server-migration
    auth/iss-supported auth/iss-not-advertised auth/iss-supported-missing
    auth/iss-wrong-issuer auth/iss-unexpected auth/iss-normalized
    auth/metadata-issuer-mismatch) ;;
  2025-11-25) DEFAULT=(initialize tools_call elicitation-sep1034-client-defaults
    sse-retry "${AUTH_2025[@]}") ;;
  *) DEFAULT=() ;;
  esac
elif [ -n "$EXTENSIONS" ]; then
  DEFAULT=(auth/client-credentials-jwt auth/client-credentials-basic auth/dpop
    auth/dpop-nonce auth/enterprise-managed-authorization auth/wif-jwt-bearer)
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
  mkdir -p "$(dirname "$OUT/$s.log")"
  if ! node --require "$ROOT/scripts/interop/bind-loopback.cjs" "$CONFORMANCE" client \
    --command "$CLIENT" --scenario "$s" "${WIRE[@]}" --timeout 30000 -o "$OUT/$s" >"$OUT/$s.log" 2>&1; then
    say "scenario $s: the suite reports a failure (checks or the client's exit status)"
    echo "$s" >>"$OUT/.suite-failed"
  fi
  tail -n 3 "$OUT/$s.log"
done

# Every check of every scenario: FAILURE and WARNING fail the run.
python3 - "$OUT" "$LEG" "$ROOT/scripts/conformance/client-expected-failures.txt" <<'EOF' || status=1
import fnmatch, json, pathlib, sys
out, leg, listed = pathlib.Path(sys.argv[1]), sys.argv[2], pathlib.Path(sys.argv[3])
expected = {}
for n, line in enumerate(listed.read_text().splitlines() if listed.exists() else [], 1):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    entry, _, reason = line.partition("#")
    parts = entry.split()
    if len(parts) != 2 or not reason.strip():
        sys.exit(f"{listed}:{n}: want 'LEG-GLOB SCENARIO # reason'")
    if fnmatch.fnmatch(leg, parts[0]):
        expected[parts[1]] = reason.strip()
suite_failed = set()
if (out / ".suite-failed").exists():
    suite_failed = set((out / ".suite-failed").read_text().split())
bad, total, rows, failing = 0, 0, [], set()
for f in sorted(out.rglob("checks.json")):
    # OUT/SCENARIO/SCENARIO-TIMESTAMP/checks.json (a scenario name may hold a /)
    parts = f.parent.relative_to(out).parts
    scenario = "/".join(parts[: len(parts) // 2])
    checks = json.loads(f.read_text())
    for c in checks:
        if c.get("status") in ("SUCCESS", "FAILURE", "WARNING"):
            total += 1
        if c.get("status") in ("FAILURE", "WARNING"):
            failing.add(scenario)
            note = " (expected)" if scenario in expected else ""
            print(f"  {c['status']}{note}: {scenario}: {c.get('id')}: {c.get('errorMessage', '')}")
            bad += scenario not in expected
    rows.append((scenario, sum(c.get("status") == "SUCCESS" for c in checks)))
for scenario in sorted(suite_failed - failing):
    if scenario not in expected:
        bad += 1
        print(f"  FAILURE: {scenario}: the client exited with an error or timed out")
    failing.add(scenario)
ran = {r[0] for r in rows}
for scenario, reason in sorted(expected.items()):
    if scenario in ran and scenario not in failing:
        bad += 1
        print(f"  FAILURE: {scenario} is listed as an expected failure ({reason}) but ran clean: remove its line")
for scenario, ok in rows:
    print(f"  {scenario}: {ok} checks passed" + (" (expected failure: " + expected[scenario] + ")" if scenario in expected else ""))
print(f"conformance-client: {total} checks, {bad} unexpected failures")
sys.exit(1 if bad or not rows else 0)
EOF
say "done (status $status)"
exit $status
