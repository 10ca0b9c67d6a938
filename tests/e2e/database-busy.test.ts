import jwt from 'jsonwebtoken';
import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { eventually } from '../../harness/eventually';
import { request } from '../../harness/http-client';
import { type Database } from '../../harness/postgres';
import { PrismaClient } from '../../src/db/database';
import { isDatabaseUnavailableError } from '../../src/db/database-errors';
import { startApp, type AppProcess } from '../helpers/built-app';
import { migratedDatabase } from '../helpers/e2e-database';

// A database that is up but has no connection to spare (every one busy past the pool's 5 s
// connection timeout) is an outage for the requests that wait: 503 with Retry-After, never 500.

describe('a busy database: every pooled connection held', () => {
  let database: Database;
  let app: AppProcess;
  beforeAll(async () => {
    database = await migratedDatabase();
    app = await startApp({ env: { DATABASE_URL: database.url, DATABASE_POOL_SIZE: '1' } });
  });
  afterAll(async () => {
    await app?.stop();
    await database?.drop();
  });

  it('answers 503 SERVICE_UNAVAILABLE with Retry-After while the pool is exhausted, and recovers', async () => {
    const credentials = { email: 'busy@example.com', password: 'correct horse battery' };
    const registered = await request(`${app.url}/api/auth/register`, {
      method: 'POST',
      json: credentials,
    });
    expect(registered.status).toBe(201);
    const { accessToken, refreshToken } = registered.body as {
      accessToken: string;
      refreshToken: string;
    };
    const sid = (jwt.decode(refreshToken) as { sid: string }).sid;

    // Another client locks the session row: the app's refresh takes its only connection and
    // waits on that lock.
    const blocker = new pg.Client({ connectionString: database.url });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT id FROM sessions WHERE id = $1 FOR UPDATE', [sid]);
      const refreshing = request(`${app.url}/api/auth/refresh`, {
        method: 'POST',
        json: { refreshToken },
        timeoutMs: 120_000,
      });
      await eventually(
        async () =>
          (
            await blocker.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM pg_stat_activity
               WHERE datname = current_database() AND wait_event_type = 'Lock'`,
            )
          ).rows[0]!.n,
        { describe: "the app's refresh waiting on the lock", until: (n) => n === 1 },
      );

      // The raw-SQL path (the session check) and a Prisma path (login) both wait for a
      // connection, then answer 503.
      const busy = await Promise.all([
        request(`${app.url}/api/auth/me`, {
          headers: { Authorization: `Bearer ${accessToken}` },
          timeoutMs: 120_000,
        }),
        request(`${app.url}/api/auth/login`, {
          method: 'POST',
          json: credentials,
          timeoutMs: 120_000,
        }),
      ]);
      for (const reply of busy) {
        expect(reply.status).toBe(503);
        expect(reply.headers['retry-after']).toBe('5');
        expect(reply.body).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      }

      await blocker.query('COMMIT');
      // The lock released, the waiting refresh completes.
      expect((await refreshing).status).toBe(200);
    } finally {
      await blocker.end();
    }
    expect(
      (
        await request(`${app.url}/api/auth/login`, {
          method: 'POST',
          json: credentials,
        })
      ).status,
    ).toBe(200);
  });

  it('recognises P2028, an interactive transaction that cannot start in time, as unavailable', async () => {
    const pool = new pg.Pool({ connectionString: database.url, max: 1 });
    const prisma = new PrismaClient({ adapter: new PrismaPg(pool), errorFormat: 'minimal' });
    const held = await pool.connect();
    try {
      const error = await prisma
        .$transaction((tx) => tx.$queryRaw`SELECT 1`, { maxWait: 200 })
        .then(
          () => undefined,
          (failure: unknown) => failure,
        );
      expect(error).toMatchObject({ code: 'P2028' });
      expect(isDatabaseUnavailableError(error)).toBe(true);
    } finally {
      held.release();
      await prisma.$disconnect();
      await pool.end();
    }
  });
});
