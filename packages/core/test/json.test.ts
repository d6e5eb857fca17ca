/** `encodeJson`'s refusals that protect the stack: depth is bounded, checked without overflow. */

import { InvalidValueError } from '@mcp-sessions/core';
import { encodeJson, MAX_JSON_DEPTH } from '@mcp-sessions/core/adapter';
import { describe, expect, it } from 'vitest';

function nestedArrays(depth: number): unknown {
  let value: unknown = 0;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

function nestedObjects(depth: number): unknown {
  let value: unknown = 0;
  for (let i = 0; i < depth; i++) value = { d: value };
  return value;
}

describe('encodeJson depth limit', () => {
  it(`accepts ${MAX_JSON_DEPTH} levels and refuses ${MAX_JSON_DEPTH + 1}`, () => {
    expect(MAX_JSON_DEPTH).toBe(1000);
    expect(JSON.parse(encodeJson(nestedArrays(MAX_JSON_DEPTH)))).toEqual(nestedArrays(MAX_JSON_DEPTH));
    expect(() => encodeJson(nestedArrays(MAX_JSON_DEPTH + 1))).toThrow(InvalidValueError);
    expect(() => encodeJson(nestedObjects(MAX_JSON_DEPTH + 1))).toThrow(InvalidValueError);
  });

  it('refuses a 100k-deep value with InvalidValueError naming the path, never RangeError', () => {
    for (const value of [nestedArrays(100_000), nestedObjects(100_000)]) {
      let error: unknown;
      try {
        encodeJson(value);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InvalidValueError);
      const e = error as InvalidValueError;
      expect(e.reason).toBe(`nested deeper than ${MAX_JSON_DEPTH}`);
      expect(e.path.startsWith('$[')).toBe(true);
      expect(e.message.length).toBeLessThan(400);
    }
  });

  it('an envelope level does not count: a record wrapping 1000-deep metadata passes', () => {
    const record = { id: 'x', metadata: nestedObjects(MAX_JSON_DEPTH) };
    expect(() => encodeJson(record)).toThrow(InvalidValueError);
    expect(encodeJson(record, 1)).toBe(JSON.stringify(record));
    expect(() => encodeJson({ id: 'x', metadata: nestedObjects(MAX_JSON_DEPTH + 1) }, 1)).toThrow(
      InvalidValueError,
    );
  });
});
