import { setTimeout as sleep } from 'node:timers/promises';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { createTestApp, type TestApp } from '../../helpers/test-app';
import { login, me, refresh, registerAccount, type Account } from '../../helpers/auth-client';

// Access tokens are checked against their session on every request: whatever ends a session
// refuses its access tokens on the next request, not when they expire (ASVS 5.0 7.4.1).

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const sessionOf = (account: Account) => (jwt.decode(account.accessToken) as { sid: string }).sid;

/** The refusal every ended session's access token gets. */
async function expectRefused(account: Account, code = 'SESSION_REVOKED') {
  const res = await me(t.app, account.accessToken);
  expect(res.status).toBe(401);
  expect(res.body.code).toBe(code);
  expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
  // Every bearer route, not only /me.
  const sessions = await request(t.app).get('/api/auth/sessions').set(bearer(account.accessToken));
  expect(sessions.status).toBe(401);
  expect(sessions.body.code).toBe(code);
}

describe('an access token after its session ends', () => {
  it('is refused right after logout, while the same user’s other sessions keep working', async () => {
    const account = await registerAccount(t.app);
    const other = await login(t.app, account);
    expect((await me(t.app, account.accessToken)).status).toBe(200);

    const res = await request(t.app)
      .post('/api/auth/logout')
      .send({ refreshToken: account.refreshToken });
    expect(res.status).toBe(204);

    await expectRefused(account);
    expect((await me(t.app, other.accessToken)).status).toBe(200);
  });

  it('is refused right after logout-all, in every session of the user and only that user', async () => {
    const account = await registerAccount(t.app);
    const second = await login(t.app, account);
    const bystander = await registerAccount(t.app);

    const res = await request(t.app).post('/api/auth/logout-all').set(bearer(second.accessToken));
    expect(res.status).toBe(204);

    await expectRefused(account);
    await expectRefused(second);
    expect((await me(t.app, bystander.accessToken)).status).toBe(200);
  });

  it('is refused right after its session is revoked with DELETE /sessions/:id', async () => {
    const phone = await registerAccount(t.app);
    const laptop = await login(t.app, phone);

    const res = await request(t.app)
      .delete(`/api/auth/sessions/${sessionOf(phone)}`)
      .set(bearer(laptop.accessToken));
    expect(res.status).toBe(204);

    await expectRefused(phone);
    expect((await me(t.app, laptop.accessToken)).status).toBe(200);
  });

  it('is refused right after a password change in every other session; the changing one stays', async () => {
    const phone = await registerAccount(t.app);
    const laptop = await login(t.app, phone);

    const res = await request(t.app)
      .post('/api/auth/change-password')
      .set(bearer(laptop.accessToken))
      .send({ currentPassword: phone.password, newPassword: 'a brand new passphrase' });
    expect(res.status).toBe(204);

    await expectRefused(phone);
    expect((await me(t.app, laptop.accessToken)).status).toBe(200);
  });

  it('is refused once a refresh-token reuse revoked its session', async () => {
    const account = await registerAccount(t.app);
    const rotated = await refresh(t.app, account.refreshToken);
    expect(rotated.status).toBe(200);
    expect((await refresh(t.app, account.refreshToken)).body.code).toBe('REFRESH_TOKEN_REUSED');

    await expectRefused(account);
    await expectRefused({ ...account, accessToken: rotated.body.accessToken });
  });

  it('is refused with SESSION_EXPIRED once its session is past its absolute lifetime', async () => {
    const account = await registerAccount(t.app);
    await t.db.prisma.session.update({
      where: { id: sessionOf(account) },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    await expectRefused(account, 'SESSION_EXPIRED');
  });

  it('is refused once its session row is gone (purged), as revoked', async () => {
    const account = await registerAccount(t.app);
    await t.db.prisma.session.delete({ where: { id: sessionOf(account) } });
    await expectRefused(account);
  });
});

describe('the session check answered from memory (AUTH_SESSION_CACHE_MS, 500 ms by default)', () => {
  /** `app_session_checks_total` by source, from the Prometheus endpoint. */
  async function sessionChecks() {
    const { text } = await request(t.app).get('/metrics');
    const count = (source: string) =>
      Number(
        new RegExp(`^app_session_checks_total\\{source="${source}"\\} (\\d+)$`, 'm').exec(
          text,
        )?.[1] ?? 0,
      );
    return { memory: count('memory'), database: count('database') };
  }

  it('answers a burst of one session with fewer database reads than requests; its own logout is seen by the next request', async () => {
    const account = await registerAccount(t.app);
    const before = await sessionChecks();
    const burst = await Promise.all(
      Array.from({ length: 10 }, () => me(t.app, account.accessToken)),
    );
    expect(burst.map((res) => res.status)).toEqual(Array(10).fill(200));
    const after = await sessionChecks();
    expect(after.memory + after.database - before.memory - before.database).toBe(10);
    expect(after.database - before.database).toBeGreaterThanOrEqual(1);
    expect(after.memory - before.memory).toBeGreaterThanOrEqual(1);

    // The logout commits, this process forgets the user's checks: no answer from memory now.
    expect(
      (await request(t.app).post('/api/auth/logout').send({ refreshToken: account.refreshToken }))
        .status,
    ).toBe(204);
    await expectRefused(account);
  });

  it('sees a change made elsewhere (another replica; here, straight in the database) once AUTH_SESSION_CACHE_MS has passed', async () => {
    expect(t.config.auth.sessionCacheMs).toBe(500);
    const account = await registerAccount(t.app);
    expect((await me(t.app, account.accessToken)).status).toBe(200);
    await t.db.prisma.session.update({
      where: { id: sessionOf(account) },
      data: { revokedAt: new Date() },
    });
    // Not asserted: whether the next request is still answered from memory (it may be, for up
    // to 500 ms). Asserted: the bound. The wait is the guarantee, not a guess at speed.
    await sleep(t.config.auth.sessionCacheMs + 50);
    await expectRefused(account);
  });
});

describe('logout with a refresh token that can no longer refresh', () => {
  // Decided: ending a session must always work. A token whose signature, issuer and audience are
  // ours ends its session even when it is spent or expired; refusing it would leave a user who
  // holds only an old token unable to log out, and revoking grants nothing.

  it('accepts a spent token and ends the session, including its newer tokens', async () => {
    const account = await registerAccount(t.app);
    const rotated = await refresh(t.app, account.refreshToken);
    expect(rotated.status).toBe(200);

    const res = await request(t.app)
      .post('/api/auth/logout')
      .send({ refreshToken: account.refreshToken });
    expect(res.status).toBe(204);

    expect((await refresh(t.app, rotated.body.refreshToken)).body.code).toBe(
      'REFRESH_TOKEN_REVOKED',
    );
    await expectRefused({ ...account, accessToken: rotated.body.accessToken });
  });

  it('accepts an expired token and ends the session', async () => {
    const account = await registerAccount(t.app);
    const { jwt: cfg } = t.config;
    const c = jwt.decode(account.refreshToken) as Record<string, unknown> & { iat: number };
    const expired = jwt.sign(
      { typ: 'refresh', sid: c.sid, iat: c.iat - 7200, exp: c.iat - 3600 },
      cfg.refreshSecret,
      {
        subject: c.sub as string,
        issuer: cfg.issuer,
        audience: cfg.audience,
        jwtid: c.jti as string,
      },
    );

    const res = await request(t.app).post('/api/auth/logout').send({ refreshToken: expired });
    expect(res.status).toBe(204);

    await expectRefused(account);
  });
});
