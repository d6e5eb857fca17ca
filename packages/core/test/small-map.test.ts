/** The map of a session's running requests: behaves as a `Map` whichever slot an entry sits in. */
import { describe, expect, it } from 'vitest';
import { SmallMap } from '../src/http/small-map';

describe('SmallMap', () => {
  it('keeps one entry, replaces its value, and forgets it', () => {
    const map = new SmallMap<string | number, string>();
    expect(map.has('a')).toBe(false);
    map.set('a', '1');
    map.set('a', '2');
    expect(map.get('a')).toBe('2');
    expect(map.has(1)).toBe(false);
    expect(map.delete('a')).toBe(true);
    expect(map.delete('a')).toBe(false);
    expect(map.get('a')).toBeUndefined();
  });

  it('holds several at once, and one never sits in both slots', () => {
    const map = new SmallMap<string | number, string>();
    map.set(1, 'one');
    map.set('1', 'string one');
    map.set(2, 'two');
    expect([map.get(1), map.get('1'), map.get(2)]).toEqual(['one', 'string one', 'two']);
    // The first slot freed while others are kept: setting one of those must not copy it there.
    expect(map.delete(1)).toBe(true);
    map.set(2, 'two again');
    expect(map.delete(2)).toBe(true);
    expect(map.has(2)).toBe(false);
    map.set(3, 'three');
    expect([map.get('1'), map.get(3)]).toEqual(['string one', 'three']);
    expect(map.delete('1')).toBe(true);
    expect(map.delete(3)).toBe(true);
    expect([map.has('1'), map.has(3), map.delete(9)]).toEqual([false, false, false]);
  });
});
