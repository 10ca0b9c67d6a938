import { register, type Account } from '../../harness/auth-api';
import { eventually } from '../../harness/eventually';
import { request } from '../../harness/http-client';
import {
  startLoad,
  summarizeFailures,
  waitForRequests,
  type RunningLoad,
} from '../../harness/load-generator';
import type { Database } from '../../harness/postgres';
import { startSentinelGroup, type SentinelGroup } from '../../harness/redis-sentinel';
import { startApp, type AppProcess } from '../helpers/built-app';
import { migratedDatabase } from '../helpers/e2e-database';
import { countingInRedis, GENEROUS_LIMITS, STEADY_LIMITS } from '../helpers/limits';

const PASSWORD = 'e2e-redis-data-password';
const SENTINEL_PASSWORD = 'e2e-redis-sentinel-password';
const KEY_PREFIX = 'e2e-sentinel:';

interface Ready {
  status: string;
  rateLimit?: { store: string };
}

const readiness = async (app: AppProcess) =>
  (await request(`${app.url}/health/ready`)).body as Ready;

/** The api limiter's count for the loopback client, in the Redis node on `port`. */
async function apiCount(group: SentinelGroup, port: number): Promise<number> {
  const client = group.connect(port);
  try {
    await client.connect();
    const keys = await client.keys(`${KEY_PREFIX}rl:api:*`);
    if (keys.length === 0) return 0;
    return Number(await client.get(keys[0]!));
  } finally {
    client.disconnect();
  }
}

describe('Redis Sentinel failover under authenticated load (two apps, real sentinels)', () => {
  let database: Database;
  let group: SentinelGroup;
  let apps: AppProcess[] = [];
  let load: RunningLoad | undefined;

  beforeAll(async () => {
    [database, group] = await Promise.all([
      migratedDatabase(),
      startSentinelGroup({
        password: PASSWORD,
        sentinelPassword: SENTINEL_PASSWORD,
        downAfterMs: 1_000,
        failoverTimeoutMs: 5_000,
      }),
    ]);
    const env = {
      ...STEADY_LIMITS,
      ...GENEROUS_LIMITS,
      DATABASE_URL: database.url,
      REDIS_SENTINELS: group.sentinelList,
      REDIS_SENTINEL_MASTER: group.master,
      REDIS_PASSWORD: PASSWORD,
      REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD,
      REDIS_KEY_PREFIX: KEY_PREFIX,
      // One signing key for both apps: a token from one is accepted by the other.
      JWT_ACCESS_SECRET: 'e2e-access-secret-0123456789-abcdefghijklmnop',
      JWT_REFRESH_SECRET: 'e2e-refresh-secret-0123456789-abcdefghijklmno',
    };
    apps = await Promise.all([startApp({ env }), startApp({ env })]);
    await Promise.all(apps.map((app) => countingInRedis(app.url)));
  });
  afterAll(async () => {
    await load?.stop();
    await Promise.all(apps.map((app) => app.stop()));
    await group?.destroy();
    await database?.drop();
  });

  it('promotes the replica when the primary is SIGKILLed; both apps follow without a restart, no request fails, and limits count in Redis again', async () => {
    const accounts: Account[] = await Promise.all(
      Array.from({ length: 4 }, (_, i) => register(apps[i % 2]!.url, { label: 'sentinel' })),
    );
    // Every request is authenticated and passes the `/api` limiter, which counts in Redis.
    const turns = [0, 0, 0, 0];
    load = startLoad({
      baseUrl: apps[0]!.url,
      concurrency: 4,
      pauseMs: 10,
      next: (worker) => ({
        method: 'GET',
        path: '/api/auth/me',
        baseUrl: apps[turns[worker]!++ % 2]!.url,
        headers: { Authorization: `Bearer ${accounts[worker]!.accessToken}` },
      }),
    });
    await waitForRequests(load, 100);
    expect(await group.currentPrimaryPort()).toBe(group.primary.port);
    const countBefore = await apiCount(group, group.primary.port);
    expect(countBefore).toBeGreaterThan(0);

    const killedAt = Date.now();
    group.primary.process.signal('SIGKILL');

    await eventually(() => group.currentPrimaryPort(), {
      describe: 'the sentinels to promote the replica',
      timeoutMs: 120_000,
      until: (port) => port === group.replica.port,
    });
    const promotedAt = Date.now();

    // Both apps count in Redis again (the new primary), without a restart.
    await eventually(() => Promise.all(apps.map(readiness)), {
      describe: 'both apps to count in Redis again, on the new primary',
      timeoutMs: 120_000,
      intervalMs: 50,
      until: (states) =>
        states.every((state) => state.status === 'ok' && state.rateLimit?.store === 'redis'),
    });
    const recoveredAt = Date.now();
    expect(apps.every((app) => app.exitStatus() === undefined)).toBe(true);

    // And the count really grows in the new primary while the load goes on.
    const countAfterFailover = await apiCount(group, group.replica.port);
    await waitForRequests(load, 100);
    await eventually(() => apiCount(group, group.replica.port), {
      describe: 'the api count in the new primary to grow',
      until: (count) => count > countAfterFailover,
    });

    const report = await load.stop();
    load = undefined;
    const figures = {
      requestsSent: report.sent,
      failed: report.failures.length,
      primaryKilledToPromotedMs: promotedAt - killedAt,
      promotedToCountingInRedisMs: recoveredAt - promotedAt,
      degradedWindowMs: recoveredAt - killedAt,
    };
    console.log(`Sentinel failover under load: ${JSON.stringify(figures)}`);
    expect(summarizeFailures(report.failures)).toEqual([]);
    expect(report.sent).toBeGreaterThan(200);
  });
});
