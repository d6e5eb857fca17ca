#!/usr/bin/env bash
# The built packages as a user gets them (after `pnpm build`): every entry point loads as ESM and
# as CJS, and the conformance bin passes on the memory store.
set -euo pipefail
cd "$(dirname "$0")/.."
for p in core memory sqlite redis postgres keyv conformance; do
  (cd "packages/$p" && node -e "
    require('@mcp-sessions/$p');
    import('@mcp-sessions/$p').then(() => console.log('dist ok: @mcp-sessions/$p (esm + cjs)'));")
done
(cd packages/core && node -e "require('@mcp-sessions/core/http'); import('@mcp-sessions/core/http').then(() => console.log('dist ok: @mcp-sessions/core/http (esm + cjs)'))")
(cd packages/memory && node ../conformance/dist/bin.js ./test/fixtures/conformance-module.mjs > /tmp/mcp-sessions-bin.log) ||
  { cat /tmp/mcp-sessions-bin.log; echo "the built conformance bin failed on the memory store" >&2; exit 1; }
echo "dist ok: mcp-sessions-conformance passes on the memory store"
