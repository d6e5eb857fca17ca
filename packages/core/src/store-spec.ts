/**
 * Store specs: one string naming a store, as servers' `MCP_SESSIONS_STORE` and the CLI's `--store`
 * take it. `sqlite:<path>`, `memory:`, `redis://…`/`rediss://…`, `redis+cluster://host:port,host:port`
 * (a Redis Cluster, by some of its nodes), `postgres://…`/`postgresql://…`. Parsing only: which
 * adapter opens what a spec names is the application's choice (the CLI's `openStore` is one).
 */
import { resolve } from 'node:path';
import { InvalidArgumentError } from './errors';
import { redactUrl } from './logger';

export type StoreSpec =
  | { readonly kind: 'memory' }
  | { readonly kind: 'sqlite'; readonly filename: string }
  | { readonly kind: 'redis'; readonly url: string }
  | { readonly kind: 'redis-cluster'; readonly urls: readonly string[] }
  | { readonly kind: 'postgres'; readonly connectionString: string };

/** The spec's forms, for error messages and help. */
export const STORE_SPEC_FORMS =
  'sqlite:<path>, memory:, redis://…, rediss://…, redis+cluster://h:p,h:p, postgres://…';

/**
 * What `spec` names; `InvalidArgumentError` (its message redacted) when it names nothing. A
 * relative SQLite path is resolved against `cwd`.
 *
 * @example
 * ```ts
 * parseStoreSpec('redis+cluster://:pw@10.0.0.1:7000,10.0.0.2:7000');
 * // { kind: 'redis-cluster', urls: ['redis://:pw@10.0.0.1:7000', 'redis://:pw@10.0.0.2:7000'] }
 * ```
 */
export function parseStoreSpec(spec: string, cwd: string = process.cwd()): StoreSpec {
  if (spec === 'memory:' || spec === 'memory') return { kind: 'memory' };
  if (spec.startsWith('sqlite:')) {
    const path = spec.slice('sqlite:'.length);
    if (path === '') throw invalid(spec, 'sqlite: needs a file path (sqlite:./sessions.db)');
    return { kind: 'sqlite', filename: resolve(cwd, path) };
  }
  const cluster = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#]+)/.exec(spec);
  if (cluster) {
    const [, scheme, auth, hosts] = cluster;
    const urls = hosts!.split(',').map((host) => `${scheme}://${auth ? `${auth}@` : ''}${host}`);
    return { kind: 'redis-cluster', urls };
  }
  if (/^rediss?:\/\/./.test(spec)) return { kind: 'redis', url: spec };
  if (/^postgres(ql)?:\/\/./.test(spec)) return { kind: 'postgres', connectionString: spec };
  throw invalid(spec, `use ${STORE_SPEC_FORMS}`);
}

// --- Internal helpers ---

function invalid(spec: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError('store', `${JSON.stringify(redactUrl(spec))} is not a store spec: ${why}`);
}
