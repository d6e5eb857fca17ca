import { InvalidValueError } from './errors';

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/**
 * Serialises `value` to JSON text, first proving that it comes back exactly as it went in.
 * Throws `InvalidValueError` (naming the path) for cycles, BigInt, functions, symbols,
 * non-finite numbers, `undefined` at the top or in an array, and objects that are not plain
 * (Date, Map, class instances: JSON would silently turn them into something else).
 * `undefined` object properties are dropped and `-0` comes back as `0`, as with `JSON.stringify`.
 */
export function encodeJson(value: unknown): string {
  check(value, '$', new Set());
  return JSON.stringify(value);
}

/** Parses text written by `encodeJson`. Own `__proto__` keys stay plain data. */
export function decodeJson(text: string): JsonValue {
  return JSON.parse(text) as JsonValue;
}

/** A deep, unshared copy of a value already known to be JSON (adapters that keep objects). */
export function cloneJson<T extends JsonValue>(value: T): T {
  return (typeof value === 'object' && value !== null ? JSON.parse(JSON.stringify(value)) : value) as T;
}

function check(value: unknown, path: string, ancestors: Set<object>): void {
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
  ancestors.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (value[i] === undefined) throw new InvalidValueError(`${path}[${i}]`, 'undefined in an array');
      check(value[i], `${path}[${i}]`, ancestors);
    }
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new InvalidValueError(path, `${proto?.constructor?.name ?? 'exotic'} object is not plain JSON`);
    }
    if (Object.getOwnPropertySymbols(value).length > 0) throw new InvalidValueError(path, 'symbol keys');
    for (const key of Object.keys(value)) {
      const child = (value as Record<string, unknown>)[key];
      if (child !== undefined) check(child, `${path}[${JSON.stringify(key)}]`, ancestors);
    }
  }
  ancestors.delete(value);
}
