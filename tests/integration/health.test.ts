import request from 'supertest';
import { createTestApp, type TestApp } from '../helpers/test-app';

describe('health probes', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
  });
  afterEach(() => t.close());

  it('reports live without checking any dependency', async () => {
    const res = await request(t.app).get('/health/live');
    expect(res.status).toBe(200);
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
    expect(ready.body.checks[0]).toMatchObject({
      name: 'database',
      status: 'down',
      error: expect.any(String),
    });
    expect((await request(t.app).get('/health/live')).status).toBe(200);
  });

  it('logs successful probes at debug only, so a probe every second does not flood the logs', async () => {
    await request(t.app).get('/health/live').set('X-Request-Id', 'probe-1');
    const line = t.logs.find((entry) => entry.reqId === 'probe-1');
    expect(line).toMatchObject({ level: 'debug', path: '/health/live', status: 200 });
  });
});
