import { randomUUID } from 'node:crypto';
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { METRIC, type MetricsJson, type MetricsView } from '../metrics/metric-names';
import { summarizeMetrics } from '../metrics/metrics-summary';

/**
 * Machine-wide metrics for cluster mode. Any worker may answer `/health/metrics`, so it asks the
 * primary, which asks every worker for its registry (as JSON, over the cluster IPC channel),
 * merges them with prom-client's AggregatorRegistry (counters and histograms summed, gauges by
 * their declared aggregator) and answers with the machine's totals and each worker's own figures.
 *
 * Messages carry a `type` starting with `app:metrics:` so that other users of the channel (the
 * rate limiter's cluster store) ignore them, and an `id` so concurrent scrapes do not mix.
 */

/** One worker's contribution. */
export interface WorkerMetrics {
  pid: number;
  instanceId: string;
  metrics: MetricsJson;
}

/** What a worker receives for the whole machine. */
export interface ClusterSnapshot {
  /** The merged registry, as JSON (for the summary). */
  machine: MetricsJson;
  /** The merged registry in Prometheus text format, plus per-worker series. */
  prometheus: string;
  workers: WorkerMetrics[];
  primary: { pid: number; rssBytes: number };
}

/** A worker's way to the machine-wide figures; see {@link clusterMetricsSource}. */
export interface ClusterMetricsSource {
  collect(): Promise<ClusterSnapshot>;
  /** What the worker's metrics endpoints serve: the machine's figures, with each worker's. */
  view: MetricsView;
  /** Stops answering the primary (removes the IPC listener). */
  close(): void;
}

type Message =
  | { type: 'app:metrics:collect'; id: string }
  | { type: 'app:metrics:report'; id: string }
  | {
      type: 'app:metrics:reported';
      id: string;
      pid: number;
      instanceId: string;
      metrics: MetricsJson;
    }
  | { type: 'app:metrics:collected'; id: string; snapshot: ClusterSnapshot };

const isMessage = (value: unknown): value is Message =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as { type?: unknown }).type === 'string' &&
  (value as { type: string }).type.startsWith('app:metrics:');

/**
 * Worker side: answers the primary's requests for this worker's registry, and returns the
 * source `/health/metrics` uses to get the machine's figures.
 */
