import request from 'supertest';
import { login, me, registerAccount } from '../../helpers/auth-client';
import { lastMailTo, linkIn, mailsTo, tokenIn } from '../../helpers/account-mail';
import { createTestApp, type TestApp } from '../../helpers/test-app';

const verify = (t: TestApp, body: unknown) =>
  request(t.app)
    .post('/api/auth/verify-email')
    .send(body as object);
const resend = (t: TestApp, accessToken: string) =>
  request(t.app)
    .post('/api/auth/verify-email/resend')
    .set('Authorization', `Bearer ${accessToken}`);

const auditTypes = async (t: TestApp, userId: string) =>
  (
    await t.db.prisma.auditEvent.findMany({
      where: { subjectUserId: userId },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    })
  ).map((event) => event.type);

describe('email verification (unconfirmed addresses may sign in: the default outside production)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ APP_PUBLIC_URL: 'https://app.example.test' });
  });
  afterAll(() => t.close());

  it('queues a verification link with the registration, and confirms the address with it', async () => {
    const account = await registerAccount(t.app);
    expect((await me(t.app, account.accessToken)).body.user.emailVerified).toBe(false);
    const mail = await lastMailTo(t, account.email, 'verify-email');
    expect(linkIn(mail).origin + linkIn(mail).pathname).toBe(
      'https://app.example.test/verify-email',
    );
    expect(mail.htmlBody).toContain(`href="${linkIn(mail).href}"`);
    expect(await auditTypes(t, account.userId)).toEqual(['user.registered']);

    expect((await verify(t, { token: tokenIn(mail) })).status).toBe(204);
    expect((await me(t.app, account.accessToken)).body.user.emailVerified).toBe(true);
    expect(await auditTypes(t, account.userId)).toEqual(['user.registered', 'email.verified']);
  });

  it('accepts a link once', async () => {
    const account = await registerAccount(t.app);
    const token = tokenIn(await lastMailTo(t, account.email, 'verify-email'));
    expect((await verify(t, { token })).status).toBe(204);
    const again = await verify(t, { token });
    expect(again.status).toBe(400);
    expect(again.body.code).toBe('ACCOUNT_TOKEN_INVALID');
  });

  it('expires a link after 24 hours by default', async () => {
    const account = await registerAccount(t.app);
    const token = tokenIn(await lastMailTo(t, account.email, 'verify-email'));
    const row = await t.db.prisma.accountToken.findFirstOrThrow({
      where: { userId: account.userId, purpose: 'verify_email' },
    });
    expect(row.expiresAt.getTime() - row.createdAt.getTime()).toBe(24 * 3600_000);
    await t.db.prisma.accountToken.update({
      where: { id: row.id },
      data: { expiresAt: new Date(Date.now() - 1_000) },
    });
    const res = await verify(t, { token });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('ACCOUNT_TOKEN_EXPIRED');
    expect((await me(t.app, account.accessToken)).body.user.emailVerified).toBe(false);
  });

  it('resends a link on request; the older one stops working', async () => {
    const account = await registerAccount(t.app);
    const older = tokenIn(await lastMailTo(t, account.email, 'verify-email'));
    expect((await resend(t, account.accessToken)).status).toBe(202);
    const mails = await mailsTo(t, account.email, 'verify-email');
    expect(mails).toHaveLength(2);
    const newer = tokenIn(mails[1]!);
    expect(newer).not.toBe(older);
    expect((await verify(t, { token: older })).body.code).toBe('ACCOUNT_TOKEN_INVALID');
    expect((await verify(t, { token: newer })).status).toBe(204);
  });

  it('refuses to resend for a confirmed address with 409 EMAIL_ALREADY_VERIFIED', async () => {
    const account = await registerAccount(t.app);
    await verify(t, { token: tokenIn(await lastMailTo(t, account.email, 'verify-email')) });
    const res = await resend(t, account.accessToken);
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('EMAIL_ALREADY_VERIFIED');
    expect(await mailsTo(t, account.email, 'verify-email')).toHaveLength(1);
  });

  it('requires an access token to resend', async () => {
    const res = await request(t.app).post('/api/auth/verify-email/resend');
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('AUTH_REQUIRED');
  });

  it('refuses a token of another flow (a reset link)', async () => {
    const account = await registerAccount(t.app);
    await request(t.app).post('/api/auth/password/forgot').send({ email: account.email });
    await t.root.inFlight.idle();
    const reset = tokenIn(await lastMailTo(t, account.email, 'password-reset'));
    expect((await verify(t, { token: reset })).body.code).toBe('ACCOUNT_TOKEN_INVALID');
    expect((await me(t.app, account.accessToken)).body.user.emailVerified).toBe(false);
  });

  it.each([
    ['no body', undefined],
    ['no token', {}],
    ['a null token', { token: null }],
    ['an object token', { token: { $ne: '' } }],
    ['a huge token', { token: 'x'.repeat(5_000) }],
  ])('answers %s with 400 VALIDATION_FAILED, never a 500', async (_label, body) => {
    const res = await verify(t, body);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
  });
});

