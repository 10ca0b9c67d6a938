import request from 'supertest';
import { me, login, registerAccount, refresh, type Account } from '../../helpers/auth-client';
import { lastMailTo, linkIn, mailsTo, tokenIn } from '../../helpers/account-mail';
import { createTestApp, type TestApp } from '../../helpers/test-app';

const PUBLIC_URL = 'https://app.example.test/base';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ APP_PUBLIC_URL: PUBLIC_URL });
});
afterAll(() => t.close());

const forgot = (email: unknown) => request(t.app).post('/api/auth/password/forgot').send({ email });
const reset = (body: unknown) =>
  request(t.app)
    .post('/api/auth/password/reset')
    .send(body as object);

/** Asks for a reset link for `email` and returns the token the queued mail carries. */
async function resetToken(email: string): Promise<string> {
  const before = (await mailsTo(t, email, 'password-reset')).length;
  expect((await forgot(email)).status).toBe(202);
  // The lookup and the mail happen after the reply: wait for that work to finish.
  await t.root.inFlight.idle();
  const mails = await mailsTo(t, email, 'password-reset');
  expect(mails).toHaveLength(before + 1);
  return tokenIn(mails[mails.length - 1]!);
}

const auditTypes = async (userId: string) =>
  (
    await t.db.prisma.auditEvent.findMany({
      where: { subjectUserId: userId },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    })
  ).map((event) => event.type);

describe('POST /api/auth/password/forgot', () => {
  it('answers 202 with the same body for a known and an unknown address; only the known one gets a mail', async () => {
    const account = await registerAccount(t.app);
    const unknown = `nobody-${Date.now()}@example.com`;
    const known = await forgot(account.email);
    const other = await forgot(unknown);
    expect(known.status).toBe(202);
    expect(other.status).toBe(202);
    expect(other.body).toEqual(known.body);
    expect(other.headers['content-length']).toBe(known.headers['content-length']);
    await t.root.inFlight.idle();
    expect(await mailsTo(t, unknown)).toEqual([]);
    const mail = await lastMailTo(t, account.email, 'password-reset');
    expect(linkIn(mail).href).toMatch(
      new RegExp(`^${PUBLIC_URL}/reset-password\\?token=[A-Za-z0-9_-]{43}$`),
    );
    // Both parts carry the link; the HTML escapes it (no raw `&` or quotes from the URL).
    expect(mail.htmlBody).toContain(`href="${linkIn(mail).href}"`);
    // In the domain of MAIL_FROM (the default outside production: no-reply@localhost).
    expect(mail.messageId).toMatch(/^<[0-9a-f-]{36}@localhost>$/);
    expect(await auditTypes(account.userId)).toContain('password.reset_requested');
  });

  it('stores only a hash of the token', async () => {
    const account = await registerAccount(t.app);
    const token = await resetToken(account.email);
    const rows = await t.db.prisma.accountToken.findMany({
      where: { userId: account.userId, purpose: 'password_reset' },
    });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.tokenHash).not.toContain(token);
    expect(rows[0]!.tokenHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    ['no email', {}],
    ['a malformed email', { email: 'not-an-address' }],
    ['a number', { email: 42 }],
    ['an extra field', { email: 'a@example.com', admin: true }],
  ])('answers %s with 400 VALIDATION_FAILED', async (_label, body) => {
    const res = await request(t.app).post('/api/auth/password/forgot').send(body);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
  });
});

