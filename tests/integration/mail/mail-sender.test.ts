import { existsSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { eventually } from '../../../harness/eventually';
import { freePort } from '../../../harness/ports';
import { startSmtpServer, type SmtpServer } from '../../../harness/smtp';
import { createMailMetrics } from '../../../src/mail/mail-metrics';
import { enqueueMail, type OutgoingMail } from '../../../src/mail/mail-outbox';
import { createMailOutboxRepository } from '../../../src/mail/mail-outbox.repository';
import { startMailSender } from '../../../src/mail/mail-sender';
import { createMailTransport } from '../../../src/mail/mail-transport';
import { createTestApp, type TestApp } from '../../helpers/test-app';

/**
 * The outbox sender over the embedded database, sending to a real SMTP server in a process of
 * its own (maildev): claims, leases, retries, giving up, and the development outbox. Messages are
 * queued as the account flows queue them, through `enqueueMail`, then the sender is woken.
 */

// Each group starts an SMTP server process and apps of its own: room for a busy machine.
jest.setTimeout(120_000);

// Only a wake (or the first run at start) sends: a message that arrives proves the wake worked.
const NO_POLL = { MAIL_POLL_INTERVAL_MS: '600000' };
// Retries come back within a second, and a poll finds them.
const FAST_RETRIES = {
  MAIL_POLL_INTERVAL_MS: '50',
  MAIL_RETRY_BASE_MS: '100',
  MAIL_RETRY_MAX_MS: '300',
};

let counter = 0;
function mail(overrides: Partial<OutgoingMail> = {}): OutgoingMail {
  counter += 1;
  return {
    kind: 'test-notice',
    to: `user${counter}@example.com`,
    subject: `Notice ${counter}`,
    text: `Hello ${counter}. Confirm: https://app.example.com/confirm?token=t${counter}`,
    html: `<p>Hello ${counter}. <a href="https://app.example.com/confirm?token=t${counter}">Confirm</a></p>`,
    ...overrides,
  };
}

const row = (t: TestApp, messageId: string) =>
  t.db.prisma.mailMessage.findUniqueOrThrow({ where: { messageId } });

const waitForStatus = (t: TestApp, messageId: string, status: string) =>
  eventually(() => row(t, messageId), {
    describe: `message ${messageId} to be ${status}`,
    until: (message) => message.status === status,
  });

async function metricValue(t: TestApp, name: string, labels: Record<string, string>) {
  const metric = await t.metrics.registry.getSingleMetric(name)?.get();
  const value = metric?.values.find((entry) =>
    Object.entries(labels).every(([key, label]) => entry.labels[key] === label),
  );
  return value?.value ?? 0;
}

describe('the outbox sender, to a real SMTP server', () => {
  let smtp: SmtpServer;
  let t: TestApp;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    t = await createTestApp({
      SMTP_URL: smtp.url,
      MAIL_FROM: 'Example <no-reply@example.com>',
      ...NO_POLL,
    });
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.destroy();
  });

  it('sends a queued message once woken, with its Message-ID, and records it as sent', async () => {
    const message = mail();
    const messageId = await enqueueMail(t.db.prisma, message, 'example.com');
    t.root.mailSender.wake();

    const received = await smtp.waitForMessage((m) => m.messageId === messageId);
    expect(received).toMatchObject({
      from: 'no-reply@example.com',
      to: [message.to],
      subject: message.subject,
      links: [expect.stringMatching(/^https:\/\/app\.example\.com\/confirm\?token=t\d+$/)],
    });
    expect(received.text.trim()).toBe(message.text);
    expect(received.html).toContain('<a href="https://app.example.com/confirm?token=');
    expect(received.headers['auto-submitted']).toBe('auto-generated');
    expect(await smtp.raw(received)).toContain(`Message-ID: ${messageId}`);

    const sent = await waitForStatus(t, messageId, 'sent');
    expect(sent).toMatchObject({ attempts: 1, lastError: null });
    expect(sent.sentAt).toBeInstanceOf(Date);
    expect(await metricValue(t, 'mail_sent_total', { kind: 'test-notice' })).toBeGreaterThanOrEqual(
      1,
    );
  });

  it('sends each of many messages exactly once with two senders claiming from one outbox', async () => {
    // A second process's sender, as another replica would run, on the same database.
    const outbox = createMailOutboxRepository(t.db);
    const transport = createMailTransport(t.config, t.logger);
    const other = startMailSender({
      outbox,
      transport,
      metrics: createMailMetrics(new (await import('prom-client')).Registry(), outbox),
      logger: t.logger,
      pollIntervalMs: 600_000,
      maxAttempts: 3,
      retryBaseMs: 100,
      retryMaxMs: 300,
      leaseMs: 60_000,
      batchSize: 3,
    });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 20; i += 1) {
        ids.push(await enqueueMail(t.db.prisma, mail({ kind: 'test-batch' }), 'example.com'));
        if (i % 5 === 4) {
          t.root.mailSender.wake();
          other.wake();
        }
      }
      await eventually(
        () => t.db.prisma.mailMessage.count({ where: { messageId: { in: ids }, status: 'sent' } }),
        { describe: 'all 20 messages sent', timeoutMs: 90_000, until: (sent) => sent === 20 },
      );
      const received = (await smtp.messages()).filter((m) => ids.includes(m.messageId));
      expect(received.map((m) => m.messageId).sort()).toEqual([...ids].sort());
      const rows = await t.db.prisma.mailMessage.findMany({ where: { messageId: { in: ids } } });
      expect(rows.map((r) => r.attempts)).toEqual(ids.map(() => 1));
    } finally {
      await other.stop();
      transport.close();
    }
  });

  it('leaves a message another process claimed alone until its lease is over, then sends it once', async () => {
    const outbox = createMailOutboxRepository(t.db);
    const claimedId = await enqueueMail(t.db.prisma, mail({ kind: 'test-lease' }), 'example.com');
    // A process claims it for an hour, then dies before sending (nothing records its end).
    const [claimed] = await outbox.claimDue(10, 3_600_000);
    expect(claimed).toMatchObject({ messageId: claimedId, attempts: 1 });

    // A later message goes out; the round that sent it saw the claimed one and left it.
    const laterId = await enqueueMail(t.db.prisma, mail({ kind: 'test-lease' }), 'example.com');
    t.root.mailSender.wake();
    await waitForStatus(t, laterId, 'sent');
    expect(await row(t, claimedId)).toMatchObject({ status: 'pending', attempts: 1 });
    expect((await smtp.messages()).some((m) => m.messageId === claimedId)).toBe(false);

    // The lease runs out (an hour, here moved by the database's clock instead of waited for).
    await t.db.prisma.mailMessage.update({
      where: { messageId: claimedId },
      data: { nextAttemptAt: new Date(Date.now() - 1_000) },
    });
    t.root.mailSender.wake();
    expect(await waitForStatus(t, claimedId, 'sent')).toMatchObject({ attempts: 2 });
    const copies = (await smtp.messages()).filter((m) => m.messageId === claimedId);
    expect(copies).toHaveLength(1);
  });
});

