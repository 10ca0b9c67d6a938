import { createHash, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { createTestApp, type TestApp } from '../../helpers/test-app';
import { REFRESH_COOKIE } from '../../../src/auth/refresh-cookie';
import { auditEventParams, rotateRefreshToken } from '../../../src/auth/auth.sql';
import { me, refresh, registerAccount } from '../../helpers/auth-client';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ AUTH_SESSION_MAX_AGE_SECONDS: '600', JWT_REFRESH_TTL_SECONDS: '3600' });
});
afterAll(() => t.close());

const claims = (token: string) =>
  jwt.decode(token) as { sub: string; sid: string; jti: string; exp: number; iat: number };

describe('POST /api/auth/refresh', () => {
  it('returns a new pair for the same session and spends the presented token', async () => {
    const account = await registerAccount(t.app);
    const res = await refresh(t.app, account.refreshToken);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      user: { id: account.userId },
      accessToken: expect.any(String),
      refreshToken: expect.any(String),
      expiresIn: 900,
    });
    expect(res.body.refreshToken).not.toBe(account.refreshToken);
    expect(claims(res.body.refreshToken).sid).toBe(claims(account.refreshToken).sid);
    expect((await me(t.app, res.body.accessToken)).status).toBe(200);

    const spent = await t.db.prisma.refreshToken.findUniqueOrThrow({
      where: { id: claims(account.refreshToken).jti },
    });
    expect(spent.replacedById).toBe(claims(res.body.refreshToken).jti);
    // Only a hash is stored, never the token.
    expect(JSON.stringify(await t.db.prisma.refreshToken.findMany())).not.toContain(
      account.refreshToken,
    );
  });

  it('detects reuse of a spent token: 401 REFRESH_TOKEN_REUSED, and the whole session is revoked', async () => {
    const account = await registerAccount(t.app);
    const rotated = await refresh(t.app, account.refreshToken);
    expect(rotated.status).toBe(200);

    const reuse = await refresh(t.app, account.refreshToken);
    expect(reuse.status).toBe(401);
    expect(reuse.body.code).toBe('REFRESH_TOKEN_REUSED');

    // The thief's or the owner's newer token is dead too: both must log in again.
    const next = await refresh(t.app, rotated.body.refreshToken);
    expect(next.status).toBe(401);
    expect(next.body.code).toBe('REFRESH_TOKEN_REVOKED');
    const session = await t.db.prisma.session.findUniqueOrThrow({
      where: { id: claims(account.refreshToken).sid },
    });
    expect(session.revokedAt).not.toBeNull();
    expect(t.logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        msg: 'refresh token reuse detected: session revoked',
        sessionId: session.id,
      }),
    );
  });

  it('lets exactly one of 50 concurrent refreshes with one token succeed', async () => {
    const account = await registerAccount(t.app);
    const results = await Promise.all(
      Array.from({ length: 50 }, () => refresh(t.app, account.refreshToken)),
    );
    expect(results.filter((res) => res.status === 200)).toHaveLength(1);
    for (const res of results.filter((r) => r.status !== 200)) {
      expect(res.status).toBe(401);
      expect(['REFRESH_TOKEN_REUSED', 'REFRESH_TOKEN_REVOKED']).toContain(res.body.code);
    }
  });

  it('never extends a session past its absolute lifetime', async () => {
    const account = await registerAccount(t.app);
    const session = await t.db.prisma.session.findUniqueOrThrow({
      where: { id: claims(account.refreshToken).sid },
    });
    const sessionEnd = Math.floor(session.expiresAt.getTime() / 1000);
    // The refresh TTL (1 h) is longer than the session's lifetime (10 min): the token stops at the session end.
    expect(claims(account.refreshToken).exp).toBe(sessionEnd);
    const rotated = await refresh(t.app, account.refreshToken);
    expect(claims(rotated.body.refreshToken).exp).toBe(sessionEnd);
    // The row expires with the token.
    const row = await t.db.prisma.refreshToken.findUniqueOrThrow({
      where: { id: claims(rotated.body.refreshToken).jti },
    });
    expect(row.expiresAt.getTime()).toBe(sessionEnd * 1000);
  });

  it('caps a successor at the session end even when the token carries no session-end claim', async () => {
    // A token signed before the `sexp` claim existed: the rotation cannot know the session's end
    // from the token, so the statement caps the successor's row at it.
    const account = await registerAccount(t.app);
    const c = claims(account.refreshToken);
    const { jwt: cfg } = t.config;
    const legacy = jwt.sign(
      { typ: 'refresh', sid: c.sid, iat: c.iat, exp: c.exp },
      cfg.refreshSecret,
      {
        subject: c.sub,
        issuer: cfg.issuer,
        audience: cfg.audience,
        jwtid: c.jti,
      },
    );
    await t.db.prisma.refreshToken.update({
      where: { id: c.jti },
      data: { tokenHash: createHash('sha256').update(legacy).digest('hex') },
    });
    const rotated = await refresh(t.app, legacy);
    expect(rotated.status).toBe(200);
    const session = await t.db.prisma.session.findUniqueOrThrow({ where: { id: c.sid } });
    const row = await t.db.prisma.refreshToken.findUniqueOrThrow({
      where: { id: claims(rotated.body.refreshToken).jti },
    });
    expect(row.expiresAt.getTime()).toBeLessThanOrEqual(session.expiresAt.getTime());
  });

  it('refuses a session past its lifetime with 401 SESSION_EXPIRED', async () => {
    const account = await registerAccount(t.app);
    await t.db.prisma.session.update({
      where: { id: claims(account.refreshToken).sid },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    const res = await refresh(t.app, account.refreshToken);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('SESSION_EXPIRED');
  });

  it('finds the refresh cookie among other cookies, and rotates it', async () => {
    const account = await registerAccount(t.app);
    const res = await request(t.app)
      .post('/api/auth/refresh')
      .set('Origin', t.config.http.corsOrigins[0] ?? '')
      .set('Cookie', `theme=dark; ${REFRESH_COOKIE}=${account.refreshToken}; lang=en`);
    expect(res.status).toBe(200);
    expect((res.headers['set-cookie'] as unknown as string[])[0]).toMatch(
      new RegExp(`^${REFRESH_COOKIE}=eyJ`),
    );
  });

  it('prefers the token in the body over the cookie', async () => {
    const a = await registerAccount(t.app);
    const b = await registerAccount(t.app);
    const res = await request(t.app)
      .post('/api/auth/refresh')
      .set('Cookie', `${REFRESH_COOKIE}=${a.refreshToken}`)
      .send({ refreshToken: b.refreshToken });
    expect(res.body.user.id).toBe(b.userId);
  });

  it.each([
    ['no token at all', undefined, 400, 'VALIDATION_FAILED'],
    ['an empty token', { refreshToken: '' }, 400, 'VALIDATION_FAILED'],
    ['a non-string token', { refreshToken: 7 }, 400, 'VALIDATION_FAILED'],
    ['an extra field', { refreshToken: 'x', extra: 1 }, 400, 'VALIDATION_FAILED'],
    ['a malformed token', { refreshToken: 'abc.def.ghi' }, 401, 'TOKEN_INVALID'],
  ])('answers %s with a 4xx problem and changes nothing', async (_case, body, status, code) => {
    const before = await t.db.prisma.refreshToken.count();
    const res =
      body === undefined
        ? await request(t.app).post('/api/auth/refresh')
        : await request(t.app).post('/api/auth/refresh').send(body);
    expect(res.status).toBe(status);
    expect(res.body.code).toBe(code);
    expect(await t.db.prisma.refreshToken.count()).toBe(before);
  });

  it('refuses an expired refresh token with 401 TOKEN_EXPIRED', async () => {
    const account = await registerAccount(t.app);
    const { jwt: cfg } = t.config;
    const c = claims(account.refreshToken);
    const expired = jwt.sign(
      { typ: 'refresh', sid: c.sid, iat: c.iat - 7200, exp: c.iat - 3600 },
      cfg.refreshSecret,
      {
        subject: c.sub,
        issuer: cfg.issuer,
        audience: cfg.audience,
        jwtid: c.jti,
      },
    );
    const res = await refresh(t.app, expired);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('TOKEN_EXPIRED');
  });

  it('refuses a token signed by us whose row does not match (hash mismatch)', async () => {
    const account = await registerAccount(t.app);
    const { jwt: cfg } = t.config;
    const c = claims(account.refreshToken);
    // Same jti, different token bytes: a row lookup by id alone would accept it.
    const lookalike = jwt.sign(
      { typ: 'refresh', sid: c.sid, iat: c.iat + 1, exp: c.exp },
      cfg.refreshSecret,
      {
        subject: c.sub,
        issuer: cfg.issuer,
        audience: cfg.audience,
        jwtid: c.jti,
      },
    );
    const res = await refresh(t.app, lookalike);
    expect(res.status).toBe(401);
    expect((await refresh(t.app, account.refreshToken)).status).toBe(200);
  });

  it('reads one token row to rotate, however many tokens the session has spent', async () => {
    const account = await registerAccount(t.app);
    let token = account.refreshToken;
    for (let i = 0; i < 20; i++) token = (await refresh(t.app, token)).body.refreshToken;
    const c = claims(token);
    const hash = createHash('sha256').update(token).digest('hex');
    // The statement's plan as it ran, then rolled back: how many refresh_tokens rows each of its
    // scans read (returned or filtered out). Counted, not timed.
    const rowsRead = await t.db.prisma
      .$transaction(async (tx) => {
        const [row] = await tx.$queryRawUnsafe<Array<{ 'QUERY PLAN': unknown }>>(
          `EXPLAIN (ANALYZE, FORMAT JSON) ${rotateRefreshToken.text}`,
          c.jti,
          hash,
          c.sid,
          c.sub,
          new Date(),
          randomUUID(),
          'successor-hash',
          new Date(Date.now() + 60_000),
          ...auditEventParams(undefined),
        );
        throw new PlanRead(row!['QUERY PLAN']);
      })
      .catch((error: unknown) => {
        if (!(error instanceof PlanRead)) throw error;
        return tokenRowsRead(error.plan);
      });
    // The token itself (checked, then spent). The session's 20 spent tokens are not read: a
    // rotation costs the same on the first day of a session as on its last.
    expect(rowsRead).toBeGreaterThan(0);
    expect(rowsRead).toBeLessThanOrEqual(2);
    expect((await refresh(t.app, token)).status).toBe(200);
  });

  it.each(['logout', 'reuse'])(
    'a %s revokes the live token only, and every token of the session is refused after it',
    async (how) => {
      const account = await registerAccount(t.app);
      const issued = [account.refreshToken];
      for (let i = 0; i < 5; i++) {
        issued.push((await refresh(t.app, issued.at(-1)!)).body.refreshToken);
      }
      const live = issued.at(-1)!;
      const res =
        how === 'logout'
          ? await request(t.app).post('/api/auth/logout').send({ refreshToken: live })
          : await refresh(t.app, issued[2]!);
      expect(res.status).toBe(how === 'logout' ? 204 : 401);

      // The spent rows are left as they were: the session's revocation refuses them.
      const revoked = await t.db.prisma.refreshToken.findMany({
        where: { sessionId: claims(live).sid, revokedAt: { not: null } },
        select: { id: true },
      });
      expect(revoked).toEqual([{ id: claims(live).jti }]);
      for (const token of issued) {
        const again = await refresh(t.app, token);
        expect(again.status).toBe(401);
        expect(again.body.code).toBe('REFRESH_TOKEN_REVOKED');
      }
    },
  );
});

class PlanRead extends Error {
  constructor(readonly plan: unknown) {
    super('rolled back after reading the plan');
  }
}

interface PlanNode {
  'Relation Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}

/** Rows of refresh_tokens that the scans of an `EXPLAIN (ANALYZE, FORMAT JSON)` plan read. */
function tokenRowsRead(explained: unknown): number {
  const plan = (typeof explained === 'string' ? JSON.parse(explained) : explained) as Array<{
    Plan: PlanNode;
  }>;
  const walk = (node: PlanNode): number => {
    const own =
      node['Relation Name'] === 'refresh_tokens' && !('Operation' in node)
        ? ((node['Actual Rows'] ?? 0) +
            (node['Rows Removed by Filter'] ?? 0) +
            (node['Rows Removed by Index Recheck'] ?? 0)) *
          (node['Actual Loops'] ?? 1)
        : 0;
    return own + (node.Plans ?? []).reduce((sum, child) => sum + walk(child), 0);
  };
  return walk(plan[0]!.Plan);
}
