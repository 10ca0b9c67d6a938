import { Redis } from 'ioredis';
import { request } from '../../harness/http-client';
import { startLoad, summarizeFailures, waitForRequests } from '../../harness/load-generator';
import type { Database } from '../../harness/postgres';
import { startRedis, type RedisServer } from '../../harness/redis';
import { startApp, type AppProcess } from '../helpers/built-app';
import { migratedDatabase } from '../helpers/e2e-database';
import { countingInRedis, STEADY_LIMITS } from '../helpers/limits';

const REFRESH_LIMIT = 4;
const AUTH_LIMIT = 3;
/** A request with no reply within this is counted as hung. */
const HUNG_MS = 5_000;

/**
 * Steady background traffic: a few clients in a loop, alternating between the apps, each reply
 * checked (a 404: through the limiter to no route; anything else, or none within HUNG_MS, fails).
 */
function steadyTraffic(apps: readonly AppProcess[], clients = 3) {
  const turns = Array.from({ length: clients }, (_, client) => client);
  return startLoad({
    baseUrl: apps[0]!.url,
    concurrency: clients,
    timeoutMs: HUNG_MS,
    next: (client) => ({
      method: 'GET',
      path: '/api/traffic',
      baseUrl: apps[turns[client]!++ % apps.length]!.url,
      accept: (status) => status === 404,
    }),
  });
}

