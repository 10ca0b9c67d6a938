import { createSecretKey, generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { createTestApp, type TestApp } from '../../helpers/test-app';
import { me, registerAccount, type Account } from '../../helpers/auth-client';

let t: TestApp;
let account: Account;
let sessionId: string;
beforeAll(async () => {
  t = await createTestApp();
  account = await registerAccount(t.app);
  sessionId = (jwt.decode(account.accessToken) as { sid: string }).sid;
});
afterAll(() => t.close());

/** Signs an access token like the app does, with `changes` applied. */
function forge(
  changes: {
    payload?: Record<string, unknown>;
    options?: jwt.SignOptions;
    secret?: jwt.Secret;
  } = {},
) {
  const { jwt: cfg } = t.config;
  return jwt.sign(
    { typ: 'access', sid: sessionId, ...changes.payload },
    changes.secret ?? createSecretKey(Buffer.from(cfg.accessSecret)),
    {
      algorithm: 'HS256',
      subject: account.userId,
      issuer: cfg.issuer,
      audience: cfg.audience,
      expiresIn: 60,
      ...changes.options,
    },
  );
}

const base64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('access tokens on GET /api/auth/me', () => {
  it('accepts a valid token and returns the user', async () => {
    const res = await me(t.app, account.accessToken);
    expect(res.status).toBe(200);
    expect(res.body.user).toMatchObject({ id: account.userId, email: account.email });
  });

  it('accepts a token forged exactly like the app signs them (the test forge is faithful)', async () => {
    expect((await me(t.app, forge())).status).toBe(200);
  });

  it.each(['bearer', 'BEARER', 'bEaReR'])(
    'accepts the scheme written %s (auth schemes are case-insensitive, RFC 9110 11.1)',
    async (scheme) => {
      const res = await request(t.app)
        .get('/api/auth/me')
        .set('Authorization', `${scheme} ${account.accessToken}`);
      expect(res.status).toBe(200);
      expect(res.body.user.id).toBe(account.userId);
    },
  );

  it('answers no token with 401 AUTH_REQUIRED and a WWW-Authenticate challenge', async () => {
    const res = await request(t.app).get('/api/auth/me');
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('AUTH_REQUIRED');
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(
      (
        await request(t.app)
          .get('/api/auth/me')
          .set('Authorization', `Basic ${account.accessToken}`)
      ).body.code,
    ).toBe('AUTH_REQUIRED');
  });

  it('answers an expired token with 401 TOKEN_EXPIRED', async () => {
    // Issued two minutes ago with a one-minute lifetime.
    const expired = forge({
      payload: { iat: Math.floor(Date.now() / 1000) - 120 },
      options: { expiresIn: 60 },
    });
    const res = await me(t.app, expired);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('TOKEN_EXPIRED');
    expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
  });

  const invalid: Array<[string, () => string]> = [
    ['malformed', () => 'not.a.jwt'],
    ['garbage', () => 'eyJhbGciOiJIUzI1NiJ9.%%%.###'],
    ['not yet valid (nbf in the future)', () => forge({ options: { notBefore: 3600 } })],
    ['from another issuer', () => forge({ options: { issuer: 'https://evil.example.com' } })],
    ['for another audience', () => forge({ options: { audience: 'another-service' } })],
    [
      'unsigned (alg: none)',
      () => `${base64url({ alg: 'none', typ: 'JWT' })}.${forge().split('.')[1]}.`,
    ],
    [
      'signed with another HMAC algorithm (HS512)',
      () => forge({ options: { algorithm: 'HS512' } }),
    ],
    [
      'signed with RS256 (algorithm confusion)',
      () =>
        forge({
          secret: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
          options: { algorithm: 'RS256' },
        }),
    ],
    [
      'signed with another secret',
      () =>
        forge({
          secret: createSecretKey(Buffer.from('another-secret-that-is-long-enough-0123456789')),
        }),
    ],
    [
      'with a tampered payload',
      () => {
        const [header, , signature] = forge().split('.');
        return `${header}.${base64url({ typ: 'access', sid: sessionId, sub: 'someone-else', iss: t.config.jwt.issuer, aud: t.config.jwt.audience, exp: 9999999999 })}.${signature}`;
      },
    ],
    ['with a tampered signature', () => `${forge().slice(0, -4)}AAAA`],
    ['of the refresh type', () => account.refreshToken],
    [
      'claiming typ refresh, signed with the access secret',
      () => forge({ payload: { typ: 'refresh' } }),
    ],
    ['without a session id', () => forge({ payload: { sid: undefined } })],
  ];
  it.each(invalid)('answers a token %s with 401 TOKEN_INVALID', async (_case, make) => {
    const res = await me(t.app, make());
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('TOKEN_INVALID');
    expect(res.headers['content-type']).toMatch(/problem\+json/);
  });

  it('answers a valid token of a deleted account with 401 ACCOUNT_NOT_FOUND', async () => {
    const doomed = await registerAccount(t.app);
    await t.db.prisma.user.delete({ where: { id: doomed.userId } });
    const res = await me(t.app, doomed.accessToken);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('ACCOUNT_NOT_FOUND');
    const refreshed = await request(t.app)
      .post('/api/auth/refresh')
      .send({ refreshToken: doomed.refreshToken });
    expect(refreshed.status).toBe(401);
    expect(refreshed.body.code).toBe('REFRESH_TOKEN_REVOKED');
  });

  it('refuses an access token presented as a refresh token', async () => {
    const res = await request(t.app)
      .post('/api/auth/refresh')
      .send({ refreshToken: account.accessToken });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('TOKEN_INVALID');
  });
});
