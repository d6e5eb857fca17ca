#!/usr/bin/env node
/**
 * `mcp-sessions-conformance <module>`: runs the conformance suite with node:test against a module
 * that exports `createStore` (and optionally `reopenStore`, `destroyStore`, `disabled`, `name`,
 * `scale`). For adapter authors who do not use vitest. Exits non-zero when a test fails.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, extname, isAbsolute, join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { SessionStore } from '@mcp-sessions/core';
import type { ConformanceOptions } from './index';

const USAGE = `usage: mcp-sessions-conformance <module>

<module> is a file path (relative to the current directory) or a package name. It exports
  createStore(): SessionStore | Promise<SessionStore>    a fresh, empty store per test (required)
  destroyStore(store): Promise<void>                     default: store.close()
  reopenStore(store): Promise<SessionStore>              enables the durability tests
  disabled: string[]                                     full test names to skip
  name: string, scale: number
TypeScript modules need a loader: node --import tsx "$(command -v mcp-sessions-conformance)" ./store.ts`;

type AdapterModule = Pick<
  ConformanceOptions,
  'createStore' | 'destroyStore' | 'reopenStore' | 'disabled' | 'scale'
> & {
  name: string;
};

async function main(args: readonly string[]): Promise<void> {
  const [specifier, ...extra] = args;
  if (!specifier || specifier === '-h' || specifier === '--help' || extra.length > 0) {
    console.error(USAGE);
    process.exitCode = 2;
    return;
  }
  const loaded: unknown = await import(moduleUrl(specifier, process.cwd()));
  const adapter = parseAdapterModule(loaded, specifier);
  // Loaded only now, after source maps were enabled: Node maps modules loaded after that only.
  const { runConformance } = await import('./index');
  runConformance({ ...adapter, describe, it, beforeEach, afterEach });
}

// --- Internal helpers ---

/** A path (anything that exists, or starts with `.` or `/`) resolves against cwd; otherwise a package from cwd. */
function moduleUrl(specifier: string, cwd: string): string {
  const asPath = isAbsolute(specifier) ? specifier : resolve(cwd, specifier);
  if (specifier.startsWith('.') || isAbsolute(specifier) || existsSync(asPath))
    return pathToFileURL(asPath).href;
  try {
    return pathToFileURL(createRequire(join(cwd, 'package.json')).resolve(specifier)).href;
  } catch {
    return specifier; // let import() report it, resolved from here
  }
}

function parseAdapterModule(loaded: unknown, specifier: string): AdapterModule {
  const candidates = [loaded, isObject(loaded) ? loaded.default : undefined];
  const mod = candidates.find((c) => isObject(c) && typeof c.createStore === 'function');
  if (!isObject(mod)) throw new TypeError(`${specifier} does not export a createStore() function`);
  const createStore = mod.createStore as () => SessionStore | Promise<SessionStore>;
  const adapter: AdapterModule = {
    name: typeof mod.name === 'string' ? mod.name : basename(specifier, extname(specifier)),
    createStore: () => createStore(),
  };
  const { destroyStore, reopenStore, disabled, scale } = mod;
  if (destroyStore !== undefined) {
    if (typeof destroyStore !== 'function')
      throw new TypeError(`${specifier}: destroyStore must be a function`);
    adapter.destroyStore = (store) => destroyStore(store);
  }
  if (reopenStore !== undefined) {
    if (typeof reopenStore !== 'function')
      throw new TypeError(`${specifier}: reopenStore must be a function`);
    adapter.reopenStore = (store) => reopenStore(store);
  }
  if (disabled !== undefined) {
    if (!Array.isArray(disabled) || !disabled.every((d) => typeof d === 'string')) {
      throw new TypeError(`${specifier}: disabled must be an array of test names`);
    }
    adapter.disabled = disabled;
  }
  if (scale !== undefined) {
    if (typeof scale !== 'number' || !(scale > 0))
      throw new TypeError(`${specifier}: scale must be a positive number`);
    adapter.scale = scale;
  }
  return adapter;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null;
}

// A failed assertion's stack and location then point at the suite's TypeScript source (shipped in
// `src/`), not at the bundled `dist/` file.
process.setSourceMapsEnabled(true);
main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 2;
});
