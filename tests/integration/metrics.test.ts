import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Router } from 'express';
import request from 'supertest';
import type { StatusProvider } from '../../src/health/status-provider';
import { eventually } from '../../harness/eventually';
import { createTestApp, type TestApp } from '../helpers/test-app';

// What Prometheus 2.x sends when it scrapes.
const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

/** Lets a test hold a request in flight and release it. */
function slowRoute() {
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  const router = Router().get('/test/slow', async (_req, res) => {
    await released;
    res.json({ done: true });
  });
  return { router, release };
}

describe('metrics (GET /health/metrics, GET /metrics)', () => {
  let t: TestApp;
  let slow: ReturnType<typeof slowRoute>;
  // A trivial but real provider, like a job queue would add: a counter it owns, async state.
  let limiterChecks = 0;
  const jobQueue: StatusProvider = {
    name: 'jobQueue',
    state: () => Promise.resolve({ store: 'memory', checks: limiterChecks }),
  };
  const broken: StatusProvider = {
    name: 'broken',
    state: () => {
      throw new Error('state unavailable');
    },
  };

  beforeEach(async () => {
    slow = slowRoute();
    t = await createTestApp(
      { INSTANCE_ID: 'web-3' },
      { statusProviders: [jobQueue, broken], extraRouters: () => [slow.router] },
    );
  });
  afterEach(() => t.close());

  it('describes the process as JSON: identity, memory, event loop, requests', async () => {
    const res = await request(t.app).get('/health/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({
      instanceId: 'web-3',
      pid: process.pid,
      version: expect.any(String),
      uptimeSeconds: expect.any(Number),
      memoryMb: {
        rss: expect.any(Number),
        heapUsed: expect.any(Number),
        heapTotal: expect.any(Number),
        external: expect.any(Number),
      },
      eventLoop: {
        delayMs: { p50: expect.any(Number), p99: expect.any(Number), max: expect.any(Number) },
        utilization: expect.any(Number),
      },
      requests: { total: 0, byStatusClass: {}, inFlight: 1, latencyMs: null },
    });
    expect(res.body.memoryMb.rss).toBeGreaterThan(res.body.memoryMb.heapUsed);
  });

  it('reports the heap right after the latest full collection: the live set', async () => {
    // A full collection on demand: V8's gc(), exposed to this process for the test.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    // The collection is reported a moment after it ends.
    const memory = await eventually(
      async () => {
        const { memoryMb } = (await request(t.app).get('/health/metrics')).body as {
          memoryMb: { heapAfterGc: number | null; heapTotal: number };
        };
        return memoryMb.heapAfterGc === null ? undefined : memoryMb;
      },
      { describe: 'the heap after a full collection' },
    );
    expect(memory.heapAfterGc).toBeGreaterThan(0);
    expect(memory.heapAfterGc).toBeLessThanOrEqual(memory.heapTotal);
    const text = (await request(t.app).get('/metrics')).text;
    const bytes = Number(/^app_heap_after_gc_bytes (\d+)$/m.exec(text)?.[1]);
    // The same figure, in bytes (a later collection may have moved it).
    expect(bytes).toBeGreaterThan(0);
  });

  it('counts responses by status class, with latency percentiles', async () => {
    await request(t.app).get('/nope').expect(404);
    await request(t.app).get('/nope').expect(404);
    await request(t.app).get('/health').expect(200);
    const { body } = await request(t.app).get('/health/metrics');
    expect(body.requests).toMatchObject({ total: 3, byStatusClass: { '2xx': 1, '4xx': 2 } });
    const { p50, p90, p99 } = body.requests.latencyMs;
    expect(p50).toBeGreaterThan(0);
    expect(p50).toBeLessThanOrEqual(p90);
    expect(p90).toBeLessThanOrEqual(p99);
  });

  it('counts requests in flight until their response is sent', async () => {
    const pending = request(t.app).get('/test/slow');
    const inFlight = async () =>
      (await request(t.app).get('/health/metrics')).body.requests.inFlight as number;
    // supertest sends when awaited: start it, then wait until the app has it.
    const done = pending.then((res) => res.status);
    await eventually(inFlight, { describe: 'the slow request in flight', until: (n) => n >= 2 });
    slow.release();
    expect(await done).toBe(200);
    expect(await inFlight()).toBe(1);
  });

  it("includes each status provider's state under its name, and a failing one's error", async () => {
    limiterChecks = 42;
    const { body } = await request(t.app).get('/health/metrics');
    expect(body.jobQueue).toEqual({ store: 'memory', checks: 42 });
    // The app's own provider: where rate limits count.
    expect(body.rateLimit).toEqual({ store: 'memory', scope: 'process' });
    expect(body.broken).toEqual({ error: 'state unavailable' });
  });

  it.each([
    ['Accept: text/plain', '/health/metrics', 'text/plain'],
    ["Prometheus's own Accept header", '/health/metrics', PROMETHEUS_ACCEPT],
    ['/metrics, whatever the Accept', '/metrics', BROWSER_ACCEPT],
  ])('serves the Prometheus text format for %s', async (_case, path, accept) => {
    await request(t.app).get('/nope').expect(404);
    const res = await request(t.app).get(path).set('Accept', accept);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    // The app's own metrics...
    expect(res.text).toContain('# TYPE http_requests_total counter');
    expect(res.text).toContain('http_requests_total{status_class="4xx"} 1');
    expect(res.text).toMatch(/^http_request_duration_seconds_bucket\{le="0\.005"\} \d+$/m);
    expect(res.text).toMatch(/^http_requests_in_flight 1$/m);
    expect(res.text).toMatch(/^app_event_loop_delay_p99_seconds \d/m);
    expect(res.text).toMatch(/^app_event_loop_utilization_ratio \d/m);
    // ...and prom-client's default process metrics.
    expect(res.text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(res.text).toMatch(/^process_resident_memory_bytes \d/m);
    expect(res.text).toMatch(/^nodejs_heap_size_used_bytes \d/m);
  });

  it('states the configured event-loop window in the help text', async () => {
    const windowed = await createTestApp({ EVENT_LOOP_WINDOW_MS: '2500' });
    try {
      const res = await request(windowed.app).get('/metrics');
      expect(res.text).toContain(
        '# HELP app_event_loop_delay_p99_seconds 99th percentile event-loop delay over the last complete 2.5 s window.',
      );
    } finally {
      await windowed.close();
    }
  });

  it('serves JSON to a browser and to a client that asks for nothing in particular', async () => {
    for (const accept of [BROWSER_ACCEPT, '*/*']) {
      const res = await request(t.app).get('/health/metrics').set('Accept', accept);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
    }
  });
});

