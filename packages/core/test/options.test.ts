/** `assertKnownOptions`: typos in option objects fail at construction, naming the nearest option. */

import { InvalidArgumentError } from '@mcp-sessions/core';
import { assertKnownOptions } from '@mcp-sessions/core/adapter';
import { describe, expect, it } from 'vitest';

const ALLOWED = ['gracePeriodMs', 'heartbeatIntervalMs', 'store', 'logger'] as const;

function refusal(options: unknown): InvalidArgumentError {
  try {
    assertKnownOptions(options as object, ALLOWED, 'SessionManager');
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return error as InvalidArgumentError;
  }
  throw new Error('expected InvalidArgumentError');
}

describe('assertKnownOptions', () => {
  it('accepts known keys, also with undefined values', () => {
    expect(() =>
      assertKnownOptions({ store: 1, logger: undefined }, ALLOWED, 'SessionManager'),
    ).not.toThrow();
    expect(() => assertKnownOptions({}, ALLOWED, 'SessionManager')).not.toThrow();
  });

  it('names the unknown key and the nearest valid one', () => {
    const error = refusal({ store: 1, gracePeriod: 5 });
    expect(error.argument).toBe('gracePeriod');
    expect(error.message).toBe(
      'invalid gracePeriod: unknown SessionManager option; did you mean "gracePeriodMs"?',
    );
    expect(refusal({ Logger: 1 }).message).toContain('"logger"');
    expect(refusal({ heartbeatIntervalMS: 1 }).message).toContain('"heartbeatIntervalMs"');
  });

  it('refuses what is not an options object', () => {
    for (const options of [undefined, null, 'x', 3, []]) {
      expect(refusal(options).argument).toBe('options');
    }
  });
});
