import { eventually } from '../../harness/eventually';
import { request } from '../../harness/http-client';
import { withClient, type Database } from '../../harness/postgres';
import { startApp, type AppProcess } from '../helpers/built-app';
import { migratedDatabase } from '../helpers/e2e-database';

const SECRETS = {
  JWT_ACCESS_SECRET: 'e2e-access-secret-0123456789-abcdefghijklmnop',
  JWT_REFRESH_SECRET: 'e2e-refresh-secret-0123456789-abcdefghijklmno',
};

/**
 * "Kill the app after the request and before sending: the restarted app sends it." A
 * `password/forgot` answered 202 is recorded before the reply; when the process dies before the
 * work after the reply commits, the sweep of the next process (or of any replica) mails it, once.
 * Real PostgreSQL: the killed process's transaction is rolled back by the server, row locks and
 * SKIP LOCKED are PostgreSQL's own.
 */
describe('password reset requests over real PostgreSQL, across a crash and between replicas', () => {
  let database: Database;
  let env: Record<string, string>;
  const apps: AppProcess[] = [];
  const start = async () => {
    const app = await startApp({ env });
    apps.push(app);
    return app;
  };

  beforeAll(async () => {
    database = await migratedDatabase();
    env = {
      DATABASE_URL: database.url,
      ...SECRETS,
      APP_PUBLIC_URL: 'https://app.test',
      // Sweep often: a left-behind request (older than 5 s) is mailed promptly.
      PASSWORD_RESET_SWEEP_INTERVAL_MS: '200',
    };
  });
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.stop()));
    await database?.drop();
  });

  const count = (sql: string, params: unknown[] = []) =>
    withClient(database.url, async (client) => {
      const { rows } = await client.query<{ n: number }>(sql, params);
      return rows[0]!.n;
    });
  const resetMails = (to: string) =>
    count(
      `SELECT count(*)::int AS n FROM mail_outbox WHERE to_address = $1 AND kind = 'password-reset'`,
      [to],
    );
  const recorded = (email: string) =>
    count(`SELECT count(*)::int AS n FROM password_reset_requests WHERE email = $1`, [email]);

  it('a request whose processing was cut by SIGKILL right after the 202 is mailed by the restarted app, once', async () => {
    const email = 'crash@example.com';
    const first = await start();
    const registered = await request(`${first.url}/api/auth/register`, {
      method: 'POST',
      json: { email, password: 'correct horse battery' },
    });
    expect(registered.status).toBe(201);

    await withClient(database.url, async (blocker) => {
      // Hold the account's row: the processing after the reply claims the request, then waits
      // here, so the kill lands between the reply and the commit of the mail, every time.
      await blocker.query('BEGIN');
      await blocker.query('SELECT id FROM users WHERE email = $1 FOR UPDATE', [email]);
      const forgot = await request(`${first.url}/api/auth/password/forgot`, {
        method: 'POST',
        json: { email },
      });
      expect(forgot.status).toBe(202);
      await eventually(
        () =>
          count(
            `SELECT count(*)::int AS n FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          ),
        { describe: 'the after-reply processing waiting for the account row', until: (n) => n > 0 },
      );
      await first.stop('SIGKILL');
      await blocker.query('ROLLBACK');
    });
    // The killed process never committed: no mail, the request still on record.
    expect(await resetMails(email)).toBe(0);
    expect(await recorded(email)).toBe(1);

    await start();
    await eventually(() => resetMails(email), {
      describe: 'the reset mail queued by the restarted app',
      until: (n) => n > 0,
      timeoutMs: 60_000,
    });
    // Claimed with the mail in one transaction: the request is gone, nothing can mail it again.
    expect(await recorded(email)).toBe(0);
    expect(await resetMails(email)).toBe(1);
  }, 120_000);

  it('two replicas sweeping the same left-behind requests mail each one once', async () => {
    const accounts = 20;
    await withClient(database.url, async (client) => {
      await client.query(
        `INSERT INTO users (id, email, password_hash, updated_at)
         SELECT gen_random_uuid(), 'swept-' || i || '@example.com', 'not a usable hash', now()
         FROM generate_series(1, $1::int) AS i`,
        [accounts],
      );
      // As `forgot` records them, a minute ago: left behind by a process that never came back.
      await client.query(
        `INSERT INTO password_reset_requests (id, email, ip, created_at)
         SELECT gen_random_uuid(), email, '127.0.0.1', now() - interval '1 minute'
         FROM users WHERE email LIKE 'swept-%'`,
      );
    });
    await Promise.all([start(), start()]);
    await eventually(() => count(`SELECT count(*)::int AS n FROM password_reset_requests`), {
      describe: 'every left-behind request processed',
      until: (n) => n === 0,
      timeoutMs: 60_000,
    });
    const perAccount = await withClient(database.url, async (client) => {
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(m.id)::int AS n FROM users u
         LEFT JOIN mail_outbox m ON m.to_address = u.email AND m.kind = 'password-reset'
         WHERE u.email LIKE 'swept-%' GROUP BY u.id`,
      );
      return rows.map((row) => row.n);
    });
    expect(perAccount).toEqual(Array.from({ length: accounts }, () => 1));
  }, 120_000);
});
