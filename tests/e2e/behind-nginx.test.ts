import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { startApp, type AppProcess } from '../helpers/e2e/app-process';
import { startNginx, type NginxServer } from '../helpers/e2e/nginx';
import {
  createTestDatabase,
  sharedPostgresAdminUrl,
  type TestDatabase,
} from '../helpers/e2e/postgres';
import { startRedis, type RedisServer } from '../helpers/e2e/redis';

const MIGRATE = path.resolve(__dirname, '../../dist/db/cli/migrate.js');

describe('two replicas on PostgreSQL and Redis behind nginx', () => {
  let database: TestDatabase;
  let redis: RedisServer;
  let apps: AppProcess[] = [];
  let nginx: NginxServer;

  beforeAll(async () => {
    [database, redis] = await Promise.all([
      createTestDatabase(sharedPostgresAdminUrl()),
      startRedis(),
    ]);
    await promisify(execFile)(process.execPath, [MIGRATE], {
      env: { PATH: process.env.PATH, DATABASE_URL: database.url },
    });
    const env = { DATABASE_URL: database.url, REDIS_URL: redis.url, TRUST_PROXY: '1' };
    apps = await Promise.all([startApp({ env }), startApp({ env })]);
    nginx = await startNginx(apps.map((app) => app.port));
  });
  afterAll(async () => {
    await nginx?.destroy();
    await Promise.all(apps.map((app) => app.stop()));
    await redis?.destroy();
    await database?.drop();
  });

  it('is ready through nginx, with PostgreSQL and Redis both up', async () => {
    const res = await fetch(`${nginx.url}/health/ready`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      status: string;
      checks: Array<{ name: string; status: string }>;
    };
    expect(body.status).toBe('ok');
    expect(body.checks.map(({ name, status }) => ({ name, status }))).toEqual([
      { name: 'database', status: 'up' },
      { name: 'redis', status: 'up' },
    ]);
  });

  it("keeps nginx's request id end to end: response header, problem document and app log", async () => {
    const res = await fetch(`${nginx.url}/api/anything`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"broken": ',
    });
    expect(res.status).toBe(400);
    const requestId = res.headers.get('x-request-id');
    expect(requestId).toMatch(/^[0-9a-f]{32}$/); // nginx's $request_id
    expect(await res.json()).toMatchObject({ code: 'MALFORMED_JSON', requestId });
    const logged = await Promise.any(
      apps.map((app) => app.waitForLog((line) => line.reqId === requestId)),
    );
    expect(logged).toMatchObject({
      method: 'POST',
      path: '/api/anything',
      status: 400,
      code: 'MALFORMED_JSON',
    });
  });

  it('spreads concurrent requests over both replicas', async () => {
    await Promise.all(
      Array.from({ length: 40 }, () => fetch(`${nginx.url}/health/live`).then((res) => res.text())),
    );
    const upstreams = nginx
      .accessLog()
      .filter((line) => line.includes(' /health/live '))
      .map((line) => line.split('upstream=')[1]);
    expect(upstreams).toHaveLength(40);
    for (const app of apps) expect(upstreams).toContain(`127.0.0.1:${app.port}`);
  });

  it('stays ready, degraded, when Redis goes away, and answers within a bounded time', async () => {
    await redis.stop();
    const start = Date.now();
    const res = await fetch(`${nginx.url}/health/ready`);
    expect(Date.now() - start).toBeLessThan(3_000);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      status: string;
      checks: Array<{ name: string; status: string }>;
    };
    expect(body.status).toBe('degraded');
    expect(body.checks.find((check) => check.name === 'redis')?.status).toBe('down');
    await redis.start();
  });

  it('drains and exits 0 on SIGTERM', async () => {
    const app = apps.pop() as AppProcess;
    nginx.setUpstreams(apps.map((a) => a.port));
    expect(await app.stop('SIGTERM')).toBe(0);
    expect(app.logs()).toContainEqual(expect.objectContaining({ msg: 'shutdown complete' }));
  });
});
