import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RequestObserver } from '../http/request-context';
import type { EventLoopMonitor } from './event-loop-monitor';
import { watchHeapAfterGc } from './heap-after-gc';
import { METRIC, type MetricsView } from './metric-names';
import { summarizeMetrics } from './metrics-summary';

/**
 * The process's metrics, on prom-client: its default process metrics (CPU, memory, handles, GC,
 * event-loop lag) plus the app's own (requests, latency, in-flight, event-loop window, the heap
 * after the latest full collection).
 *
 * Cluster seam: everything here is in {@link Metrics.registry}, and nothing else is needed to
 * describe a process. A cluster primary collects each worker's `registry.getMetricsAsJSON()`
 * (plain, serialisable objects, as sent over IPC), merges them with prom-client's
 * `AggregatorRegistry.aggregate()` (counters and histograms are summed, gauges use the
 * `aggregator` each declares below), and renders the result with `metrics()` for Prometheus and
 * `summarizeMetrics()` for the JSON, per worker and for the whole machine.
 */
export interface Metrics {
  readonly registry: Registry;
  /** Counts requests; the request context calls it for every request it sees. */
  readonly requests: RequestObserver;
  /** Counts security events by type (the audit log's, src/audit/audit-log.ts). */
  readonly securityEvents: { inc(type: string, count?: number): void };
  /** Counts session checks by where they were answered (auth/session-check-cache.ts). */
  readonly sessionChecks: (source: 'memory' | 'database') => void;
}

export interface MetricsOptions {
  /** Source of the event-loop window gauges. */
  eventLoop: Pick<EventLoopMonitor, 'stats'>;
  /** The event-loop monitor's window (`EVENT_LOOP_WINDOW_MS`), stated in the gauges' help. */
  windowMs: number;
}

/**
 * Request duration buckets, in seconds: fine-grained where a healthy API answers (1 ms to
 * 100 ms), coarse where something is wrong. Percentiles are estimated from them.
 */
export const REQUEST_DURATION_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

// Label objects built once: prom-client hashes labels on every increment, and a new object
// per request would be garbage on the hot path.
const STATUS_CLASS_LABELS = ['1xx', '2xx', '3xx', '4xx', '5xx'].map((statusClass) => ({
  status_class: statusClass,
}));

/** Builds the metrics of one app. Starts no timer: the event-loop monitor is the caller's. */
export function createMetrics({ eventLoop, windowMs }: MetricsOptions): Metrics {
  const own = new Registry();
  const registers = [own];

  const requests = new Counter({
    name: METRIC.requests,
    help: 'Responses sent, by status class (499 counts as 4xx: the client went away).',
    labelNames: ['status_class'],
    registers,
  });
  const duration = new Histogram({
    name: METRIC.requestDuration,
    help: 'Time from the request arriving to its response being sent.',
    buckets: [...REQUEST_DURATION_BUCKETS],
    registers,
  });
  const inFlight = new Gauge({
    name: METRIC.inFlight,
    help: 'Requests being handled now.',
    registers,
  });

  const securityEvents = new Counter({
    name: METRIC.securityEvents,
    help: 'Security events (sign-ins, failed sign-ins, refresh-token reuse, revocations, account and admin changes), by audit event type; counted even when AUDIT_ENABLED=false.',
    labelNames: ['type'],
    registers,
  });

  const sessionChecks = new Counter({
    name: METRIC.sessionChecks,
    help: "Access tokens' session checks, by where they were answered: `memory` (a check of the same session less than AUTH_SESSION_CACHE_MS old) or `database`.",
    labelNames: ['source'],
    registers,
  });
  const SOURCE_LABELS = { memory: { source: 'memory' }, database: { source: 'database' } };

  // The event-loop window figures: the worst worker is what matters for the machine.
  const eventLoopGauge = (
    name: string,
    help: string,
    read: (stats: ReturnType<typeof eventLoop.stats>) => number,
    aggregator: 'max' | 'average',
  ) =>
    new Gauge({
      name,
      help,
      registers,
      aggregator,
      collect() {
        this.set(read(eventLoop.stats()));
      },
    });
  const windowNote = `over the last complete ${windowMs / 1000} s window`;
  eventLoopGauge(
    METRIC.eventLoopDelayP50,
    `Median event-loop delay ${windowNote}.`,
    (s) => s.delayP50Ms / 1000,
    'max',
  );
  eventLoopGauge(
    METRIC.eventLoopDelayP99,
    `99th percentile event-loop delay ${windowNote}.`,
    (s) => s.delayP99Ms / 1000,
    'max',
  );
  eventLoopGauge(
    METRIC.eventLoopDelayMax,
    `Longest event-loop delay ${windowNote}.`,
    (s) => s.delayMaxMs / 1000,
    'max',
  );
  eventLoopGauge(
    METRIC.eventLoopUtilization,
    `Share of time the event loop was busy ${windowNote}.`,
    (s) => s.utilization,
    'average',
  );

  // The machine's live set is its workers' summed, as prom-client sums their heaps.
  const heapAfterGc = watchHeapAfterGc();
  new Gauge({
    name: METRIC.heapAfterGc,
    help: 'Heap in use right after the latest full garbage collection (mark-compact): the live set, which a leak raises (nodejs_heap_size_used_bytes swings with every collection). 0 before the first one.',
    registers,
    aggregator: 'sum',
    collect() {
      this.set(heapAfterGc() ?? 0);
    },
  });

  const registry = Registry.merge([defaultMetricsRegistry(), own]);
  return {
    registry,
    requests: {
      requestStarted() {
        inFlight.inc();
      },
      requestFinished(status, durationMs) {
        inFlight.dec();
        const labels = STATUS_CLASS_LABELS[Math.trunc(status / 100) - 1];
        if (labels) requests.inc(labels);
        duration.observe(durationMs / 1000);
      },
    },
    securityEvents: {
      inc(type, count = 1) {
        securityEvents.inc({ type }, count);
      },
    },
    sessionChecks: (source) => sessionChecks.inc(SOURCE_LABELS[source]),
  };
}

/** What this process's metrics endpoints serve outside a cluster: its own figures. */
export function processMetricsView({ registry }: Pick<Metrics, 'registry'>): MetricsView {
  return {
    prometheus: () => registry.metrics(),
    summary: async () => ({ ...summarizeMetrics(await registry.getMetricsAsJSON()) }),
  };
}

let defaultMetrics: Registry | undefined;

/**
 * prom-client's default metrics, collected once per process and shared by every app built in
 * it (tests build many): `collectDefaultMetrics` installs process-wide observers (an event-loop
 * delay histogram, a GC observer) that it never removes, and they describe the process anyway.
 */
function defaultMetricsRegistry(): Registry {
  if (!defaultMetrics) {
    defaultMetrics = new Registry();
    collectDefaultMetrics({ register: defaultMetrics });
  }
  return defaultMetrics;
}
