import request from 'supertest';
import { asAdmin, registerAdmin, sessionOf } from '../../helpers/admin-client';
import { createTestApp, type TestApp } from '../../helpers/test-app';

/**
 * The audit trail of one account's story, end to end through the API: registration, a failed
 * sign-in, a sign-in, a refresh-token reuse, a password change, and an administrator disabling
 * the account. The log must hold exactly these events, in this order, with these fields: nothing
 * missing, nothing extra (a successful rotation records nothing), no secret.
 */

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'an entirely new passphrase';

it('register, failed sign-in, sign-in, refresh reuse, password change, admin disables: exactly these events', async () => {
  const admin = await registerAdmin(t);
  const email = 'scenario@example.com';
  const as = (userAgent: string) => ({ 'User-Agent': userAgent });
  const requestIds: string[] = [];
  const sent = (res: request.Response, status: number) => {
    expect({ status: res.status, body: res.body as unknown }).toMatchObject({ status });
    requestIds.push(res.headers['x-request-id'] as string);
    return res;
  };

  // 1. Registration, in a browser: the account and its first session.
  const registered = sent(
    await request(t.app)
      .post('/api/auth/register')
      .set(as('browser'))
      .send({ email, password: PASSWORD }),
    201,
  );
  const userId = registered.body.user.id as string;
  const browserSession = sessionOf(registered.body);

  // 2. A wrong password, from somewhere else.
  sent(
    await request(t.app)
      .post('/api/auth/login')
      .set(as('guesser'))
      .send({ email, password: 'tr0ub4dor&3 maybe' }),
    401,
  );

  // 3. A sign-in on a phone.
  const phone = sent(
    await request(t.app)
      .post('/api/auth/login')
      .set(as('phone'))
      .send({ email, password: PASSWORD }),
    200,
  );
  const phoneSession = sessionOf(phone.body);

  // 4. The phone refreshes (a rotation: no event), then a copy of its first token comes back.
  sent(
    await request(t.app)
      .post('/api/auth/refresh')
      .set(as('phone'))
      .send({ refreshToken: phone.body.refreshToken }),
    200,
  );
  sent(
    await request(t.app)
      .post('/api/auth/refresh')
      .set(as('thief'))
      .send({ refreshToken: phone.body.refreshToken }),
    401,
  );

  // 5. The password is changed from the browser.
  sent(
    await request(t.app)
      .post('/api/auth/change-password')
      .set(as('browser'))
      .set('Authorization', `Bearer ${registered.body.accessToken}`)
      .send({ currentPassword: PASSWORD, newPassword: NEW_PASSWORD }),
    204,
  );

  // 6. An administrator disables the account: the browser session still live is revoked.
  const disabled = sent(
    await asAdmin(t.app, admin).patch(`/users/${userId}`, { disabled: true }).set(as('console')),
    200,
  );

  const trail = await t.db.prisma.auditEvent.findMany({
    where: { OR: [{ subjectUserId: userId }, { actorUserId: userId }] },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    select: {
      type: true,
      actorUserId: true,
      subjectUserId: true,
      sessionId: true,
      userAgent: true,
      requestId: true,
      reason: true,
      data: true,
    },
  });
  const [registerId, failedId, signInId, , reuseId, passwordId, disableId] = requestIds;
  expect(trail).toEqual([
    {
      type: 'user.registered',
      actorUserId: userId,
      subjectUserId: userId,
      sessionId: null,
      userAgent: 'browser',
      requestId: registerId,
      reason: null,
      data: null,
    },
    {
      type: 'signin.failed',
      actorUserId: null,
      subjectUserId: userId,
      sessionId: null,
      userAgent: 'guesser',
      requestId: failedId,
      reason: 'wrong_password',
      data: null,
    },
    {
      type: 'signin.succeeded',
      actorUserId: userId,
      subjectUserId: userId,
      sessionId: phoneSession,
      userAgent: 'phone',
      requestId: signInId,
      reason: null,
      data: null,
    },
    {
      type: 'refresh.reuse_detected',
      actorUserId: null,
      subjectUserId: userId,
      sessionId: phoneSession,
      userAgent: 'thief',
      requestId: reuseId,
      reason: null,
      data: null,
    },
    {
      type: 'password.changed',
      actorUserId: userId,
      subjectUserId: userId,
      sessionId: browserSession,
      userAgent: 'browser',
      requestId: passwordId,
      reason: null,
      data: null,
    },
    {
      type: 'account.disabled',
      actorUserId: admin.userId,
      subjectUserId: userId,
      sessionId: sessionOf(admin),
      userAgent: 'console',
      requestId: disableId,
      reason: null,
      data: { sessionsRevoked: [browserSession] },
    },
  ]);
  expect(disabled.body.user).toMatchObject({ id: userId });

  // No secret anywhere in the trail: passwords, tokens, hashes.
  const text = JSON.stringify(
    await t.db.prisma.auditEvent.findMany({
      where: { OR: [{ subjectUserId: userId }, { actorUserId: userId }] },
    }),
  );
  for (const secret of [PASSWORD, NEW_PASSWORD, 'tr0ub4dor', phone.body.refreshToken]) {
    expect(text).not.toContain(secret);
  }
  expect(text).not.toMatch(/eyJ[\w-]+\.[\w-]+/);
  expect(text).not.toContain('$argon2');

  // The administrators' query tells the same story, newest first.
  const log = await asAdmin(t.app, admin).get(`/audit?userId=${userId}`);
  expect(log.status).toBe(200);
  expect(log.body.events.map((event: { type: string }) => event.type)).toEqual(
    trail.map((event) => event.type).reverse(),
  );
  expect(log.body.nextCursor).toBeNull();
});
