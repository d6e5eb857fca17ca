import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));

/** Every package's tests run against its TypeScript source, not a stale build. */
export const sourceAliases = [
  { find: /^@mcp-sessions\/core\/http$/, replacement: `${root}packages/core/src/http/index.ts` },
  {
    find: /^@mcp-sessions\/(core|memory|sqlite|redis|postgres|keyv|conformance)$/,
    replacement: `${root}packages/$1/src/index.ts`,
  },
];

/** The vitest projects, one per package and example. */
export const projects = ['packages/*', 'examples/*'];
