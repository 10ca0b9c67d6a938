import { eventually } from '../../harness/eventually';
import { request } from '../../harness/http-client';
import { withClient, type Database } from '../../harness/postgres';
import { startApp, type AppProcess } from '../helpers/built-app';
import { migratedDatabase } from '../helpers/e2e-database';

const SECRETS = {
  JWT_ACCESS_SECRET: 'e2e-access-secret-0123456789-abcdefghijklmnop',
  JWT_REFRESH_SECRET: 'e2e-refresh-secret-0123456789-abcdefghijklmno',
};

const call = (
  app: AppProcess,
  method: 'POST' | 'DELETE' | 'GET',
  route: string,
  json?: unknown,
  accessToken?: string,
) =>
  request(`${app.url}/api/auth${route}`, {
    method,
    headers: accessToken ? { Authorization: `Bearer ${accessToken}` } : {},
    json,
  });

/**
 * The account lifecycle over real PostgreSQL (node-postgres, READ COMMITTED, row locks) on two
 * replicas: what the integration tier runs on the embedded database, plus the races its single
 * connection cannot produce.
 */
describe('account lifecycle over real PostgreSQL with two replicas', () => {
  let database: Database;
  let a: AppProcess;
  let b: AppProcess;

  beforeAll(async () => {
    database = await migratedDatabase();
    const env = { DATABASE_URL: database.url, ...SECRETS, APP_PUBLIC_URL: 'https://app.test' };
    [a, b] = await Promise.all([startApp({ env }), startApp({ env })]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await database?.drop();
  });

  /** The mails of `kind` queued for `to`, oldest first: their link tokens. */
  const tokensFor = (to: string, kind: string) =>
    withClient(database.url, async (client) => {
      const { rows } = await client.query<{ text_body: string }>(
        `SELECT text_body FROM mail_outbox WHERE to_address = $1 AND kind = $2
         ORDER BY created_at, id`,
        [to, kind],
      );
      return rows.map((row) => /\?token=([\w-]+)/.exec(row.text_body)?.[1] ?? '');
    });

  /** The token of the newest `kind` mail for `to`, once there are at least `count` of them. */
  const tokenFor = async (to: string, kind: string, count = 1) =>
    (
      await eventually(() => tokensFor(to, kind), {
        describe: `${count} ${kind} mail(s) for ${to}`,
        until: (tokens) => tokens.length >= count,
      })
    ).at(-1)!;

  it('runs every flow across the two replicas', async () => {
    const email = 'lifecycle@example.com';
    const password = 'correct horse battery';
    const registered = (await call(a, 'POST', '/register', { email, password })).body as {
      accessToken: string;
    };
    expect(
      (await call(b, 'POST', '/verify-email', { token: await tokenFor(email, 'verify-email') }))
        .status,
    ).toBe(204);

    expect((await call(a, 'POST', '/password/forgot', { email })).status).toBe(202);
    const resetToken = await tokenFor(email, 'password-reset');
    expect(
      (
        await call(b, 'POST', '/password/reset', {
          token: resetToken,
          newPassword: 'a new passphrase',
        })
      ).status,
    ).toBe(204);
    expect((await call(a, 'GET', '/me', undefined, registered.accessToken)).status).toBe(401);

    const session = (await call(b, 'POST', '/login', { email, password: 'a new passphrase' }))
      .body as { accessToken: string };
    const newEmail = 'moved@example.com';
    expect(
      (
        await call(
          a,
          'POST',
          '/email/change',
          { newEmail, currentPassword: 'a new passphrase' },
          session.accessToken,
        )
      ).status,
    ).toBe(202);
    expect(
      (
        await call(b, 'POST', '/email/confirm', {
          token: await tokenFor(newEmail, 'email-change-confirm'),
        })
      ).status,
    ).toBe(204);
    expect(
      (
        await call(
          a,
          'POST',
          '/change-password',
          { currentPassword: 'a new passphrase', newPassword: 'yet another passphrase' },
          session.accessToken,
        )
      ).status,
    ).toBe(204);
    expect(
      (await call(b, 'DELETE', '/me', { password: 'yet another passphrase' }, session.accessToken))
        .status,
    ).toBe(204);
    const gone = await call(a, 'GET', '/me', undefined, session.accessToken);
    expect(gone.status).toBe(401);
    expect((gone.body as { code: string }).code).toBe('ACCOUNT_NOT_FOUND');
    expect((await call(a, 'POST', '/register', { email: newEmail, password })).status).toBe(201);
  });

  it('never deadlocks or answers 500 when reset, password change, reset requests and sign-ins race on one account', async () => {
    const email = 'racer@example.com';
    let password = 'correct horse battery';
    await call(a, 'POST', '/register', { email, password });
    const statuses: number[] = [];
    for (let round = 0; round < 8; round++) {
      const session = (await call(b, 'POST', '/login', { email, password })).body as {
        accessToken: string;
      };
      const before = (await tokensFor(email, 'password-reset')).length;
      await call(a, 'POST', '/password/forgot', { email });
      const token = await tokenFor(email, 'password-reset', before + 1);
      const viaReset = `reset passphrase ${round}`;
      const viaChange = `changed passphrase ${round}`;
      const replies = await Promise.all([
        call(a, 'POST', '/password/reset', { token, newPassword: viaReset }),
        call(b, 'POST', '/password/reset', { token, newPassword: viaReset }),
        call(
          a,
          'POST',
          '/change-password',
          { currentPassword: password, newPassword: viaChange },
          session.accessToken,
        ),
        call(b, 'POST', '/password/forgot', { email }),
        call(a, 'POST', '/verify-email/resend', undefined, session.accessToken),
        call(b, 'POST', '/logout-all', undefined, session.accessToken),
      ]);
      statuses.push(...replies.map((reply) => reply.status));
      // Whichever password change committed last holds now (or the old one, if both lost).
      for (const candidate of [viaChange, viaReset]) {
        if ((await call(a, 'POST', '/login', { email, password: candidate })).status === 200) {
          password = candidate;
        }
      }
    }
    expect(statuses.filter((status) => status >= 500)).toEqual([]);
  });
});
