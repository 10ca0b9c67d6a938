import request from 'supertest';
import {
  asAdmin,
  login,
  registerAccount,
  registerAdmin,
  sessionOf,
  type Account,
} from '../../helpers/admin-client';
import { me, refresh } from '../../helpers/auth-client';
import { createTestApp, type TestApp } from '../../helpers/test-app';

let t: TestApp;
let admin: Account;
beforeAll(async () => {
  t = await createTestApp();
  admin = await registerAdmin(t);
});
afterAll(() => t.close());

const auditOf = (subjectUserId: string) =>
  t.db.prisma.auditEvent.findMany({
    where: {
      subjectUserId,
      type: {
        in: [
          'role.changed',
          'account.disabled',
          'account.enabled',
          'admin.user_deleted',
          'admin.sessions_revoked',
        ],
      },
    },
    orderBy: { createdAt: 'asc' },
  });

describe('disabling an account', () => {
  it('refuses its access tokens at once, its refresh and its sign-in with ACCOUNT_DISABLED; enabling lets it sign in again', async () => {
    const user = await registerAccount(t.app);
    const laptop = await login(t.app, user);
    expect((await me(t.app, user.accessToken)).status).toBe(200);

    const res = await asAdmin(t.app, admin).patch(`/users/${user.userId}`, { disabled: true });
    expect(res.status).toBe(200);
    expect(res.body.user).toMatchObject({ id: user.userId, disabled: true });
    expect(res.body.user.disabledAt).toEqual(expect.any(String));

    for (const session of [user, laptop]) {
      const check = await me(t.app, session.accessToken);
      expect([check.status, check.body.code]).toEqual([403, 'ACCOUNT_DISABLED']);
      const rotated = await refresh(t.app, session.refreshToken);
      expect([rotated.status, rotated.body.code]).toEqual([403, 'ACCOUNT_DISABLED']);
    }
    // Every session was revoked in the same transaction.
    const live = await t.db.prisma.session.count({
      where: { userId: user.userId, revokedAt: null },
    });
    expect(live).toBe(0);

    const signIn = await request(t.app)
      .post('/api/auth/login')
      .send({ email: user.email, password: user.password });
    expect([signIn.status, signIn.body.code]).toEqual([403, 'ACCOUNT_DISABLED']);
    // Without the password, the account's state is not revealed.
    const guess = await request(t.app)
      .post('/api/auth/login')
      .send({ email: user.email, password: 'not the password at all' });
    expect([guess.status, guess.body.code]).toEqual([401, 'INVALID_CREDENTIALS']);

    const enabled = await asAdmin(t.app, admin).patch(`/users/${user.userId}`, { disabled: false });
    expect(enabled.body.user).toMatchObject({ disabled: false, disabledAt: null });
    const again = await login(t.app, user);
    expect((await me(t.app, again.accessToken)).status).toBe(200);
    // The sessions revoked by the disabling stay revoked.
    expect((await me(t.app, laptop.accessToken)).body.code).toBe('SESSION_REVOKED');

    const events = await auditOf(user.userId);
    expect(events.map((event) => event.type)).toEqual(['account.disabled', 'account.enabled']);
    expect(events[0]).toMatchObject({
      actorUserId: admin.userId,
      sessionId: sessionOf(admin),
      data: { sessionsRevoked: expect.arrayContaining([sessionOf(user), sessionOf(laptop)]) },
    });
    expect(events[0]!.requestId).toEqual(expect.any(String));
  });
});

