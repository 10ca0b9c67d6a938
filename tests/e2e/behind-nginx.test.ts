import { eventually } from '../../harness/eventually';
import { request } from '../../harness/http-client';
import { startNginx, type Nginx } from '../../harness/nginx';
import type { Database } from '../../harness/postgres';
import { startRedis, type RedisServer } from '../../harness/redis';
import { startApp, type AppProcess } from '../helpers/built-app';
import { migratedDatabase } from '../helpers/e2e-database';

describe('two replicas on PostgreSQL and Redis behind nginx', () => {
  let database: Database;
  let redis: RedisServer;
  let apps: AppProcess[] = [];
  let nginx: Nginx;

  beforeAll(async () => {
    [database, redis] = await Promise.all([migratedDatabase(), startRedis()]);
    const env = { DATABASE_URL: database.url, REDIS_URL: redis.url, TRUST_PROXY: '1' };
    apps = await Promise.all([startApp({ env }), startApp({ env })]);
    nginx = await startNginx({ upstreams: apps.map((app) => app.address) });
  });
  afterAll(async () => {
    await nginx?.destroy();
    await Promise.all(apps.map((app) => app.stop()));
    await redis?.destroy();
    await database?.drop();
  });

  it('is ready through nginx, with PostgreSQL and Redis both up', async () => {
    // Redis is not critical: a replica is ready (200, "degraded") before its Redis connection is
    // up, which on a busy machine can be a while after it started listening.
    const res = await eventually(() => request(`${nginx.url}/health/ready`), {
      describe: 'readiness "ok" through nginx',
      until: (reply) => (reply.body as { status?: string } | undefined)?.status === 'ok',
    });
    expect(res.status).toBe(200);
    const body = res.body as { status: string; checks: Array<{ name: string; status: string }> };
    expect(body.checks.map(({ name, status }) => ({ name, status }))).toEqual([
      { name: 'database', status: 'up' },
      { name: 'redis', status: 'up' },
    ]);
  });

  it("keeps nginx's request id end to end: response header, problem document and app log", async () => {
    const res = await request(`${nginx.url}/api/auth/login`, {
      method: 'POST',
      body: '{"broken": ',
    });
    expect(res.status).toBe(400);
    const requestId = res.headers['x-request-id'];
    expect(requestId).toMatch(/^[0-9a-f]{32}$/); // nginx's $request_id
    expect(res.body).toMatchObject({ code: 'MALFORMED_JSON', requestId });
    const logged = await Promise.any(
      apps.map((app) => app.waitForLog((line) => line.reqId === requestId)),
    );
    expect(logged).toMatchObject({
      method: 'POST',
      path: '/api/auth/login',
      status: 400,
      code: 'MALFORMED_JSON',
    });
  });

  it('spreads concurrent requests over both replicas', async () => {
    const before = nginx.accessLog().length;
    await Promise.all(Array.from({ length: 40 }, () => request(`${nginx.url}/health/live`)));
    const entries = await nginx.accessLogAfter(before, 40, (e) => e.path === '/health/live');
    const upstreams = entries.map((entry) => entry.upstreams.at(-1));
    expect(upstreams).toHaveLength(40);
    for (const app of apps) expect(upstreams).toContain(app.address);
  });

  it('stays ready, degraded, when Redis goes away, and answers within a bounded time', async () => {
    await redis.stop();
    const res = await request(`${nginx.url}/health/ready`);
    // Bounded: each readiness check has 1 s; an unbounded one would wait for Redis to come back,
    // which it does not while this request runs, and the client's 15 s deadline would end it.
    expect(res.ms).toBeLessThan(10_000);
    expect(res.status).toBe(200);
    const body = res.body as { status: string; checks: Array<{ name: string; status: string }> };
    expect(body.status).toBe('degraded');
    expect(body.checks.find((check) => check.name === 'redis')?.status).toBe('down');
    await redis.start();
  });

  it('drains and exits 0 on SIGTERM', async () => {
    const app = apps.pop() as AppProcess;
    nginx.setUpstreams(apps.map((a) => a.address));
    expect(await app.stop('SIGTERM')).toBe(0);
    expect(app.logs()).toContainEqual(expect.objectContaining({ msg: 'shutdown complete' }));
  });
});
