import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { eventually } from '../../harness/eventually';
import { request as send } from '../../harness/http-client';
import type { PasswordHasher } from '../../src/auth/password-hasher';
import { registerAccount, type Account } from '../helpers/auth-client';
import { createTestApp, type TestApp } from '../helpers/test-app';

const WRONG = 'not the password at all';
const NEW_PASSWORD = 'a brand new passphrase';
/** A wait longer than any test: an account past its free attempts stays delayed throughout. */
const ONE_HOUR_MS = String(60 * 60_000);

const changePassword = (t: TestApp, account: Account, currentPassword: string, ip?: string) => {
  const req = request(t.app)
    .post('/api/auth/change-password')
    .set('Authorization', `Bearer ${account.accessToken}`);
  return (ip ? req.set('X-Forwarded-For', ip) : req).send({
    currentPassword,
    newPassword: NEW_PASSWORD,
  });
};

const tally = (statuses: number[]) =>
  statuses.reduce<Record<number, number>>(
    (counts, s) => ({ ...counts, [s]: (counts[s] ?? 0) + 1 }),
    {},
  );

describe('change-password counts against the sign-in limits (production limits)', () => {
  let t: TestApp;
  beforeAll(async () => {
    // The production defaults: 20 per address, 5 per (address, account), delay after 10.
    t = await createTestApp({
      RATE_LIMIT_AUTH_MAX: '20',
      RATE_LIMIT_AUTH_EMAIL_MAX: '5',
      RATE_LIMIT_AUTH_WINDOW_MS: ONE_HOUR_MS,
      SIGN_IN_DELAY_AFTER_FAILURES: '10',
      SIGN_IN_CONCURRENCY_PER_ACCOUNT: '2',
    });
  });
  afterAll(() => t.close());

  it('answers 429 long before 21 wrong current passwords from one address', async () => {
    const account = await registerAccount(t.app);
    const replies: request.Response[] = [];
    for (let i = 0; i < 21; i++) replies.push(await changePassword(t, account, WRONG));
    // 5 guesses reach the password check (403); every later one is refused by the limits.
    expect(tally(replies.map((res) => res.status))).toEqual({ 403: 5, 429: 16 });
    const refused = replies[5]!;
    expect(refused.body).toMatchObject({ code: 'RATE_LIMITED' });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // Counted per (address, user); the per-address limit (20, registration included) follows.
    expect(refused.headers.ratelimit).toContain('"auth-account"; r=0;');
    expect(replies[20]!.headers.ratelimit).toContain('"auth"; r=0;');
  });
});

describe('per-account progressive delay across addresses', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      TRUST_PROXY: '1',
      // Each address has room to spare: only the per-account delay applies.
      RATE_LIMIT_AUTH_MAX: '100',
      RATE_LIMIT_AUTH_EMAIL_MAX: '100',
      SIGN_IN_DELAY_AFTER_FAILURES: '3',
      SIGN_IN_DELAY_BASE_MS: ONE_HOUR_MS,
      SIGN_IN_DELAY_MAX_MS: ONE_HOUR_MS,
    });
  });
  afterAll(() => t.close());

  const login = (email: string, password: string, ip: string) =>
    request(t.app).post('/api/auth/login').set('X-Forwarded-For', ip).send({ email, password });

  it('lets 20 addresses x 3 guesses at one account run only 3 guesses, then answers SIGN_IN_DELAYED with Retry-After', async () => {
    const victim = await registerAccount(t.app);
    const statuses: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 1; i <= 20; i++) {
        const res = await login(victim.email, WRONG, `198.51.100.${i}`);
        statuses.push(res.status);
        if (res.status === 429) {
          expect(res.body).toMatchObject({ code: 'SIGN_IN_DELAYED', status: 429 });
          const retryAfter = Number(res.headers['retry-after']);
          expect(retryAfter).toBeGreaterThan(3000);
          expect(retryAfter).toBeLessThanOrEqual(3600);
        }
      }
    }
    expect(tally(statuses)).toEqual({ 401: 3, 429: 57 });

    // The owner is slowed too (the price of no lockout: never longer than SIGN_IN_DELAY_MAX_MS).
    const owner = await login(victim.email, victim.password, '203.0.113.1');
    expect(owner.status).toBe(429);
    // The delay is per account: others sign in as usual from the same addresses.
    const other = await registerAccount(t.app);
    expect((await login(other.email, other.password, '198.51.100.1')).status).toBe(200);
  });

  it('counts an unknown email like a known one, so the delay reveals nothing', async () => {
    const statuses: number[] = [];
    for (let i = 1; i <= 5; i++) {
      statuses.push((await login('nobody@example.com', WRONG, `192.0.2.${i}`)).status);
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
  });

  it('starts the count afresh after a successful sign-in', async () => {
    const account = await registerAccount(t.app);
    for (let i = 0; i < 2; i++)
      expect((await login(account.email, WRONG, '192.0.2.50')).status).toBe(401);
    expect((await login(account.email, account.password, '192.0.2.51')).status).toBe(200);
    // Three more failures are free again: without the reset the second would be delayed.
    for (let i = 0; i < 3; i++)
      expect((await login(account.email, WRONG, '192.0.2.52')).status).toBe(401);
    expect((await login(account.email, WRONG, '192.0.2.53')).status).toBe(429);
  });

  it('applies to change-password from many addresses, keyed by the authenticated user', async () => {
    const account = await registerAccount(t.app);
    const statuses: number[] = [];
    for (let i = 1; i <= 10; i++) {
      statuses.push((await changePassword(t, account, WRONG, `203.0.113.${i}`)).status);
    }
    expect(statuses).toEqual([403, 403, 403, ...Array<number>(7).fill(429)]);
  });
});

