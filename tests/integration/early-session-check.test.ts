import request from 'supertest';
import type { SqlStatement } from '../../src/db/database';
import { registerAccount, type Account } from '../helpers/auth-client';
import { STEADY_LIMITS } from '../helpers/limits';
import { createTestApp, type TestApp } from '../helpers/test-app';

/**
 * An authenticated request starts its session check while the API-wide limit is counted, when
 * its client had room under that limit (RATE_LIMIT_API_OVERLAP_MARGIN), and only then: a flood
 * over the limit must not cost a database read per request.
 */
const LIMIT = 30;
const MARGIN = 5;

describe('the session check overlapping the API-wide limit (memory store, one process)', () => {
  let t: TestApp;
  let account: Account;
  /** Session checks sent to the database so far. */
  let checks = 0;
  /** What RateLimiters.apiHasRoom answered so far. */
  const room = { yes: 0, no: 0 };

  beforeAll(async () => {
    t = await createTestApp({
      ...STEADY_LIMITS,
      RATE_LIMIT_API_MAX: String(LIMIT),
      RATE_LIMIT_API_OVERLAP_MARGIN: String(MARGIN),
      TRUST_PROXY: '1',
      // Every check a database read, so the reads counted here are the checks the requests made.
      AUTH_SESSION_CACHE_MS: '0',
    });
    // Counted where the repository sends them: the driver's runner (a spy, not a stand-in).
    const { sql } = t.db;
    const query = sql.query.bind(sql);
    sql.query = <Row>(statement: SqlStatement, values: readonly unknown[]) => {
      if (statement.name === 'auth_check_session') checks += 1;
      return query<Row>(statement, values);
    };
    const { limits } = t.root;
    const hasRoom = limits.apiHasRoom.bind(limits);
    limits.apiHasRoom = (req) => {
      const answer = hasRoom(req);
      room[answer ? 'yes' : 'no'] += 1;
      return answer;
    };
    // Registered from an address of its own: the flooding address starts with a full allowance.
    account = await registerAccount(t.app);
  });
  afterAll(() => t.close());

  const meFrom = (ip: string) =>
    request(t.app)
      .get('/api/auth/me')
      .set('X-Forwarded-For', ip)
      .set('Authorization', `Bearer ${account.accessToken}`);

  const statuses = (replies: request.Response[]) => {
    const counts: Record<number, number> = {};
    for (const reply of replies) counts[reply.status] = (counts[reply.status] ?? 0) + 1;
    return counts;
  };

  it('checks after the count for an unknown client, alongside it once the client has room', async () => {
    const ip = '198.51.100.1';
    const before = { ...room };
    expect((await meFrom(ip)).status).toBe(200);
    // Nothing known of this client yet: the check waited for the count.
    expect(room.no - before.no).toBe(1);
    expect(room.yes - before.yes).toBe(0);
    for (let i = 0; i < 3; i++) expect((await meFrom(ip)).status).toBe(200);
    // 29, 28 and 27 left, each above the margin: the check started at once.
    expect(room.yes - before.yes).toBe(3);
  });

  it('a flood over the limit costs one session check per request let through, none per refusal', async () => {
    const ip = '198.51.100.2';
    // The client becomes known, with room: the flood starts with early checks.
    for (let i = 0; i < 5; i++) expect((await meFrom(ip)).status).toBe(200);
    const checksBefore = checks;
    const roomBefore = { ...room };

    const flood = await Promise.all(Array.from({ length: 3 * LIMIT }, () => meFrom(ip)));
    expect(statuses(flood)).toEqual({ 200: LIMIT - 5, 429: 3 * LIMIT - (LIMIT - 5) });
    for (const reply of flood.filter((r) => r.status === 200))
      expect(reply.body.user).toMatchObject({ id: account.userId, email: account.email });
    // Exactly one read per reply that needed it: 65 refusals, no read for any of them.
    expect(checks - checksBefore).toBe(LIMIT - 5);
    // Some of the flood did start early, but never more than the room above the margin.
    const early = room.yes - roomBefore.yes;
    expect(early).toBeGreaterThan(0);
    expect(early).toBeLessThanOrEqual(LIMIT - 5 - MARGIN);

    // Over the limit now: a second flood is refused without a single read or early start.
    const again = await Promise.all(Array.from({ length: 2 * LIMIT }, () => meFrom(ip)));
    expect(statuses(again)).toEqual({ 429: 2 * LIMIT });
    expect(checks - checksBefore).toBe(LIMIT - 5);
    expect(room.yes - roomBefore.yes).toBe(early);
  });

  it('an early check still refuses a revoked session, and a bad token gets its usual answer', async () => {
    const ip = '198.51.100.3';
    const other = await registerAccount(t.app);
    const asOther = () =>
      request(t.app)
        .get('/api/auth/me')
        .set('X-Forwarded-For', ip)
        .set('Authorization', `Bearer ${other.accessToken}`);
    for (let i = 0; i < 3; i++) expect((await asOther()).status).toBe(200);
    const yes = room.yes;
    const logout = await request(t.app)
      .post('/api/auth/logout')
      .set('X-Forwarded-For', '198.51.100.4')
      .send({ refreshToken: other.refreshToken });
    expect(logout.status).toBe(204);
    const refused = await asOther();
    expect(room.yes).toBe(yes + 1);
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe('SESSION_REVOKED');
    expect(refused.headers['www-authenticate']).toBe('Bearer error="invalid_token"');

    const forged = await request(t.app)
      .get('/api/auth/me')
      .set('X-Forwarded-For', ip)
      .set('Authorization', `Bearer ${other.accessToken.slice(0, -2)}xx`);
    expect(forged.status).toBe(401);
    expect(forged.body.code).toBe('TOKEN_INVALID');
  });

  it('a route limited before its body (change-password) never checks the session early', async () => {
    const ip = '198.51.100.5';
    for (let i = 0; i < 3; i++) expect((await meFrom(ip)).status).toBe(200);
    const { authenticator } = t.root;
    const start = authenticator.start!.bind(authenticator);
    let startedEarly = 0;
    authenticator.start = (req) => {
      startedEarly += 1;
      return start(req);
    };
    const yes = room.yes;
    const res = await request(t.app)
      .post('/api/auth/change-password')
      .set('X-Forwarded-For', ip)
      .set('Authorization', `Bearer ${account.accessToken}`)
      .send({
        currentPassword: 'wrong password entirely',
        newPassword: 'another long passphrase 42',
      });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('INVALID_CURRENT_PASSWORD');
    // The client had room: its sign-in count went with the API-wide one, its session check after.
    expect(room.yes).toBe(yes + 1);
    expect(startedEarly).toBe(0);
    // The spy sees what it should: a route without limits of its own does start the check early.
    expect((await meFrom(ip)).status).toBe(200);
    expect(startedEarly).toBe(1);
    authenticator.start = start;
  });
});