export function clusterMetricsSource(
  registry: Registry,
  instanceId: string,
  timeoutMs = 2_000,
): ClusterMetricsSource {
  const pending = new Map<string, (snapshot: ClusterSnapshot) => void>();
  const onMessage = (message: unknown) => {
    if (!isMessage(message)) return;
    if (message.type === 'app:metrics:report') {
      void registry.getMetricsAsJSON().then((metrics) =>
        send({
          type: 'app:metrics:reported',
          id: message.id,
          pid: process.pid,
          instanceId,
          metrics,
        }),
      );
    } else if (message.type === 'app:metrics:collected') {
      pending.get(message.id)?.(message.snapshot);
      pending.delete(message.id);
    }
  };
  process.on('message', onMessage);
  const collect = () => {
    const id = randomUUID();
    return new Promise<ClusterSnapshot>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`the cluster primary did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, (snapshot) => {
        clearTimeout(timer);
        resolve(snapshot);
      });
      send({ type: 'app:metrics:collect', id });
    });
  };
  return {
    collect,
    view: {
      prometheus: async () => (await collect()).prometheus,
      async summary() {
        const snapshot = await collect();
        return {
          mode: 'cluster',
          ...summarizeMetrics(snapshot.machine),
          primary: {
            pid: snapshot.primary.pid,
            rssMb: Math.round(snapshot.primary.rssBytes / 1024 / 1024),
          },
          workers: snapshot.workers.map(({ pid, instanceId: id, metrics }) => ({
            pid,
            instanceId: id,
            ...summarizeMetrics(metrics),
          })),
        };
      },
    },
    close: () => process.off('message', onMessage),
  };
}

/**
 * Primary side: answers workers' `collect` requests with the merged figures of every worker
 * that replies within `workerTimeoutMs` (a worker that is starting or stuck is left out rather
 * than failing the scrape).
 *
 * @returns a function that stops answering.
 */
export function serveClusterMetrics(workerTimeoutMs = 1_000): () => void {
  const onMessage = (from: Worker, message: unknown) => {
    if (!isMessage(message) || message.type !== 'app:metrics:collect') return;
    void collectFromWorkers(workerTimeoutMs).then((snapshot) => {
      if (from.isConnected())
        from.send({ type: 'app:metrics:collected', id: message.id, snapshot });
    });
  };
  cluster.on('message', onMessage);
  return () => cluster.off('message', onMessage);
}

async function collectFromWorkers(timeoutMs: number): Promise<ClusterSnapshot> {
  const id = randomUUID();
  const workers = Object.values(cluster.workers ?? {}).filter(
    (worker): worker is Worker => worker !== undefined && worker.isConnected(),
  );
  const reports = await new Promise<WorkerMetrics[]>((resolve) => {
    const received: WorkerMetrics[] = [];
    const onMessage = (_worker: Worker, message: unknown) => {
      if (!isMessage(message) || message.type !== 'app:metrics:reported' || message.id !== id)
        return;
      received.push({ pid: message.pid, instanceId: message.instanceId, metrics: message.metrics });
      if (received.length === workers.length) finish();
    };
    const timer = setTimeout(() => finish(), timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      cluster.off('message', onMessage);
      resolve(received);
    };
    cluster.on('message', onMessage);
    for (const worker of workers) worker.send({ type: 'app:metrics:report', id });
    if (workers.length === 0) finish();
  });
  reports.sort((a, b) => a.pid - b.pid);

  const merged = AggregatorRegistry.aggregate(reports.map((report) => report.metrics));
  const [machine, text] = await Promise.all([merged.getMetricsAsJSON(), merged.metrics()]);
  const primary = { pid: process.pid, rssBytes: process.memoryUsage.rss() };
  return {
    machine: machine,
    prometheus: text + perWorkerSeries(reports, primary),
    workers: reports,
    primary,
  };
}

/**
 * A few per-worker series next to the machine totals: enough to see an unbalanced or leaking
 * worker, without repeating every metric family per worker.
 */
function perWorkerSeries(
  reports: readonly WorkerMetrics[],
  primary: ClusterSnapshot['primary'],
): string {
  const value = (report: WorkerMetrics, name: string) =>
    report.metrics
      .find((metric) => metric.name === name)
      ?.values.reduce((sum, entry) => sum + entry.value, 0) ?? 0;
  const series = (
    name: string,
    help: string,
    type: 'gauge' | 'counter',
    read: (report: WorkerMetrics) => number,
  ) =>
    [
      `# HELP ${name} ${help}`,
      `# TYPE ${name} ${type}`,
      ...reports.map(
        (report) =>
          `${name}{worker_pid="${report.pid}",instance_id="${report.instanceId}"} ${read(report)}`,
      ),
    ].join('\n');
  return [
    '',
    `# HELP app_cluster_workers Workers that answered this scrape.`,
    `# TYPE app_cluster_workers gauge`,
    `app_cluster_workers ${reports.length}`,
    `# HELP app_cluster_primary_resident_memory_bytes Resident memory of the cluster primary.`,
    `# TYPE app_cluster_primary_resident_memory_bytes gauge`,
    `app_cluster_primary_resident_memory_bytes{pid="${primary.pid}"} ${primary.rssBytes}`,
    series(
      'app_cluster_worker_requests_total',
      'Responses sent by each worker.',
      'counter',
      (report) => value(report, METRIC.requests),
    ),
    series(
      'app_cluster_worker_resident_memory_bytes',
      'Resident memory of each worker.',
      'gauge',
      (report) => value(report, METRIC.rss),
    ),
    series(
      'app_cluster_worker_event_loop_delay_p99_seconds',
      "Each worker's 99th percentile event-loop delay over its last window.",
      'gauge',
      (report) => value(report, METRIC.eventLoopDelayP99),
    ),
    '',
  ].join('\n');
}

function send(message: Message): void {
  process.send?.(message);
}
