import request from 'supertest';
import { createTestApp, type TestApp } from '../helpers/test-app';

const LIMITS = {
  RATE_LIMIT_API_MAX: '20',
  RATE_LIMIT_AUTH_MAX: '4',
  RATE_LIMIT_AUTH_EMAIL_MAX: '2',
  RATE_LIMIT_REFRESH_MAX: '3',
};

function expectRateLimited(res: request.Response, policy: string, detail: RegExp) {
  expect(res.status).toBe(429);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.body).toMatchObject({
    status: 429,
    code: 'RATE_LIMITED',
    requestId: res.headers['x-request-id'],
  });
  expect(res.body.detail).toMatch(detail);
  const retryAfter = Number(res.headers['retry-after']);
  expect(retryAfter).toBeGreaterThan(0);
  // draft-8: one item per limiter the request went through; the one that refused it is at 0.
  expect(res.headers.ratelimit).toContain(`"${policy}"; r=0; t=`);
}

/**
 * Runs the tests of one app that never log an express-rate-limit validation problem: a check
 * firing falsely would flood real logs with a misleading error.
 */
function expectNoLimiterComplaints(t: TestApp) {
  const complaints = t.logs.filter(
    (line) => line.component === 'rate-limit' && (line.level === 'error' || line.level === 'warn'),
  );
  expect(complaints).toEqual([]);
}

