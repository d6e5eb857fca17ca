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
(cd packages/core && node -e "require('@mcp-sessions/core/telemetry'); import('@mcp-sessions/core/telemetry').then(() => console.log('dist ok: @mcp-sessions/core/telemetry (esm + cjs)'))")
(cd packages/core && node -e "require('@mcp-sessions/core/adapter'); import('@mcp-sessions/core/adapter').then(() => console.log('dist ok: @mcp-sessions/core/adapter (esm + cjs)'))")
# The adapter entry creates and throws the root entry's error classes, not copies of them.
(cd packages/core && node -e "
  const check = (core, adapter, format) => {
    const wrapped = adapter.toStoreError(new Error('boom'), 'x', () => false);
    if (!(wrapped instanceof core.StoreError)) throw new Error(format + ': toStoreError gave a copy of StoreError');
    try { adapter.assertSessionId(''); } catch (error) {
      if (!(error instanceof core.InvalidArgumentError)) throw new Error(format + ': ' + error);
      return console.log('dist ok: @mcp-sessions/core/adapter shares the root entry\\'s classes (' + format + ')');
    }
    throw new Error(format + ': assertSessionId accepted an empty id');
  };
  check(require('@mcp-sessions/core'), require('@mcp-sessions/core/adapter'), 'cjs');
  Promise.all([import('@mcp-sessions/core'), import('@mcp-sessions/core/adapter')])
    .then(([core, adapter]) => check(core, adapter, 'esm'))
    .catch((error) => { console.error(error.message); process.exit(1); });")
# One SessionManager and one set of error classes per format: the http entry must take the root
# entry's (a bundled copy fails instanceof, and createEventStore(manager) takes the manager for a store).
(cd packages/memory && node -e "
  const check = (core, http, { MemorySessionStore }, format) => {
    const manager = new core.SessionManager({ store: new MemorySessionStore() });
    return http.createEventStore(manager).forSession(core.generateSessionId())
      .storeEvent('s', { jsonrpc: '2.0', method: 'x' })
      .then(() => { throw new Error(format + ': stored an event for a session that does not exist'); },
        (error) => {
          if (!(error instanceof core.SessionNotFoundError)) throw new Error(format + ': ' + error);
          console.log('dist ok: @mcp-sessions/core/http shares the root entry\'s classes (' + format + ')');
        });
  };
  check(require('@mcp-sessions/core'), require('@mcp-sessions/core/http'), require('@mcp-sessions/memory'), 'cjs')
    .then(() => Promise.all(['@mcp-sessions/core', '@mcp-sessions/core/http', '@mcp-sessions/memory'].map((m) => import(m))))
    .then(([core, http, memory]) => check(core, http, memory, 'esm'))
    .catch((error) => { console.error(error.message); process.exit(1); });")
(cd packages/memory && node ../conformance/dist/bin.js ./test/fixtures/conformance-module.mjs > /tmp/mcp-sessions-bin.log) ||
  { cat /tmp/mcp-sessions-bin.log; echo "the built conformance bin failed on the memory store" >&2; exit 1; }
echo "dist ok: mcp-sessions-conformance passes on the memory store"
# A failing store: the bin exits non-zero and its stacks point at the suite's TypeScript source.
if (cd packages/memory && node ../conformance/dist/bin.js ../../scripts/fixtures/broken-store.mjs > /tmp/mcp-sessions-bin-broken.log 2>&1); then
  echo "the built conformance bin passed a store whose insert overwrites" >&2; exit 1
fi
grep -q 'src/groups/records.ts:[0-9]' /tmp/mcp-sessions-bin-broken.log ||
  { cat /tmp/mcp-sessions-bin-broken.log; echo "the bin's failure stacks are not mapped to the source" >&2; exit 1; }
echo "dist ok: mcp-sessions-conformance fails a broken store, pointing at src/groups/records.ts"