describe('the outbox sender during an SMTP outage', () => {
  let smtp: SmtpServer;
  let t: TestApp;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    t = await createTestApp({ SMTP_URL: smtp.url, ...FAST_RETRIES, MAIL_MAX_ATTEMPTS: '100' });
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.destroy();
  });

  it('keeps retrying with the error recorded, and sends the message once the server is back', async () => {
    await smtp.stop();
    const messageId = await enqueueMail(t.db.prisma, mail({ kind: 'test-outage' }), 'example.com');
    t.root.mailSender.wake();

    const retried = await eventually(() => row(t, messageId), {
      describe: 'two failed attempts',
      until: (message) => message.attempts >= 2 && message.lastError !== null,
    });
    expect(retried.status).toBe('pending');
    expect(retried.lastError).toMatch(/ECONNREFUSED/);
    expect(
      t.logs.some((line) => line.msg === 'mail not sent; will retry' && line.level === 'warn'),
    ).toBe(true);

    await smtp.start();
    await smtp.waitForMessage((m) => m.messageId === messageId);
    await waitForStatus(t, messageId, 'sent');
    expect((await smtp.messages()).filter((m) => m.messageId === messageId)).toHaveLength(1);
    expect(
      await metricValue(t, 'mail_send_errors_total', { kind: 'test-outage' }),
    ).toBeGreaterThanOrEqual(2);
  });
});

