import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'esbuild';
import { defineConfig, type Options } from 'tsup';

/**
 * Modules holding the root entry's classes (and the store-failure scope the error classes write
 * to): the other entries import them, never copy them.
 */
const rootClassModules = new Set(
  ['./src/errors.ts', './src/manager.ts', './src/store-failures.ts'].map((file) =>
    fileURLToPath(new URL(file, import.meta.url)),
  ),
);

/**
 * `@mcp-sessions/core/http`, `/telemetry` and `/adapter` import the root entry by the package's own
 * name for `errors.ts` and `manager.ts` instead of bundling a copy of them: CJS builds share no
 * chunks, so a copy would mean a second `SessionManager` and second error classes, and `instanceof`
 * would fail across entry points. Every value those two modules export that the other entries
 * reach is re-exported by `src/index.ts`; Node resolves the self-reference through the exports map
 * (ESM and CJS alike). The remaining modules (pure functions, constants, the bus classes that only
 * `/adapter` exports) are bundled. This needs its own build: in one esbuild build the module graph
 * is shared, so the root entry would import itself.
 */
const rootClassesByName: Plugin = {
  name: 'root-classes-by-name',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      // Source imports name files without their extension (`'../errors'`).
      const target = `${path.resolve(args.resolveDir, args.path)}.ts`;
      if (!rootClassModules.has(target)) return undefined;
      return { path: '@mcp-sessions/core', external: true };
    });
  },
};

const shared: Options = {
  format: ['esm', 'cjs'],
  // The two builds run at once into one folder, so neither may clean it: it is emptied here, once.
  clean: false,
  sourcemap: true,
  target: 'node20',
};

const others = {
  'http/index': 'src/http/index.ts',
  telemetry: 'src/telemetry.ts',
  adapter: 'src/adapter.ts',
};

export default defineConfig(() => {
  rmSync(fileURLToPath(new URL('./dist', import.meta.url)), { recursive: true, force: true });
  return [
    // Declarations of every entry come from one build, so they share one declaration of each class
    // (two would make `SessionManager` from the root entry unassignable to the http entry's).
    { ...shared, entry: { index: 'src/index.ts' }, dts: { entry: { index: 'src/index.ts', ...others } } },
    { ...shared, entry: others, dts: false, esbuildPlugins: [rootClassesByName] },
  ];
});
