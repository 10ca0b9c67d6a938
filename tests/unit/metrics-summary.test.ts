import { AggregatorRegistry } from 'prom-client';
import { createMetrics } from '../../src/metrics/metrics';
import { histogramQuantile, summarizeMetrics } from '../../src/metrics/metrics-summary';

const eventLoop = (delayMaxMs: number, utilization: number) => ({
  stats: () => ({ delayP50Ms: 1, delayP99Ms: 5, delayMaxMs, utilization }),
});

describe('histogramQuantile', () => {
  const buckets = [
    { le: 0.01, count: 50 },
    { le: 0.1, count: 90 },
    { le: 1, count: 100 },
    { le: Infinity, count: 100 },
  ];

  it('interpolates inside the bucket where the quantile falls, as Prometheus does', () => {
    expect(histogramQuantile(0.5, buckets)).toBeCloseTo(0.01);
    expect(histogramQuantile(0.7, buckets)).toBeCloseTo(0.055);
    expect(histogramQuantile(0.25, buckets)).toBeCloseTo(0.005);
  });

  it('answers the highest finite bound when the quantile falls in +Inf', () => {
    expect(histogramQuantile(0.99, [...buckets.slice(0, 3), { le: Infinity, count: 200 }])).toBe(1);
  });

  it('has no answer for an empty histogram', () => {
    expect(
      histogramQuantile(
        0.5,
        buckets.map((b) => ({ ...b, count: 0 })),
      ),
    ).toBeNull();
    expect(histogramQuantile(0.5, [])).toBeNull();
  });
});

describe('summarizeMetrics', () => {
  it("digests one process's registry", async () => {
    const metrics = createMetrics({ eventLoop: eventLoop(12.5, 0.25), windowMs: 10_000 });
    metrics.requests.requestStarted();
    metrics.requests.requestFinished(200, 3);
    metrics.requests.requestStarted();
    metrics.requests.requestFinished(499, 40);
    metrics.requests.requestStarted(); // still in flight
    const summary = summarizeMetrics(await metrics.registry.getMetricsAsJSON());
    expect(summary.requests).toEqual({
      total: 2,
      byStatusClass: { '2xx': 1, '4xx': 1 },
      inFlight: 1,
      latencyMs: { p50: expect.any(Number), p90: expect.any(Number), p99: expect.any(Number) },
    });
    expect(summary.requests.latencyMs?.p50).toBeGreaterThanOrEqual(2.5);
    expect(summary.requests.latencyMs?.p99).toBeLessThanOrEqual(50);
    expect(summary.eventLoop).toEqual({
      delayMs: { p50: 1, p99: 5, max: 12.5 },
      utilization: 0.25,
    });
    expect(summary.memoryMb.rss).toBeGreaterThan(0);
  });

  // The cluster seam: workers' JSON, merged by prom-client, digested by the same function.
  it("digests a cluster's metrics merged with AggregatorRegistry: sums, and the worst event loop", async () => {
    const workers = [
      createMetrics({ eventLoop: eventLoop(10, 0.2), windowMs: 10_000 }),
      createMetrics({ eventLoop: eventLoop(80, 0.6), windowMs: 10_000 }),
    ];
    for (const [index, worker] of workers.entries()) {
      for (let i = 0; i <= index; i++) {
        worker.requests.requestStarted();
        worker.requests.requestFinished(201, 5);
      }
      worker.requests.requestStarted();
    }
    // What each worker would send over IPC: plain, serialisable objects.
    const perWorker = await Promise.all(
      workers.map(
        async (worker) =>
          JSON.parse(JSON.stringify(await worker.registry.getMetricsAsJSON())) as object[],
      ),
    );
    const machine = AggregatorRegistry.aggregate(perWorker);
    const summary = summarizeMetrics(await machine.getMetricsAsJSON());
    expect(summary.requests).toMatchObject({ total: 3, byStatusClass: { '2xx': 3 }, inFlight: 2 });
    expect(summary.eventLoop.delayMs.max).toBe(80);
    expect(summary.eventLoop.utilization).toBeCloseTo(0.4);
  });
});
