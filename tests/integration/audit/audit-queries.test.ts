import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { startAuditPurge } from '../../../src/audit/audit-purge';
import { createAuditRepository } from '../../../src/audit/audit.repository';
import { eventually } from '../../../harness/eventually';
import { login, registerAccount, type Account } from '../../helpers/auth-client';
import { createTestApp, type TestApp } from '../../helpers/test-app';

/** A user's own activity, the administrators' query of the log, and the retention purge. */

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const sessionOf = (accessToken: string) => (jwt.decode(accessToken) as { sid: string }).sid;
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

const activity = (token: string, query: Record<string, string | number> = {}) =>
  request(t.app).get('/api/auth/me/activity').set(bearer(token)).query(query);
const auditLog = (token: string, query: Record<string, string | number> = {}) =>
  request(t.app).get('/api/admin/audit').set(bearer(token)).query(query);

/** A fresh account made an administrator (the role is read on every request). */
async function admin(): Promise<Account> {
  const account = await registerAccount(t.app);
  await t.db.prisma.user.update({ where: { id: account.userId }, data: { role: 'admin' } });
  return account;
}

/** Every page of a paged endpoint, following `nextCursor`. */
async function allPages(
  fetch: (query: Record<string, string | number>) => request.Test,
  query: Record<string, string | number>,
) {
  const pages: Array<Array<{ id: string }>> = [];
  let cursor: string | null = null;
  do {
    const res = await fetch({ ...query, ...(cursor ? { cursor } : {}) });
    expect(res.status).toBe(200);
    pages.push(res.body.events);
    cursor = res.body.nextCursor;
  } while (cursor);
  return pages;
}

describe('GET /api/auth/me/activity', () => {
  it('needs a token', async () => {
    const res = await request(t.app).get('/api/auth/me/activity');
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('AUTH_REQUIRED');
  });

  it('shows where and when you signed in, and failed attempts on your account, newest first', async () => {
    const account = await registerAccount(t.app);
    const phone = await login(t.app, account, 'phone-app/2.1');
    const failed = await request(t.app)
      .post('/api/auth/login')
      .set('User-Agent', 'unknown-bot')
      .send({ email: account.email, password: 'not my password at all' });
    expect(failed.status).toBe(401);
    // Someone else's sign-in is not in your activity.
    await login(t.app, await registerAccount(t.app));

    const res = await activity(phone.accessToken);
    expect(res.status).toBe(200);
    // The newest events are these two; older ones (the registration) may follow.
    expect(res.body.events.slice(0, 2)).toEqual([
      {
        id: expect.any(String),
        type: 'signin.failed',
        at: expect.any(String),
        actor: 'anonymous',
        ip: expect.any(String),
        userAgent: 'unknown-bot',
        sessionId: null,
        currentSession: false,
        reason: 'wrong_password',
      },
      {
        id: expect.any(String),
        type: 'signin.succeeded',
        at: expect.any(String),
        actor: 'self',
        ip: expect.any(String),
        userAgent: 'phone-app/2.1',
        sessionId: sessionOf(phone.accessToken),
        currentSession: true,
        reason: null,
      },
    ]);
    expect(Date.parse(res.body.events[0].at)).toBeGreaterThanOrEqual(
      Date.parse(res.body.events[1].at),
    );
    // Seen from the first session, that sign-in is another session's.
    const fromFirst = await activity(account.accessToken);
    expect(fromFirst.body.events[1]).toMatchObject({
      type: 'signin.succeeded',
      currentSession: false,
    });
    const mine = [null, sessionOf(account.accessToken), sessionOf(phone.accessToken)];
    for (const event of res.body.events) expect(mine).toContain(event.sessionId);
  });

  it("hides an administrator's address and browser in the events they caused", async () => {
    const account = await registerAccount(t.app);
    const boss = await admin();
    await t.root.audit.record({
      type: 'role.changed',
      actorUserId: boss.userId,
      subjectUserId: account.userId,
      request: { ip: '10.9.9.9', userAgent: 'admin-console', requestId: 'r-1' },
      data: { from: 'user', to: 'user' },
    });
    const res = await activity(account.accessToken);
    expect(res.body.events[0]).toMatchObject({
      type: 'role.changed',
      actor: 'administrator',
      ip: null,
      userAgent: null,
    });
    expect(JSON.stringify(res.body)).not.toContain('10.9.9.9');
    expect(JSON.stringify(res.body)).not.toContain(boss.userId);
  });

  it('pages with cursor and limit: every event once, then no cursor', async () => {
    const account = await registerAccount(t.app);
    for (let i = 0; i < 4; i += 1) await login(t.app, account, `device-${i}`);
    const everything = (await activity(account.accessToken, { limit: 100 })).body.events;
    expect(everything.length).toBeGreaterThanOrEqual(4);

    const pages = await allPages((query) => activity(account.accessToken, query), { limit: 2 });
    expect(pages.slice(0, -1).every((page) => page.length === 2)).toBe(true);
    expect(pages.flat().map((e) => e.id)).toEqual(everything.map((e: { id: string }) => e.id));
  });

  it.each([
    [{ cursor: 'bm90LWEtY3Vyc29y' }, 'cursor'],
    [{ cursor: '%%%' }, 'cursor'],
    [{ limit: 0 }, 'limit'],
    [{ limit: 101 }, 'limit'],
    [{ limit: 'ten' }, 'limit'],
    [{ userId: randomUUID() }, ''],
  ])('refuses %j with 400 VALIDATION_FAILED', async (query, field) => {
    const account = await registerAccount(t.app);
    const res = await activity(account.accessToken, query);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
  });
});

