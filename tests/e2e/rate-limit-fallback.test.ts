import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { eventually } from '../../harness/eventually';
import { request } from '../../harness/http-client';
import type { Database } from '../../harness/postgres';
import { startRedis, type RedisServer } from '../../harness/redis';
import { startApp, type AppProcess } from '../helpers/built-app';
import { migratedDatabase } from '../helpers/e2e-database';
import { countingInRedis, STEADY_LIMITS } from '../helpers/limits';

const API_LIMIT = 300;
const AUTH_LIMIT = 20;

/**
 * Issue 12, finding 8: a slow Redis command or an outage must never hand out fresh allowances
 * (the README's "Limits" part of the Security section states the bound), and the per-account
 * sign-in delay holds across replicas through Redis (finding 10). Each test owns its Redis.
 */
describe('rate limits through a slow command and an outage never reset what a client used', () => {
  let database: Database;
  let redis: RedisServer;
  let apps: AppProcess[] = [];

  beforeAll(async () => {
    database = await migratedDatabase();
  });
  beforeEach(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await Promise.all(apps.map((app) => app.stop()));
    apps = [];
    await redis.destroy();
  });
  afterAll(async () => {
    await database?.drop();
  });

  async function startApps(count: number, env: Record<string, string> = {}) {
    const common = {
      ...STEADY_LIMITS,
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      // Clients connect directly: each loopback address is a client.
      TRUST_PROXY: '0',
      RATE_LIMIT_API_MAX: String(API_LIMIT),
      RATE_LIMIT_AUTH_MAX: String(AUTH_LIMIT),
      ...env,
    };
    apps = await Promise.all(Array.from({ length: count }, () => startApp({ env: common })));
    await Promise.all(apps.map((app) => countingInRedis(app.url)));
    return apps;
  }

  const get = (app: AppProcess, from: string) =>
    request(`${app.url}/api/anything`, { from }).then((res) => res.status);

  const signIn = (app: AppProcess, from: string, email = `${randomUUID()}@example.com`) =>
    request(`${app.url}/api/auth/login`, {
      from,
      method: 'POST',
      json: { email, password: 'not the password' },
    });

  it('refuses the 301st of a burst of /api requests even when a Redis command times out in the middle of it', async () => {
    // A command that takes longer than 250 ms fails (the production timeout).
    const [app] = (await startApps(1, { REDIS_COMMAND_TIMEOUT_MS: '250' })) as [AppProcess];
    const from = '127.0.0.20';
    const statuses: number[] = [];
    for (let i = 0; i < 150; i++) statuses.push(await get(app, from));

    // Redis stops answering for 2 s: the next request's command times out.
    const pauser = new Redis(redis.url);
    try {
      await pauser.call('CLIENT', 'PAUSE', '2000', 'ALL');
      statuses.push(await get(app, from));
      await eventually(() => pauser.ping().then(() => true), { describe: 'Redis answering again' });
    } finally {
      pauser.disconnect();
    }
    for (let i = 0; i < 150; i++) statuses.push(await get(app, from));

    // 404: through the limiter to no route. Exactly the limit passed, and the 301st was refused.
    expect(statuses.filter((status) => status === 404)).toHaveLength(API_LIMIT);
    expect(statuses.at(-1)).toBe(429);
    expect(statuses.slice(0, API_LIMIT).every((status) => status === 404)).toBe(true);
  });

  it('gives a client that used 10 of its 20 sign-ins on two apps at most 2 x 20 in the window once Redis is gone (15 more on each app, not 20)', async () => {
    const pair = await startApps(2);
    const from = '127.0.0.21';
    for (let i = 0; i < 10; i++) {
      // 401: through the limiters to the route (no such account).
      expect((await signIn(pair[i % 2]!, from)).status).toBe(401);
    }

    await redis.stop();
    await Promise.all(
      pair.map((app) =>
        app.waitForLog((line) => /^rate limiting: Redis is unavailable/.test(String(line.msg)), {
          describe: 'the outage',
        }),
      ),
    );
    const passedOn = async (app: AppProcess) => {
      let passed = 0;
      for (let i = 0; i < AUTH_LIMIT + 5; i++) {
        const res = await signIn(app, from);
        if (res.status === 429) break;
        expect(res.status).toBe(401);
        passed++;
      }
      return passed;
    };
    // Each app saw 5 of the client's sign-ins before the outage, and keeps counting from there.
    const more = [await passedOn(pair[0]!), await passedOn(pair[1]!)];
    expect(more).toEqual([AUTH_LIMIT - 5, AUTH_LIMIT - 5]);
    // The documented bound: N processes x the limit per window, before and during the outage.
    expect(10 + more[0]! + more[1]!).toBeLessThanOrEqual(2 * AUTH_LIMIT);
  });

  it('delays an account across two apps through Redis, and keeps it delayed when Redis goes away', async () => {
    const pair = await startApps(2, {
      RATE_LIMIT_AUTH_MAX: '1000',
      RATE_LIMIT_AUTH_EMAIL_MAX: '1000',
      SIGN_IN_DELAY_AFTER_FAILURES: '3',
      SIGN_IN_DELAY_BASE_MS: String(60 * 60_000),
      SIGN_IN_DELAY_MAX_MS: String(60 * 60_000),
    });
    const email = 'victim@example.com';
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      statuses.push((await signIn(pair[i % 2]!, `127.0.1.${i + 1}`, email)).status);
    }
    // 3 guesses in all, not 3 per app or per address.
    expect(statuses).toEqual([401, 401, 401, ...Array<number>(7).fill(429)]);

    await redis.stop();
    for (const app of pair) {
      const res = await signIn(app, '127.0.2.1', email);
      expect(res.status).toBe(429);
      expect(res.body).toMatchObject({ code: 'SIGN_IN_DELAYED' });
    }
  });

  it('ships the breached-password list in the build', async () => {
    const [app] = (await startApps(1)) as [AppProcess];
    const res = await request(`${app.url}/api/auth/register`, {
      method: 'POST',
      json: { email: 'common@example.com', password: 'iloveyou' },
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'PASSWORD_TOO_COMMON' });
  });
});