describe('when unconfirmed addresses may not sign in (AUTH_ALLOW_UNVERIFIED_SIGN_IN=false, the production default)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ AUTH_ALLOW_UNVERIFIED_SIGN_IN: 'false' });
  });
  afterAll(() => t.close());

  const register = (email: string) =>
    request(t.app)
      .post('/api/auth/register')
      .send({ email, password: 'correct horse battery staple', tokenDelivery: 'cookie' });
  const signIn = (email: string, password = 'correct horse battery staple') =>
    request(t.app).post('/api/auth/login').send({ email, password });

  it('registers without starting a session, and refuses to sign in until the link is followed', async () => {
    const email = `pending-${Date.now()}@example.com`;
    const res = await register(email);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      user: expect.objectContaining({ email, emailVerified: false }),
      verificationRequired: true,
    });
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(await t.db.prisma.session.count({ where: { user: { email } } })).toBe(0);

    const refused = await signIn(email);
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('EMAIL_NOT_VERIFIED');
    // A wrong password says nothing about the address.
    expect((await signIn(email, 'a wrong password')).body.code).toBe('INVALID_CREDENTIALS');

    await verify(t, { token: tokenIn(await lastMailTo(t, email, 'verify-email')) });
    const admitted = await signIn(email);
    expect(admitted.status).toBe(200);
    expect(admitted.body.user.emailVerified).toBe(true);
  });

  it('lets a completed password reset confirm the address (the link proved the mailbox)', async () => {
    const email = `lost-link-${Date.now()}@example.com`;
    await register(email);
    await request(t.app).post('/api/auth/password/forgot').send({ email });
    await t.root.inFlight.idle();
    const token = tokenIn(await lastMailTo(t, email, 'password-reset'));
    expect(
      (
        await request(t.app)
          .post('/api/auth/password/reset')
          .send({ token, newPassword: 'a new long passphrase' })
      ).status,
    ).toBe(204);
    expect((await signIn(email, 'a new long passphrase')).status).toBe(200);
  });
});

describe('the accountMail limits', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      RATE_LIMIT_ACCOUNT_MAIL_ACCOUNT_MAX: '2',
      RATE_LIMIT_ACCOUNT_MAIL_WINDOW_MS: String(60 * 60_000),
    });
  });
  afterAll(() => t.close());

  it('refuse a third verification mail for one account within the window', async () => {
    const account = await registerAccount(t.app);
    expect((await resend(t, account.accessToken)).status).toBe(202);
    expect((await resend(t, account.accessToken)).status).toBe(202);
    const third = await resend(t, account.accessToken);
    expect(third.status).toBe(429);
    expect(third.body.code).toBe('RATE_LIMITED');
    // Another account is not affected.
    const other = await login(t.app, await registerAccount(t.app));
    expect((await resend(t, other.accessToken)).status).toBe(202);
  });

  it('refuse a third reset request for one address alike, known or not', async () => {
    const account = await registerAccount(t.app);
    for (const email of [account.email, `nobody-${Date.now()}@example.com`]) {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        statuses.push(
          (await request(t.app).post('/api/auth/password/forgot').send({ email })).status,
        );
      }
      expect(statuses).toEqual([202, 202, 429]);
    }
  });
});
