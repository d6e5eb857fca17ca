/**
 * `@mcp-sessions/core/telemetry` through the OpenTelemetry SDK's in-memory readers and exporters:
 * the names, units and attributes of what a real exporter would receive.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemorySessionBus, MemorySessionStore } from '@mcp-sessions/memory';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { createSessionHandler } from '../src/http/index';
import { SessionLink } from '../src/http/link';
import {
  type Clock,
  DEFAULT_TASK_LEASE_MS,
  SessionExistsError,
  SessionManager,
  TaskManager,
} from '../src/index';
import { silentLogger } from '../src/options';
import { createTelemetry, METRIC_NAMES, SPAN_NAMES } from '../src/telemetry';

/** Collects on demand: what a periodic exporter would be handed. */
class TestReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

interface Point {
  value: unknown;
  attributes: Record<string, unknown>;
}

function setup() {
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const telemetry = createTelemetry({ meterProvider, tracerProvider });
  const points = async (name: string): Promise<Point[]> => {
    const { resourceMetrics } = (await reader.collect()) as { resourceMetrics: ResourceMetrics };
    const metric = resourceMetrics.scopeMetrics
      .flatMap((scope) => scope.metrics)
      .find((m) => m.descriptor.name === name);
    return (metric?.dataPoints ?? []).map((p) => ({
      value: p.value,
      attributes: p.attributes as Record<string, unknown>,
    }));
  };
  const sum = async (name: string, attributes: Record<string, unknown> = {}) =>
    (await points(name))
      .filter((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))
      .reduce((total, p) => total + (p.value as number), 0);
  const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
  return { telemetry, points, sum, spans, shutdown: () => meterProvider.shutdown() };
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function fakeClock(start = 1_700_000_000_000): Clock & { advance(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    advance: (ms) => {
      now += ms;
    },
  };
}

describe('telemetry: store and manager', () => {
  it('times every store call by operation and backend, with a client span; errors carry error.type', async () => {
    const t = setup();
    cleanups.push(t.shutdown);
    const store = t.telemetry.wrapStore(new MemorySessionStore());
    expect(store.name).toBe('memory');
    const manager = new SessionManager({ store, timers: false, logger: false });
    cleanups.push(() => manager.dispose());
    await manager.initialize('s-1');
    await expect(manager.initialize('s-1')).rejects.toBeInstanceOf(SessionExistsError);
    await manager.getSession('s-1');

    const durations = await t.points(METRIC_NAMES.storeDuration);
    const ok = durations.find(
      (p) => p.attributes['db.operation.name'] === 'insert' && !p.attributes['error.type'],
    );
    expect(ok?.attributes).toEqual({ 'db.system.name': 'memory', 'db.operation.name': 'insert' });
    expect((ok!.value as { count: number }).count).toBe(1);
    const failed = durations.find((p) => p.attributes['error.type'] === 'SESSION_EXISTS');
    expect(failed?.attributes['db.operation.name']).toBe('insert');
    expect(durations.some((p) => p.attributes['db.operation.name'] === 'get')).toBe(true);

    const inserts = t.spans().filter((s) => s.name === 'insert memory');
    expect(inserts).toHaveLength(2);
    expect(inserts.map((s) => s.status.code)).toEqual([0, 2]); // UNSET, then ERROR
    expect(inserts[1]!.attributes).toMatchObject({
      'db.system.name': 'memory',
      'db.operation.name': 'insert',
      'error.type': 'SESSION_EXISTS',
    });
    expect(inserts[0]!.kind).toBe(2); // SpanKind.CLIENT
  });

  it('names Postgres as OpenTelemetry does (postgresql)', async () => {
    const t = setup();
    cleanups.push(t.shutdown);
    const inner = new MemorySessionStore();
    const renamed = Object.assign(Object.create(inner) as MemorySessionStore, { name: 'postgres' });
    await t.telemetry.wrapStore(renamed).get('x');
    expect((await t.points(METRIC_NAMES.storeDuration))[0]?.attributes['db.system.name']).toBe('postgresql');
  });

  it('counts sessions initialized, recovered, expired and closed, and events appended and replayed', async () => {
    const t = setup();
    cleanups.push(t.shutdown);
    const clock = fakeClock();
    const store = t.telemetry.wrapStore(new MemorySessionStore());
    const manager = new SessionManager({ store, timers: false, logger: false, clock, gracePeriodMs: 1_000 });
    cleanups.push(() => manager.dispose());
    const stop = t.telemetry.observeManager(manager);
    for (const id of ['a', 'b', 'c']) await manager.initialize(id);
    await manager.markDisconnected('a');
    await manager.recover('a');
    await manager.close('b');
    await manager.markDisconnected('c');
    clock.advance(2_000);
    expect((await manager.cleanupExpired()).expired).toBe(1);
    await store.appendEvent({ sessionId: 'a', streamId: 's', message: { n: 1 }, createdAt: clock.now() });
    await store.appendEvent({ sessionId: 'a', streamId: 's', message: { n: 2 }, createdAt: clock.now() });
    await store.readEvents({ sessionId: 'a', afterSeq: 0 });

    expect(await t.sum(METRIC_NAMES.initialized)).toBe(3);
    expect(await t.sum(METRIC_NAMES.recovered)).toBe(1);
    expect(await t.sum(METRIC_NAMES.closed)).toBe(1);
    expect(await t.sum(METRIC_NAMES.expired)).toBe(1);
    expect(await t.sum(METRIC_NAMES.eventsAppended)).toBe(2);
    expect(await t.sum(METRIC_NAMES.eventsReplayed)).toBe(2);

    stop();
    await manager.initialize('d');
    expect(await t.sum(METRIC_NAMES.initialized)).toBe(3);
  });
});

describe('telemetry: tasks', () => {
  it('counts tasks created, completed, failed, cancelled and taken over', async () => {
    const t = setup();
    const store = new MemorySessionStore();
    const clock = { t: 1_700_000_000_000, now: () => clock.t };
    const a = new TaskManager({ store, clock, timers: false, logger: false, instanceId: 'a' });
    const b = new TaskManager({ store, clock, timers: false, logger: false, instanceId: 'b' });
    const stops = [t.telemetry.observeTasks(a), t.telemetry.observeTasks(b)];
    const done = await a.create({ m: 1 });
    await a.report(done.id, { type: 'complete', workerId: 'a', result: {} });
    const failed = await a.create({ m: 2 });
    await a.report(failed.id, { type: 'fail', workerId: 'a', error: { code: -1, message: 'x' } });
    await b.cancel((await a.create({ m: 3 })).id);
    await a.create({ m: 4 }, { rerunnable: true });
    clock.t += DEFAULT_TASK_LEASE_MS;
    await b.sweep();
    expect(await t.sum(METRIC_NAMES.tasksCreated)).toBe(4);
    expect(await t.sum(METRIC_NAMES.tasksCompleted)).toBe(1);
    expect(await t.sum(METRIC_NAMES.tasksFailed)).toBe(1);
    expect(await t.sum(METRIC_NAMES.tasksCancelled)).toBe(1);
    expect(await t.sum(METRIC_NAMES.tasksTakenOver)).toBe(1);
    for (const stop of stops) stop();
  });
});

describe('telemetry: HTTP handler', () => {
  const INIT = {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'probe', version: '1' } },
  };
  const post = (body: unknown, sessionId?: string) =>
    new Request('http://127.0.0.1/mcp', {
      method: 'POST',
      headers: {
        accept: 'application/json, text/event-stream',
        'content-type': 'application/json',
        'mcp-protocol-version': '2025-06-18',
        ...(sessionId ? { 'mcp-session-id': sessionId } : {}),
      },
      body: JSON.stringify(body),
    });

  it('counts 404s, 503s, attached rebuilds and refusals by reason, with a span around each rebuild', async () => {
    const t = setup();
    cleanups.push(t.shutdown);
    const store = new MemorySessionStore();
    const handlers = ['A', 'B'].map((instanceId) => {
      const manager = new SessionManager({ store, timers: false, logger: false, instanceId });
      t.telemetry.observeManager(manager);
      const handler = createSessionHandler({
        manager,
        createServer: () => new McpServer({ name: 'probe', version: '1' }),
        transportOptions: { enableJsonResponse: true },
        observer: t.telemetry.handlerObserver,
        logger: false,
      });
      cleanups.push(
        () => manager.dispose(),
        () => handler.close(),
      );
      return { manager, handler };
    });
    const [a, b] = handlers as [(typeof handlers)[0], (typeof handlers)[0]];

    const init = await a.handler(post(INIT));
    expect(init.status).toBe(200);
    const id = init.headers.get('mcp-session-id')!;
    // B serves the session A holds: attached, no recovery counted.
    expect((await b.handler(post({ jsonrpc: '2.0', id: 2, method: 'ping' }, id))).status).toBe(200);
    expect((await a.handler(post({ jsonrpc: '2.0', id: 3, method: 'ping' }, 'no-such-session'))).status).toBe(
      404,
    );
    await a.manager.close(id);
    expect((await b.handler(post({ jsonrpc: '2.0', id: 4, method: 'ping' }, id))).status).toBe(404);
    await b.handler.close();
    expect((await b.handler(post({ jsonrpc: '2.0', id: 5, method: 'ping' }, id))).status).toBe(503);

    expect(await t.sum(METRIC_NAMES.initialized)).toBe(1);
    expect(await t.sum(METRIC_NAMES.attached)).toBe(1);
    expect(await t.sum(METRIC_NAMES.recovered)).toBe(0);
    expect(await t.sum(METRIC_NAMES.httpRefusals, { 'http.response.status_code': 404 })).toBe(2);
    expect(await t.sum(METRIC_NAMES.httpRefusals, { 'http.response.status_code': 503 })).toBe(1);
    expect(await t.points(METRIC_NAMES.recoveryRefusals)).toEqual([
      // The unknown id and the closed session: each refused with its reason.
      { value: 1, attributes: { 'mcp_sessions.recovery.refusal_reason': 'not_found' } },
      { value: 1, attributes: { 'mcp_sessions.recovery.refusal_reason': 'closed' } },
    ]);

    const rebuilds = t.spans().filter((s) => s.name === SPAN_NAMES.rebuild);
    expect(rebuilds.map((s) => [s.attributes['mcp_sessions.session.mode'], s.status.code])).toEqual([
      ['attached', 0],
      [undefined, 2],
      [undefined, 2],
    ]);
    expect(rebuilds[2]!.attributes).toMatchObject({
      'error.type': 'RECOVERY_REFUSED',
      'mcp_sessions.recovery.refusal_reason': 'closed',
    });
    // A tag, never the session id, names the session.
    expect(rebuilds[0]!.attributes['mcp_sessions.session.tag']).toMatch(/^[\w-]{11}$/);
    expect(JSON.stringify(rebuilds.map((s) => s.attributes))).not.toContain(id);
  });

  it('counts bus messages routed to other instances by kind', async () => {
    const t = setup();
    cleanups.push(t.shutdown);
    const bus = new MemorySessionBus();
    cleanups.push(() => bus.close());
    const transport = {
      start: async () => {},
      send: async () => {},
      close: async () => {},
    };
    const link = new SessionLink({
      sessionId: 's-1',
      transport,
      bus,
      events: undefined,
      logger: silentLogger,
      standalone: {},
      onPublish: t.telemetry.handlerObserver.routed!.bind(t.telemetry.handlerObserver),
    });
    await link.join();
    cleanups.push(() => link.leave());
    // A client's answer to another instance's request, and a cancellation of a request running elsewhere.
    await link.route([
      { jsonrpc: '2.0', id: 'AbCdEfGh.1', result: {} },
      { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7 } },
    ]);
    await link.send({
      jsonrpc: '2.0',
      method: 'notifications/message',
      params: { level: 'info', data: 'x' },
    });

    expect(await t.points(METRIC_NAMES.busRouted)).toEqual([
      { value: 1, attributes: { 'mcp_sessions.bus.message_kind': 'answer' } },
      { value: 1, attributes: { 'mcp_sessions.bus.message_kind': 'cancel' } },
      { value: 1, attributes: { 'mcp_sessions.bus.message_kind': 'standalone' } },
    ]);
  });
});

describe('telemetry: zero cost when unused', () => {
  it('only the telemetry entry imports @opentelemetry/api, and the root entry does not re-export it', () => {
    const src = fileURLToPath(new URL('../src/', import.meta.url));
    const importers = readdirSync(src, { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts'))
      .filter((file) => /from '@opentelemetry\//.test(readFileSync(join(src, file), 'utf8')));
    expect(importers).toEqual(['telemetry.ts']);
    expect(readFileSync(join(src, 'index.ts'), 'utf8')).not.toContain('telemetry');
  });
});
