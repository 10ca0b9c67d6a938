import request from 'supertest';
import { login, me, registerAccount, type Account } from '../../helpers/auth-client';
import { lastMailTo, linkIn, mailsTo, tokenIn } from '../../helpers/account-mail';
import { createTestApp, type TestApp } from '../../helpers/test-app';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ APP_PUBLIC_URL: 'https://app.example.test' });
});
afterAll(() => t.close());

const change = (account: Pick<Account, 'accessToken'>, body: unknown) =>
  request(t.app)
    .post('/api/auth/email/change')
    .set('Authorization', `Bearer ${account.accessToken}`)
    .send(body as object);
const confirm = (token: unknown) => request(t.app).post('/api/auth/email/confirm').send({ token });
const fresh = (label: string) => `${label}-${Math.random().toString(36).slice(2)}@example.com`;

describe('POST /api/auth/email/change and /email/confirm', () => {
  it('mails a link to the new address and a notice to the old one; the change happens on confirmation', async () => {
    const account = await registerAccount(t.app);
    const newEmail = fresh('moved');
    const res = await change(account, { newEmail, currentPassword: account.password });
    expect(res.status).toBe(202);

    const link = linkIn(await lastMailTo(t, newEmail, 'email-change-confirm'));
    expect(link.origin + link.pathname).toBe('https://app.example.test/confirm-email');
    const notice = await lastMailTo(t, account.email, 'email-change-requested');
    expect(notice.textBody).toContain(newEmail);
    // Not changed yet.
    expect((await me(t.app, account.accessToken)).body.user.email).toBe(account.email);

    expect((await confirm(link.searchParams.get('token'))).status).toBe(204);
    const user = (await me(t.app, account.accessToken)).body.user;
    expect(user).toMatchObject({ email: newEmail, emailVerified: true });
    const changed = await lastMailTo(t, account.email, 'email-changed');
    expect(changed.textBody).toContain(newEmail);
    expect(changed.htmlBody).toContain(newEmail);

    // The account signs in with the new address only.
    await login(t.app, { email: newEmail, password: account.password });
    const old = await request(t.app)
      .post('/api/auth/login')
      .send({ email: account.email, password: account.password });
    expect(old.body.code).toBe('INVALID_CREDENTIALS');
    const types = (
      await t.db.prisma.auditEvent.findMany({ where: { subjectUserId: account.userId } })
    ).map((event) => event.type);
    expect(types).toEqual(expect.arrayContaining(['email.change_requested', 'email.changed']));
  });

  it('requires the current password', async () => {
    const account = await registerAccount(t.app);
    const newEmail = fresh('nope');
    const res = await change(account, { newEmail, currentPassword: 'not my password' });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('INVALID_CURRENT_PASSWORD');
    expect(await mailsTo(t, newEmail)).toEqual([]);
  });

  it('refuses a taken address exactly as registration does: 409 EMAIL_TAKEN, nothing mailed', async () => {
    const owner = await registerAccount(t.app);
    const account = await registerAccount(t.app);
    const res = await change(account, {
      newEmail: owner.email.toUpperCase(),
      currentPassword: account.password,
    });
    const registration = await request(t.app)
      .post('/api/auth/register')
      .send({ email: owner.email, password: 'another long passphrase' });
    expect(res.status).toBe(409);
    expect(registration.status).toBe(409);
    expect(res.body.code).toBe(registration.body.code);
    expect(res.body.detail).toBe(registration.body.detail);
    expect(await mailsTo(t, owner.email, 'email-change-confirm')).toEqual([]);
  });

  it('refuses the address the account already has', async () => {
    const account = await registerAccount(t.app);
    const res = await change(account, {
      newEmail: account.email,
      currentPassword: account.password,
    });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
  });

  it('fails with EMAIL_TAKEN, changing nothing, when the address was taken before the confirmation', async () => {
    const account = await registerAccount(t.app);
    const newEmail = fresh('raced');
    await change(account, { newEmail, currentPassword: account.password });
    const token = tokenIn(await lastMailTo(t, newEmail, 'email-change-confirm'));
    await registerAccount(t.app, { email: newEmail });
    const res = await confirm(token);
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('EMAIL_TAKEN');
    expect((await me(t.app, account.accessToken)).body.user.email).toBe(account.email);
  });

  it('accepts a link once, and only the newest one', async () => {
    const account = await registerAccount(t.app);
    const first = fresh('first');
    const second = fresh('second');
    await change(account, { newEmail: first, currentPassword: account.password });
    await change(account, { newEmail: second, currentPassword: account.password });
    const older = tokenIn(await lastMailTo(t, first, 'email-change-confirm'));
    const newer = tokenIn(await lastMailTo(t, second, 'email-change-confirm'));
    expect((await confirm(older)).body.code).toBe('ACCOUNT_TOKEN_INVALID');
    expect((await confirm(newer)).status).toBe(204);
    expect((await confirm(newer)).body.code).toBe('ACCOUNT_TOKEN_INVALID');
    expect((await me(t.app, account.accessToken)).body.user.email).toBe(second);
  });

  it('refuses an expired link with ACCOUNT_TOKEN_EXPIRED (1 hour by default)', async () => {
    const account = await registerAccount(t.app);
    const newEmail = fresh('late');
    await change(account, { newEmail, currentPassword: account.password });
    const token = tokenIn(await lastMailTo(t, newEmail, 'email-change-confirm'));
    const row = await t.db.prisma.accountToken.findFirstOrThrow({
      where: { userId: account.userId, purpose: 'email_change', usedAt: null },
    });
    expect(row.newEmail).toBe(newEmail);
    expect(row.expiresAt.getTime() - row.createdAt.getTime()).toBe(3600_000);
    await t.db.prisma.accountToken.update({
      where: { id: row.id },
      data: { expiresAt: new Date(Date.now() - 1_000) },
    });
    expect((await confirm(token)).body.code).toBe('ACCOUNT_TOKEN_EXPIRED');
  });

  it.each([
    ['no body', undefined],
    ['a malformed address', { newEmail: 'nope', currentPassword: 'x' }],
    ['no password', { newEmail: 'a@example.com' }],
    ['an empty password', { newEmail: 'a@example.com', currentPassword: '' }],
    ['an extra field', { newEmail: 'a@example.com', currentPassword: 'x', role: 'admin' }],
  ])('answers %s with 400 VALIDATION_FAILED, never a 500', async (_label, body) => {
    const account = await registerAccount(t.app);
    const res = await change(account, body);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
  });

  it('answers a confirmation without a usable token with 400', async () => {
    for (const token of [undefined, 7, '', 'unknown-token']) {
      const res = await confirm(token);
      expect(res.status).toBe(400);
      expect(['VALIDATION_FAILED', 'ACCOUNT_TOKEN_INVALID']).toContain(res.body.code);
    }
  });
});
