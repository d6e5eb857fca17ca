/**
 * `@mcp-sessions/core/telemetry`: OpenTelemetry metrics and traces (peer: `@opentelemetry/api`).
 * A separate entry point, so that importing the core never loads the OpenTelemetry API; and
 * nothing is wrapped or listened to unless the application asks (`wrapStore`, `observeManager`,
 * the handler's `observer`). No SDK is bundled: register yours (or pass providers) to export.
 */
import {
  type Attributes,
  type Counter,
  type Histogram,
  type Meter,
  type MeterProvider,
  metrics,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import type { SessionHandlerObserver } from './http/handler';
import { sessionTag } from './ids';
import { expiryCause } from './lifecycle';
import type { SessionManager } from './manager';
import type { SessionRecord, SessionStore } from './store';
import type { TaskManager } from './tasks';

/** The instrumentation scope of every meter and tracer this module creates. */
export const TELEMETRY_SCOPE = '@mcp-sessions/core';

/** Names of the instruments, as exported. */
export const METRIC_NAMES = {
  initialized: 'mcp_sessions.sessions.initialized',
  recovered: 'mcp_sessions.sessions.recovered',
  attached: 'mcp_sessions.sessions.attached',
  /** Attribute `mcp_sessions.expiry.cause`: `idle` (unused for `idleTimeoutMs`) or `grace` (not recovered in time). */
  expired: 'mcp_sessions.sessions.expired',
  /** Sessions an instance let go of after `idleReleaseMs` without use (handed off, not ended). */
  released: 'mcp_sessions.sessions.released',
  closed: 'mcp_sessions.sessions.closed',
  /** Attribute `mcp_sessions.recovery.refusal_reason`: `grace_expired`, `attempts_exhausted`, ... */
  recoveryRefusals: 'mcp_sessions.recovery.refusals',
  /** Attribute `http.response.status_code`: 404 (no such session here) or 503 (store unavailable). */
  httpRefusals: 'mcp_sessions.http.refusals',
  eventsAppended: 'mcp_sessions.events.appended',
  /** Events read back from the log to replay them to a client. */
  eventsReplayed: 'mcp_sessions.events.replayed',
  /** Attribute `mcp_sessions.bus.message_kind`: `answer`, `cancel` or `standalone`. */
  busRouted: 'mcp_sessions.bus.routed',
  /** Durable tasks (MCP's Tasks extension), from a `TaskManager`'s events. */
  tasksCreated: 'mcp_sessions.tasks.created',
  tasksCompleted: 'mcp_sessions.tasks.completed',
  tasksFailed: 'mcp_sessions.tasks.failed',
  tasksCancelled: 'mcp_sessions.tasks.cancelled',
  /** Tasks whose worker was lost, claimed by this instance (run again, or failed). */
  tasksTakenOver: 'mcp_sessions.tasks.taken_over',
  /** OpenTelemetry's database client histogram (seconds), by `db.operation.name` and `db.system.name`. */
  storeDuration: 'db.client.operation.duration',
} as const;

/** Span names besides the store's (`<operation> <db.system.name>`, such as `compareAndSet redis`). */
export const SPAN_NAMES = {
  /** Around a session's rebuild in a process: resume (attach or recover), fresh server, initialize replay. */
  rebuild: 'mcp_sessions.session.rebuild',
} as const;

export interface TelemetryOptions {
  /** Default: the global provider (`metrics.getMeterProvider()`), a no-op until an SDK registers one. */
  meterProvider?: MeterProvider;
  /** Default: the global provider (`trace.getTracerProvider()`). */
  tracerProvider?: TracerProvider;
}

export interface SessionTelemetry {
  /**
   * The store with every call timed (`db.client.operation.duration`) and traced (a client span),
   * counting events appended and replayed. Give it to the `SessionManager` in place of the store.
   */
  wrapStore(store: SessionStore): SessionStore;
  /** Counts the manager's `initialized`, `recovered`, `expired`, `released` and `closed` events; returns a function that stops it. */
  observeManager(manager: SessionManager): () => void;
  /** Counts a `TaskManager`'s tasks created, completed, failed, cancelled and taken over; returns a function that stops it. */
  observeTasks(tasks: TaskManager): () => void;
  /** For `createSessionHandler({ observer })`: 404s, 503s, rebuild spans, attached sessions, refusals, bus routing. */
  readonly handlerObserver: SessionHandlerObserver;
}

/**
 * Metrics and traces for sessions, the store and the HTTP handler.
 *
 * @example
 * ```ts
 * import { createTelemetry } from '@mcp-sessions/core/telemetry';
 * const telemetry = createTelemetry(); // the global providers your OpenTelemetry SDK registered
 * const manager = new SessionManager({ store: telemetry.wrapStore(new SqliteSessionStore({ filename })) });
 * telemetry.observeManager(manager);
 * const handler = createSessionHandler({ manager, createServer, observer: telemetry.handlerObserver });
 * ```
 */
export function createTelemetry(options: TelemetryOptions = {}): SessionTelemetry {
  const meter: Meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(TELEMETRY_SCOPE);
  const tracer: Tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(TELEMETRY_SCOPE);
  const sessions = (name: string, description: string) =>
    meter.createCounter(name, { description, unit: '{session}' });
  const counters = {
    initialized: sessions(METRIC_NAMES.initialized, 'Sessions created'),
    recovered: sessions(METRIC_NAMES.recovered, 'Sessions recovered (counted recoveries)'),
    attached: sessions(
      METRIC_NAMES.attached,
      'Sessions served here that another instance also serves or handed off',
    ),
    expired: sessions(METRIC_NAMES.expired, 'Sessions expired by the sweep, by cause'),
    released: sessions(METRIC_NAMES.released, 'Idle sessions released from memory and handed off'),
    closed: sessions(METRIC_NAMES.closed, 'Sessions closed'),
    refusals: meter.createCounter(METRIC_NAMES.recoveryRefusals, {
      description: 'Sessions that could not be recovered, by reason',
      unit: '{session}',
    }),
    http: meter.createCounter(METRIC_NAMES.httpRefusals, {
      description: 'Requests the handler answered with 404 or 503',
      unit: '{request}',
    }),
    appended: meter.createCounter(METRIC_NAMES.eventsAppended, { unit: '{event}' }),
    replayed: meter.createCounter(METRIC_NAMES.eventsReplayed, { unit: '{event}' }),
    tasks: {
      created: meter.createCounter(METRIC_NAMES.tasksCreated, { unit: '{task}' }),
      completed: meter.createCounter(METRIC_NAMES.tasksCompleted, { unit: '{task}' }),
      failed: meter.createCounter(METRIC_NAMES.tasksFailed, { unit: '{task}' }),
      cancelled: meter.createCounter(METRIC_NAMES.tasksCancelled, { unit: '{task}' }),
      takenOver: meter.createCounter(METRIC_NAMES.tasksTakenOver, { unit: '{task}' }),
    },
    routed: meter.createCounter(METRIC_NAMES.busRouted, {
      description: 'Messages published on the bus for another instance, by kind',
      unit: '{message}',
    }),
  };
  const duration = meter.createHistogram(METRIC_NAMES.storeDuration, {
    description: 'Duration of session store operations',
    unit: 's',
    advice: { explicitBucketBoundaries: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10] },
  });
  /** The spans of rebuilds in flight, so the mode (known inside the rebuild) lands on its span. */
  const rebuilding = new Map<string, Span>();

  const handlerObserver: SessionHandlerObserver = {
    rebuild(sessionId, work) {
      return tracer.startActiveSpan(
        SPAN_NAMES.rebuild,
        { attributes: { 'mcp_sessions.session.tag': sessionTag(sessionId) } },
        async (span) => {
          rebuilding.set(sessionId, span);
          try {
            return await work();
          } catch (error) {
            const reason = refusalReason(error);
            if (reason !== undefined) {
              counters.refusals.add(1, { 'mcp_sessions.recovery.refusal_reason': reason });
              span.setAttribute('mcp_sessions.recovery.refusal_reason', reason);
            }
            failed(span, error);
            throw error;
          } finally {
            if (rebuilding.get(sessionId) === span) rebuilding.delete(sessionId);
            span.end();
          }
        },
      );
    },
    rebuilt(sessionId, mode) {
      rebuilding.get(sessionId)?.setAttribute('mcp_sessions.session.mode', mode);
      if (mode === 'attached') counters.attached.add(1);
    },
    refused(status) {
      counters.http.add(1, { 'http.response.status_code': status });
    },
    routed(kind) {
      counters.routed.add(1, { 'mcp_sessions.bus.message_kind': kind });
    },
  };

  return {
    handlerObserver,
    observeTasks(tasks) {
      const listeners = {
        created: () => counters.tasks.created.add(1),
        completed: () => counters.tasks.completed.add(1),
        failed: () => counters.tasks.failed.add(1),
        cancelled: () => counters.tasks.cancelled.add(1),
        takenOver: () => counters.tasks.takenOver.add(1),
      } as const;
      for (const [event, listener] of Object.entries(listeners))
        tasks.on(event as keyof typeof listeners, listener);
      return () => {
        for (const [event, listener] of Object.entries(listeners))
          tasks.off(event as keyof typeof listeners, listener);
      };
    },
    observeManager(manager) {
      const listeners = {
        initialized: () => counters.initialized.add(1),
        recovered: () => counters.recovered.add(1),
        expired: (record: SessionRecord) =>
          counters.expired.add(1, { 'mcp_sessions.expiry.cause': expiryCause(record) ?? 'grace' }),
        closed: () => counters.closed.add(1),
        released: () => counters.released.add(1),
      } satisfies Record<string, ((record: SessionRecord) => void) | ((sessionId: string) => void)>;
      for (const [event, listener] of Object.entries(listeners)) {
        manager.on(event as keyof typeof listeners, listener);
      }
      return () => {
        for (const [event, listener] of Object.entries(listeners)) {
          manager.off(event as keyof typeof listeners, listener);
        }
      };
    },
    wrapStore(store) {
      return timedStore(store, tracer, duration, counters.appended, counters.replayed);
    },
  };
}

