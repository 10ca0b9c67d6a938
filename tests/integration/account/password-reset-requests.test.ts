import request from 'supertest';
import { registerAccount } from '../../helpers/auth-client';
import { mailsTo, tokenIn } from '../../helpers/account-mail';
import { createTestApp, type TestApp } from '../../helpers/test-app';

/**
 * A `forgot` answered 202 is a promise: the request is recorded before the reply, and if the
 * processing that follows the reply never runs (the process crashed right after replying, the
 * database blipped), the sweep every server process runs mails it, exactly once.
 *
 * `crashed` drops every after-reply processing, as a crash right after the reply would; its
 * timer sweep is pushed out of the way (an hour) so the test drives the sweep itself.
 */
const QUIET_SWEEP = { PASSWORD_RESET_SWEEP_INTERVAL_MS: '3600000' };

let crashed: TestApp;
let normal: TestApp;
beforeAll(async () => {
  [crashed, normal] = await Promise.all([
    createTestApp(QUIET_SWEEP, { dropAfterReplyWork: true }),
    createTestApp(QUIET_SWEEP),
  ]);
});
afterAll(() => Promise.all([crashed.close(), normal.close()]));

const forgot = (t: TestApp, email: string) =>
  request(t.app).post('/api/auth/password/forgot').send({ email });
/** The requests on record for these addresses. */
const pending = (t: TestApp, ...emails: string[]) =>
  t.db.prisma.passwordResetRequest.findMany({ where: { email: { in: emails } } });
/** The sweep, taking every recorded request however young (the default waits 5 s). */
const sweepNow = (t: TestApp) => t.root.account.sweepResetRequests({ leftBehindMs: 0 });

describe('password reset requests survive a crash after the reply', () => {
  it('records the request before answering; the sweep mails it once, with the request it answers', async () => {
    const account = await registerAccount(crashed.app);
    const res = await forgot(crashed, account.email);
    expect(res.status).toBe(202);
    await crashed.root.inFlight.idle();
    // The after-reply processing never ran: nothing mailed yet, but the request is on record.
    expect(await mailsTo(crashed, account.email, 'password-reset')).toEqual([]);
    const requestId = res.headers['x-request-id'] as string;
    const [recorded] = await pending(crashed, account.email);
    expect(recorded).toMatchObject({ email: account.email, requestId });
    expect(recorded!.ip).toEqual(expect.any(String));

    const swept = await sweepNow(crashed);
    expect(swept).toEqual({ processed: 1, dropped: 0 });
    const mails = await mailsTo(crashed, account.email, 'password-reset');
    expect(mails).toHaveLength(1);
    expect(await pending(crashed, account.email)).toEqual([]);
    // The audit event carries the original request's metadata, not the sweeper's.
    const event = await crashed.db.prisma.auditEvent.findFirstOrThrow({
      where: { subjectUserId: account.userId, type: 'password.reset_requested' },
    });
    expect(event.requestId).toBe(requestId);

    // Processed once: sweeping again mails nothing more.
    expect(await sweepNow(crashed)).toEqual({ processed: 0, dropped: 0 });
    expect(await mailsTo(crashed, account.email, 'password-reset')).toHaveLength(1);

    // And the link works.
    const reset = await request(crashed.app)
      .post('/api/auth/password/reset')
      .send({ token: tokenIn(mails[0]!), newPassword: 'a brand new passphrase 42' });
    expect(reset.status).toBe(204);
  });

  it('leaves young requests to their own process by default, and takes them once left behind', async () => {
    const account = await registerAccount(crashed.app);
    expect((await forgot(crashed, account.email)).status).toBe(202);
    await crashed.db.prisma.passwordResetRequest.updateMany({
      where: { email: account.email },
      data: { createdAt: new Date(Date.now() + 60_000) },
    });
    // Created "now" (a minute ahead, so no scheduler delay can age it past the 5 s): not taken.
    await crashed.root.account.sweepResetRequests();
    expect(await pending(crashed, account.email)).toHaveLength(1);

    await crashed.db.prisma.passwordResetRequest.updateMany({
      where: { email: account.email },
      data: { createdAt: new Date(Date.now() - 60_000) },
    });
    await crashed.root.account.sweepResetRequests();
    expect(await pending(crashed, account.email)).toEqual([]);
    expect(await mailsTo(crashed, account.email, 'password-reset')).toHaveLength(1);
  });

  it('drops requests older than a reset link lives, and mails nothing for unknown or disabled accounts', async () => {
    const stale = await registerAccount(crashed.app);
    const disabled = await registerAccount(crashed.app);
    const unknown = `nobody-${Date.now()}@example.com`;
    for (const email of [stale.email, disabled.email, unknown]) {
      expect((await forgot(crashed, email)).status).toBe(202);
    }
    await crashed.db.prisma.passwordResetRequest.updateMany({
      where: { email: stale.email },
      data: {
        createdAt: new Date(Date.now() - (crashed.config.account.resetTtlSeconds + 60) * 1000),
      },
    });
    await crashed.db.prisma.user.update({
      where: { id: disabled.userId },
      data: { disabledAt: new Date() },
    });

    expect(await sweepNow(crashed)).toEqual({ processed: 2, dropped: 1 });
    expect(await pending(crashed, stale.email, disabled.email, unknown)).toEqual([]);
    for (const email of [stale.email, disabled.email, unknown]) {
      expect(await mailsTo(crashed, email, 'password-reset')).toEqual([]);
    }
  });

  it('processes each request once when two sweeps run at once', async () => {
    const accounts = await Promise.all(
      Array.from({ length: 6 }, () => registerAccount(crashed.app)),
    );
    for (const account of accounts) {
      expect((await forgot(crashed, account.email)).status).toBe(202);
    }
    const [first, second] = await Promise.all([sweepNow(crashed), sweepNow(crashed)]);
    expect(first.processed + second.processed).toBe(accounts.length);
    expect(await pending(crashed, ...accounts.map((account) => account.email))).toEqual([]);
    for (const account of accounts) {
      expect(await mailsTo(crashed, account.email, 'password-reset')).toHaveLength(1);
    }
  });

  it('processes a request once when its own after-reply processing and a sweep race', async () => {
    const account = await registerAccount(normal.app);
    expect((await forgot(normal, account.email)).status).toBe(202);
    // The after-reply processing starts on the next turn of the event loop: the sweep races it.
    await sweepNow(normal);
    await normal.root.inFlight.idle();
    expect(await pending(normal, account.email)).toEqual([]);
    expect(await mailsTo(normal, account.email, 'password-reset')).toHaveLength(1);
  });
});
