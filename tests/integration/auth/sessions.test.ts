import request from 'supertest';
import { createTestApp, type TestApp } from '../../helpers/test-app';
import { login, me, refresh, registerAccount } from '../../helpers/auth-client';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

describe('POST /api/auth/logout', () => {
  it("revokes that session's refresh token, and is idempotent", async () => {
    const account = await registerAccount(t.app);
    const other = await login(t.app, account);
    const res = await request(t.app)
      .post('/api/auth/logout')
      .send({ refreshToken: account.refreshToken });
    expect(res.status).toBe(204);
    // Body delivery: no cookie was set, so none is cleared (cookie logout: refresh-cookie.test.ts).
    expect(res.headers['set-cookie']).toBeUndefined();

    const after = await refresh(t.app, account.refreshToken);
    expect(after.status).toBe(401);
    expect(after.body.code).toBe('REFRESH_TOKEN_REVOKED');
    // The other session is untouched.
    expect((await refresh(t.app, other.refreshToken)).status).toBe(200);
    expect(
      (await request(t.app).post('/api/auth/logout').send({ refreshToken: account.refreshToken }))
        .status,
    ).toBe(204);
  });

  it('refuses a token that is not ours with 401 and revokes nothing', async () => {
    const res = await request(t.app)
      .post('/api/auth/logout')
      .send({ refreshToken: 'forged.token.value' });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('TOKEN_INVALID');
  });
});

describe('POST /api/auth/logout-all', () => {
  it('revokes every refresh token of the user, and only of that user', async () => {
    const account = await registerAccount(t.app);
    const second = await login(t.app, account);
    const bystander = await registerAccount(t.app);
    const res = await request(t.app).post('/api/auth/logout-all').set(bearer(second.accessToken));
    expect(res.status).toBe(204);
    for (const token of [account.refreshToken, second.refreshToken]) {
      const after = await refresh(t.app, token);
      expect(after.status).toBe(401);
      expect(after.body.code).toBe('REFRESH_TOKEN_REVOKED');
    }
    expect((await refresh(t.app, bystander.refreshToken)).status).toBe(200);
  });

  it('requires an access token', async () => {
    const account = await registerAccount(t.app);
    const res = await request(t.app)
      .post('/api/auth/logout-all')
      .send({ refreshToken: account.refreshToken });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('AUTH_REQUIRED');
  });

  it('refuses a refresh token used as an access token', async () => {
    const account = await registerAccount(t.app);
    const res = await request(t.app).post('/api/auth/logout-all').set(bearer(account.refreshToken));
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('TOKEN_INVALID');
    expect((await refresh(t.app, account.refreshToken)).status).toBe(200);
  });
});

describe('POST /api/auth/change-password', () => {
  it('changes the password and revokes every other session, keeping the current one', async () => {
    const phone = await registerAccount(t.app);
    const laptop = await login(t.app, phone);
    const res = await request(t.app)
      .post('/api/auth/change-password')
      .set(bearer(laptop.accessToken))
      .send({ currentPassword: phone.password, newPassword: 'a brand new passphrase' });
    expect(res.status).toBe(204);

    expect((await refresh(t.app, phone.refreshToken)).body.code).toBe('REFRESH_TOKEN_REVOKED');
    expect((await refresh(t.app, laptop.refreshToken)).status).toBe(200);
    expect(
      (
        await request(t.app)
          .post('/api/auth/login')
          .send({ email: phone.email, password: phone.password })
      ).status,
    ).toBe(401);
    expect(
      (
        await request(t.app)
          .post('/api/auth/login')
          .send({ email: phone.email, password: 'a brand new passphrase' })
      ).status,
    ).toBe(200);
  });

  it('refuses a wrong current password with 403 and changes nothing', async () => {
    const account = await registerAccount(t.app);
    const before = await t.db.prisma.user.findUniqueOrThrow({ where: { id: account.userId } });
    const res = await request(t.app)
      .post('/api/auth/change-password')
      .set(bearer(account.accessToken))
      .send({ currentPassword: 'not my password', newPassword: 'a brand new passphrase' });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('INVALID_CURRENT_PASSWORD');
    expect(
      (await t.db.prisma.user.findUniqueOrThrow({ where: { id: account.userId } })).passwordHash,
    ).toBe(before.passwordHash);
  });

  it.each([
    ['a too-short new password', { currentPassword: 'x', newPassword: 'short' }, 'newPassword'],
    ['a missing current password', { newPassword: 'a brand new passphrase' }, 'currentPassword'],
  ])('rejects %s with 400', async (_case, body, field) => {
    const account = await registerAccount(t.app);
    const res = await request(t.app)
      .post('/api/auth/change-password')
      .set(bearer(account.accessToken))
      .send(body);
    expect(res.status).toBe(400);
    expect(res.body.errors).toContainEqual({ field, message: expect.any(String) });
  });
});

describe('sessions', () => {
  it('lists the active sessions with creation, last use, user agent and ip, marking the current one', async () => {
    const account = await registerAccount(t.app);
    const laptop = await login(t.app, account, 'Laptop Browser/1.0');
    const res = await request(t.app).get('/api/auth/sessions').set(bearer(laptop.accessToken));
    expect(res.status).toBe(200);
    expect(res.body.sessions).toHaveLength(2);
    expect(res.body.sessions).toContainEqual({
      id: expect.any(String),
      createdAt: expect.any(String),
      lastUsedAt: expect.any(String),
      expiresAt: expect.any(String),
      userAgent: 'Laptop Browser/1.0',
      ip: expect.any(String),
      current: true,
    });
    expect(res.body.sessions.filter((s: { current: boolean }) => s.current)).toHaveLength(1);
  });

  it('revokes one session with DELETE, leaving the others', async () => {
    const account = await registerAccount(t.app);
    const laptop = await login(t.app, account);
    const list = await request(t.app).get('/api/auth/sessions').set(bearer(laptop.accessToken));
    const other = list.body.sessions.find((s: { current: boolean }) => !s.current);
    expect(
      (
        await request(t.app)
          .delete(`/api/auth/sessions/${other.id}`)
          .set(bearer(laptop.accessToken))
      ).status,
    ).toBe(204);
    expect((await refresh(t.app, account.refreshToken)).body.code).toBe('REFRESH_TOKEN_REVOKED');
    const after = await request(t.app).get('/api/auth/sessions').set(bearer(laptop.accessToken));
    expect(after.body.sessions).toHaveLength(1);
    expect((await me(t.app, laptop.accessToken)).status).toBe(200);
  });

  it("answers 404 for another user's session, and changes nothing", async () => {
    const alice = await registerAccount(t.app);
    const mallory = await registerAccount(t.app);
    const aliceSessions = await request(t.app)
      .get('/api/auth/sessions')
      .set(bearer(alice.accessToken));
    const res = await request(t.app)
      .delete(`/api/auth/sessions/${aliceSessions.body.sessions[0].id}`)
      .set(bearer(mallory.accessToken));
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('SESSION_NOT_FOUND');
    expect((await refresh(t.app, alice.refreshToken)).status).toBe(200);
  });

  it('answers a malformed session id with 400', async () => {
    const account = await registerAccount(t.app);
    const res = await request(t.app)
      .delete('/api/auth/sessions/not-a-uuid')
      .set(bearer(account.accessToken));
    expect(res.status).toBe(400);
    expect(res.body.errors).toContainEqual({ field: 'id', message: expect.any(String) });
  });
});
