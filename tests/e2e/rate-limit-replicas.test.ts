import { Redis } from 'ioredis';
import { request } from '../../harness/http-client';
import { startNginx, type Nginx } from '../../harness/nginx';
import type { Database } from '../../harness/postgres';
import { startRedis, type RedisServer } from '../../harness/redis';
import { startApp, type AppProcess } from '../helpers/built-app';
import { migratedDatabase } from '../helpers/e2e-database';
import { countingInRedis, STEADY_LIMITS } from '../helpers/limits';

/** The `/api` limit per client address in these tests. */
const N = 10;

/**
 * No replica logged a rate-limit problem (express-rate-limit's validation checks, a store
 * error): a check firing falsely would flood real logs with a misleading error.
 */
function expectNoLimiterComplaints(apps: readonly AppProcess[]) {
  for (const app of apps) {
    const complaints = app
      .logs()
      .filter((line) => line.component === 'rate-limit' && line.level !== 'info');
    expect(complaints).toEqual([]);
  }
}

describe('rate limits over two replicas behind nginx least_conn', () => {
  let database: Database;
  let redis: RedisServer;
  let apps: AppProcess[] = [];
  let nginx: Nginx | undefined;

  beforeAll(async () => {
    [database, redis] = await Promise.all([migratedDatabase(), startRedis()]);
  });
  afterEach(async () => {
    await nginx?.destroy();
    await Promise.all(apps.map((app) => app.stop()));
    nginx = undefined;
    apps = [];
  });
  afterAll(async () => {
    await redis?.destroy();
    await database?.drop();
  });

  async function startReplicas(env: Record<string, string>): Promise<Nginx> {
    const common: Record<string, string> = {
      DATABASE_URL: database.url,
      TRUST_PROXY: '1',
      RATE_LIMIT_API_MAX: String(N),
      ...STEADY_LIMITS,
      ...env,
    };
    apps = await Promise.all([startApp({ env: common }), startApp({ env: common })]);
    if (common.REDIS_URL) await Promise.all(apps.map((app) => countingInRedis(app.url)));
    nginx = await startNginx({ upstreams: apps.map((app) => app.address) });
    return nginx;
  }

  /** `total` requests from the client address `from` through nginx, five at a time. */
  async function burst(proxy: Nginx, from: string, urlPath: string, total: number) {
    const statuses: number[] = [];
    for (let sent = 0; sent < total; sent += 5) {
      const batch = Array.from({ length: Math.min(5, total - sent) }, () =>
        request(`${proxy.url}${urlPath}`, { from }).then((res) => res.status),
      );
      statuses.push(...(await Promise.all(batch)));
    }
    return statuses;
  }

  /**
   * For each replica: how many of the `total` requests to `urlPath` it answered, and how many
   * passed the limiter.
   */
  async function perReplica(proxy: Nginx, urlPath: string, total: number) {
    const entries = await proxy.accessLogAfter(0, total, (entry) => entry.path === urlPath);
    expect(entries).toHaveLength(total);
    return apps.map((app) => {
      const served = entries.filter((entry) => entry.upstreams.at(-1) === app.address);
      return {
        served: served.length,
        passed: served.filter((entry) => entry.status === 404).length,
      };
    });
  }

  const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;

  it('with Redis: exactly N requests from one client pass in total, whichever replica served them', async () => {
    const proxy = await startReplicas({ REDIS_URL: redis.url });
    const statuses = await burst(proxy, '127.0.0.2', '/api/counted', 3 * N);
    expect({ passed: count(statuses, 404), limited: count(statuses, 429) }).toEqual({
      passed: N,
      limited: 2 * N,
    });
    const replicas = await perReplica(proxy, '/api/counted', 3 * N);
    for (const replica of replicas) expect(replica.served).toBeGreaterThan(0);

    // One count in Redis for the client's real address (nginx connects from 127.0.0.1).
    const inspector = new Redis(redis.url);
    try {
      expect(await inspector.get('rl:api:127.0.0.2')).toBe(String(3 * N));
    } finally {
      inspector.disconnect();
    }

    const ready = (await request(`${proxy.url}/health/ready`)).body;
    expect(ready).toMatchObject({ status: 'ok', rateLimit: { store: 'redis', scope: 'fleet' } });
    for (const app of apps) {
      expect(app.logs()).toContainEqual(
        expect.objectContaining({ component: 'rate-limit', store: 'redis', scope: 'fleet' }),
      );
    }
  });

  it('with Redis: keys on the address nginx saw, so a client cannot pick its own with X-Forwarded-For', async () => {
    const proxy = await startReplicas({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'xff-test:' });
    await burst(proxy, '127.0.0.3', '/api/spoof', N);
    for (const forged of ['203.0.113.50', '203.0.113.51, 198.51.100.9']) {
      const res = await request(`${proxy.url}/api/spoof`, {
        from: '127.0.0.3',
        headers: { 'X-Forwarded-For': forged },
      });
      expect(res.status).toBe(429);
      expect(res.headers.ratelimit).toMatch(/^"api"; r=0; t=\d+$/);
      expect(res.body).toMatchObject({ code: 'RATE_LIMITED' });
    }
    // Another client behind the same nginx has its own count.
    expect((await request(`${proxy.url}/api/spoof`, { from: '127.0.0.4' })).status).toBe(404);

    // The sign-in limiters stack on the same request without tripping express-rate-limit's
    // double-count check, which tells Redis stores apart by their prefix.
    const login = await request(`${proxy.url}/api/auth/login`, {
      from: '127.0.0.5',
      method: 'POST',
      json: { email: 'someone@example.com', password: 'x' },
    });
    expect(login.status).toBe(401); // through every limiter to the route: no such account
    expect(login.headers.ratelimit).toMatch(/"api"; r=\d+; t=\d+, "auth"; .*, "auth-account"; /);
    const inspector = new Redis(redis.url);
    try {
      expect(await inspector.exists('xff-test:rl:api:127.0.0.3')).toBe(1);
      expect(await inspector.keys('xff-test:rl:auth-account:127.0.0.5|email:*')).toHaveLength(1);
    } finally {
      inspector.disconnect();
    }
    expectNoLimiterComplaints(apps);
  });

  it("with Redis: a refresh's own count, sent with the API-wide one, counts each request once", async () => {
    const refreshes = 12;
    const proxy = await startReplicas({
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: 'ahead-test:',
      // Room under the API-wide limit, so each replica soon sends the refresh count with it.
      RATE_LIMIT_API_MAX: '1000',
      RATE_LIMIT_API_OVERLAP_MARGIN: '5',
      RATE_LIMIT_REFRESH_MAX: String(refreshes),
    });
    // No token: through both limiters to validation (400), or refused by the refresh limit.
    const statuses: number[] = [];
    for (let sent = 0; sent < 3 * refreshes; sent += 6) {
      const batch = Array.from({ length: 6 }, () =>
        request(`${proxy.url}/api/auth/refresh`, { from: '127.0.0.6', method: 'POST' }).then(
          (res) => res.status,
        ),
      );
      statuses.push(...(await Promise.all(batch)));
    }
    expect({ passed: count(statuses, 400), limited: count(statuses, 429) }).toEqual({
      passed: refreshes,
      limited: 2 * refreshes,
    });
    const inspector = new Redis(redis.url);
    try {
      expect(await inspector.get('ahead-test:rl:api:127.0.0.6')).toBe(String(3 * refreshes));
      expect(await inspector.get('ahead-test:rl:refresh:127.0.0.6')).toBe(String(3 * refreshes));
    } finally {
      inspector.disconnect();
    }
    // Nor did express-rate-limit's double-count check fire on either replica.
    expectNoLimiterComplaints(apps);
  });

  it('without Redis: each replica counts on its own, so one client gets up to N per replica', async () => {
    const proxy = await startReplicas({});
    const statuses = await burst(proxy, '127.0.0.2', '/api/counted', 3 * N);
    const replicas = await perReplica(proxy, '/api/counted', 3 * N);
    for (const replica of replicas) {
      expect(replica.served).toBeGreaterThan(0);
      expect(replica.passed).toBe(Math.min(N, replica.served));
    }
    // The documented per-replica difference: more than N pass in total (2N when both replicas
    // served at least N of the requests).
    const passed = count(statuses, 404);
    expect(passed).toBe(replicas.reduce((sum, replica) => sum + replica.passed, 0));
    expect(passed).toBeGreaterThan(N);

    const ready = (await request(`${proxy.url}/health/ready`)).body as { rateLimit: unknown };
    expect(ready.rateLimit).toEqual({ store: 'memory', scope: 'process' });
    for (const app of apps) {
      const startup = app.logs().find((line) => line.component === 'rate-limit');
      expect(startup).toMatchObject({ store: 'memory', scope: 'process' });
      expect(startup?.msg).toMatch(/per process/);
    }
  });
});
