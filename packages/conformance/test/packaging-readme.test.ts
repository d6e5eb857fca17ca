import { readFileSync } from 'node:fs';
import { conformanceTestNames } from '@mcp-sessions/conformance';
import { describe, expect, it } from 'vitest';
import { END, README, START, withTestNames } from '../../../scripts/conformance-readme';

describe('README: All test names', () => {
  it('lists exactly conformanceTestNames, in order (run scripts/conformance-readme.ts to update)', () => {
    const text = readFileSync(README, 'utf8');
    const listed = text
      .slice(text.indexOf(START), text.indexOf(END))
      .split('\n')
      .filter((line) => line.startsWith('- `'))
      .map((line) => line.slice(3, -1));
    expect(listed).toEqual([...conformanceTestNames]);
    expect(withTestNames(text, conformanceTestNames)).toBe(text);
  });

  it('the generator replaces only what is between the markers', () => {
    const text = `intro\n${START}\n- \`old\`\n${END}\nafter\n`;
    expect(withTestNames(text, ['a: one', 'b: two'])).toBe(
      `intro\n${START}\n\n- \`a: one\`\n- \`b: two\`\n\n${END}\nafter\n`,
    );
    expect(() => withTestNames('no markers', ['a'])).toThrow(/markers/);
  });
});