describe('rate limits behind one proxy (TRUST_PROXY=1, memory store)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ ...LIMITS, TRUST_PROXY: '1' });
  });
  afterAll(() => t.close());

  // Each test is its own client: the proxy's X-Forwarded-For names the address.
  const from = (ip: string) => ({ 'X-Forwarded-For': ip });

  it('refuses the request over the limit with a 429 RATE_LIMITED problem, Retry-After and RateLimit headers', async () => {
    for (let i = 1; i <= 20; i++) {
      const res = await request(t.app).get('/api/anything').set(from('203.0.113.1'));
      expect(res.status).toBe(404);
      expect(res.headers.ratelimit).toMatch(new RegExp(`^"api"; r=${20 - i}; t=\\d+$`));
      expect(res.headers['ratelimit-policy']).toMatch(/^"api"; q=20; w=60; pk=:[\w+/=]+:$/);
    }
    const res = await request(t.app)
      .get('/api/anything')
      .set(from('203.0.113.1'))
      .set('X-Request-Id', 'over-the-limit');
    expectRateLimited(res, 'api', /Too many requests/);
    expect(res.body.instance).toBe('/api/anything');
    expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(t.logs).toContainEqual(
      expect.objectContaining({ reqId: 'over-the-limit', status: 429, code: 'RATE_LIMITED' }),
    );
  });

  it('counts each client address on its own', async () => {
    for (let i = 0; i < 21; i++) await request(t.app).get('/api/a').set(from('203.0.113.2'));
    expect((await request(t.app).get('/api/a').set(from('203.0.113.2'))).status).toBe(429);
    expect((await request(t.app).get('/api/a').set(from('203.0.113.3'))).status).toBe(404);
  });

  it('counts an IPv6 client by its /56 subnet, so rotating addresses within it does not help', async () => {
    for (let i = 0; i < 20; i++) {
      const res = await request(t.app)
        .get('/api/a')
        .set(from(`2001:db8:1:2${i.toString(16).padStart(2, '0')}::${i + 1}`));
      expect(res.status).toBe(404);
    }
    const sameSubnet = await request(t.app).get('/api/a').set(from('2001:db8:1:2ff::abcd'));
    expectRateLimited(sameSubnet, 'api', /Too many requests/);
    const otherSubnet = await request(t.app).get('/api/a').set(from('2001:db8:1:100::1'));
    expect(otherSubnet.status).toBe(404);
  });

  it('cuts off attempts against one account (address + normalised email) before the per-address limit', async () => {
    const login = (email: string) =>
      request(t.app)
        .post('/api/auth/login')
        .set(from('198.51.100.1'))
        .send({ email, password: 'x' });
    // Through the limiter to the real route: no such account.
    expect((await login('Victim@Example.com')).status).toBe(401);
    expect((await login('  victim@example.com ')).status).toBe(401);
    const third = await login('VICTIM@EXAMPLE.COM');
    expectRateLimited(third, 'auth-account', /Too many attempts for this account/);

    // Another account from the same address still gets through, until the per-address limit
    // (4, shared by login and register; the refused attempt counted too) is spent.
    const other = await request(t.app)
      .post('/api/auth/register')
      .set(from('198.51.100.1'))
      .send({ email: 'someone-else@example.com', password: 'x' });
    expect(other.status).toBe(400); // through the limiters; the 1-character password is refused
    const fifth = await login('third-account@example.com');
    expectRateLimited(fifth, 'auth', /Too many sign-in or registration attempts/);
  });

  it('keeps the same account usable from another address', async () => {
    const res = await request(t.app)
      .post('/api/auth/login')
      .set(from('198.51.100.2'))
      .send({ email: 'victim@example.com', password: 'x' });
    expect(res.status).toBe(401);
  });

  it('limits sign-in requests without a usable email per address, without failing on them', async () => {
    const attempts = [
      () => request(t.app).post('/api/auth/login'),
      () => request(t.app).post('/api/auth/login').send([]),
      () => request(t.app).post('/api/auth/login').send({ email: 42 }),
      () => request(t.app).post('/api/auth/register').send({ email: '   ' }),
    ];
    for (const attempt of attempts) {
      const res = await attempt().set(from('198.51.100.3'));
      expect(res.status).toBe(400); // through the limiter to validation
      // Not counted per account: there is no account to count.
      expect(res.headers.ratelimit).not.toContain('"auth-account"');
    }
    const malformed = await request(t.app)
      .post('/api/auth/login')
      .set(from('198.51.100.3'))
      .set('Content-Type', 'application/json')
      .send('{"email": ');
    expectRateLimited(malformed, 'auth', /Too many sign-in or registration attempts/);
  });

  it('limits token refreshes per address', async () => {
    for (let i = 0; i < 3; i++) {
      expect(
        (await request(t.app).post('/api/auth/refresh').set(from('198.51.100.4'))).status,
      ).toBe(400); // no token: through the limiter to validation
    }
    const res = await request(t.app).post('/api/auth/refresh').set(from('198.51.100.4'));
    expectRateLimited(res, 'refresh', /Too many token refreshes/);
  });

  it('matches the limited paths however they are spelled (case, trailing slash)', async () => {
    for (const path of ['/api/AUTH/Refresh', '/api/auth/refresh/', '/api/auth/refresh']) {
      await request(t.app).post(path).set(from('198.51.100.5'));
    }
    const res = await request(t.app).post('/api/Auth/Refresh/').set(from('198.51.100.5'));
    expectRateLimited(res, 'refresh', /Too many token refreshes/);
  });

  it('never limits the health probes, even for a client that is rate limited', async () => {
    for (let i = 0; i < 21; i++) await request(t.app).get('/api/a').set(from('203.0.113.9'));
    expect((await request(t.app).get('/api/a').set(from('203.0.113.9'))).status).toBe(429);
    for (let i = 0; i < 30; i++) {
      const live = await request(t.app).get('/health/live').set(from('203.0.113.9'));
      expect(live.status).toBe(200);
      expect(live.headers.ratelimit).toBeUndefined();
    }
    const ready = await request(t.app).get('/health/ready').set(from('203.0.113.9'));
    expect(ready.status).toBe(200);
    expect(ready.body.rateLimit).toEqual({ store: 'memory', scope: 'process' });
  });

  it('logs once, at start-up, which store counts and that limits hold per process', () => {
    const startup = t.logs.filter(
      (line) => line.component === 'rate-limit' && line.level === 'info',
    );
    expect(startup).toHaveLength(1);
    expect(startup[0]).toMatchObject({ store: 'memory', scope: 'process' });
    expect(startup[0]?.msg).toMatch(/per process/);
  });

  it('logs no express-rate-limit validation problem', () => {
    expectNoLimiterComplaints(t);
  });
});

