/**
 * Every assertion in the groups carries a message: an adapter author whose store breaks a promise
 * reads which promise in words, not only a diff. Parsed with the TypeScript compiler, not regexes,
 * so a comma inside an argument cannot miscount.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const GROUPS = join(import.meta.dirname, '../src/groups');

/** How many arguments an `assert.<method>` call needs for its message to be given. */
const ARGS_WITH_MESSAGE: Readonly<Record<string, number>> = {
  ok: 2,
  equal: 3,
  notEqual: 3,
  strictEqual: 3,
  notStrictEqual: 3,
  deepEqual: 3,
  notDeepEqual: 3,
  deepStrictEqual: 3,
  notDeepStrictEqual: 3,
  match: 3,
  doesNotMatch: 3,
  fail: 1,
};

interface Call {
  readonly where: string;
  readonly text: string;
  readonly missing: boolean;
}

/** Every `assert(...)` and `assert.x(...)` call in `source`, and whether its message is missing. */
function assertCalls(fileName: string, source: string): Call[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const calls: Call[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node)) {
      const callee = node.expression;
      let needed: number | undefined;
      if (ts.isIdentifier(callee) && callee.text === 'assert') needed = 2;
      else if (
        ts.isPropertyAccessExpression(callee) &&
        ts.isIdentifier(callee.expression) &&
        callee.expression.text === 'assert'
      ) {
        // An assert method this list does not know must be added to it before it is used.
        needed = ARGS_WITH_MESSAGE[callee.name.text] ?? Number.POSITIVE_INFINITY;
      }
      if (needed !== undefined) {
        const { line } = file.getLineAndCharacterOfPosition(node.getStart(file));
        const message = node.arguments[needed - 1];
        calls.push({
          where: `${fileName}:${line + 1}`,
          text: node.getText(file).split('\n')[0] ?? '',
          missing: message === undefined || isEmptyString(message),
        });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return calls;
}

function isEmptyString(node: ts.Expression): boolean {
  return (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) && node.text.trim() === '';
}

describe('conformance groups: assertion messages', () => {
  const files = readdirSync(GROUPS).filter((name) => name.endsWith('.ts'));

  it('every assert call in src/groups states the rule it checks', () => {
    const calls = files.flatMap((name) => assertCalls(name, readFileSync(join(GROUPS, name), 'utf8')));
    expect(calls.length, 'the parser found the assertions').toBeGreaterThan(100);
    expect(calls.filter((call) => call.missing).map((call) => `${call.where}: ${call.text}`)).toEqual([]);
  });

  it('the check sees a missing message, whatever the call looks like', () => {
    const source = [
      "assert.equal(f(a, b), 1, 'has one');",
      'assert.equal(f(a, b), 1);',
      "assert.deepStrictEqual({ a: 1, b: [2, 3] }, x, '');",
      'assert.ok(x);',
      `assert.ok(x, \`rule \${n}\`);`,
      'assert(x);',
      "assert.fail('why');",
      'assert.somethingNew(x, y, z, w);',
    ].join('\n');
    const missing = assertCalls('sample.ts', source)
      .filter((call) => call.missing)
      .map((call) => call.where);
    expect(missing).toEqual(['sample.ts:2', 'sample.ts:3', 'sample.ts:4', 'sample.ts:6', 'sample.ts:8']);
  });
});
