import { randomBytes, randomUUID } from 'node:crypto';
import { PASSWORD, register } from '../../harness/auth-api';
import { eventually } from '../../harness/eventually';
import { request } from '../../harness/http-client';
import { withClient, type Database } from '../../harness/postgres';
import { startSmtpServer, type ReceivedMail, type SmtpServer } from '../../harness/smtp';
import { startApp, type AppProcess } from '../helpers/built-app';
import { migratedDatabase } from '../helpers/e2e-database';

/**
 * The account flows as a user lives them, through a real SMTP server process (maildev): the
 * built server over a real PostgreSQL database sends each message, the test reads it as received,
 * follows its link's token, and completes the flow. Then the mail survives an SMTP outage and a
 * crash of the app, and arrives once.
 */

const MAIL_FROM = 'Example App <no-reply@example.com>';
const APP_PUBLIC_URL = 'https://app.example.test';
const NEW_PASSWORD = 'a brand new passphrase 9';

const freshEmail = (label: string) => `${label}-${randomBytes(5).toString('hex')}@example.com`;

describe('account mail through a real SMTP server, across an outage and a crash', () => {
  let smtp: SmtpServer;
  let database: Database;
  let app: AppProcess;

  const appEnv = () => ({
    DATABASE_URL: database.url,
    SMTP_URL: smtp.url,
    MAIL_FROM,
    APP_PUBLIC_URL,
    // Retries within a second, so the test does not wait out production's backoff.
    MAIL_POLL_INTERVAL_MS: '100',
    MAIL_RETRY_BASE_MS: '200',
    MAIL_RETRY_MAX_MS: '1000',
  });

  beforeAll(async () => {
    [smtp, database] = await Promise.all([startSmtpServer(), migratedDatabase()]);
    app = await startApp({ env: appEnv() });
  });
  afterAll(async () => {
    await app?.stop('SIGTERM');
    await smtp?.destroy();
    await database?.drop();
  });

  const api = (
    path: string,
    { method = 'POST', json, token }: { method?: string; json?: unknown; token?: string } = {},
  ) =>
    request(`${app.url}/api/auth${path}`, {
      method,
      json,
      headers: token ? { Authorization: `Bearer ${token}` } : {},
      timeoutMs: 30_000,
    });

  /** The message to `to` whose subject matches, once it has arrived over SMTP. */
  const mailTo = (to: string, subject: RegExp) =>
    smtp.waitForMessage((mail) => mail.to.includes(to) && subject.test(mail.subject), {
      describe: `a message to ${to} with a subject like ${String(subject)}`,
    });

  /** The token of the message's link, after checking the link opens the front end at `path`. */
  const tokenOf = (mail: ReceivedMail, path: string) => {
    expect(mail.links).toHaveLength(1);
    const link = new URL(mail.links[0]!);
    expect(`${link.origin}${link.pathname}`).toBe(`${APP_PUBLIC_URL}${path}`);
    expect(mail.html).toContain('token=');
    return link.searchParams.get('token')!;
  };

  it('confirms an address: register, the verification mail, its token, then /me says emailVerified', async () => {
    const account = await register(app.url, { label: 'verify' });
    const mail = await mailTo(account.email, /Confirm your email address/);
    expect(mail.from).toBe('no-reply@example.com');
    expect(mail.messageId).toMatch(/^<[0-9a-f-]{36}@example\.com>$/);
    const before = await api('/me', { method: 'GET', token: account.accessToken });
    expect(before.body).toMatchObject({ user: { emailVerified: false } });

    expect(
      (await api('/verify-email', { json: { token: tokenOf(mail, '/verify-email') } })).status,
    ).toBe(204);
    const after = await api('/me', { method: 'GET', token: account.accessToken });
    expect(after.body).toMatchObject({ user: { email: account.email, emailVerified: true } });
  });

  it('resets a forgotten password: the reset mail, its token, old sessions refused, a notice', async () => {
    const account = await register(app.url, { label: 'reset' });
    expect((await api('/password/forgot', { json: { email: account.email } })).status).toBe(202);
    const mail = await mailTo(account.email, /Reset your .* password/);

    const reset = await api('/password/reset', {
      json: { token: tokenOf(mail, '/reset-password'), newPassword: NEW_PASSWORD },
    });
    expect(reset.status).toBe(204);
    // Every session ended at once: the access token and the refresh token alike.
    expect((await api('/me', { method: 'GET', token: account.accessToken })).status).toBe(401);
    expect((await api('/refresh', { json: { refreshToken: account.refreshToken } })).status).toBe(
      401,
    );
    await mailTo(account.email, /password was reset/);
    expect(
      (await api('/login', { json: { email: account.email, password: PASSWORD } })).status,
    ).toBe(401);
    expect(
      (await api('/login', { json: { email: account.email, password: NEW_PASSWORD } })).status,
    ).toBe(200);
  });

  it('changes the address: a link to the new one, a notice to the old, the change on confirmation', async () => {
    const account = await register(app.url, { label: 'change' });
    const newEmail = freshEmail('changed');
    const change = await api('/email/change', {
      json: { newEmail, currentPassword: PASSWORD },
      token: account.accessToken,
    });
    expect(change.status).toBe(202);
    const confirm = await mailTo(newEmail, /Confirm your new email address/);
    await mailTo(account.email, /change of your .* email address was requested/);
    // Nothing changes until the link is followed.
    expect((await api('/login', { json: { email: newEmail, password: PASSWORD } })).status).toBe(
      401,
    );

    expect(
      (await api('/email/confirm', { json: { token: tokenOf(confirm, '/confirm-email') } })).status,
    ).toBe(204);
    const login = await api('/login', { json: { email: newEmail, password: PASSWORD } });
    expect(login.status).toBe(200);
    expect(login.body).toMatchObject({ user: { email: newEmail } });
    expect(
      (await api('/login', { json: { email: account.email, password: PASSWORD } })).status,
    ).toBe(401);
  });

  it('deletes an account: its access token refused at once, a confirmation mail, the address free again', async () => {
    const account = await register(app.url, { label: 'delete' });
    const deleted = await api('/me', {
      method: 'DELETE',
      json: { password: PASSWORD },
      token: account.accessToken,
    });
    expect(deleted.status).toBe(204);
    expect((await api('/me', { method: 'GET', token: account.accessToken })).status).toBe(401);
    await mailTo(account.email, /account was deleted/);

    const again = await register(app.url, { email: account.email });
    expect(again.userId).not.toBe(account.userId);
  });

  /** The outbox row of `messageId`, read straight from the database. */
  const outboxRow = (messageId: string) =>
    withClient(database.url, async (client) => {
      const { rows } = await client.query<{ status: string; attempts: number }>(
        'SELECT status, attempts FROM mail_outbox WHERE message_id = $1',
        [messageId],
      );
      return rows[0];
    });

  /**
   * Queues a message as a committed request leaves it: a row in the outbox, which the app's
   * sender finds at its next poll.
   */
  const queueMessage = (to: string) =>
    withClient(database.url, async (client) => {
      const messageId = `<${randomUUID()}@example.com>`;
      await client.query(
        `INSERT INTO mail_outbox (id, message_id, kind, to_address, subject, text_body)
         VALUES (gen_random_uuid(), $1, 'e2e-notice', $2, 'Notice', 'Hello https://app.example.com/x')`,
        [messageId, to],
      );
      return messageId;
    });

  /** Resolves once the app has tried to send the message and failed (the server is down). */
  const waitForFailedAttempt = (messageId: string) =>
    eventually(() => outboxRow(messageId), {
      describe: `a failed attempt at ${messageId}`,
      until: (row) => row?.status === 'pending' && row.attempts >= 1,
    });

  const copiesOf = async (messageId: string) =>
    (await smtp.messages()).filter((mail) => mail.messageId === messageId).length;

  /** Once the row says sent, nothing sends it again: the count is final. */
  const waitUntilSent = (messageId: string) =>
    eventually(() => outboxRow(messageId), {
      describe: `${messageId} recorded as sent`,
      until: (row) => row?.status === 'sent',
    });

  /** The Message-ID of the newest message of `kind` queued for `to`. */
  const queuedMessageId = (to: string, kind: string) =>
    eventually(
      () =>
        withClient(database.url, async (client) => {
          const { rows } = await client.query<{ message_id: string }>(
            `SELECT message_id FROM mail_outbox WHERE to_address = $1 AND kind = $2
              ORDER BY created_at DESC LIMIT 1`,
            [to, kind],
          );
          return rows[0]?.message_id;
        }),
      { describe: `a ${kind} message queued for ${to}` },
    );

  it('delivers a reset mail requested while the SMTP server was down once it is back', async () => {
    const account = await register(app.url, { label: 'outage' });
    await mailTo(account.email, /Confirm your email address/);
    await smtp.stop();
    expect((await api('/password/forgot', { json: { email: account.email } })).status).toBe(202);
    const messageId = await queuedMessageId(account.email, 'password-reset');
    await waitForFailedAttempt(messageId);

    await smtp.start();
    const received = await smtp.waitForMessage((mail) => mail.messageId === messageId);
    // Still a working link: the reset completes with it.
    const reset = await api('/password/reset', {
      json: { token: tokenOf(received, '/reset-password'), newPassword: NEW_PASSWORD },
    });
    expect(reset.status).toBe(204);
    await waitUntilSent(messageId);
    expect(await copiesOf(messageId)).toBe(1);
  });

  it('delivers a message queued straight into the outbox (another process committed it)', async () => {
    const messageId = await queueMessage('outbox@example.com');
    const received = await smtp.waitForMessage((mail) => mail.messageId === messageId);
    expect(received).toMatchObject({ to: ['outbox@example.com'], subject: 'Notice' });
    await waitUntilSent(messageId);
    expect(await copiesOf(messageId)).toBe(1);
  });

  it('delivers, from the restarted app, a reset mail requested before the app was killed, exactly once', async () => {
    const account = await register(app.url, { label: 'crash' });
    await mailTo(account.email, /Confirm your email address/);
    // SMTP is down, so the app cannot send before it dies.
    await smtp.stop();
    expect((await api('/password/forgot', { json: { email: account.email } })).status).toBe(202);
    const messageId = await queuedMessageId(account.email, 'password-reset');
    await waitForFailedAttempt(messageId);
    await app.stop('SIGKILL');

    await smtp.start();
    app = await startApp({ env: appEnv() });
    await smtp.waitForMessage((mail) => mail.messageId === messageId);
    await waitUntilSent(messageId);
    expect(await copiesOf(messageId)).toBe(1);
  });
});