describe('GET /api/admin/audit', () => {
  let boss: Account;
  beforeAll(async () => {
    boss = await admin();
  });

  it('answers 401 without a token and 403 PERMISSION_DENIED to a user', async () => {
    expect((await request(t.app).get('/api/admin/audit')).status).toBe(401);
    const user = await registerAccount(t.app);
    const res = await auditLog(user.accessToken);
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('PERMISSION_DENIED');
  });

  it('lists every event with all its fields, newest first', async () => {
    const account = await registerAccount(t.app);
    const signedIn = await request(t.app)
      .post('/api/auth/login')
      .set('User-Agent', 'desk')
      .send({ email: account.email, password: account.password });
    const res = await auditLog(boss.accessToken, { userId: account.userId, limit: 1 });
    expect(res.status).toBe(200);
    expect(res.body.events).toEqual([
      {
        id: expect.any(String),
        createdAt: expect.any(String),
        type: 'signin.succeeded',
        actorUserId: account.userId,
        subjectUserId: account.userId,
        sessionId: sessionOf(signedIn.body.accessToken),
        ip: expect.any(String),
        userAgent: 'desk',
        requestId: signedIn.headers['x-request-id'],
        reason: null,
        data: null,
      },
    ]);
  });

  it('filters by user (subject or actor), by type, and by time; the filters combine', async () => {
    const target = await registerAccount(t.app);
    const other = await registerAccount(t.app);
    // One batch: the same created_at, ordered by id.
    await t.root.audit.record([
      { type: 'account.disabled', actorUserId: other.userId, subjectUserId: target.userId },
      { type: 'role.changed', actorUserId: target.userId, subjectUserId: other.userId },
      { type: 'account.enabled', actorUserId: other.userId, subjectUserId: other.userId },
    ]);

    const byTarget = await auditLog(boss.accessToken, {
      userId: target.userId,
      type: 'account.disabled,role.changed',
    });
    expect(byTarget.status).toBe(200);
    expect(byTarget.body.events.map((e: { type: string }) => e.type)).toEqual([
      'role.changed',
      'account.disabled',
    ]);

    const both = await request(t.app)
      .get(`/api/admin/audit?userId=${other.userId}&type=account.enabled&type=account.disabled`)
      .set(bearer(boss.accessToken));
    expect(both.body.events.map((e: { type: string }) => e.type)).toEqual([
      'account.enabled',
      'account.disabled',
    ]);

    const at = byTarget.body.events[0].createdAt as string;
    const inWindow = await auditLog(boss.accessToken, {
      userId: other.userId,
      since: at,
      until: new Date(Date.parse(at) + 1).toISOString(),
    });
    expect(inWindow.body.events).toHaveLength(3);
    const before = await auditLog(boss.accessToken, {
      userId: other.userId,
      type: 'account.enabled',
      until: at,
    });
    expect(before.body.events).toEqual([]);
  });

  it('pages stably through events written in the same instant, and new events do not shift the pages', async () => {
    const subject = randomUUID();
    const batch = Array.from({ length: 7 }, (_, i) => ({
      type: 'account.disabled' as const,
      subjectUserId: subject,
      data: { n: i },
    }));
    await t.root.audit.record(batch);
    const first = await auditLog(boss.accessToken, { userId: subject, limit: 3 });
    // Written while the pages are read: newer, so on no later page.
    await t.root.audit.record({ type: 'account.enabled', subjectUserId: subject });
    const rest = await allPages((query) => auditLog(boss.accessToken, query), {
      userId: subject,
      limit: 3,
      cursor: first.body.nextCursor,
    });
    const pages: Array<Array<{ data: { n: number } }>> = [first.body.events, ...rest] as never;
    expect(pages.map((page) => page.length)).toEqual([3, 3, 1]);
    // Written in one batch, read newest first: the order they were written, reversed.
    expect(pages.flat().map((e) => e.data.n)).toEqual([6, 5, 4, 3, 2, 1, 0]);
  });

  it('records each query as audit.queried, with the administrator, their session and the filter', async () => {
    const userId = randomUUID();
    const res = await auditLog(boss.accessToken, { userId, type: 'signin.failed', limit: 5 });
    expect(res.status).toBe(200);
    const events = await t.db.prisma.auditEvent.findMany({
      where: { requestId: res.headers['x-request-id'] as string },
    });
    expect(events).toEqual([
      expect.objectContaining({
        type: 'audit.queried',
        actorUserId: boss.userId,
        subjectUserId: null,
        sessionId: sessionOf(boss.accessToken),
        data: { userId, types: ['signin.failed'], limit: 5 },
      }),
    ]);
    // The administrator's own query shows up in the log they query.
    const queried = await auditLog(boss.accessToken, {
      userId: boss.userId,
      type: 'audit.queried',
    });
    expect(queried.body.events.length).toBeGreaterThanOrEqual(1);
  });

  it.each([
    [{ type: 'signin.nope' }, 'type'],
    [{ type: ',' }, 'type'],
    [{ userId: 'me' }, 'userId'],
    [{ since: 'yesterday' }, 'since'],
    [{ since: '2026-12-02T10:00:00Z', until: '2026-12-02T09:00:00Z' }, 'until'],
    [{ limit: 201 }, 'limit'],
    [{ cursor: Buffer.from('2026-12-02T10:00:00.000Z_x').toString('base64url') }, 'cursor'],
    [{ sort: 'asc' }, ''],
  ])('refuses %j with 400 VALIDATION_FAILED', async (query, field) => {
    const res = await auditLog(boss.accessToken, query);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
  });
});

