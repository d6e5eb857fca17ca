import { InvalidValueError } from './errors';

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/**
 * How many arrays and objects may enclose one another in a stored value (`[[1]]` is 2 deep).
 * Deeper values are refused with `InvalidValueError`: the check and `JSON.stringify` recurse,
 * and an unbounded depth would end in an untyped `RangeError` (stack overflow) instead.
 */
export const MAX_JSON_DEPTH = 1000;

/**
 * Serialises `value` to JSON text, first proving that it comes back exactly as it went in.
 * Throws `InvalidValueError` (naming the path) for cycles, BigInt, functions, symbols,
 * non-finite numbers, `undefined` at the top or in an array, objects that are not plain
 * (Date, Map, class instances: JSON would silently turn them into something else), and
 * nesting deeper than `MAX_JSON_DEPTH`.
 * `undefined` object properties are dropped and `-0` comes back as `0`, as with `JSON.stringify`.
 *
 * `envelope`: how many outer levels wrap the caller's values rather than being one (an adapter
 * serialising a whole record passes 1), so its metadata gets the same depth limit as alone.
 */
export function encodeJson(value: unknown, envelope = 0): string {
  check(value, '$', new Set(), -envelope);
  return JSON.stringify(value);
}

/** The size an event log counts for `encodeJson` text: its UTF-8 byte length. */
export function jsonByteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Parses text written by `encodeJson`. Own `__proto__` keys stay plain data. */
export function decodeJson(text: string): JsonValue {
  return JSON.parse(text) as JsonValue;
}

/** A deep, unshared copy of a value already known to be JSON (adapters that keep objects). */
export function cloneJson<T extends JsonValue>(value: T): T {
  return (typeof value === 'object' && value !== null ? JSON.parse(JSON.stringify(value)) : value) as T;
}

/** `depth`: how many containers enclose `value`; the recursion stops at `MAX_JSON_DEPTH`. */
function check(value: unknown, path: string, ancestors: Set<object>, depth: number): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new InvalidValueError(path, `${value} is not a finite number`);
      return;
    case 'object':
      break;
    default:
      throw new InvalidValueError(path, `${typeof value} cannot be stored`);
  }
  if (value === null) return;
  if (ancestors.has(value)) throw new InvalidValueError(path, 'cycle');
  if (depth >= MAX_JSON_DEPTH) {
    throw new InvalidValueError(shortPath(path), `nested deeper than ${MAX_JSON_DEPTH}`);
  }
  ancestors.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (value[i] === undefined) throw new InvalidValueError(`${path}[${i}]`, 'undefined in an array');
      check(value[i], `${path}[${i}]`, ancestors, depth + 1);
    }
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new InvalidValueError(path, `${proto?.constructor?.name ?? 'exotic'} object is not plain JSON`);
    }
    if (Object.getOwnPropertySymbols(value).length > 0) throw new InvalidValueError(path, 'symbol keys');
    for (const key of Object.keys(value)) {
      const child = (value as Record<string, unknown>)[key];
      if (child !== undefined) check(child, `${path}[${JSON.stringify(key)}]`, ancestors, depth + 1);
    }
  }
  ancestors.delete(value);
}

/** A path 1000 levels deep would make a message of kilobytes: keep its two ends. */
function shortPath(path: string): string {
  return path.length <= 200 ? path : `${path.slice(0, 100)}...${path.slice(-80)}`;
}
