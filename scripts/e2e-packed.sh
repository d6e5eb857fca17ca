#!/usr/bin/env bash
# A new user's first run, from the packed tarballs (after `pnpm build`): an empty app outside the
# workspace installs them with npm, takes the README's `## Use` block verbatim, type-checks it
# (node16 and bundler resolution, skipLibCheck off), builds it as ESM and as CommonJS, and each
# build must: answer `remember` to the official SDK client over HTTP, answer 404 for an unknown
# Mcp-Session-Id and for other paths, exit 0 on SIGTERM, and give the session back on restart.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
fixtures=$root/scripts/e2e-packed
packages=(core memory sqlite redis postgres keyv conformance)
sdk_version=1.32.2

work=$(mktemp -d "${TMPDIR:-/tmp}/mcp-sessions-e2e.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill -9 "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
say() { echo "e2e-packed: $*" >&2; }

for p in "${packages[@]}"; do
  (cd "packages/$p" && pnpm pack --pack-destination "$work/tarballs" >/dev/null)
done

# The README's install line names exactly what the app installs (the tarballs stand in for the registry).
install_line=$(node "$fixtures/extract-use.mjs" README.md bash)
want='npm i @mcp-sessions/core @mcp-sessions/sqlite @modelcontextprotocol/sdk zod'
[ "$install_line" = "$want" ] || { say "README install line is '$install_line', expected '$want'"; exit 1; }

app=$work/app
mkdir -p "$app/src"
cd "$app"
echo '{ "name": "e2e-app", "private": true }' >package.json
# better-sqlite3 compiles against the local Node headers rather than downloading them.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node_version.h ]; then
  export npm_config_nodedir=/usr
fi
# Every tarball, so that every package's declarations are checked; npm adds the drivers (peers).
say "npm install (the tarballs, @modelcontextprotocol/sdk@$sdk_version, zod)"
npm install --no-fund --no-audit --loglevel=error --prefer-offline \
  "$work"/tarballs/*.tgz \
  "@modelcontextprotocol/sdk@$sdk_version" zod typescript@5.9.3 @types/node@20 >&2

node "$fixtures/extract-use.mjs" "$root/README.md" ts >src/server.ts
cp src/server.ts src/server.mts
cp src/server.ts src/server.cts
for ext in ts mts cts; do cp "$fixtures/all-packages.ts" "src/all-packages.$ext"; done
cp "$fixtures"/tsconfig*.json "$fixtures/client.mjs" .
say "tsc: node16 (ESM .mts + CommonJS .cts) and bundler resolution"
# skipLibCheck is off so that our .d.ts files are checked as users' builds see them; errors inside
# the SDK's own declarations (it has some under CommonJS) are the SDK's and are not counted.
typecheck() {
  local errors
  npx tsc -p "$1" --pretty false >tsc.log 2>&1 || true
  errors=$(grep -E '^[^ ].*: error TS' tsc.log | grep -v '^node_modules/@modelcontextprotocol/sdk/' || true)
  if [ -n "$errors" ]; then cat tsc.log >&2; say "tsc -p $1 failed"; exit 1; fi
}
typecheck tsconfig.json
typecheck tsconfig.bundler.json
grep -q 'require("@mcp-sessions/core/http")' dist/server.cjs || { say "server.cjs does not require()"; exit 1; }

free_port() { node -e 's=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# Starts dist/$1 in its own data directory; waits for the README's "MCP server on" line.
start_server() {
  local entry=$1 data=$2
  port=$(free_port)
  (cd "$data" && PORT=$port exec node "$app/dist/$entry" >"$data/server.log" 2>&1) &
  server_pid=$!
  for _ in $(seq 1 200); do
    grep -q 'MCP server on' "$data/server.log" 2>/dev/null && return 0
    kill -0 "$server_pid" 2>/dev/null || { cat "$data/server.log" >&2; say "$entry died at start"; exit 1; }
    sleep 0.05
  done
  cat "$data/server.log" >&2; say "$entry did not start listening"; exit 1
}

# SIGTERM must end the process, with exit code 0, in a few seconds.
stop_server() {
  local entry=$1 data=$2 code=0
  kill -TERM "$server_pid"
  for _ in $(seq 1 100); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$server_pid" 2>/dev/null; then
    cat "$data/server.log" >&2; say "$entry still running 10 s after SIGTERM"; exit 1
  fi
  wait "$server_pid" || code=$?
  server_pid=
  [ "$code" = 0 ] || { cat "$data/server.log" >&2; say "$entry exited with $code on SIGTERM"; exit 1; }
}

for entry in server.mjs server.cjs; do
  data=$work/data-$entry
  mkdir -p "$data"
  start_server "$entry" "$data"
  url=http://127.0.0.1:$port/mcp
  session=$(node client.mjs "$url" remember) || { cat "$data/server.log" >&2; exit 1; }
  node client.mjs "$url" unknown || { cat "$data/server.log" >&2; exit 1; }
  stop_server "$entry" "$data"
  start_server "$entry" "$data"
  node client.mjs "http://127.0.0.1:$port/mcp" resume "$session" || { cat "$data/server.log" >&2; exit 1; }
  stop_server "$entry" "$data"
  say "ok: README example as ${entry#server.} — remember, 404 for an unknown session, exit on SIGTERM, same session after restart"
done