describe('rate limiting through a Redis outage (two apps, their own redis-server)', () => {
  let database: Database;
  let redis: RedisServer;
  let apps: AppProcess[] = [];
  let env: Record<string, string>;

  beforeAll(async () => {
    [database, redis] = await Promise.all([migratedDatabase(), startRedis()]);
    env = {
      ...STEADY_LIMITS,
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      // Clients connect directly: each loopback address is a client.
      TRUST_PROXY: '0',
      RATE_LIMIT_API_MAX: '100000',
      RATE_LIMIT_AUTH_MAX: String(AUTH_LIMIT),
      RATE_LIMIT_REFRESH_MAX: String(REFRESH_LIMIT),
    };
    apps = await Promise.all([startApp({ env }), startApp({ env })]);
    await Promise.all(apps.map((app) => countingInRedis(app.url)));
  });
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.stop()));
    await redis?.destroy();
    await database?.drop();
  });

  /** `2 * REFRESH_LIMIT` refreshes from `from`, alternating between the apps: how many passed. */
  async function refreshesPassing(from: string): Promise<number> {
    let passed = 0;
    for (let i = 0; i < 2 * REFRESH_LIMIT; i++) {
      const app = apps[i % 2] as AppProcess;
      const res = await request(`${app.url}/api/auth/refresh`, { from, method: 'POST' });
      // 400 (no token) means the request went through the limiter to the route.
      expect(res.status === 400 || res.status === 429).toBe(true);
      if (res.status === 400) passed++;
    }
    return passed;
  }

  const readiness = (app: AppProcess) =>
    request(`${app.url}/health/ready`).then((res) => ({
      status: res.status,
      body: res.body as {
        status: string;
        checks: Array<{ name: string; status: string }>;
        rateLimit: { store: string; scope: string; degradedSince?: string };
      },
    }));

  const logCount = (app: AppProcess, pattern: RegExp) =>
    app.logs().filter((line) => typeof line.msg === 'string' && pattern.test(line.msg)).length;

  it('keeps answering, keeps limiting in memory while Redis is down, and returns to Redis by itself', async () => {
    // Before: one count for both apps.
    expect(await refreshesPassing('127.0.0.2')).toBe(REFRESH_LIMIT);

    const traffic = steadyTraffic(apps);
    await waitForRequests(traffic, 20);

    await redis.stop();
    await Promise.all(
      apps.map((app) =>
        app.waitForLog((line) => /^rate limiting: Redis is unavailable/.test(String(line.msg)), {
          describe: 'the outage',
        }),
      ),
    );
    // Traffic during the outage, counted in memory.
    await waitForRequests(traffic, 20);
    for (const app of apps) {
      const { status, body } = await readiness(app);
      expect(status).toBe(200);
      expect(body.status).toBe('degraded');
      expect(body.checks.find((check) => check.name === 'redis')?.status).toBe('down');
      expect(body.rateLimit).toMatchObject({
        store: 'memory-fallback',
        scope: 'process',
        degradedSince: expect.any(String),
      });
    }

    // During the outage the limits still apply, counted by each app on its own.
    const [first, second] = apps as [AppProcess, AppProcess];
    const signIn = (app: AppProcess) =>
      request(`${app.url}/api/auth/login`, {
        from: '127.0.0.3',
        method: 'POST',
        json: { email: `user-${Math.random()}@example.com`, password: 'x' },
      }).then((res) => res.status);
    const onFirst: number[] = [];
    for (let i = 0; i <= AUTH_LIMIT; i++) onFirst.push(await signIn(first));
    // 401: through the limiters to the route (no such account).
    expect(onFirst).toEqual([...Array<number>(AUTH_LIMIT).fill(401), 429]);
    expect(await signIn(second)).toBe(401);

    await redis.start();
    await Promise.all(
      apps.map((app) =>
        app.waitForLog((line) => /^rate limiting: Redis is back/.test(String(line.msg)), {
          describe: 'the recovery',
          timeoutMs: 60_000,
        }),
      ),
    );
    for (const app of apps) {
      const { status, body } = await readiness(app);
      expect(status).toBe(200);
      expect(body.status).toBe('ok');
      expect(body.rateLimit).toEqual({ store: 'redis', scope: 'fleet' });
    }

    // After: one count for both apps again, kept in the restarted Redis.
    expect(await refreshesPassing('127.0.0.4')).toBe(REFRESH_LIMIT);
    const inspector = new Redis(redis.url);
    try {
      expect(await inspector.get('rl:refresh:127.0.0.4')).toBe(String(2 * REFRESH_LIMIT));
    } finally {
      inspector.disconnect();
    }

    await waitForRequests(traffic, 20);
    const report = await traffic.stop();
    // Zero failed requests, before, during and after the outage: every one answered (none hung
    // past HUNG_MS), none with a 5xx.
    expect(summarizeFailures(report.failures)).toEqual([]);
    expect(report.sent).toBeGreaterThanOrEqual(60);

    // The outage and the recovery are logged once per app, not once per request.
    for (const app of apps) {
      expect(logCount(app, /^rate limiting: Redis is unavailable/)).toBe(1);
      expect(logCount(app, /^rate limiting: Redis is back/)).toBe(1);
      expect(app.logs().filter((line) => line.level === 'error')).toEqual([]);
    }
  });

  it('starts while Redis is down, limits in memory meanwhile, and moves to Redis once it answers', async () => {
    await redis.stop();
    const late = await startApp({ env: { ...env, REDIS_CONNECT_TIMEOUT_MS: '500' } });
    try {
      const { status, body } = await readiness(late);
      expect(status).toBe(200);
      expect(body.rateLimit).toMatchObject({ store: 'memory-fallback', scope: 'process' });
      await late.waitForLog((line) =>
        /^rate limiting: Redis is unavailable/.test(String(line.msg)),
      );

      const refresh = (from: string) =>
        request(`${late.url}/api/auth/refresh`, { from, method: 'POST' }).then((res) => res.status);
      const statuses: number[] = [];
      for (let i = 0; i <= REFRESH_LIMIT; i++) statuses.push(await refresh('127.0.0.5'));
      expect(statuses).toEqual([...Array<number>(REFRESH_LIMIT).fill(400), 429]);

      await redis.start();
      await late.waitForLog((line) => /^rate limiting: Redis is back/.test(String(line.msg)), {
        describe: 'the recovery',
        timeoutMs: 60_000,
      });
      expect(await refresh('127.0.0.6')).toBe(400);
      const inspector = new Redis(redis.url);
      try {
        expect(await inspector.get('rl:refresh:127.0.0.6')).toBe('1');
      } finally {
        inspector.disconnect();
      }
      expect(logCount(late, /^rate limiting: Redis is unavailable/)).toBe(1);
    } finally {
      await late.stop();
    }
  });
});