describe('the OpenAPI document', () => {
  it('describes both routes: the permission, the query parameters, the reply', async () => {
    const res = await request(t.app).get('/docs/openapi.json');
    const query = res.body.paths['/api/admin/audit'].get;
    expect(query['x-permission']).toBe('audit:read');
    expect(query.description).toContain('`audit:read`');
    expect(query.tags).toEqual(['audit']);
    expect(query.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`)).toEqual(
      ['cursor', 'limit', 'userId', 'type', 'since', 'until'].map((name) => `query:${name}`),
    );
    expect(query.responses['403'].description).toContain('`PERMISSION_DENIED`');
    const own = res.body.paths['/api/auth/me/activity'].get;
    expect(own.security).toEqual([{ bearerAuth: [] }]);
    expect(own['x-permission']).toBeUndefined();
    expect(
      own.responses['200'].content['application/json'].schema.properties.events.items.required,
    ).toEqual(expect.arrayContaining(['type', 'at', 'ip', 'userAgent', 'actor']));
  });
});

describe('retention', () => {
  const DAY = 24 * 3600 * 1000;

  /** Events `daysAgo` old, for a subject of their own. */
  async function eventsAged(daysAgo: number, count: number) {
    const subjectUserId = randomUUID();
    await t.db.prisma.auditEvent.createMany({
      data: Array.from({ length: count }, () => ({
        type: 'signin.failed',
        subjectUserId,
        createdAt: new Date(Date.now() - daysAgo * DAY),
      })),
    });
    return subjectUserId;
  }
  const countOf = (subjectUserId: string) =>
    t.db.prisma.auditEvent.count({ where: { subjectUserId } });

  it('the purge deletes, batch by batch, only events older than the cut-off; purgers running at once share the work', async () => {
    const old = await eventsAged(400, 9);
    const recent = await eventsAged(300, 2);
    const repository = createAuditRepository(t.db);
    const cutoff = new Date(Date.now() - 365 * DAY);
    const deleted = await Promise.all([
      repository.purgeOlderThan(cutoff, 2),
      repository.purgeOlderThan(cutoff, 2),
    ]);
    // Other tests' events are all recent: exactly the old ones went, each deleted once.
    expect(deleted[0] + deleted[1]).toBe(9);
    expect(await countOf(old)).toBe(0);
    expect(await countOf(recent)).toBe(2);
  });

  it('the job applies AUDIT_RETENTION_DAYS on its interval, and stops when told', async () => {
    const old = await eventsAged(31, 3);
    const kept = await eventsAged(29, 1);
    const stop = startAuditPurge({
      repository: createAuditRepository(t.db),
      logger: t.logger,
      retentionDays: 30,
      intervalMs: 50,
    });
    try {
      await eventually(() => countOf(old).then((n) => n === 0), {
        describe: 'the purge of events past 30 days',
      });
    } finally {
      stop();
    }
    expect(await countOf(kept)).toBe(1);
  });
});
