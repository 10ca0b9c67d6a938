import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { createAuthRepository } from '../../../src/auth/auth.repository';
import { createAuthService } from '../../../src/auth/auth.service';
import { createPasswordHasher, type PasswordHasher } from '../../../src/auth/password-hasher';
import { createPasswordPolicy } from '../../../src/auth/password-policy';
import { startTokenPurge } from '../../../src/auth/token-purge';
import { TokenService } from '../../../src/auth/token-service';
import { eventually } from '../../../harness/eventually';
import { createTestApp, type TestApp } from '../../helpers/test-app';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const client = { userAgent: 'jest', ip: '127.0.0.1', requestId: null };

/** The real hasher, counting how each login spends its time. */
function countingHasher() {
  const real = createPasswordHasher();
  const calls = { verify: 0, verifyDummy: 0, hash: 0 };
  const hasher: PasswordHasher = {
    hash: (password) => (calls.hash++, real.hash(password)),
    verify: (hash, password) => (calls.verify++, real.verify(hash, password)),
    needsRehash: (hash) => real.needsRehash(hash),
    verifyDummy: (password) => (calls.verifyDummy++, real.verifyDummy(password)),
  };
  return { hasher, calls };
}

function service(passwords: PasswordHasher) {
  return createAuthService({
    repository: createAuthRepository(t.db),
    tokens: new TokenService(t.config.jwt),
    passwords,
    passwordPolicy: createPasswordPolicy(),
    logger: t.logger,
    sessionMaxAgeSeconds: t.config.auth.sessionMaxAgeSeconds,
  });
}

describe('login timing', () => {
  it('runs one full argon2 verification for an unknown email, as for a known one', async () => {
    const { hasher, calls } = countingHasher();
    const auth = service(hasher);
    await auth.register(
      { email: 'known@example.com', password: 'the password', name: null },
      client,
    );

    await expect(
      auth.login({ email: 'known@example.com', password: 'wrong guess' }, client),
    ).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
    expect(calls).toMatchObject({ verify: 1, verifyDummy: 0 });
    await expect(
      auth.login({ email: 'unknown@example.com', password: 'wrong guess' }, client),
    ).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
    expect(calls).toMatchObject({ verify: 1, verifyDummy: 1 });
  });

  it('upgrades a hash made with older parameters when the user logs in', async () => {
    const { hasher } = countingHasher();
    const auth = service(hasher);
    const { user } = await auth.register(
      { email: 'legacy@example.com', password: 'the password', name: null },
      client,
    );
    const { hash } = await import('@node-rs/argon2');
    // A hash with weaker (older) parameters, as a previous version of the app would have stored.
    await t.db.prisma.user.update({
      where: { id: user.id },
      data: { passwordHash: await hash('the password', { memoryCost: 8192, timeCost: 1 }) },
    });
    await auth.login({ email: 'legacy@example.com', password: 'the password' }, client);
    const stored = await t.db.prisma.user.findUniqueOrThrow({ where: { id: user.id } });
    expect(stored.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });
});

describe('purge of expired sessions and tokens', () => {
  it('deletes expired tokens and dead sessions, keeping spent tokens still needed for reuse detection', async () => {
    const auth = service(createPasswordHasher());
    const repository = createAuthRepository(t.db);
    const live = await auth.register(
      { email: `live-${randomUUID()}@example.com`, password: 'the password', name: null },
      client,
    );
    // Unconfirmed addresses may sign in outside production: registering starts a session.
    if (!('refreshToken' in live)) throw new Error('registration started no session');
    const rotated = await auth.refresh(live.refreshToken);
    const past = new Date(Date.now() - 60_000);

    // A second session of the same user, then aged past its lifetime.
    const old = await auth.login({ email: live.user.email, password: 'the password' }, client);
    const expiredSessionId = (jwt.decode(old.refreshToken) as { sid: string }).sid;
    await t.db.prisma.session.update({
      where: { id: expiredSessionId },
      data: { expiresAt: past },
    });
    await t.db.prisma.refreshToken.updateMany({
      where: { sessionId: expiredSessionId },
      data: { expiresAt: past },
    });

    const deleted = await repository.purgeExpired(
      new Date(),
      new Date(Date.now() - t.config.jwt.refreshTtlSeconds * 1000),
    );
    expect(deleted).toBeGreaterThanOrEqual(2);
    expect(await t.db.prisma.session.findUnique({ where: { id: expiredSessionId } })).toBeNull();

    // The spent token of the live session is kept: presenting it again is still detected as reuse.
    await expect(auth.refresh(live.refreshToken)).rejects.toMatchObject({
      code: 'REFRESH_TOKEN_REUSED',
    });
    await expect(auth.refresh(rotated.refreshToken)).rejects.toMatchObject({
      code: 'REFRESH_TOKEN_REVOKED',
    });
  });

  it('runs on its interval and stops when asked', async () => {
    let runs = 0;
    const stop = startTokenPurge({
      repository: { purgeExpired: () => Promise.resolve(++runs) },
      logger: t.logger,
      intervalMs: 20,
      refreshTtlSeconds: 60,
    });
    await eventually(() => runs >= 2, { describe: 'two purge runs' });
    stop();
    const seen = runs;
    // Five intervals: a purge still scheduled would have run by then.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(runs).toBe(seen);
  });
});