// --- Internal helpers ---

/** Every method of the store contract: the proxy times exactly these. */
const STORE_METHODS = [
  'insert',
  'get',
  'compareAndSet',
  'touch',
  'delete',
  'list',
  'claimDue',
  'purgeSessionData',
  'setState',
  'getState',
  'deleteState',
  'listState',
  'purgeExpiredState',
  'appendEvent',
  'readEvents',
  'getEventStream',
  'trimEvents',
  'close',
] as const satisfies readonly Exclude<keyof SessionStore, 'name' | 'capabilities'>[];

/** Store names to OpenTelemetry's `db.system.name` values, where they differ. */
const DB_SYSTEMS: Record<string, string> = { postgres: 'postgresql' };

function timedStore(
  store: SessionStore,
  tracer: Tracer,
  duration: Histogram,
  appended: Counter,
  replayed: Counter,
): SessionStore {
  const system = DB_SYSTEMS[store.name] ?? store.name;
  const wrapped: Record<string, unknown> = {
    name: store.name,
    capabilities: store.capabilities,
  };
  for (const operation of STORE_METHODS) {
    const method = store[operation] as (...args: unknown[]) => Promise<unknown>;
    const attributes: Attributes = { 'db.system.name': system, 'db.operation.name': operation };
    const spanName = `${operation} ${system}`;
    wrapped[operation] = (...args: unknown[]) =>
      tracer.startActiveSpan(spanName, { kind: SpanKind.CLIENT, attributes }, async (span) => {
        const started = performance.now();
        try {
          const result = await method.apply(store, args);
          duration.record((performance.now() - started) / 1000, attributes);
          if (operation === 'appendEvent') appended.add(1);
          else if (operation === 'readEvents') replayed.add((result as unknown[]).length);
          return result;
        } catch (error) {
          duration.record((performance.now() - started) / 1000, {
            ...attributes,
            'error.type': errorType(error),
          });
          failed(span, error);
          throw error;
        } finally {
          span.end();
        }
      });
  }
  return wrapped as unknown as SessionStore;
}

function failed(span: Span, error: unknown): void {
  span.setAttribute('error.type', errorType(error));
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
  if (error instanceof Error) span.recordException(error);
}

/** The error's stable `code` (`STORE_UNAVAILABLE`, ...), else its class name: OpenTelemetry's `error.type`. */
function errorType(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.constructor.name : '_OTHER';
}

/** The reason of a `RecoveryRefusedError` (matched by code: this entry point bundles no error class). */
function refusalReason(error: unknown): string | undefined {
  const e = error as { code?: unknown; reason?: unknown } | null;
  return e?.code === 'RECOVERY_REFUSED' && typeof e.reason === 'string' ? e.reason : undefined;
}