describe('POST /api/auth/password/reset', () => {
  let account: Account;
  let second: Account;
  beforeAll(async () => {
    account = await registerAccount(t.app);
    second = await login(t.app, account);
  });

  it('sets the new password, revokes every session and access token at once, and notifies', async () => {
    const token = await resetToken(account.email);
    const res = await reset({ token, newPassword: 'a brand new passphrase' });
    expect(res.status).toBe(204);

    for (const session of [account, second]) {
      expect((await me(t.app, session.accessToken)).body.code).toBe('SESSION_REVOKED');
      expect((await refresh(t.app, session.refreshToken)).status).toBe(401);
    }
    const loginOld = await request(t.app)
      .post('/api/auth/login')
      .send({ email: account.email, password: account.password });
    expect(loginOld.body.code).toBe('INVALID_CREDENTIALS');
    const renewed = await login(t.app, {
      email: account.email,
      password: 'a brand new passphrase',
    });
    // Following the mailed link proved the mailbox: the address counts as confirmed.
    expect((await me(t.app, renewed.accessToken)).body.user.emailVerified).toBe(true);

    const notice = await lastMailTo(t, account.email, 'password-reset-completed');
    expect(notice.textBody).toContain('reset');
    expect(notice.htmlBody).toContain('<p>');
    expect(await auditTypes(account.userId)).toEqual(
      expect.arrayContaining(['password.reset_requested', 'password.reset_completed']),
    );
    account = { ...renewed, password: 'a brand new passphrase' };
  });

  it('accepts a token once', async () => {
    const token = await resetToken(account.email);
    expect((await reset({ token, newPassword: 'first new passphrase' })).status).toBe(204);
    const again = await reset({ token, newPassword: 'second new passphrase' });
    expect(again.status).toBe(400);
    expect(again.body.code).toBe('ACCOUNT_TOKEN_INVALID');
    account = { ...account, password: 'first new passphrase' };
  });

  it('of two concurrent uses of one token, exactly one succeeds', async () => {
    const token = await resetToken(account.email);
    const replies = await Promise.all(
      ['concurrent passphrase one', 'concurrent passphrase two', 'concurrent passphrase three'].map(
        (newPassword) => reset({ token, newPassword }),
      ),
    );
    expect(replies.map((res) => res.status).sort()).toEqual([204, 400, 400]);
    for (const res of replies.filter((r) => r.status === 400))
      expect(res.body.code).toBe('ACCOUNT_TOKEN_INVALID');
    const winner = replies.findIndex((res) => res.status === 204);
    account = {
      ...account,
      password: [
        'concurrent passphrase one',
        'concurrent passphrase two',
        'concurrent passphrase three',
      ][winner]!,
    };
  });

  it('refuses an expired token with ACCOUNT_TOKEN_EXPIRED', async () => {
    const token = await resetToken(account.email);
    await t.db.prisma.accountToken.updateMany({
      where: { userId: account.userId, purpose: 'password_reset', usedAt: null },
      data: { expiresAt: new Date(Date.now() - 1_000) },
    });
    const res = await reset({ token, newPassword: 'too late passphrase' });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('ACCOUNT_TOKEN_EXPIRED');
  });

  it('expires a token 30 minutes after it was issued by default', async () => {
    await resetToken(account.email);
    const row = await t.db.prisma.accountToken.findFirstOrThrow({
      where: { userId: account.userId, purpose: 'password_reset', usedAt: null },
    });
    expect(row.expiresAt.getTime() - row.createdAt.getTime()).toBe(30 * 60_000);
  });

  it('voids an older link when a newer one is requested', async () => {
    const older = await resetToken(account.email);
    const newer = await resetToken(account.email);
    expect((await reset({ token: older, newPassword: 'older link passphrase' })).body.code).toBe(
      'ACCOUNT_TOKEN_INVALID',
    );
    expect((await reset({ token: newer, newPassword: 'newer link passphrase' })).status).toBe(204);
    account = { ...account, password: 'newer link passphrase' };
  });

  it('voids pending links when the password is changed, and mails a notification', async () => {
    const fresh = await login(t.app, account);
    const token = await resetToken(account.email);
    const change = await request(t.app)
      .post('/api/auth/change-password')
      .set('Authorization', `Bearer ${fresh.accessToken}`)
      .send({ currentPassword: account.password, newPassword: 'changed by hand passphrase' });
    expect(change.status).toBe(204);
    const res = await reset({ token, newPassword: 'stale link passphrase' });
    expect(res.body.code).toBe('ACCOUNT_TOKEN_INVALID');
    const notice = await lastMailTo(t, account.email, 'password-changed');
    expect(notice.subject).toMatch(/password was changed/);
    expect(await auditTypes(account.userId)).toContain('password.changed');
    account = { ...account, password: 'changed by hand passphrase' };
  });

  it('applies the password rules (a common password is refused) and leaves the link usable', async () => {
    const token = await resetToken(account.email);
    const weak = await reset({ token, newPassword: 'password123' });
    expect(weak.status).toBe(400);
    expect(weak.body.code).toBe('PASSWORD_TOO_COMMON');
    const short = await reset({ token, newPassword: 'short' });
    expect(short.status).toBe(400);
    expect(short.body.code).toBe('VALIDATION_FAILED');
    expect((await reset({ token, newPassword: 'a fine long passphrase' })).status).toBe(204);
  });

  it('refuses a token of another flow (a verification link)', async () => {
    const fresh = await registerAccount(t.app);
    const verification = tokenIn(await lastMailTo(t, fresh.email, 'verify-email'));
    const res = await reset({ token: verification, newPassword: 'cross flow passphrase' });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('ACCOUNT_TOKEN_INVALID');
  });

  it.each([
    ['no body', undefined],
    ['an empty object', {}],
    ['a numeric token', { token: 12, newPassword: 'long enough passphrase' }],
    ['an empty token', { token: '', newPassword: 'long enough passphrase' }],
    ['a huge token', { token: 'x'.repeat(10_000), newPassword: 'long enough passphrase' }],
    ['no password', { token: 'abc' }],
    ['an array', [1, 2]],
  ])('answers %s with a 400, never a 500', async (_label, body) => {
    const res = await reset(body);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
  });

  it('answers an unknown token with 400 ACCOUNT_TOKEN_INVALID', async () => {
    const res = await reset({ token: 'A'.repeat(43), newPassword: 'long enough passphrase' });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('ACCOUNT_TOKEN_INVALID');
  });
});

describe('the reset throttle', () => {
  let limited: TestApp;
  beforeAll(async () => {
    limited = await createTestApp({
      RATE_LIMIT_AUTH_EMAIL_MAX: '2',
      RATE_LIMIT_AUTH_WINDOW_MS: String(60 * 60_000),
    });
  });
  afterAll(() => limited.close());

  async function linkToken(email: string) {
    await request(limited.app).post('/api/auth/password/forgot').send({ email });
    await limited.root.inFlight.idle();
    return tokenIn(await lastMailTo(limited, email, 'password-reset'));
  }

  it('counts the attempts at one link (the account it resets) apart from every other link', async () => {
    const [one, two] = [await registerAccount(limited.app), await registerAccount(limited.app)];
    const token = await linkToken(one.email);
    const attempt = (body: object) =>
      request(limited.app).post('/api/auth/password/reset').send(body);
    // Two refused passwords spend the link's allowance, whatever the answer.
    expect((await attempt({ token, newPassword: 'password123' })).status).toBe(400);
    expect((await attempt({ token, newPassword: 'password123' })).status).toBe(400);
    const third = await attempt({ token, newPassword: 'a fine long passphrase' });
    expect(third.status).toBe(429);
    expect(third.body.code).toBe('RATE_LIMITED');
    // Another account's link is not affected.
    const other = await linkToken(two.email);
    expect((await attempt({ token: other, newPassword: 'a fine long passphrase' })).status).toBe(
      204,
    );
  });
});
