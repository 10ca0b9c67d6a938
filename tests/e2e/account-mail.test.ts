import { randomUUID } from 'node:crypto';
import { eventually } from '../../harness/eventually';
import { withClient, type Database } from '../../harness/postgres';
import { startSmtpServer, type SmtpServer } from '../../harness/smtp';
import { startApp, type AppProcess } from '../helpers/built-app';
import { migratedDatabase } from '../helpers/e2e-database';

/**
 * Mail through a real SMTP server process (maildev), sent by the built server over a real
 * PostgreSQL database: the message survives an SMTP outage and a crash of the app, and arrives
 * once.
 */

const MAIL_FROM = 'Example App <no-reply@example.com>';

describe('mail through a real SMTP server, across an outage and a crash', () => {
  let smtp: SmtpServer;
  let database: Database;
  let app: AppProcess;

  const appEnv = () => ({
    DATABASE_URL: database.url,
    SMTP_URL: smtp.url,
    MAIL_FROM,
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

  it('delivers a message queued while the SMTP server was down once it is back', async () => {
    await smtp.stop();
    const messageId = await queueMessage('outage@example.com');
    await waitForFailedAttempt(messageId);

    await smtp.start();
    const received = await smtp.waitForMessage((mail) => mail.messageId === messageId);
    expect(received).toMatchObject({ to: ['outage@example.com'], subject: 'Notice' });
    await waitUntilSent(messageId);
    expect(await copiesOf(messageId)).toBe(1);
  });

  it('delivers, from the restarted app, a message queued before the app was killed, exactly once', async () => {
    // SMTP is down, so the app cannot send before it dies.
    await smtp.stop();
    const messageId = await queueMessage('crash@example.com');
    await waitForFailedAttempt(messageId);
    await app.stop('SIGKILL');

    await smtp.start();
    app = await startApp({ env: appEnv() });
    await smtp.waitForMessage((mail) => mail.messageId === messageId);
    await waitUntilSent(messageId);
    expect(await copiesOf(messageId)).toBe(1);
  });
});
