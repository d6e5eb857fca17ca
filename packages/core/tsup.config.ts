import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'esbuild';
import { defineConfig } from 'tsup';

const httpDir = fileURLToPath(new URL('./src/http/', import.meta.url));
const telemetryFile = fileURLToPath(new URL('./src/telemetry.ts', import.meta.url));

/**
 * `@mcp-sessions/core/http` imports the root entry by the package's own name instead of bundling a
 * copy of it: CJS builds share no chunks, so a copy would mean a second `SessionManager` and second
 * error classes, and `instanceof` would fail across the two entry points. Every module the http
 * files reach with `../x` is re-exported by `src/index.ts`, and Node resolves the self-reference
 * through the exports map (ESM and CJS alike). `@mcp-sessions/core/telemetry` likewise.
 */
const httpImportsRootByName: Plugin = {
  name: 'http-imports-root-by-name',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (!args.importer.startsWith(httpDir) && args.importer !== telemetryFile) return undefined;
      const target = path.resolve(path.dirname(args.importer), args.path);
      if (target.startsWith(httpDir)) return undefined;
      return { path: '@mcp-sessions/core', external: true };
    });
  },
};

export default defineConfig({
  entry: { index: 'src/index.ts', 'http/index': 'src/http/index.ts', telemetry: 'src/telemetry.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  esbuildPlugins: [httpImportsRootByName],
});
