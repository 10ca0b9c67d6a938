import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { login, refresh, registerAccount, type Account } from '../../helpers/auth-client';
import { createTestApp, type TestApp } from '../../helpers/test-app';

/**
 * The security events the auth flows write: each with its exact fields, tied to the request that
 * caused it by its request id, never carrying a secret.
 */

const sessionOf = (accessToken: string) => (jwt.decode(accessToken) as { sid: string }).sid;

/** The events a request wrote, by its `X-Request-Id`. */
async function eventsOf(t: TestApp, requestId: string) {
  return t.db.prisma.auditEvent.findMany({
    where: { requestId },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
}

/** `app_security_events_total{type}` of this app, read from its registry. */
async function counted(t: TestApp, type: string): Promise<number> {
  const metric = (await t.metrics.registry.getMetricsAsJSON()).find(
    (m) => m.name === 'app_security_events_total',
  );
  return metric?.values.find((v) => v.labels.type === type)?.value ?? 0;
}

const AGENT = 'audit-test/1.0';

describe('audit events of the auth flows (AUDIT_ENABLED=true, the default)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  let account: Account;
  beforeEach(async () => {
    account = await registerAccount(t.app);
  });

  it('a sign-in records signin.succeeded with the new session, in the same write', async () => {
    const before = await counted(t, 'signin.succeeded');
    const res = await request(t.app)
      .post('/api/auth/login')
      .set('User-Agent', AGENT)
      .send({ email: account.email, password: account.password });
    expect(res.status).toBe(200);
    const requestId = res.headers['x-request-id'] as string;

    const events = await eventsOf(t, requestId);
    expect(events).toEqual([
      {
        id: expect.any(String),
        createdAt: expect.any(Date),
        type: 'signin.succeeded',
        actorUserId: account.userId,
        subjectUserId: account.userId,
        sessionId: sessionOf(res.body.accessToken),
        ip: expect.stringMatching(/127\.0\.0\.1|::1/),
        userAgent: AGENT,
        requestId,
        reason: null,
        data: null,
      },
    ]);
    // The event names the session the sign-in created.
    const session = await t.db.prisma.session.findUniqueOrThrow({
      where: { id: events[0]!.sessionId! },
    });
    expect(session).toMatchObject({ userId: account.userId, userAgent: AGENT, ip: events[0]!.ip });
    expect(await counted(t, 'signin.succeeded')).toBe(before + 1);
  });

  it('a wrong password records signin.failed (wrong_password) for the account, never the password', async () => {
    const guess = `not-the-password-${randomUUID()}`;
    const before = await counted(t, 'signin.failed');
    const res = await request(t.app)
      .post('/api/auth/login')
      .set('User-Agent', AGENT)
      .send({ email: account.email, password: guess });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('INVALID_CREDENTIALS');

    const events = await eventsOf(t, res.headers['x-request-id'] as string);
    expect(events).toEqual([
      expect.objectContaining({
        type: 'signin.failed',
        actorUserId: null,
        subjectUserId: account.userId,
        sessionId: null,
        reason: 'wrong_password',
        userAgent: AGENT,
        data: null,
      }),
    ]);
    expect(JSON.stringify(events)).not.toContain(guess);
    expect(await counted(t, 'signin.failed')).toBe(before + 1);
  });

  it('an unknown email records signin.failed (unknown_email) with neither the email nor the password', async () => {
    const email = `nobody-${randomUUID()}@example.com`;
    const guess = `a-guess-${randomUUID()}`;
    const res = await request(t.app).post('/api/auth/login').send({ email, password: guess });
    expect(res.status).toBe(401);

    const events = await eventsOf(t, res.headers['x-request-id'] as string);
    expect(events).toEqual([
      expect.objectContaining({
        type: 'signin.failed',
        actorUserId: null,
        subjectUserId: null,
        sessionId: null,
        reason: 'unknown_email',
        data: null,
      }),
    ]);
    const row = JSON.stringify(events);
    expect(row).not.toContain(guess);
    expect(row).not.toContain(email);
    expect(row).not.toContain('nobody-');
  });

  it('the right password for a disabled account records signin.failed (account_disabled)', async () => {
    await t.db.prisma.user.update({
      where: { id: account.userId },
      data: { disabledAt: new Date() },
    });
    const res = await request(t.app)
      .post('/api/auth/login')
      .send({ email: account.email, password: account.password });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('ACCOUNT_DISABLED');
    expect(await eventsOf(t, res.headers['x-request-id'] as string)).toEqual([
      expect.objectContaining({
        type: 'signin.failed',
        actorUserId: null,
        subjectUserId: account.userId,
        sessionId: null,
        reason: 'account_disabled',
      }),
    ]);
  });

  it('a rotation records nothing; presenting the spent token records refresh.reuse_detected with the revocation', async () => {
    const rotated = await refresh(t.app, account.refreshToken);
    expect(rotated.status).toBe(200);
    expect(await eventsOf(t, rotated.headers['x-request-id'] as string)).toEqual([]);

    const before = await counted(t, 'refresh.reuse_detected');
    const reuse = await request(t.app)
      .post('/api/auth/refresh')
      .set('User-Agent', 'thief/0.1')
      .send({ refreshToken: account.refreshToken });
    expect(reuse.status).toBe(401);
    expect(reuse.body.code).toBe('REFRESH_TOKEN_REUSED');
    const requestId = reuse.headers['x-request-id'] as string;

    const events = await eventsOf(t, requestId);
    expect(events).toEqual([
      {
        id: expect.any(String),
        createdAt: expect.any(Date),
        type: 'refresh.reuse_detected',
        // Whoever presented the copy is unknown: the owner's app or a thief.
        actorUserId: null,
        subjectUserId: account.userId,
        sessionId: sessionOf(account.accessToken),
        ip: expect.any(String),
        userAgent: 'thief/0.1',
        requestId,
        reason: null,
        data: null,
      },
    ]);
    expect(JSON.stringify(events)).not.toContain(account.refreshToken);
    // The event and the revocation are one statement: the session is revoked.
    const session = await t.db.prisma.session.findUniqueOrThrow({
      where: { id: sessionOf(account.accessToken) },
    });
    expect(session.revokedAt).not.toBeNull();
    expect(await counted(t, 'refresh.reuse_detected')).toBe(before + 1);

    // The session is revoked now: presenting its newest token again records no second reuse.
    const again = await refresh(t.app, rotated.body.refreshToken);
    expect(again.body.code).toBe('REFRESH_TOKEN_REVOKED');
    expect(await eventsOf(t, again.headers['x-request-id'] as string)).toEqual([]);
  });

  it('logout records session.logout once; a repeated logout records nothing', async () => {
    const res = await request(t.app)
      .post('/api/auth/logout')
      .set('User-Agent', AGENT)
      .send({ refreshToken: account.refreshToken });
    expect(res.status).toBe(204);
    const requestId = res.headers['x-request-id'] as string;
    expect(await eventsOf(t, requestId)).toEqual([
      expect.objectContaining({
        type: 'session.logout',
        actorUserId: account.userId,
        subjectUserId: account.userId,
        sessionId: sessionOf(account.accessToken),
        userAgent: AGENT,
        requestId,
        reason: null,
        data: null,
      }),
    ]);
    expect(JSON.stringify(await eventsOf(t, requestId))).not.toContain(account.refreshToken);

    const repeated = await request(t.app)
      .post('/api/auth/logout')
      .send({ refreshToken: account.refreshToken });
    expect(repeated.status).toBe(204);
    expect(await eventsOf(t, repeated.headers['x-request-id'] as string)).toEqual([]);
  });

  it('logout-all records one session.logout_all naming the sessions it ended', async () => {
    const second = await login(t.app, account);
    const third = await login(t.app, account);
    const ended = [account, second, third].map((a) => sessionOf(a.accessToken)).sort();
    const res = await request(t.app)
      .post('/api/auth/logout-all')
      .set('Authorization', `Bearer ${account.accessToken}`)
      .set('User-Agent', AGENT);
    expect(res.status).toBe(204);
    const requestId = res.headers['x-request-id'] as string;
    expect(await eventsOf(t, requestId)).toEqual([
      expect.objectContaining({
        type: 'session.logout_all',
        actorUserId: account.userId,
        subjectUserId: account.userId,
        sessionId: null,
        userAgent: AGENT,
        requestId,
        reason: null,
        data: { sessionsRevoked: ended },
      }),
    ]);
  });

  it('revoking one of your sessions records session.revoked naming it; an unknown id records nothing', async () => {
    const other = await login(t.app, account, 'laptop');
    const otherSession = sessionOf(other.accessToken);
    const res = await request(t.app)
      .delete(`/api/auth/sessions/${otherSession}`)
      .set('Authorization', `Bearer ${account.accessToken}`);
    expect(res.status).toBe(204);
    const requestId = res.headers['x-request-id'] as string;
    expect(await eventsOf(t, requestId)).toEqual([
      expect.objectContaining({
        type: 'session.revoked',
        actorUserId: account.userId,
        subjectUserId: account.userId,
        sessionId: otherSession,
        requestId,
      }),
    ]);

    const unknown = await request(t.app)
      .delete(`/api/auth/sessions/${randomUUID()}`)
      .set('Authorization', `Bearer ${account.accessToken}`);
    expect(unknown.status).toBe(404);
    expect(await eventsOf(t, unknown.headers['x-request-id'] as string)).toEqual([]);
  });

  it('never stores a token or a password hash in any event', async () => {
    const rows = await t.db.prisma.auditEvent.findMany();
    const users = await t.db.prisma.user.findMany({ select: { passwordHash: true } });
    const text = JSON.stringify(rows);
    expect(rows.length).toBeGreaterThan(0);
    expect(text).not.toMatch(/eyJ[\w-]+\.[\w-]+\.[\w-]+/); // a JWT
    expect(text).not.toContain('$argon2');
    for (const { passwordHash } of users) expect(text).not.toContain(passwordHash);
  });
});

describe('AUDIT_ENABLED=false', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ AUDIT_ENABLED: 'false' });
  });
  afterAll(() => t.close());

  it('writes no event, yet the flows work and the events are still counted in the metrics', async () => {
    const account = await registerAccount(t.app);
    const signedIn = await login(t.app, account);
    const failed = await request(t.app)
      .post('/api/auth/login')
      .send({ email: account.email, password: 'wrong password here' });
    expect(failed.status).toBe(401);
    expect((await refresh(t.app, signedIn.refreshToken)).status).toBe(200);
    const reuse = await refresh(t.app, signedIn.refreshToken);
    expect(reuse.body.code).toBe('REFRESH_TOKEN_REUSED');
    const logout = await request(t.app)
      .post('/api/auth/logout')
      .send({ refreshToken: account.refreshToken });
    expect(logout.status).toBe(204);

    expect(await t.db.prisma.auditEvent.count()).toBe(0);
    expect(await counted(t, 'signin.succeeded')).toBe(1);
    expect(await counted(t, 'signin.failed')).toBe(1);
    expect(await counted(t, 'refresh.reuse_detected')).toBe(1);
    expect(await counted(t, 'session.logout')).toBe(1);
  });
});

describe('AUTH_ALLOW_UNVERIFIED_SIGN_IN=false', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ AUTH_ALLOW_UNVERIFIED_SIGN_IN: 'false' });
  });
  afterAll(() => t.close());

  it('the right password for an unconfirmed address records signin.failed (email_not_verified)', async () => {
    const email = `unconfirmed-${randomUUID()}@example.com`;
    const password = 'correct horse battery staple';
    const registered = await request(t.app).post('/api/auth/register').send({ email, password });
    expect(registered.status).toBe(201);
    const res = await request(t.app).post('/api/auth/login').send({ email, password });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('EMAIL_NOT_VERIFIED');
    expect(await eventsOf(t, res.headers['x-request-id'] as string)).toEqual([
      expect.objectContaining({
        type: 'signin.failed',
        subjectUserId: registered.body.user.id,
        reason: 'email_not_verified',
      }),
    ]);
  });
});