describe('metrics access', () => {
  const TOKEN = 'metrics-token-0123456789';
  let t: TestApp | undefined;
  afterEach(() => t?.close());

  it('serves this machine by default (the test client connects over loopback)', async () => {
    t = await createTestApp();
    for (const path of ['/health', '/health/metrics', '/metrics']) {
      expect((await request(t.app).get(path)).status).toBe(200);
    }
  });

  it('refuses an address outside METRICS_ALLOW with 403, but never restricts the probes', async () => {
    t = await createTestApp({ METRICS_ALLOW: '10.0.0.0/8' });
    for (const path of ['/health', '/health/metrics', '/metrics']) {
      const res = await request(t.app).get(path);
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('FORBIDDEN');
    }
    expect((await request(t.app).get('/health/live')).status).toBe(200);
    expect((await request(t.app).get('/health/ready')).status).toBe(200);
  });

  it("matches METRICS_ALLOW against the client's address behind TRUST_PROXY", async () => {
    t = await createTestApp({ METRICS_ALLOW: '10.0.0.0/8', TRUST_PROXY: '1' });
    const res = await request(t.app).get('/metrics').set('X-Forwarded-For', '10.9.8.7');
    expect(res.status).toBe(200);
  });

  it('requires METRICS_TOKEN as a bearer token when it is set', async () => {
    t = await createTestApp({ METRICS_TOKEN: TOKEN });
    expect((await request(t.app).get('/metrics')).status).toBe(401);
    const res = await request(t.app).get('/metrics').set('Authorization', `Bearer ${TOKEN}`);
    expect(res.status).toBe(200);
    expect((await request(t.app).get('/health/live')).status).toBe(200);
  });
});
