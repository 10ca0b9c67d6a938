import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { REFRESH_COOKIE } from '../../../src/auth/refresh-cookie';
import { refresh } from '../../helpers/auth-client';
import { createTestApp, type TestApp } from '../../helpers/test-app';

/**
 * Browsers keep the refresh token in an httpOnly `__Host-` cookie that page scripts never see;
 * other clients get it in the JSON body. The client chooses at sign-in (`tokenDelivery`).
 * Requests that use the cookie must come from an allowed origin (the CSRF check).
 */
const FRONTEND = 'https://app.example.com';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ FRONTEND_URL: FRONTEND });
});
afterAll(() => t.close());

const credentials = () => ({
  email: `cookie-${randomUUID()}@example.com`,
  password: 'correct horse battery staple',
});

const setCookies = (res: request.Response): string[] =>
  (res.headers['set-cookie'] as unknown as string[] | undefined) ?? [];

/** The refresh cookie a reply sets, or undefined. */
function refreshCookieOf(res: request.Response): string | undefined {
  const line = setCookies(res).find((cookie) => cookie.startsWith(`${REFRESH_COOKIE}=`));
  return line?.slice(REFRESH_COOKIE.length + 1).split(';', 1)[0];
}

/** Registers in cookie mode; returns the cookie's value and the access token. */
async function cookieSession() {
  const res = await request(t.app)
    .post('/api/auth/register')
    .send({ ...credentials(), tokenDelivery: 'cookie' });
  expect(res.status).toBe(201);
  const cookie = refreshCookieOf(res);
  if (!cookie) throw new Error('no refresh cookie set');
  return { cookie, accessToken: res.body.accessToken as string };
}

/** A POST that carries the refresh cookie, from `origin` (null: no Origin header). */
const withCookie = (path: string, cookie: string, origin: string | null = FRONTEND) => {
  const req = request(t.app).post(path).set('Cookie', `${REFRESH_COOKIE}=${cookie}`);
  return origin === null ? req : req.set('Origin', origin);
};

describe('token delivery chosen at sign-in', () => {
  it('names the cookie with the __Host- prefix', () => {
    expect(REFRESH_COOKIE).toBe('__Host-refresh_token');
  });

  it.each([
    ['left out (the default)', {}],
    ['"body"', { tokenDelivery: 'body' }],
  ])(
    'returns the refresh token in the body and sets no cookie when tokenDelivery is %s',
    async (_case, choice) => {
      const res = await request(t.app)
        .post('/api/auth/register')
        .send({ ...credentials(), ...choice });
      expect(res.status).toBe(201);
      expect(res.body.refreshToken).toMatch(/^eyJ/);
      expect(setCookies(res)).toEqual([]);
    },
  );

  it('sets only the cookie in cookie mode: the reply body never carries the refresh token', async () => {
    const res = await request(t.app)
      .post('/api/auth/register')
      .send({ ...credentials(), tokenDelivery: 'cookie' });
    expect(res.status).toBe(201);
    expect(res.body).not.toHaveProperty('refreshToken');
    expect(res.body.accessToken).toMatch(/^eyJ/);
    const cookie = refreshCookieOf(res);
    expect(cookie).toMatch(/^eyJ/);
    expect(res.text).not.toContain(cookie);
  });

  it('sets a __Host- cookie: Secure, Path=/, no Domain, httpOnly, SameSite=Strict, with an expiry', async () => {
    const res = await request(t.app)
      .post('/api/auth/register')
      .send({ ...credentials(), tokenDelivery: 'cookie' });
    const line = setCookies(res).find((cookie) => cookie.startsWith(`${REFRESH_COOKIE}=`)) ?? '';
    const attributes = line
      .split(';')
      .slice(1)
      .map((part) => part.trim());
    expect(attributes).toEqual(
      expect.arrayContaining(['Path=/', 'HttpOnly', 'Secure', 'SameSite=Strict']),
    );
    expect(attributes.some((attribute) => /^Expires=/.test(attribute))).toBe(true);
    expect(attributes.some((attribute) => /^Domain=/i.test(attribute))).toBe(false);
  });

  it('logs in in cookie mode the same way', async () => {
    const account = credentials();
    await request(t.app).post('/api/auth/register').send(account);
    const res = await request(t.app)
      .post('/api/auth/login')
      .send({ ...account, tokenDelivery: 'cookie' });
    expect(res.status).toBe(200);
    expect(res.body).not.toHaveProperty('refreshToken');
    expect(refreshCookieOf(res)).toMatch(/^eyJ/);
  });

  it('refuses an unknown delivery mode with 400', async () => {
    const res = await request(t.app)
      .post('/api/auth/register')
      .send({ ...credentials(), tokenDelivery: 'header' });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.errors).toEqual([expect.objectContaining({ field: 'tokenDelivery' })]);
  });

  it('refreshes with the cookie alone: the rotated token goes only into the cookie', async () => {
    const { cookie } = await cookieSession();
    const res = await withCookie('/api/auth/refresh', cookie);
    expect(res.status).toBe(200);
    expect(res.body).not.toHaveProperty('refreshToken');
    expect(res.body.accessToken).toMatch(/^eyJ/);
    const rotated = refreshCookieOf(res);
    expect(rotated).toMatch(/^eyJ/);
    expect(rotated).not.toBe(cookie);
    expect(res.text).not.toContain(rotated);
    // The presented token is spent; the rotated one works.
    expect((await withCookie('/api/auth/refresh', cookie)).body.code).toBe('REFRESH_TOKEN_REUSED');
  });

  it('answers a body-mode refresh in the body, and sets no cookie', async () => {
    const registered = await request(t.app).post('/api/auth/register').send(credentials());
    const res = await refresh(t.app, registered.body.refreshToken);
    expect(res.status).toBe(200);
    expect(res.body.refreshToken).toMatch(/^eyJ/);
    expect(setCookies(res)).toEqual([]);
  });

  it('logs out with the cookie alone, revokes the session and clears the cookie', async () => {
    const { cookie } = await cookieSession();
    const res = await withCookie('/api/auth/logout', cookie);
    expect(res.status).toBe(204);
    const cleared = setCookies(res).find((line) => line.startsWith(`${REFRESH_COOKIE}=;`));
    expect(cleared).toMatch(/Expires=Thu, 01 Jan 1970/);
    expect(cleared).toMatch(/Path=\//);
    expect(cleared).toMatch(/Secure/);
    expect((await withCookie('/api/auth/refresh', cookie)).body.code).toBe('REFRESH_TOKEN_REVOKED');
  });

  it('ignores a refresh cookie without the prefix (one a sibling subdomain or http could plant)', async () => {
    const { cookie } = await cookieSession();
    const res = await request(t.app)
      .post('/api/auth/refresh')
      .set('Origin', FRONTEND)
      .set('Cookie', `refresh_token=${cookie}`);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
  });
});