describe('the outbox sender when a message cannot be sent', () => {
  let t: TestApp;

  beforeAll(async () => {
    // Nothing listens there: every attempt is refused.
    const closedPort = await freePort();
    t = await createTestApp({
      SMTP_URL: `smtp://127.0.0.1:${closedPort}`,
      ...FAST_RETRIES,
      MAIL_MAX_ATTEMPTS: '3',
    });
  });
  afterAll(() => t?.close());

  it('gives up after MAIL_MAX_ATTEMPTS: kept as failed with its error, logged as an error, counted', async () => {
    const messageId = await enqueueMail(t.db.prisma, mail({ kind: 'test-doomed' }), 'example.com');
    t.root.mailSender.wake();

    const failed = await waitForStatus(t, messageId, 'failed');
    expect(failed.attempts).toBe(3);
    expect(failed.lastError).toMatch(/ECONNREFUSED/);
    expect(failed.sentAt).toBeNull();
    const line = t.logs.find(
      (entry) => entry.msg === 'mail not sent: given up, kept as failed in the outbox',
    );
    expect(line).toMatchObject({
      level: 'error',
      mail: { messageId, kind: 'test-doomed', attempts: 3 },
    });
    expect(await metricValue(t, 'mail_failed_total', { kind: 'test-doomed' })).toBe(1);
    expect(await metricValue(t, 'mail_send_errors_total', { kind: 'test-doomed' })).toBe(3);
    // The gauge reads the outbox itself.
    expect(await metricValue(t, 'mail_outbox_messages', { status: 'failed' })).toBe(1);
  });
});

describe('SMTP authentication', () => {
  let smtp: SmtpServer;

  beforeAll(async () => {
    smtp = await startSmtpServer({ auth: { user: 'mailer', pass: 's3cret pass' } });
  });
  afterAll(() => smtp?.destroy());

  it('logs in with the credentials of SMTP_URL, and retries (not gives up) on refused ones', async () => {
    const t = await createTestApp({ SMTP_URL: smtp.url, ...NO_POLL });
    const wrong = await createTestApp({
      SMTP_URL: smtp.url.replace('s3cret%20pass', 'wrong'),
      ...FAST_RETRIES,
    });
    try {
      const messageId = await enqueueMail(t.db.prisma, mail({ kind: 'test-auth' }), 'example.com');
      t.root.mailSender.wake();
      await smtp.waitForMessage((m) => m.messageId === messageId);

      const refusedId = await enqueueMail(
        wrong.db.prisma,
        mail({ kind: 'test-auth' }),
        'example.com',
      );
      wrong.root.mailSender.wake();
      // Recorded, and due again later: a refused login is the operator's to fix, not final.
      const refused = await eventually(() => row(wrong, refusedId), {
        describe: 'a refused login recorded',
        until: (message) => message.attempts >= 1 && message.lastError !== null,
      });
      expect(refused.status).toBe('pending');
      expect(refused.lastError).toMatch(/EAUTH|535|Invalid/i);
    } finally {
      await t.close();
      await wrong.close();
    }
  });
});

describe('the development outbox (no SMTP_URL)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ ...NO_POLL });
  });
  afterAll(() => t?.close());

  it('writes each message as an .eml file under DATA_DIR/outbox and logs one line with its links', async () => {
    expect(t.config.mail.transport).toBe('outbox');
    const message = mail({ kind: 'test-dev' });
    const messageId = await enqueueMail(t.db.prisma, message, 'localhost');
    t.root.mailSender.wake();
    await waitForStatus(t, messageId, 'sent');

    const line = t.logs.find((entry) => entry.msg === 'mail written to the development outbox');
    const link = /https:\S+/.exec(message.text)![0];
    expect(line).toMatchObject({
      level: 'info',
      mail: { kind: 'test-dev', to: message.to, messageId, links: [link] },
    });
    const file = (line!.mail as { file: string }).file;
    expect(path.dirname(file)).toBe(path.join(t.config.dataDir, 'outbox'));
    expect(existsSync(file)).toBe(true);
    expect(readdirSync(path.dirname(file))).toHaveLength(1);
    const eml = readFileSync(file, 'utf8');
    expect(eml).toContain(`Message-ID: ${messageId}`);
    expect(eml).toContain(`To: ${message.to}`);
    expect(eml).toContain('From: Express Template <no-reply@localhost>');
    expect(eml).toContain(link);
  });
});

