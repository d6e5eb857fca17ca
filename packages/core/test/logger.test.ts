import { Writable } from 'node:stream';
import { InvalidArgumentError, type Logger, redactUrl, StoreUnavailableError } from '@mcp-sessions/core';
import { createLineLogger, formatLogLine, resolveLogger, stderrLogger } from '@mcp-sessions/core/adapter';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../src/options';

describe('resolveLogger', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('defaults to warnings and errors on stderr, one line each, and drops debug and info', () => {
    const written: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const logger = resolveLogger(undefined);
    expect(logger).toBe(stderrLogger);
    logger.debug('tick', { touched: 3 });
    logger.info('started');
    logger.warn('store slow', { ms: 812, store: 'sqlite' });
    logger.error('createServer threw', { sessionId: 'abc', error: new Error('boom') });
    expect(written).toEqual([
      'mcp-sessions warn store slow ms=812 store=sqlite\n',
      'mcp-sessions error createServer threw sessionId=abc error=boom\n',
    ]);
  });

  it('false and silentLogger silence it', () => {
    expect(resolveLogger(false)).toBe(silentLogger);
    expect(resolveLogger(silentLogger)).toBe(silentLogger);
  });

  it('gives a console-style logger back as it is, called (message, fields)', () => {
    const calls: unknown[][] = [];
    const mine: Logger = {
      debug: (...args) => calls.push(['debug', ...args]),
      info: (...args) => calls.push(['info', ...args]),
      warn: (...args) => calls.push(['warn', ...args]),
      error: (...args) => calls.push(['error', ...args]),
    };
    const logger = resolveLogger(mine);
    expect(logger).toBe(mine);
    logger.info('hello', { a: 1 });
    expect(calls).toEqual([['info', 'hello', { a: 1 }]]);
    expect(resolveLogger(console)).toBe(console);
  });

  it('calls a real pino logger (fields, message), so the fields reach its output', () => {
    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const base = pino({ level: 'debug', base: null, timestamp: false }, destination);
    for (const target of [base, base.child({ component: 'sessions' })]) {
      const logger = resolveLogger(target);
      logger.warn('store slow', { ms: 812 });
      logger.debug('tick');
    }
    expect(lines).toEqual([
      { level: 40, msg: 'store slow', ms: 812 },
      { level: 20, msg: 'tick' },
      { level: 40, msg: 'store slow', ms: 812, component: 'sessions' },
      { level: 20, msg: 'tick', component: 'sessions' },
    ]);
  });

  it('calls a bunyan-shaped logger (fields, message)', () => {
    const calls: unknown[][] = [];
    const record =
      (level: string) =>
      (...args: unknown[]) =>
        calls.push([level, ...args]);
    const bunyanLike = {
      fields: { name: 'app' },
      streams: [],
      debug: record('debug'),
      info: record('info'),
      warn: record('warn'),
      error: record('error'),
    };
    resolveLogger(bunyanLike).error('lost', { sessionId: 's' });
    expect(calls).toEqual([['error', { sessionId: 's' }, 'lost']]);
  });

  it('refuses an object without the four methods, naming what is missing', () => {
    const partial = { warn() {}, error() {} } as unknown as Logger;
    expect(() => resolveLogger(partial)).toThrow(InvalidArgumentError);
    expect(() => resolveLogger(partial)).toThrow(/debug, info/);
    expect(() => resolveLogger('console' as unknown as Logger)).toThrow(InvalidArgumentError);
  });
});

describe('formatLogLine', () => {
  it('quotes strings that need it, and shows an error with its code and cause', () => {
    const cause = new Error('connect ECONNREFUSED 127.0.0.1:6379');
    const error = new StoreUnavailableError('redis unreachable', { cause });
    expect(
      formatLogLine('error', 'heartbeat failed\nretrying', {
        error,
        note: 'two words',
        empty: '',
        eq: 'a=b',
        skipped: undefined,
        nothing: null,
        ok: true,
        ids: ['a', 'b'],
      }),
    ).toBe(
      'mcp-sessions error heartbeat failed retrying error="redis unreachable" error.code=STORE_UNAVAILABLE ' +
        'error.cause="connect ECONNREFUSED 127.0.0.1:6379" note="two words" empty="" eq="a=b" nothing=null ok=true ids=["a","b"]\n',
    );
  });

  it('never throws on values JSON cannot hold', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(formatLogLine('warn', 'x', { cyclic, big: 10n })).toBe(
      'mcp-sessions warn x cyclic="[object Object]" big=10\n',
    );
  });

  it('createLineLogger writes through the given function', () => {
    const lines: string[] = [];
    const logger = createLineLogger((line) => lines.push(line));
    logger.info('dropped');
    logger.warn('kept', { n: 1 });
    expect(lines).toEqual(['mcp-sessions warn kept n=1\n']);
  });
});

describe('redactUrl', () => {
  it.each([
    ['postgres://app:s3cret@db:5432/prod', 'postgres://app:***@db:5432/prod'],
    ['postgresql://postgres@127.0.0.1:5432/postgres', 'postgresql://postgres@127.0.0.1:5432/postgres'],
    ['redis://:s3cret@cache:6379/0', 'redis://:***@cache:6379/0'],
    ['redis://cache:6379', 'redis://cache:6379'],
    ['rediss://user:p@ss@w@rd@cache:6380', 'rediss://user:***@cache:6380'],
    ['postgres://app:pa/ss?x#y@db/prod', 'postgres://app:***@db/prod'],
    ['postgres://app:12/ss@db/prod', 'postgres://app:***@db/prod'],
    [
      'postgres://db/prod?sslmode=require&password=hunter2',
      'postgres://db/prod?sslmode=require&password=***',
    ],
    [
      'https://api.example.com/x?Access_Token=abc&PWD=1&apiKey=k&n=2',
      'https://api.example.com/x?Access_Token=***&PWD=***&apiKey=***&n=2',
    ],
    ['https://h/cb#secret=abc&state=1', 'https://h/cb#secret=***&state=1'],
    ['postgres://db/x?pass%77ord=1', 'postgres://db/x?pass%77ord=***'],
    ['postgres://db/x?email=a@b.example&token=t', 'postgres://db/x?email=a@b.example&token=***'],
    ['sqlite:sessions.db?key=k', 'sqlite:sessions.db?key=***'],
  ])('%s → %s', (spec, expected) => {
    expect(redactUrl(spec)).toBe(expected);
  });

  it('keeps only the scheme of what does not parse, and redacts all of what has no scheme', () => {
    expect(redactUrl('postgres://app:secret@db host/prod')).toBe('postgres://***');
    expect(redactUrl('redis://:secret@[::1/0')).toBe('redis://***');
    expect(redactUrl('not a url with secret')).toBe('***');
    expect(redactUrl('')).toBe('***');
  });

  it('redacts a user-info typed without a scheme (it reads as scheme `user:`)', () => {
    expect(redactUrl('u:S3cretPW@127.0.0.1:4191')).toBe('u:***@127.0.0.1:4191');
    expect(redactUrl('app:pa@ss:w/rd@db:5432/prod')).toBe('app:***@db:5432/prod');
    expect(redactUrl('S3cretPW@127.0.0.1:4191')).toBe('***');
    expect(redactUrl('localhost:6379')).toBe('localhost:6379');
  });
});