describe('cross-site request forgery on the cookie endpoints', () => {
  it.each([
    ['another origin of the same site', 'https://evil.app.example.com'],
    ['another port of the frontend host', 'https://app.example.com:8443'],
    ['a plain-http frontend origin', 'http://app.example.com'],
    ['the opaque origin of a sandboxed frame', 'null'],
    ['no Origin at all', null],
  ])(
    'refuses a cookie refresh and logout from %s with 403 CSRF_ORIGIN_REFUSED, changing nothing',
    async (_case, origin) => {
      const { cookie } = await cookieSession();
      for (const path of ['/api/auth/refresh', '/api/auth/logout']) {
        const res = await withCookie(path, cookie, origin);
        expect(res.status).toBe(403);
        expect(res.body.code).toBe('CSRF_ORIGIN_REFUSED');
        expect(setCookies(res)).toEqual([]);
      }
      // Neither rotated nor revoked: the victim's cookie still refreshes.
      expect((await withCookie('/api/auth/refresh', cookie)).status).toBe(200);
    },
  );

  it("accepts a cookie refresh from the API's own origin", async () => {
    const { cookie } = await cookieSession();
    const res = await request(t.app)
      .post('/api/auth/refresh')
      .set('Host', 'api.example.test')
      .set('Origin', 'http://api.example.test')
      .set('Cookie', `${REFRESH_COOKIE}=${cookie}`);
    expect(res.status).toBe(200);
  });

  it('accepts a same-origin request without Origin when the browser says Sec-Fetch-Site: same-origin', async () => {
    const { cookie } = await cookieSession();
    const res = await withCookie('/api/auth/refresh', cookie, null).set(
      'Sec-Fetch-Site',
      'same-origin',
    );
    expect(res.status).toBe(200);
  });

  it.each(['same-site', 'cross-site', 'none'])(
    'refuses a request without Origin whose Sec-Fetch-Site is %s',
    async (site) => {
      const { cookie } = await cookieSession();
      const res = await withCookie('/api/auth/refresh', cookie, null).set('Sec-Fetch-Site', site);
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('CSRF_ORIGIN_REFUSED');
    },
  );

  it('does not check the origin of a token sent in the body: a forger cannot know it', async () => {
    const registered = await request(t.app).post('/api/auth/register').send(credentials());
    const res = await request(t.app)
      .post('/api/auth/refresh')
      .set('Origin', 'https://evil.example.com')
      .send({ refreshToken: registered.body.refreshToken });
    expect(res.status).toBe(200);
  });
});

describe("the API's own origin behind a TLS-terminating proxy (TRUST_PROXY=1)", () => {
  let proxied: TestApp;
  beforeAll(async () => {
    proxied = await createTestApp({ TRUST_PROXY: '1', FRONTEND_URL: FRONTEND });
  });
  afterAll(() => proxied.close());

  async function cookieRefreshFrom(origin: string) {
    const registered = await request(proxied.app)
      .post('/api/auth/register')
      .send({ ...credentials(), tokenDelivery: 'cookie' });
    return request(proxied.app)
      .post('/api/auth/refresh')
      .set('Host', 'api.example.com')
      .set('X-Forwarded-Proto', 'https')
      .set('Origin', origin)
      .set('Cookie', `${REFRESH_COOKIE}=${refreshCookieOf(registered) ?? ''}`);
  }

  it('is https://<Host> when the proxy says the request came over https', async () => {
    expect((await cookieRefreshFrom('https://api.example.com')).status).toBe(200);
  });

  it('is not the plain-http origin of the same host', async () => {
    const res = await cookieRefreshFrom('http://api.example.com');
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('CSRF_ORIGIN_REFUSED');
  });
});
