import type { MetricValue } from 'prom-client';
import { METRIC, type MetricsJson } from './metric-names';

/** The human-readable digest of a registry served as JSON by `/health/metrics`. */
export interface MetricsSummary {
  memoryMb: {
    rss: number;
    heapUsed: number;
    heapTotal: number;
    /** The heap right after the latest full collection (the live set); null before the first. */
    heapAfterGc: number | null;
    external: number;
  };
  eventLoop: { delayMs: { p50: number; p99: number; max: number }; utilization: number };
  requests: {
    /** Responses sent since the process started. */
    total: number;
    byStatusClass: Record<string, number>;
    inFlight: number;
    /** Estimated from the histogram buckets, since the process started; null before any request. */
    latencyMs: { p50: number; p90: number; p99: number } | null;
  };
}

/**
 * Digests a registry's JSON into {@link MetricsSummary}. It reads nothing but its argument, so it
 * works as well on one process's metrics as on a cluster's, merged by `AggregatorRegistry`.
 */
export function summarizeMetrics(metrics: MetricsJson): MetricsSummary {
  const byName = new Map(metrics.map((metric) => [metric.name, metric]));
  const single = (name: string) => byName.get(name)?.values[0]?.value ?? 0;
  const megabytes = (name: string) => round(single(name) / 1024 / 1024);
  const milliseconds = (name: string) => round(single(name) * 1000);

  const byStatusClass: Record<string, number> = {};
  for (const { labels, value } of byName.get(METRIC.requests)?.values ?? []) {
    const statusClass = labels.status_class;
    if (typeof statusClass === 'string') byStatusClass[statusClass] = value;
  }

  // Histogram values are bucket counts, a sum and a count, told apart by `metricName`.
  const buckets = (
    (byName.get(METRIC.requestDuration)?.values ?? []) as Array<
      MetricValue<string> & { metricName?: string }
    >
  )
    .filter((entry) => entry.metricName === `${METRIC.requestDuration}_bucket`)
    .map((entry) => ({
      le: entry.labels.le === '+Inf' ? Infinity : Number(entry.labels.le),
      count: entry.value,
    }));
  const quantileMs = (q: number) => round((histogramQuantile(q, buckets) ?? 0) * 1000);

  return {
    memoryMb: {
      rss: megabytes(METRIC.rss),
      heapUsed: megabytes(METRIC.heapUsed),
      heapTotal: megabytes(METRIC.heapTotal),
      heapAfterGc: single(METRIC.heapAfterGc) > 0 ? megabytes(METRIC.heapAfterGc) : null,
      external: megabytes(METRIC.external),
    },
    eventLoop: {
      delayMs: {
        p50: milliseconds(METRIC.eventLoopDelayP50),
        p99: milliseconds(METRIC.eventLoopDelayP99),
        max: milliseconds(METRIC.eventLoopDelayMax),
      },
      utilization: round(single(METRIC.eventLoopUtilization), 3),
    },
    requests: {
      total: Object.values(byStatusClass).reduce((sum, count) => sum + count, 0),
      byStatusClass,
      inFlight: single(METRIC.inFlight),
      latencyMs:
        histogramQuantile(0.5, buckets) === null
          ? null
          : { p50: quantileMs(0.5), p90: quantileMs(0.9), p99: quantileMs(0.99) },
    },
  };
}

/**
 * Estimates the `q` quantile (0 to 1) from cumulative histogram buckets, as Prometheus's
 * `histogram_quantile` does: linear interpolation inside the bucket where the quantile falls.
 * When it falls in the `+Inf` bucket, the highest finite bound is the best that can be said.
 *
 * @param buckets cumulative counts by upper bound (`le`), `+Inf` included.
 * @returns the estimate, or null when the histogram is empty.
 */
export function histogramQuantile(
  q: number,
  buckets: ReadonlyArray<{ le: number; count: number }>,
): number | null {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const { le, count } of sorted) {
    if (count >= rank) {
      if (le === Infinity) return lowerBound;
      const inBucket = count - lowerCount;
      return inBucket === 0
        ? le
        : lowerBound + ((le - lowerBound) * (rank - lowerCount)) / inBucket;
    }
    lowerBound = le;
    lowerCount = count;
  }
  return lowerBound;
}

function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
