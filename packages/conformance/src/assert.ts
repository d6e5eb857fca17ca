/** Assertions the groups share; plain `node:assert`, so any runner reports them. */
import assert from 'node:assert/strict';

/** An error class of core's hierarchy, matched by identity or, across duplicate copies of core, by name. */
export interface ErrorType<E extends Error = Error> {
  readonly name: string;
  /** `never[]`: any error class fits, whatever its constructor takes. */
  new (...args: never[]): E;
}

/**
 * Awaits `work` and asserts it rejects with `type`. An error of the same class name carrying a
 * `code` also counts: an adapter bundling another copy of core still throws the right error.
 */
export async function rejectsWith<E extends Error>(
  work: Promise<unknown>,
  type: ErrorType<E>,
  what: string,
): Promise<E> {
  let outcome: { ok: true; value: unknown } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: await work };
  } catch (error) {
    outcome = { ok: false, error };
  }
  if (outcome.ok) {
    assert.fail(`${what}: expected ${type.name}, but it resolved with ${describe(outcome.value)}`);
  }
  const error = outcome.error;
  if (isErrorOf(error, type)) return error;
  assert.fail(`${what}: expected ${type.name}, got ${describe(error)}`);
}

export function isErrorOf<E extends Error>(error: unknown, type: ErrorType<E>): error is E {
  if (error instanceof type) return true;
  return (
    error instanceof Error &&
    error.name === type.name &&
    typeof (error as Error & { code?: unknown }).code === 'string'
  );
}

/**
 * Asserts two id sequences are equal, with a short message naming the first difference,
 * duplicates and gaps (a 10k-element diff helps nobody).
 */
export function assertSameSequence(
  actual: readonly string[],
  expected: readonly string[],
  what: string,
): void {
  if (actual.length === expected.length && actual.every((id, i) => id === expected[i])) return;
  const seen = new Set<string>();
  const duplicates = new Set<string>();
  for (const id of actual) (seen.has(id) ? duplicates : seen).add(id);
  const missing = expected.filter((id) => !seen.has(id));
  const expectedSet = new Set(expected);
  const extra = [...seen].filter((id) => !expectedSet.has(id));
  const at = actual.findIndex((id, i) => id !== expected[i]);
  const first = at === -1 ? Math.min(actual.length, expected.length) : at;
  assert.fail(
    [
      `${what}: got ${actual.length} ids, expected ${expected.length}`,
      `first difference at #${first}: got ${JSON.stringify(actual[first])}, expected ${JSON.stringify(expected[first])}`,
      `duplicates: ${sample(duplicates)}`,
      `missing: ${sample(missing)}`,
      `unexpected: ${sample(extra)}`,
    ].join('\n'),
  );
}

function sample(ids: Iterable<string>): string {
  const all = [...ids];
  if (all.length === 0) return 'none';
  const head = all.slice(0, 5).map((id) => JSON.stringify(id));
  return `${all.length} (${head.join(', ')}${all.length > 5 ? ', ...' : ''})`;
}

function describe(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text.length > 200 ? `${text.slice(0, 200)}...` : text;
  } catch {
    return String(value);
  }
}
