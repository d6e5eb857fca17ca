#!/usr/bin/env bash
# The packages as they would be published (after `pnpm build`): types resolve in every mode
# (attw: node10, node16 CJS and ESM, bundler) and package.json passes publint's strict rules.
set -euo pipefail
cd "$(dirname "$0")/.."
for p in core memory sqlite redis postgres keyv conformance cli; do
  (cd "packages/$p" && npx attw --pack . --format ascii >/tmp/mcp-sessions-attw.log 2>&1) ||
    { cat /tmp/mcp-sessions-attw.log; echo "attw: @mcp-sessions/$p has type problems" >&2; exit 1; }
  (cd "packages/$p" && npx publint --strict >/tmp/mcp-sessions-publint.log 2>&1) ||
    { cat /tmp/mcp-sessions-publint.log; echo "publint: @mcp-sessions/$p has problems" >&2; exit 1; }
  echo "packaging ok: @mcp-sessions/$p (attw, publint --strict)"
done