describe('hasher fairness: one account cannot fill the password hasher queue', () => {
  let t: TestApp;
  let server: Server;
  let url: string;
  /** Password checks that reached the hasher, held there until the test releases them. */
  const held: Array<{ password: string; release: () => void }> = [];
  let holding = true;

  /** Holds every verification at the door of the real hasher while `holding`. */
  const gate = (real: PasswordHasher): PasswordHasher => ({
    ...real,
    async verify(hash, password) {
      if (holding) await new Promise<void>((release) => held.push({ password, release }));
      return real.verify(hash, password);
    },
  });

  beforeAll(async () => {
    t = await createTestApp(
      {
        // Clients connect directly: the loopback address is the client.
        TRUST_PROXY: '0',
        PASSWORD_HASH_CONCURRENCY: '1',
        SIGN_IN_CONCURRENCY_PER_ACCOUNT: '2',
      },
      { wrapPasswordHasher: gate },
    );
    server = t.app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    holding = false;
    for (const check of held) check.release();
    await new Promise((resolve) => server.close(resolve));
    await t.close();
  });

  it('admits 2 of 250 concurrent change-password requests of one user into the hasher, refuses the rest at once, and still serves another user', async () => {
    const attacker = await registerAccount(t.app);
    const victim = await registerAccount(t.app);

    const flood = Array.from({ length: 250 }, (_, i) =>
      send(`${url}/api/auth/change-password`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${attacker.accessToken}` },
        json: { currentPassword: `${WRONG} ${i}`, newPassword: NEW_PASSWORD },
        timeoutMs: 120_000,
      }),
    );
    const answered: Array<{ status: number; body: unknown; retryAfter: unknown }> = [];
    for (const reply of flood) {
      void reply.then((res) =>
        answered.push({
          status: res.status,
          body: res.body,
          retryAfter: res.headers['retry-after'],
        }),
      );
    }
    // 248 refused without hashing, while two are held in the hasher.
    await eventually(() => answered.length === 248 && held.length === 2, {
      describe: '248 refusals and 2 held checks',
      timeoutMs: 60_000,
    });
    for (const refusal of answered) {
      expect(refusal).toEqual({
        status: 429,
        body: expect.objectContaining({ code: 'TOO_MANY_CONCURRENT_ATTEMPTS' }),
        retryAfter: '1',
      });
    }
    expect(held.every((check) => check.password.startsWith(WRONG))).toBe(true);

    // Another user's login is admitted into the hasher right behind them.
    const victimLogin = send(`${url}/api/auth/login`, {
      method: 'POST',
      json: { email: victim.email, password: victim.password },
      timeoutMs: 120_000,
    });
    await eventually(() => held.find((check) => check.password === victim.password), {
      describe: "the other user's check in the hasher",
    });
    expect(held).toHaveLength(3);

    holding = false;
    for (const check of held) check.release();
    expect((await victimLogin).status).toBe(200);
    const last = await Promise.all(flood);
    expect(tally(last.map((res) => res.status))).toEqual({ 403: 2, 429: 248 });
    // Nothing else of the attacker's reached the hasher.
    expect(held.filter((check) => check.password.startsWith(WRONG))).toHaveLength(2);
  });
});