describe('the outbox sender at shutdown', () => {
  let t: TestApp;
  let stalled: net.Server;
  const connections: net.Socket[] = [];

  beforeAll(async () => {
    // A server that accepts connections and never greets: a send stays in flight until the
    // greeting timeout (MAIL_SEND_TIMEOUT_MS) ends it.
    stalled = net.createServer((socket) => connections.push(socket));
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    const { port } = stalled.address() as net.AddressInfo;
    t = await createTestApp({
      SMTP_URL: `smtp://127.0.0.1:${port}`,
      MAIL_SEND_TIMEOUT_MS: '2000',
      ...NO_POLL,
    });
  });
  afterAll(async () => {
    await t?.close();
    for (const socket of connections) socket.destroy();
    await new Promise((resolve) => stalled?.close(resolve));
  });

  it('waits for the message in flight: its attempt is recorded before stop() resolves', async () => {
    const messageId = await enqueueMail(
      t.db.prisma,
      mail({ kind: 'test-shutdown' }),
      'example.com',
    );
    t.root.mailSender.wake();
    await eventually(() => connections.length > 0, { describe: 'the send to be in flight' });

    await t.root.mailSender.stop();
    // Recorded for a retry (by this process's successor, or any replica), not lost mid-air.
    const after = await row(t, messageId);
    expect(after).toMatchObject({ status: 'pending', attempts: 1 });
    expect(after.lastError).toMatch(/greeting|timeout/i);
  });
});

describe('the outbox retention', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ MAIL_POLL_INTERVAL_MS: '0' });
  });
  afterAll(() => t?.close());

  it('blanks the bodies (live links) of messages delivered or given up on past MAIL_BODY_RETENTION_MS, and deletes rows past MAIL_RETENTION_DAYS', async () => {
    const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000);
    const queue = async (status: string, sentAt: Date | null, createdAt?: Date) => {
      const messageId = await enqueueMail(t.db.prisma, mail(), 'example.com');
      await t.db.prisma.mailMessage.update({
        where: { messageId },
        data: {
          status,
          sentAt,
          nextAttemptAt: sentAt ?? new Date(),
          ...(createdAt ? { createdAt } : {}),
        },
      });
      return messageId;
    };
    const oldSent = await queue('sent', minutesAgo(20));
    const freshSent = await queue('sent', minutesAgo(1));
    const oldFailed = await queue('failed', null);
    await t.db.prisma.mailMessage.update({
      where: { messageId: oldFailed },
      data: { nextAttemptAt: minutesAgo(20) },
    });
    const pending = await queue('pending', null);
    await t.db.prisma.mailMessage.update({
      where: { messageId: pending },
      data: { createdAt: minutesAgo(60 * 24 * 40) },
    });
    const ancient = await queue('sent', minutesAgo(60 * 24 * 31), minutesAgo(60 * 24 * 31));

    const outbox = createMailOutboxRepository(t.db);
    expect(await outbox.prune(15 * 60_000, 30, 1)).toBeGreaterThanOrEqual(3);

    for (const messageId of [oldSent, oldFailed]) {
      expect(await row(t, messageId)).toMatchObject({ textBody: '', htmlBody: null });
    }
    // Still to be delivered, or delivered a moment ago: kept whole, whatever their age.
    for (const messageId of [freshSent, pending]) {
      expect((await row(t, messageId)).textBody).toContain('?token=');
    }
    expect(await t.db.prisma.mailMessage.findUnique({ where: { messageId: ancient } })).toBeNull();
  });
});
