import jwt from 'jsonwebtoken';
import { request } from '../../harness/http-client';
import { withClient, type Database } from '../../harness/postgres';
import { pastSessionCache, startApp, type AppProcess } from '../helpers/built-app';
import { migratedDatabase } from '../helpers/e2e-database';

const SECRETS = {
  JWT_ACCESS_SECRET: 'e2e-access-secret-0123456789-abcdefghijklmnop',
  JWT_REFRESH_SECRET: 'e2e-refresh-secret-0123456789-abcdefghijklmno',
};

const post = (app: AppProcess, route: string, json?: unknown, accessToken?: string) =>
  request(`${app.url}/api/auth${route}`, {
    method: 'POST',
    headers: accessToken ? { Authorization: `Bearer ${accessToken}` } : {},
    json,
  });

describe('auth over real PostgreSQL with two replicas', () => {
  let database: Database;
  let a: AppProcess;
  let b: AppProcess;

  beforeAll(async () => {
    database = await migratedDatabase();
    const env = { DATABASE_URL: database.url, ...SECRETS };
    [a, b] = await Promise.all([startApp({ env }), startApp({ env })]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await database?.drop();
  });

  it('lets exactly one of 20 concurrent refreshes with one token succeed; the reuse that follows revokes the session', async () => {
    const registered = await post(a, '/register', {
      email: 'race@example.com',
      password: 'correct horse battery',
    });
    expect(registered.status).toBe(201);
    const { refreshToken } = registered.body as { refreshToken: string };

    // Spread over both replicas: the database, not a process, decides the winner.
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => post(i % 2 ? a : b, '/refresh', { refreshToken })),
    );
    const statuses = responses.map((res) => res.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(1);
    expect(statuses.filter((status) => status === 401)).toHaveLength(19);
    expect(statuses.filter((status) => status >= 500)).toEqual([]);

    const winner = responses[statuses.indexOf(200)]!.body as { refreshToken: string };
    const reuse = await post(a, '/refresh', { refreshToken });
    expect(reuse.status).toBe(401);
    const afterReuse = await post(b, '/refresh', { refreshToken: winner.refreshToken });
    expect(afterReuse.status).toBe(401);
    expect(afterReuse.body).toMatchObject({ code: 'REFRESH_TOKEN_REVOKED' });

    const sid = (jwt.decode(refreshToken) as { sid: string }).sid;
    await withClient(database.url, async (client) => {
      const { rows } = await client.query('SELECT revoked_at FROM sessions WHERE id = $1', [sid]);
      expect(rows[0].revoked_at).toBeInstanceOf(Date);
      // One token spent by the winner, one created: no duplicate successors.
      const tokens = await client.query(
        'SELECT count(*)::int AS n FROM refresh_tokens WHERE session_id = $1',
        [sid],
      );
      expect(tokens.rows[0].n).toBe(2);
      // Each reuse answered REFRESH_TOKEN_REUSED was recorded, in the statement that revoked:
      // as many refresh.reuse_detected events as such answers, no more, no fewer.
      const reusedAnswers = [...responses, reuse].filter(
        (res) => (res.body as { code?: string }).code === 'REFRESH_TOKEN_REUSED',
      ).length;
      expect(reusedAnswers).toBeGreaterThanOrEqual(1);
      const events = await client.query(
        `SELECT count(*)::int AS n FROM audit_events
         WHERE type = 'refresh.reuse_detected' AND session_id = $1`,
        [sid],
      );
      expect(events.rows[0].n).toBe(reusedAnswers);
    });
  });

  it('accepts on one replica an access token issued by the other; logout-all on one stops refresh on the other', async () => {
    const registered = await post(a, '/register', {
      email: 'roaming@example.com',
      password: 'correct horse battery',
    });
    const tokens = registered.body as { accessToken: string; refreshToken: string };
    const second = (
      await post(b, '/login', { email: 'roaming@example.com', password: 'correct horse battery' })
    ).body as { refreshToken: string };

    const me = await request(`${b.url}/api/auth/me`, {
      headers: { Authorization: `Bearer ${tokens.accessToken}` },
    });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ user: { email: 'roaming@example.com' } });

    expect((await post(b, '/logout-all', undefined, tokens.accessToken)).status).toBe(204);
    for (const refreshToken of [tokens.refreshToken, second.refreshToken]) {
      const res = await post(a, '/refresh', { refreshToken });
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ code: 'REFRESH_TOKEN_REVOKED' });
    }
  });

  it('refuses an access token on one replica within AUTH_SESSION_CACHE_MS of its session ending on the other, and at once on that other', async () => {
    const credentials = { email: 'revoked@example.com', password: 'correct horse battery' };
    const phone = (await post(a, '/register', credentials)).body as {
      accessToken: string;
      refreshToken: string;
    };
    const laptop = (await post(b, '/login', credentials)).body as { accessToken: string };
    const meOn = (app: AppProcess, token: string) =>
      request(`${app.url}/api/auth/me`, { headers: { Authorization: `Bearer ${token}` } });
    // Both replicas have just checked both sessions: each may answer the next checks from memory.
    for (const app of [a, b]) {
      expect((await meOn(app, phone.accessToken)).status).toBe(200);
      expect((await meOn(app, laptop.accessToken)).status).toBe(200);
    }

    // Logout on A: A refuses the session's access token on the very next request, B once
    // AUTH_SESSION_CACHE_MS has passed.
    expect((await post(a, '/logout', { refreshToken: phone.refreshToken })).status).toBe(204);
    const onA = await meOn(a, phone.accessToken);
    expect([onA.status, (onA.body as { code: string }).code]).toEqual([401, 'SESSION_REVOKED']);
    await pastSessionCache();
    const onB = await meOn(b, phone.accessToken);
    expect([onB.status, (onB.body as { code: string }).code]).toEqual([401, 'SESSION_REVOKED']);
    expect((await meOn(a, laptop.accessToken)).status).toBe(200);

    // Logout-all on B: the same, the other way round.
    expect((await post(b, '/logout-all', undefined, laptop.accessToken)).status).toBe(204);
    expect((await meOn(b, laptop.accessToken)).status).toBe(401);
    await pastSessionCache();
    expect((await meOn(a, laptop.accessToken)).status).toBe(401);
  });

  it('never deadlocks or answers 500 when reuse, rotation and revocation race on one session (many rounds)', async () => {
    const credentials = { email: 'racer@example.com', password: 'correct horse battery' };
    const registered = (await post(a, '/register', credentials)).body as { accessToken: string };
    const statuses: number[] = [];
    for (let round = 0; round < 25; round++) {
      const session = (await post(round % 2 ? a : b, '/login', credentials)).body as {
        refreshToken: string;
      };
      const rotated = (await post(a, '/refresh', { refreshToken: session.refreshToken })).body as {
        refreshToken: string;
        accessToken: string;
      };
      // The spent token comes back (reuse revokes the session and its tokens) while its
      // successor rotates and the user logs out and revokes everything. When the rotation
      // locked the token, then the session, and revocation the session, then the tokens, this
      // is where they deadlocked: now every path locks the session first.
      const replies = await Promise.all([
        ...Array.from({ length: 4 }, (_, i) =>
          post(i % 2 ? a : b, '/refresh', { refreshToken: rotated.refreshToken }),
        ),
        ...Array.from({ length: 4 }, (_, i) =>
          post(i % 2 ? b : a, '/refresh', { refreshToken: session.refreshToken }),
        ),
        post(round % 2 ? b : a, '/logout', { refreshToken: rotated.refreshToken }),
        post(round % 2 ? a : b, '/logout-all', undefined, rotated.accessToken),
      ]);
      statuses.push(...replies.map((reply) => reply.status));
      // At most one presentation of the successor rotated.
      expect(
        replies.slice(0, 4).filter((reply) => reply.status === 200).length,
      ).toBeLessThanOrEqual(1);
    }
    expect(statuses.filter((status) => status >= 500)).toEqual([]);
    expect(new Set(statuses)).toEqual(
      new Set([...statuses].filter((s) => [200, 204, 401].includes(s))),
    );
    // Each round's session ended, whichever of reuse, logout or logout-all came first.
    const registeredSid = (jwt.decode(registered.accessToken) as { sid: string }).sid;
    await withClient(database.url, async (client) => {
      const { rows } = await client.query(
        `SELECT count(*)::int AS n FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE u.email = $1 AND s.revoked_at IS NULL AND s.id <> $2`,
        [credentials.email, registeredSid],
      );
      expect(rows[0].n).toBe(0);
    });
  });
});
