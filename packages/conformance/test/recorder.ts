/**
 * A tiny in-memory test runner with the describe/it/hooks shapes the suite takes: records the
 * tests, then runs them one by one and reports pass / fail / skip per full test name. Lets the
 * mutants test run the whole suite many times inside one vitest test, without nested vitest.
 */
import type { ConformanceOptions, TestBody } from '../src/index';

export type Outcome =
  | { status: 'pass' }
  | { status: 'skip'; reason: string }
  | { status: 'fail'; error: unknown };

interface Suite {
  beforeEach: (() => Promise<void>)[];
  afterEach: (() => Promise<void>)[];
}

interface Registered {
  name: string;
  body: TestBody | undefined;
  suites: Suite[];
}

class Skipped extends Error {}

/**
 * How the runner's test context behaves: vitest's is a function object whose `skip()` throws;
 * node:test's is an object whose `skip()` marks the test and returns.
 */
export type ContextStyle = 'vitest' | 'node';

export class Recorder {
  private readonly tests: Registered[] = [];
  private stack: Suite[] = [];

  constructor(private readonly style: ContextStyle = 'vitest') {}

  /** The runner half of `ConformanceOptions`. */
  readonly runner: Pick<ConformanceOptions, 'describe' | 'it' | 'beforeEach' | 'afterEach'> = {
    describe: (_name, fn) => {
      const outer = this.stack;
      this.stack = [...outer, { beforeEach: [], afterEach: [] }];
      try {
        fn();
      } finally {
        this.stack = outer;
      }
    },
    it: Object.assign(
      (name: string, fn: TestBody) => {
        this.tests.push({ name, body: fn, suites: this.stack });
      },
      {
        skip: (name: string) => {
          this.tests.push({ name, body: undefined, suites: this.stack });
        },
      },
    ),
    beforeEach: (fn) => {
      this.stack.at(-1)?.beforeEach.push(fn);
    },
    afterEach: (fn) => {
      this.stack.at(-1)?.afterEach.push(fn);
    },
  };

  /** Runs every registered test in order; hooks outermost-first before, innermost-first after. */
  async run(): Promise<Map<string, Outcome>> {
    const results = new Map<string, Outcome>();
    for (const test of this.tests) {
      if (!test.body) {
        results.set(test.name, { status: 'skip', reason: 'registered as skipped' });
        continue;
      }
      let outcome: Outcome = { status: 'pass' };
      let marked: string | undefined;
      const context =
        this.style === 'vitest'
          ? Object.assign(() => {}, {
              skip(reason: string): never {
                throw new Skipped(reason);
              },
            })
          : {
              skip(reason: string): void {
                marked = reason;
              },
            };
      try {
        for (const suite of test.suites) for (const hook of suite.beforeEach) await hook();
        await test.body(context);
        if (marked !== undefined) outcome = { status: 'skip', reason: marked };
      } catch (error) {
        outcome =
          error instanceof Skipped ? { status: 'skip', reason: error.message } : { status: 'fail', error };
      }
      for (const suite of [...test.suites].reverse()) {
        for (const hook of suite.afterEach) {
          try {
            await hook();
          } catch (error) {
            if (outcome.status !== 'fail') outcome = { status: 'fail', error };
          }
        }
      }
      results.set(test.name, outcome);
    }
    return results;
  }
}
