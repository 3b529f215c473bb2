# shellcheck shell=bash
# Source this, then `ensure_npm_tools CACHE_DIR`: installs the pinned npm
# tools of scripts/interop/package-lock.json (conformance suite, TypeScript
# SDK) into CACHE_DIR/client-interop once, reinstalls when the pins change,
# and prints the folder.
ensure_npm_tools() {
  local cache=$1 pins dir
  pins="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  dir=$cache/client-interop
  if ! cmp -s "$pins/package-lock.json" "$dir/package-lock.json" ||
    [ ! -f "$dir/node_modules/@modelcontextprotocol/conformance/dist/index.js" ]; then
    mkdir -p "$dir"
    cp "$pins/package.json" "$pins/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) || return 1
  fi
  echo "$dir"
}
