import jwt from 'jsonwebtoken';
import { PASSWORD, register } from '../../harness/auth-api';
import { request, type Reply } from '../../harness/http-client';
import { startPgBouncer, type PgBouncer } from '../../harness/pgbouncer';
import { withClient, type Database } from '../../harness/postgres';
import { DECLARED_SETTINGS } from '../../src/config/settings';
import { startApp, type AppProcess } from '../helpers/built-app';
import { migratedDatabase } from '../helpers/e2e-database';

/** PostgreSQL connections PgBouncer may open for the app's (database, user). */
const SERVER_POOL = 3;
/** The app's own pool: more than PgBouncer gives it, so PgBouncer must multiplex. */
const APP_POOL = 12;

/**
 * Named prepared statements do not survive transaction pooling before PgBouncer 1.21 (Debian 12
 * ships 1.18): the next transaction may run on another server connection, which never prepared
 * them. Every setting the app declares about prepared statements is set here to turn them off;
 * the check below fails if one is added without being listed.
 */
const WITHOUT_NAMED_PREPARED_STATEMENTS: Record<string, string> = {
  DATABASE_PREPARED_STATEMENTS: 'false',
};

const SECRETS = {
  JWT_ACCESS_SECRET: 'e2e-access-secret-0123456789-abcdefghijklmnop',
  JWT_REFRESH_SECRET: 'e2e-refresh-secret-0123456789-abcdefghijklmno',
};

describe('the app through PgBouncer in transaction pooling mode', () => {
  let database: Database;
  let pgbouncer: PgBouncer;
  let app: AppProcess;
  let api: (method: string, route: string, json?: unknown, token?: string) => Promise<Reply>;

  beforeAll(async () => {
    // Migrations go straight to PostgreSQL (the migration engine holds a session-level advisory
    // lock, which transaction pooling cannot keep): migratedDatabase() runs the built migrate
    // command against the server itself.
    database = await migratedDatabase();
    pgbouncer = await startPgBouncer({
      serverPort: Number(new URL(database.url).port),
      poolMode: 'transaction',
      poolSize: SERVER_POOL,
    });
    app = await startApp({
      env: {
        DATABASE_URL: pgbouncer.urlFor(database.url),
        DATABASE_POOL_SIZE: String(APP_POOL),
        ...WITHOUT_NAMED_PREPARED_STATEMENTS,
        ...SECRETS,
      },
    });
    api = (method, route, json, token) =>
      request(`${app.url}/api/auth${route}`, {
        method,
        json,
        headers: token ? { Authorization: `Bearer ${token}` } : {},
        timeoutMs: 30_000,
      });
  });
  afterAll(async () => {
    await app?.stop();
    await pgbouncer?.destroy();
    await database?.drop();
  });

  it('turns off every prepared-statement setting the app declares', () => {
    const declared = DECLARED_SETTINGS.map((setting) => setting.env).filter((env) =>
      /PREPARED|NAMED_STATEMENT|STATEMENT_CACHE|PGBOUNCER/i.test(env),
    );
    for (const env of declared)
      expect(Object.keys(WITHOUT_NAMED_PREPARED_STATEMENTS)).toContain(env);
  });

  it('serves every auth flow, with the database reached only through PgBouncer', async () => {
    const email = `pgbouncer-${Date.now()}@example.com`;
    const account = await register(app.url, { email });
    const login = await api('POST', '/login', { email, password: PASSWORD });
    expect(login.status).toBe(200);
    const second = login.body as { accessToken: string; refreshToken: string };

    expect((await api('GET', '/me', undefined, account.accessToken)).status).toBe(200);
    const refreshed = await api('POST', '/refresh', { refreshToken: account.refreshToken });
    expect(refreshed.status).toBe(200);
    // The spent token again: reuse, detected inside one transaction, revokes the session.
    const reuse = await api('POST', '/refresh', { refreshToken: account.refreshToken });
    expect(reuse.status).toBe(401);

    const sessions = await api('GET', '/sessions', undefined, second.accessToken);
    expect(sessions.status).toBe(200);
    expect((sessions.body as { sessions: unknown[] }).sessions).toHaveLength(1);
    const third = await api('POST', '/login', { email, password: PASSWORD });
    const thirdSession = (
      jwt.decode((third.body as { refreshToken: string }).refreshToken) as {
        sid: string;
      }
    ).sid;
    expect(
      (await api('DELETE', `/sessions/${thirdSession}`, undefined, second.accessToken)).status,
    ).toBe(204);

    const newPassword = 'another correct horse battery';
    expect(
      (
        await api(
          'POST',
          '/change-password',
          { currentPassword: PASSWORD, newPassword },
          second.accessToken,
        )
      ).status,
    ).toBe(204);
    const fourth = await api('POST', '/login', { email, password: newPassword });
    expect(fourth.status).toBe(200);
    expect((await api('POST', '/logout', { refreshToken: second.refreshToken })).status).toBe(204);
    // Revocation is immediate: the logged-out session's access token is refused at once.
    expect((await api('GET', '/me', undefined, second.accessToken)).status).toBe(401);
    const fourthAccess = (fourth.body as { accessToken: string }).accessToken;
    expect((await api('POST', '/logout-all', undefined, fourthAccess)).status).toBe(204);
    expect((await api('GET', '/me', undefined, fourthAccess)).status).toBe(401);

    // Concurrent refreshes of one token: exactly one wins, through the pooler as directly.
    const racer = await register(app.url, { label: 'pgbouncer-race' });
    const race = await Promise.all(
      Array.from({ length: 12 }, () =>
        api('POST', '/refresh', { refreshToken: racer.refreshToken }),
      ),
    );
    expect(race.map((reply) => reply.status).sort()).toEqual([200, ...Array(11).fill(401)]);

    // Every statement went through PgBouncer, which never opened more than its pool.
    const pools = (await pgbouncer.show('POOLS')).filter(
      (pool) => pool.database === new URL(database.url).pathname.slice(1),
    );
    expect(pools).toHaveLength(1);
    const stats = (await pgbouncer.show('STATS')).find(
      (row) => row.database === pools[0]!.database,
    );
    expect(Number(stats!.total_xact_count)).toBeGreaterThan(20);
    const serverConnections = await withClient(database.url, async (client) => {
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      );
      return rows[0]!.n;
    });
    expect(serverConnections).toBeLessThanOrEqual(SERVER_POOL);
  });

  it('keeps serving under concurrent load larger than its server pool', async () => {
    const accounts = await Promise.all(
      Array.from({ length: 4 }, () => register(app.url, { label: 'pgbouncer-load' })),
    );
    const replies = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        api('GET', '/me', undefined, accounts[i % accounts.length]!.accessToken),
      ),
    );
    expect(replies.map((reply) => reply.status)).toEqual(Array(60).fill(200));
  });
});
