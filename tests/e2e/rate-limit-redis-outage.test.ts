import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { startApp, type AppProcess } from '../helpers/e2e/app-process';
import { requestFrom } from '../helpers/e2e/client-address';
import {
  createTestDatabase,
  sharedPostgresAdminUrl,
  type TestDatabase,
} from '../helpers/e2e/postgres';
import { startRedis, type RedisServer } from '../helpers/e2e/redis';

const MIGRATE = path.resolve(__dirname, '../../dist/db/cli/migrate.js');
const REFRESH_LIMIT = 4;
const AUTH_LIMIT = 3;
/** A request with no reply within this is counted as hung. */
const HUNG_MS = 5_000;

interface Outcome {
  status?: number;
  error?: string;
  ms: number;
}

/**
 * Steady background traffic (a few clients in a loop, alternating between the apps) that
 * records every outcome until stopped.
 */
function steadyTraffic(apps: readonly AppProcess[], clients = 3) {
  const outcomes: Outcome[] = [];
  let running = true;
  const loops = Array.from({ length: clients }, async (_, client) => {
    for (let i = client; running; i++) {
      const app = apps[i % apps.length] as AppProcess;
      const start = performance.now();
      const outcome: Outcome = await fetch(`${app.url}/api/traffic`, {
        signal: AbortSignal.timeout(HUNG_MS),
      }).then(
        async (res) => {
          await res.arrayBuffer();
          return { status: res.status, ms: performance.now() - start };
        },
        (error: Error) => ({
          error: `${error.name}: ${error.message}`,
          ms: performance.now() - start,
        }),
      );
      outcomes.push(outcome);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
  return {
    outcomes,
    async stop() {
      running = false;
      await Promise.all(loops);
      return outcomes;
    },
  };
}

describe('rate limiting through a Redis outage (two apps, their own redis-server)', () => {
  let database: TestDatabase;
  let redis: RedisServer;
  let apps: AppProcess[] = [];
  let env: Record<string, string>;

  beforeAll(async () => {
    [database, redis] = await Promise.all([
      createTestDatabase(sharedPostgresAdminUrl()),
      startRedis(),
    ]);
    await promisify(execFile)(process.execPath, [MIGRATE], {
      env: { PATH: process.env.PATH, DATABASE_URL: database.url },
    });
    env = {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      // Clients connect directly: each loopback address is a client.
      TRUST_PROXY: '0',
      RATE_LIMIT_API_MAX: '100000',
      RATE_LIMIT_AUTH_MAX: String(AUTH_LIMIT),
      RATE_LIMIT_REFRESH_MAX: String(REFRESH_LIMIT),
    };
    apps = await Promise.all([startApp({ env }), startApp({ env })]);
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
      const res = await requestFrom(from, `${app.url}/api/auth/refresh`, { method: 'POST' });
      // 400 (no token) means the request went through the limiter to the route.
      expect(res.status === 400 || res.status === 429).toBe(true);
      if (res.status === 400) passed++;
    }
    return passed;
  }

  const readiness = (app: AppProcess) =>
    fetch(`${app.url}/health/ready`).then(async (res) => ({
      status: res.status,
      body: (await res.json()) as {
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
    await new Promise((resolve) => setTimeout(resolve, 500));

    await redis.stop();
    await Promise.all(
      apps.map((app) =>
        app.waitForLog((line) => /^rate limiting: Redis is unavailable/.test(String(line.msg))),
      ),
    );
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
      requestFrom('127.0.0.3', `${app.url}/api/auth/login`, {
        method: 'POST',
        body: JSON.stringify({ email: `user-${Math.random()}@example.com`, password: 'x' }),
      }).then((res) => res.status);
    const onFirst: number[] = [];
    for (let i = 0; i <= AUTH_LIMIT; i++) onFirst.push(await signIn(first));
    // 401: through the limiters to the route (no such account).
    expect(onFirst).toEqual([...Array<number>(AUTH_LIMIT).fill(401), 429]);
    expect(await signIn(second)).toBe(401);

    await redis.start();
    await Promise.all(
      apps.map((app) =>
        app.waitForLog((line) => /^rate limiting: Redis is back/.test(String(line.msg)), 20_000),
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

    await new Promise((resolve) => setTimeout(resolve, 500));
    const outcomes = await traffic.stop();
    // Zero failed requests: every one answered (none hung past HUNG_MS), none with a 5xx.
    expect(outcomes.length).toBeGreaterThan(50);
    expect(outcomes.filter((outcome) => outcome.status !== 404)).toEqual([]);

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
        requestFrom(from, `${late.url}/api/auth/refresh`, { method: 'POST' }).then(
          (res) => res.status,
        );
      const statuses: number[] = [];
      for (let i = 0; i <= REFRESH_LIMIT; i++) statuses.push(await refresh('127.0.0.5'));
      expect(statuses).toEqual([...Array<number>(REFRESH_LIMIT).fill(400), 429]);

      await redis.start();
      await late.waitForLog(
        (line) => /^rate limiting: Redis is back/.test(String(line.msg)),
        20_000,
      );
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
