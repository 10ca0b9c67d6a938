import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { createPasswordHasher } from '../../../src/auth/password-hasher';
import { registerAccount } from '../../helpers/auth-client';
import { createTestApp, type TestApp } from '../../helpers/test-app';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const COMMON = ['password', '12345678', 'qwertyui', 'iloveyou', 'password1', '11111111'];

function expectTooCommon(res: request.Response) {
  expect(res.status).toBe(400);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ code: 'PASSWORD_TOO_COMMON', status: 400 });
  expect(res.body.detail).toMatch(/most commonly used/);
}

describe('breached-password check', () => {
  it.each(COMMON)('refuses to register with %p, and creates no account', async (password) => {
    const email = `common-${password}@example.com`;
    expectTooCommon(await request(t.app).post('/api/auth/register').send({ email, password }));
    expect(await t.db.prisma.user.count({ where: { email } })).toBe(0);
  });

  it('refuses case and whitespace variants, and accepts a strong password', async () => {
    expectTooCommon(
      await request(t.app)
        .post('/api/auth/register')
        .send({ email: 'variant@example.com', password: ' PassWord1 ' }),
    );
    const res = await request(t.app)
      .post('/api/auth/register')
      .send({ email: 'strong@example.com', password: 'violet tugboat margin 42' });
    expect(res.status).toBe(201);
  });

  it('refuses a common new password on change-password and keeps the old one', async () => {
    const account = await registerAccount(t.app);
    for (const newPassword of COMMON) {
      const res = await request(t.app)
        .post('/api/auth/change-password')
        .set('Authorization', `Bearer ${account.accessToken}`)
        .send({ currentPassword: account.password, newPassword });
      expectTooCommon(res);
    }
    const login = await request(t.app)
      .post('/api/auth/login')
      .send({ email: account.email, password: account.password });
    expect(login.status).toBe(200);
  });

  it('still lets an existing account sign in with a password now on the list', async () => {
    // Accounts created before the check (or before a longer list) must not be locked out.
    const account = await registerAccount(t.app);
    // The hasher stores any password: the policy is checked where a password is set.
    await t.db.prisma.user.update({
      where: { id: account.userId },
      data: { passwordHash: await createPasswordHasher({ concurrency: 1 }).hash('iloveyou') },
    });
    const res = await request(t.app)
      .post('/api/auth/login')
      .send({ email: account.email, password: 'iloveyou' });
    expect(res.status).toBe(200);
  });
});

describe('the optional online breach check, configured by PASSWORD_BREACH_CHECK_URL', () => {
  it('refuses a password the range API knows with PASSWORD_BREACHED', async () => {
    const breached = 'breached but long enough';
    const hash = createHash('sha1').update(breached).digest('hex').toUpperCase();
    // A range API on loopback, answering as api.pwnedpasswords.com does.
    const api = http.createServer((req, res) => {
      const known = req.url === `/range/${hash.slice(0, 5)}` ? `${hash.slice(5)}:7\r\n` : '';
      res.writeHead(200).end(`${known}${'A'.repeat(35)}:0\r\n`);
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    const online = await createTestApp({
      PASSWORD_BREACH_CHECK_URL: `http://127.0.0.1:${(api.address() as AddressInfo).port}/range/`,
    });
    try {
      const refused = await request(online.app)
        .post('/api/auth/register')
        .send({ email: 'online@example.com', password: breached });
      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ code: 'PASSWORD_BREACHED' });
      const accepted = await request(online.app)
        .post('/api/auth/register')
        .send({ email: 'online@example.com', password: 'violet tugboat margin 42' });
      expect(accepted.status).toBe(201);
    } finally {
      await online.close();
      await new Promise((resolve) => api.close(resolve));
    }
  });
});
