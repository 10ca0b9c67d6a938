import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Router } from 'express';
import request from 'supertest';
import { freePort } from '../../harness/ports';
import { createTestApp, type TestApp } from '../helpers/test-app';

const { version } = JSON.parse(
  readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8'),
) as { version: string };

describe('health probes', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
  });
  afterEach(() => t.close());

  it('reports live without checking any dependency', async () => {
    const res = await request(t.app).get('/health/live');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('reports ready with the database check, its latency, and where rate limits count', async () => {
    const res = await request(t.app).get('/health/ready');
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({
      status: 'ok',
      checks: [{ name: 'database', status: 'up', critical: true, latencyMs: expect.any(Number) }],
      rateLimit: { store: 'memory', scope: 'process' },
    });
  });

  it('turns unready (503) once shutdown begins, while live stays 200', async () => {
    t.startShutdown();
    const ready = await request(t.app).get('/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.status).toBe('shutting_down');
    expect((await request(t.app).get('/health/live')).status).toBe(200);
  });

  it('turns unready (503) when the database is gone, while live stays 200', async () => {
    await t.db.close();
    const ready = await request(t.app).get('/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.status).toBe('unavailable');
    expect(ready.body.checks).toEqual([
      { name: 'database', status: 'down', critical: true, latencyMs: expect.any(Number) },
    ]);
    expect((await request(t.app).get('/health/live')).status).toBe(200);
  });

  it('runs one database query for many readiness probes within READINESS_CACHE_MS', async () => {
    // The probe is public: without a bound, anyone could make it a database load generator.
    // A long cache here, so that a slow machine spreading the probes out cannot expire it.
    const cached = await createTestApp({ READINESS_CACHE_MS: '60000' });
    try {
      const ping = jest.spyOn(cached.db, 'ping');
      const replies = await Promise.all(
        Array.from({ length: 20 }, () => request(cached.app).get('/health/ready')),
      );
      expect(replies.map((reply) => reply.status)).toEqual(Array(20).fill(200));
      expect(ping).toHaveBeenCalledTimes(1);
    } finally {
      await cached.close();
    }
  });

  it('neither logs nor counts probes, so a probe every second floods neither logs nor metrics', async () => {
    await request(t.app).get('/health/live');
    await request(t.app).get('/health/ready');
    expect(t.logs.filter((line) => line.msg === 'request')).toEqual([]);
    const metrics = await request(t.app).get('/health/metrics');
    // Only the metrics request itself, still in flight while it counts, is seen.
    expect(metrics.body.requests).toMatchObject({ total: 0, inFlight: 1 });
  });
});

describe('health summary (GET /health)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp({ INSTANCE_ID: 'web-7' });
  });
  afterEach(() => t.close());

  it('tells a human the version, instance, uptime and checks', async () => {
    const res = await request(t.app).get('/health');
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({
      status: 'ok',
      instanceId: 'web-7',
      pid: process.pid,
      version,
      uptimeSeconds: expect.any(Number),
      checks: [expect.objectContaining({ name: 'database', status: 'up' })],
    });
  });

  it('answers 503 like readiness when shutdown has begun', async () => {
    t.startShutdown();
    const res = await request(t.app).get('/health');
    expect(res.status).toBe(503);
    expect(res.body.status).toBe('shutting_down');
  });

  it('answers 503 when the database is gone, with the reason on one line', async () => {
    await t.db.close();
    const res = await request(t.app).get('/health');
    expect(res.status).toBe(503);
    expect(res.body.status).toBe('unavailable');
    expect(res.body.checks).toEqual([
      expect.objectContaining({ name: 'database', status: 'down', error: 'PGlite is closed' }),
    ]);
  });
});

describe('with Redis configured but down', () => {
  let t: TestApp;
  beforeAll(async () => {
    // A real client, pointed at a port where nothing listens.
    t = await createTestApp({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
  });
  afterAll(() => t.close());

  it('stays ready, degraded (200), and says Redis is down', async () => {
    for (const path of ['/health/ready', '/health']) {
      const res = await request(t.app).get(path);
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('degraded');
      expect(res.body.checks).toEqual([
        expect.objectContaining({ name: 'database', status: 'up' }),
        expect.objectContaining({ name: 'redis', status: 'down', critical: false }),
      ]);
    }
  });
});

describe('when the database is gone', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(
      {},
      {
        // A route that queries the database and lets errors propagate, like any API route.
        extraRouters: (db) => [
          Router().get('/test/query', async (_req, res) => {
            await db.ping();
            res.json({ ok: true });
          }),
        ],
      },
    );
  });
  afterAll(() => t.close());

  it('answers routes that need it with 503 SERVICE_UNAVAILABLE, not 500', async () => {
    expect((await request(t.app).get('/test/query')).status).toBe(200);
    await t.db.close();
    const res = await request(t.app).get('/test/query');
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.body).toMatchObject({ code: 'SERVICE_UNAVAILABLE', requestId: expect.any(String) });
  });
});