describe('rate limits with clients connecting directly (TRUST_PROXY=0)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ ...LIMITS, TRUST_PROXY: '0' });
  });
  afterAll(() => t.close());

  it('keys on the connection address: a client cannot reset its count with its own X-Forwarded-For', async () => {
    for (let i = 0; i < 20; i++) {
      // The first request also carries the standard Forwarded header, which the app ignores by
      // design (express-rate-limit only inspects the first request of each limiter).
      const res = await request(t.app)
        .get('/api/anything')
        .set('X-Forwarded-For', `192.0.2.${i + 1}`)
        .set('Forwarded', `for=192.0.2.${i + 1}`);
      expect(res.status).toBe(404);
    }
    for (const spoofed of ['192.0.2.200', '10.0.0.1, 192.0.2.201', '2001:db8::1']) {
      const res = await request(t.app).get('/api/anything').set('X-Forwarded-For', spoofed);
      expectRateLimited(res, 'api', /Too many requests/);
    }
    const res = await request(t.app).get('/api/anything').set('Forwarded', 'for=192.0.2.202');
    expectRateLimited(res, 'api', /Too many requests/);
  });

  it('logs no express-rate-limit validation problem, whatever headers clients send', () => {
    expectNoLimiterComplaints(t);
  });
});

describe("a limited route's own count, sent with the API-wide one (RATE_LIMIT_API_OVERLAP_MARGIN)", () => {
  let t: TestApp;
  /** How often RateLimiters.apiHasRoom said yes: each yes sent the route's count early. */
  let early = 0;
  beforeAll(async () => {
    t = await createTestApp({
      ...LIMITS,
      RATE_LIMIT_API_MAX: '100',
      RATE_LIMIT_API_OVERLAP_MARGIN: '5',
      RATE_LIMIT_REFRESH_MAX: '6',
      TRUST_PROXY: '1',
    });
    const { limits } = t.root;
    const hasRoom = limits.apiHasRoom.bind(limits);
    limits.apiHasRoom = (req) => {
      const answer = hasRoom(req);
      if (answer) early += 1;
      return answer;
    };
  });
  afterAll(() => t.close());

  const refresh = (ip: string) =>
    request(t.app).post('/api/auth/refresh').set('X-Forwarded-For', ip);
  /** What a reply's RateLimit header says is left under `policy`. */
  const left = (res: request.Response, policy: string) =>
    Number(new RegExp(`"${policy}"; r=(\\d+)`).exec(String(res.headers.ratelimit))?.[1]);

  it('counts each request once under each limit, one at a time and many at once', async () => {
    const ip = '198.51.100.40';
    // An unknown client: its counts are made one after the other.
    let res = await refresh(ip);
    expect(res.status).toBe(400);
    expect([left(res, 'api'), left(res, 'refresh')]).toEqual([99, 5]);
    expect(early).toBe(0);
    // Known, with room: the refresh count leaves with the API-wide one.
    for (const expected of [
      [98, 4],
      [97, 3],
    ]) {
      res = await refresh(ip);
      expect(res.status).toBe(400);
      expect([left(res, 'api'), left(res, 'refresh')]).toEqual(expected);
    }
    expect(early).toBe(2);
    // Six at once with three refreshes left: three through to validation, three refused.
    const replies = await Promise.all(Array.from({ length: 6 }, () => refresh(ip)));
    expect(replies.map((r) => r.status).sort()).toEqual([400, 400, 400, 429, 429, 429]);
    for (const reply of replies.filter((r) => r.status === 429)) {
      expectRateLimited(reply, 'refresh', /Too many token refreshes/);
    }
    expect(early).toBe(8);
    // Nine requests so far, each counted once by the API-wide limit.
    res = await request(t.app).get('/api/anything').set('X-Forwarded-For', ip);
    expect(left(res, 'api')).toBe(90);
  });

  it('logs no express-rate-limit validation problem', () => {
    expectNoLimiterComplaints(t);
  });
});
