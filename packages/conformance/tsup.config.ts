import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/bin.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  // `node:test` has no unprefixed twin: tsup's default rewrite to `test` breaks the bin.
  removeNodeProtocol: false,
});
