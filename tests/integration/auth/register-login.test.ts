import request from 'supertest';
import { createTestApp, type TestApp } from '../../helpers/test-app';
import { registerAccount } from '../../helpers/auth-client';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const counts = async () => ({
  users: await t.db.prisma.user.count(),
  sessions: await t.db.prisma.session.count(),
  tokens: await t.db.prisma.refreshToken.count(),
});

describe('POST /api/auth/register', () => {
  it('creates the account and returns the user and a token pair, never the password hash', async () => {
    const res = await request(t.app)
      .post('/api/auth/register')
      .send({ email: 'ada@example.com', password: 'correct horse battery staple', name: 'Ada' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      user: {
        id: expect.any(String),
        email: 'ada@example.com',
        name: 'Ada',
        role: 'user',
        emailVerified: false,
        createdAt: expect.any(String),
      },
      accessToken: expect.stringMatching(/^eyJ/),
      refreshToken: expect.stringMatching(/^eyJ/),
      expiresIn: 900,
    });
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.text).not.toMatch(/argon2|passwordHash/);
    const stored = await t.db.prisma.user.findUniqueOrThrow({
      where: { email: 'ada@example.com' },
    });
    expect(stored.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });

  it('trims and lower-cases the email: A@X.com and a@x.com are one account', async () => {
    const first = await request(t.app)
      .post('/api/auth/register')
      .send({ email: '  Grace@Example.COM ', password: 'long enough pw' });
    expect(first.status).toBe(201);
    expect(first.body.user.email).toBe('grace@example.com');
    const second = await request(t.app)
      .post('/api/auth/register')
      .send({ email: 'grace@example.com', password: 'another password' });
    expect(second.status).toBe(409);
    expect(second.body.code).toBe('EMAIL_TAKEN');
  });

  it('lets exactly one of two concurrent registrations of an email succeed', async () => {
    const body = { email: 'race@example.com', password: 'long enough pw' };
    const statuses = (
      await Promise.all([1, 2].map(() => request(t.app).post('/api/auth/register').send(body)))
    ).map((res) => res.status);
    expect(statuses.sort()).toEqual([201, 409]);
    expect(await t.db.prisma.user.count({ where: { email: 'race@example.com' } })).toBe(1);
  });

  it('accepts 64+ character and Unicode passwords', async () => {
    const long = 'x'.repeat(200);
    const unicode = 'pässwörd-日本語-🔐-ünïcode';
    for (const password of [long, unicode]) {
      const { email } = await registerAccount(t.app, { password });
      const res = await request(t.app).post('/api/auth/login').send({ email, password });
      expect(res.status).toBe(200);
    }
  });

  it('matches a password typed in another Unicode normal form (NFC vs NFD)', async () => {
    const nfc = 'café-crème-brûlée'.normalize('NFC');
    const { email } = await registerAccount(t.app, { password: nfc });
    const res = await request(t.app)
      .post('/api/auth/login')
      .send({ email, password: nfc.normalize('NFD') });
    expect(res.status).toBe(200);
  });

  it.each([
    ['a missing email', { password: 'long enough pw' }, 'email'],
    ['an invalid email', { email: 'not-an-email', password: 'long enough pw' }, 'email'],
    ['a numeric email', { email: 42, password: 'long enough pw' }, 'email'],
    ['a missing password', { email: 'p@example.com' }, 'password'],
    ['a 7-character password', { email: 'p@example.com', password: 'short77' }, 'password'],
    [
      'a password over 1,024 bytes',
      { email: 'p@example.com', password: 'é'.repeat(513) },
      'password',
    ],
    ['a 90 kB password', { email: 'p@example.com', password: 'x'.repeat(90_000) }, 'password'],
    ['a non-string password', { email: 'p@example.com', password: 12345678 }, 'password'],
    ['an empty name', { email: 'p@example.com', password: 'long enough pw', name: '   ' }, 'name'],
    ['an extra field', { email: 'p@example.com', password: 'long enough pw', role: 'admin' }, ''],
  ])('rejects %s with 400 and changes nothing', async (_case, body, field) => {
    const before = await counts();
    const res = await request(t.app).post('/api/auth/register').send(body);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.errors).toContainEqual({ field, message: expect.any(String) });
    expect(await counts()).toEqual(before);
  });

  it('answers a 1 MB password with 413 before any hashing', async () => {
    const res = await request(t.app)
      .post('/api/auth/register')
      .send({ email: 'big@example.com', password: 'x'.repeat(1024 * 1024) });
    expect(res.status).toBe(413);
    expect(res.body.code).toBe('PAYLOAD_TOO_LARGE');
  });
});

describe('POST /api/auth/login', () => {
  it('starts a new session with its own token pair', async () => {
    const account = await registerAccount(t.app);
    const res = await request(t.app)
      .post('/api/auth/login')
      .set('User-Agent', 'Firefox/999')
      .send({ email: account.email.toUpperCase(), password: account.password });
    expect(res.status).toBe(200);
    expect(res.body.user.id).toBe(account.userId);
    expect(res.body.refreshToken).not.toBe(account.refreshToken);
    const sessions = await t.db.prisma.session.findMany({
      where: { userId: account.userId },
      orderBy: { createdAt: 'asc' },
    });
    expect(sessions).toHaveLength(2);
    expect(sessions[1]).toMatchObject({
      userAgent: 'Firefox/999',
      ip: expect.stringMatching(/127\.0\.0\.1|::1/),
    });
  });

  it('gives a wrong password and an unknown email the same status and body', async () => {
    const account = await registerAccount(t.app);
    const wrong = await request(t.app)
      .post('/api/auth/login')
      .send({ email: account.email, password: 'not the password' });
    const unknown = await request(t.app)
      .post('/api/auth/login')
      .send({ email: 'nobody-here@example.com', password: 'not the password' });
    const strip = ({ requestId: _, ...rest }: Record<string, unknown>) => rest;
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(strip(wrong.body)).toEqual(strip(unknown.body));
    expect(wrong.body.code).toBe('INVALID_CREDENTIALS');
  });

  it.each([
    ['a missing password', { email: 'a@example.com' }],
    ['an empty password', { email: 'a@example.com', password: '' }],
    ['a password over 1,024 bytes', { email: 'a@example.com', password: 'x'.repeat(1025) }],
    ['an extra field', { email: 'a@example.com', password: 'whatever pw', remember: true }],
  ])('rejects %s with 400 and starts no session', async (_case, body) => {
    const before = await counts();
    const res = await request(t.app).post('/api/auth/login').send(body);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(await counts()).toEqual(before);
  });
});
