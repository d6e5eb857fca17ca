import { SessionNotFoundError, StoreError, StoreUnavailableError } from '@mcp-sessions/core';
import { isNetworkError, toStoreError } from '@mcp-sessions/core/adapter';
import { describe, expect, it } from 'vitest';

const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });

describe('wrapping driver errors', () => {
  it('finds socket errors in the error, its causes and aggregates', () => {
    expect(isNetworkError(refused)).toBe(true);
    expect(isNetworkError(new Error('outer', { cause: refused }))).toBe(true);
    expect(isNetworkError(new AggregateError([new Error('x'), refused]))).toBe(true);
    expect(isNetworkError(Object.assign(new Error('x'), { code: 'EACCES' }))).toBe(false);
    expect(isNetworkError('ECONNREFUSED')).toBe(false);
  });

  it('classifies by the adapter, keeps the cause, and passes core errors through', () => {
    const down = toStoreError(refused, 'redis GET', isNetworkError);
    expect(down).toBeInstanceOf(StoreUnavailableError);
    expect(down.message).toBe('redis GET: connect ECONNREFUSED 127.0.0.1:1');
    expect(down.cause).toBe(refused);
    const other = toStoreError('WRONGTYPE', 'redis GET', isNetworkError);
    expect(other).toBeInstanceOf(StoreError);
    expect(other.cause).toBe('WRONGTYPE');
    const typed = new SessionNotFoundError('s');
    expect(toStoreError(typed, 'x', () => true)).toBe(typed);
  });
});
