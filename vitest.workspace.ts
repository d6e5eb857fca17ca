import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));

/** Every package's tests run against its TypeScript source, not a stale build. */
export const sourceAliases = [
  { find: /^@mcp-sessions\/core\/adapter$/, replacement: `${root}packages/core/src/adapter.ts` },
  { find: /^@mcp-sessions\/core\/http$/, replacement: `${root}packages/core/src/http/index.ts` },
  {
    find: /^@mcp-sessions\/(core|memory|sqlite|redis|postgres|keyv|conformance|cli)$/,
    replacement: `${root}packages/$1/src/index.ts`,
  },
];

/**
 * Limits every project shares (projects do not inherit the root config's `test` options). Generous:
 * the suites start real processes and servers on a 2-core machine; speed is measured in `pnpm bench`.
 */
export const projectTimeouts = { testTimeout: 60_000, hookTimeout: 120_000 };

/** The vitest projects, one per package and example. */
export const projects = ['packages/*', 'examples/*'];
