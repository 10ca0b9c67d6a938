import request from 'supertest';
import { login, me, refresh, registerAccount, type Account } from '../../helpers/auth-client';
import { lastMailTo } from '../../helpers/account-mail';
import { createTestApp, type TestApp } from '../../helpers/test-app';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const remove = (account: Pick<Account, 'accessToken'>, body: unknown) =>
  request(t.app)
    .delete('/api/auth/me')
    .set('Authorization', `Bearer ${account.accessToken}`)
    .send(body as object);

describe('DELETE /api/auth/me', () => {
  it('deletes the account with its sessions and tokens; its access tokens are refused at once', async () => {
    const account = await registerAccount(t.app);
    const other = await login(t.app, account);
    await request(t.app).post('/api/auth/password/forgot').send({ email: account.email });
    await t.root.inFlight.idle();

    expect((await remove(account, { password: account.password })).status).toBe(204);

    for (const session of [account, other]) {
      const res = await me(t.app, session.accessToken);
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('ACCOUNT_NOT_FOUND');
      expect((await refresh(t.app, session.refreshToken)).status).toBe(401);
    }
    const { prisma } = t.db;
    expect(await prisma.user.count({ where: { id: account.userId } })).toBe(0);
    expect(await prisma.session.count({ where: { userId: account.userId } })).toBe(0);
    expect(await prisma.accountToken.count({ where: { userId: account.userId } })).toBe(0);
    // The confirmation mail and the audit event outlive the account.
    const mail = await lastMailTo(t, account.email, 'account-deleted');
    expect(mail.subject).toMatch(/deleted/);
    expect(
      await prisma.auditEvent.count({
        where: { subjectUserId: account.userId, type: 'account.deleted' },
      }),
    ).toBe(1);
  });

  it('frees the address: it can register again, as a new account', async () => {
    const account = await registerAccount(t.app);
    await remove(account, { password: account.password });
    const again = await registerAccount(t.app, { email: account.email });
    expect(again.userId).not.toBe(account.userId);
    expect((await me(t.app, again.accessToken)).body.user.emailVerified).toBe(false);
  });

  it('requires the password', async () => {
    const account = await registerAccount(t.app);
    const res = await remove(account, { password: 'not the password' });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('INVALID_CURRENT_PASSWORD');
    expect((await me(t.app, account.accessToken)).status).toBe(200);
  });

  it('requires an access token', async () => {
    const res = await request(t.app).delete('/api/auth/me').send({ password: 'x' });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('AUTH_REQUIRED');
  });

  it.each([
    ['no body', undefined],
    ['an empty password', { password: '' }],
    ['a numeric password', { password: 123 }],
    ['an extra field', { password: 'x', force: true }],
  ])('answers %s with 400 VALIDATION_FAILED, never a 500', async (_label, body) => {
    const account = await registerAccount(t.app);
    const res = await remove(account, body);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
  });
});