describe('changing a role', () => {
  it('takes effect on the next request of the account’s existing token, both ways', async () => {
    const user = await registerAccount(t.app);
    const list = () =>
      request(t.app).get('/api/admin/users').set('Authorization', `Bearer ${user.accessToken}`);
    expect((await list()).status).toBe(403);

    const promoted = await asAdmin(t.app, admin).patch(`/users/${user.userId}`, { role: 'admin' });
    expect(promoted.body.user.role).toBe('admin');
    expect((await list()).status).toBe(200);
    expect((await me(t.app, user.accessToken)).body.user.role).toBe('admin');

    await asAdmin(t.app, admin).patch(`/users/${user.userId}`, { role: 'user' });
    expect((await list()).body.code).toBe('PERMISSION_DENIED');

    const events = await auditOf(user.userId);
    expect(events.map((event) => [event.type, event.data])).toEqual([
      ['role.changed', { from: 'user', to: 'admin' }],
      ['role.changed', { from: 'admin', to: 'user' }],
    ]);
  });

  it('refuses an unknown role and an empty change with 400', async () => {
    const user = await registerAccount(t.app);
    for (const body of [{ role: 'superuser' }, {}, { disabled: 'yes' }]) {
      const res = await asAdmin(t.app, admin).patch(`/users/${user.userId}`, body);
      expect([res.status, res.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    }
  });
});

describe('deleting a user', () => {
  it('refuses its access and refresh tokens at once and removes its sessions', async () => {
    const user = await registerAccount(t.app);
    const res = await asAdmin(t.app, admin).delete(`/users/${user.userId}`);
    expect(res.status).toBe(204);
    expect((await me(t.app, user.accessToken)).body.code).toBe('ACCOUNT_NOT_FOUND');
    expect((await refresh(t.app, user.refreshToken)).status).toBe(401);
    expect(await t.db.prisma.session.count({ where: { userId: user.userId } })).toBe(0);
    expect((await asAdmin(t.app, admin).get(`/users/${user.userId}`)).body.code).toBe(
      'USER_NOT_FOUND',
    );
    expect((await asAdmin(t.app, admin).delete(`/users/${user.userId}`)).status).toBe(404);
    expect((await auditOf(user.userId)).map((event) => event.type)).toEqual(['admin.user_deleted']);
  });
});

describe('revoking sessions', () => {
  it('revokes one session, then all the others; their tokens are refused at once', async () => {
    const phone = await registerAccount(t.app);
    const laptop = await login(t.app, phone);
    const tablet = await login(t.app, phone);

    const detail = await asAdmin(t.app, admin).get(`/users/${phone.userId}`);
    expect(detail.body.sessions.map((s: { id: string }) => s.id).sort()).toEqual(
      [phone, laptop, tablet].map(sessionOf).sort(),
    );

    const one = await asAdmin(t.app, admin).delete(
      `/users/${phone.userId}/sessions/${sessionOf(laptop)}`,
    );
    expect(one.status).toBe(204);
    expect((await me(t.app, laptop.accessToken)).body.code).toBe('SESSION_REVOKED');
    expect((await me(t.app, phone.accessToken)).status).toBe(200);
    const again = await asAdmin(t.app, admin).delete(
      `/users/${phone.userId}/sessions/${sessionOf(laptop)}`,
    );
    expect([again.status, again.body.code]).toEqual([404, 'SESSION_NOT_FOUND']);
    // Another user's session is not found under this user.
    const other = await registerAccount(t.app);
    const foreign = await asAdmin(t.app, admin).delete(
      `/users/${phone.userId}/sessions/${sessionOf(other)}`,
    );
    expect(foreign.status).toBe(404);
    expect((await me(t.app, other.accessToken)).status).toBe(200);

    const all = await asAdmin(t.app, admin).delete(`/users/${phone.userId}/sessions`);
    expect(all.body).toEqual({ revoked: 2 });
    for (const session of [phone, tablet]) {
      expect((await me(t.app, session.accessToken)).body.code).toBe('SESSION_REVOKED');
      expect((await refresh(t.app, session.refreshToken)).body.code).toBe('REFRESH_TOKEN_REVOKED');
    }
    // The account itself still works.
    expect((await login(t.app, phone)).accessToken).toEqual(expect.any(String));
    expect((await auditOf(phone.userId)).map((event) => event.data)).toEqual([
      { sessionIds: [sessionOf(laptop)] },
      { sessionIds: expect.arrayContaining([sessionOf(phone), sessionOf(tablet)]) },
    ]);
  });
});

describe('the last admin', () => {
  it('cannot be demoted, disabled or deleted, by itself or anyone; with a second admin it can', async () => {
    const app = await createTestApp();
    try {
      const only = await registerAdmin(app);
      const self = asAdmin(app.app, only);
      for (const res of [
        await self.patch(`/users/${only.userId}`, { role: 'user' }),
        await self.patch(`/users/${only.userId}`, { disabled: true }),
        await self.delete(`/users/${only.userId}`),
      ]) {
        expect([res.status, res.body.code]).toEqual([409, 'LAST_ADMIN']);
      }
      // A disabled admin does not count: promoting a disabled account leaves `only` the last.
      const dormant = await registerAccount(app.app);
      await self.patch(`/users/${dormant.userId}`, { role: 'admin', disabled: true });
      expect((await self.patch(`/users/${only.userId}`, { role: 'user' })).body.code).toBe(
        'LAST_ADMIN',
      );
      // Nothing changed, and nothing was audited for the refusals.
      expect((await me(app.app, only.accessToken)).body.user.role).toBe('admin');
      expect(
        await app.db.prisma.auditEvent.count({
          where: { subjectUserId: only.userId, type: { not: 'user.registered' } },
        }),
      ).toBe(0);

      const second = await registerAdmin(app);
      const demoted = await self.patch(`/users/${only.userId}`, { role: 'user' });
      expect(demoted.status).toBe(200);
      expect((await asAdmin(app.app, second).delete(`/users/${second.userId}`)).body.code).toBe(
        'LAST_ADMIN',
      );
    } finally {
      await app.close();
    }
  });

  it('survives two admins demoting each other at the same time: exactly one demotion wins', async () => {
    const app = await createTestApp();
    try {
      const a = await registerAdmin(app);
      const b = await registerAdmin(app);
      const [ab, ba] = await Promise.all([
        asAdmin(app.app, a).patch(`/users/${b.userId}`, { role: 'user' }),
        asAdmin(app.app, b).patch(`/users/${a.userId}`, { role: 'user' }),
      ]);
      const statuses = [ab.status, ba.status].sort();
      // The loser was either refused as the last admin, or already demoted when its request
      // was authenticated (403): never both demoted.
      expect(statuses[0]).toBe(200);
      expect([403, 409]).toContain(statuses[1]);
      const admins = await app.db.prisma.user.count({ where: { role: 'admin' } });
      expect(admins).toBe(1);
    } finally {
      await app.close();
    }
  });
});

describe('listing users', () => {
  it('pages through users by email with a cursor, filtered by prefix, role, disabled and verified', async () => {
    const app = await createTestApp();
    try {
      const boss = await registerAdmin(app);
      const list = (query: string) => asAdmin(app.app, boss).get(`/users?${query}`);
      const emails = [
        'pa_ge-1@example.com',
        'page-2@example.com',
        'page-3@example.com',
        'pagex4@example.com',
        'other@example.com',
      ];
      const accounts: Account[] = [];
      for (const email of emails) accounts.push(await registerAccount(app.app, { email }));
      await asAdmin(app.app, boss).patch(`/users/${accounts[1]!.userId}`, { disabled: true });
      await app.db.prisma.user.update({
        where: { id: accounts[2]!.userId },
        data: { emailVerifiedAt: new Date() },
      });

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await list(`email=PA&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.status).toBe(200);
        expect(res.body.users.length).toBeLessThanOrEqual(2);
        seen.push(...res.body.users.map((user: { email: string }) => user.email));
        cursor = res.body.nextCursor;
        pages++;
      } while (cursor);
      expect(pages).toBe(2);
      expect(seen).toEqual([...emails.slice(0, 4)].sort());

      // `_` is a literal character, not a LIKE wildcard.
      expect((await list('email=pa_')).body.users.map((u: { email: string }) => u.email)).toEqual([
        'pa_ge-1@example.com',
      ]);
      const disabled = await list('disabled=true');
      expect(disabled.body.users.map((u: { email: string }) => u.email)).toEqual([
        'page-2@example.com',
      ]);
      expect(disabled.body.users[0]).toMatchObject({ disabled: true, role: 'user' });
      expect(
        (await list('verified=true')).body.users.map((u: { email: string }) => u.email),
      ).toEqual(['page-3@example.com']);
      expect((await list('role=admin')).body.users.map((u: { id: string }) => u.id)).toEqual([
        boss.userId,
      ]);
      expect((await list('disabled=false&email=page')).body.users).toHaveLength(2);

      for (const query of [
        'limit=0',
        'limit=101',
        'role=root',
        'disabled=yes',
        'cursor=bm90LWFuLWVtYWls',
        'extra=1',
      ]) {
        const res = await list(query);
        expect({ query, status: res.status, code: res.body.code }).toEqual({
          query,
          status: 400,
          code: 'VALIDATION_FAILED',
        });
      }
      // No password hash or other internal field in a listing (replies are strict objects).
      expect(Object.keys(disabled.body.users[0]).sort()).toEqual([
        'createdAt',
        'disabled',
        'disabledAt',
        'email',
        'emailVerified',
        'id',
        'name',
        'role',
      ]);
    } finally {
      await app.close();
    }
  });
});

describe('reading accounts', () => {
  it('is audited too: a listing with the filters used, a view with the account viewed', async () => {
    const user = await registerAccount(t.app);
    const requestId = `admin-read-${user.userId}`;
    const list = await asAdmin(t.app, admin)
      .get(`/users?email=${encodeURIComponent(user.email.slice(0, 6))}&limit=5`)
      .set('X-Request-Id', requestId);
    expect(list.status).toBe(200);
    const view = await asAdmin(t.app, admin).get(`/users/${user.userId}`);
    expect(view.status).toBe(200);

    const listed = await t.db.prisma.auditEvent.findFirstOrThrow({
      where: { type: 'admin.users_listed', requestId },
    });
    expect(listed).toMatchObject({
      actorUserId: admin.userId,
      subjectUserId: null,
      data: { emailPrefix: user.email.slice(0, 6), limit: 5 },
    });
    const viewed = await t.db.prisma.auditEvent.findMany({
      where: { type: 'admin.user_viewed', subjectUserId: user.userId },
    });
    expect(viewed).toEqual([expect.objectContaining({ actorUserId: admin.userId })]);
  });

  it('records nothing for an id that names no user (404)', async () => {
    const missing = '01900000-0000-7000-8000-000000000000';
    expect((await asAdmin(t.app, admin).get(`/users/${missing}`)).status).toBe(404);
    expect(
      await t.db.prisma.auditEvent.count({
        where: { type: 'admin.user_viewed', subjectUserId: missing },
      }),
    ).toBe(0);
  });
});
