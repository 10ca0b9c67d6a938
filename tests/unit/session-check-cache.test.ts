import type { PublicUser, SessionCheck } from '../../src/auth/auth.repository';
import { createSessionCheckCache } from '../../src/auth/session-check-cache';

const user: PublicUser = {
  id: 'u1',
  email: 'a@example.com',
  name: null,
  role: 'user',
  emailVerifiedAt: null,
  createdAt: new Date(0),
};
const wall = new Date('2026-12-02T12:00:00Z');
const active = (expiresAt = new Date(wall.getTime() + 3_600_000)): SessionCheck => ({
  state: 'active',
  user,
  expiresAt,
});

/** A database stand-in whose reads resolve when the test says, counting them. */
function database() {
  const pending: Array<(answer: SessionCheck) => void> = [];
  let answer: SessionCheck = active();
  return {
    reads: 0,
    set(next: SessionCheck) {
      answer = next;
    },
    /** A read answering at once with the current state. */
    read() {
      this.reads += 1;
      return Promise.resolve(answer);
    },
    /** A read that answers when `settle` is called, with the state as it is then. */
    slowRead() {
      this.reads += 1;
      return new Promise<SessionCheck>((resolve) => pending.push(() => resolve(answer)));
    },
    settle() {
      for (const resolve of pending.splice(0)) resolve(answer);
    },
  };
}

function setup(ttlMs = 500, maxEntries?: number) {
  const time = { mono: 0, wall };
  const sources: string[] = [];
  const cache = createSessionCheckCache({
    ttlMs,
    ...(maxEntries ? { maxEntries } : {}),
    clock: () => time.mono,
    now: () => time.wall,
    onCheck: (source) => sources.push(source),
  });
  return { cache, time, sources, db: database() };
}

describe('session check cache', () => {
  it('answers from memory while the read is younger than the TTL, then reads again', async () => {
    const { cache, time, sources, db } = setup(500);
    await cache.check('u1', 's1', () => db.read());
    time.mono = 499;
    await cache.check('u1', 's1', () => db.read());
    expect(db.reads).toBe(1);
    time.mono = 500;
    await cache.check('u1', 's1', () => db.read());
    expect(db.reads).toBe(2);
    expect(sources).toEqual(['database', 'memory', 'database']);
  });

  it('sees a change committed elsewhere once the TTL has passed since the read was sent', async () => {
    const { cache, time, db } = setup(500);
    // The read is sent at 0 and answers at 300: its age counts from 0.
    const first = cache.check('u1', 's1', () => db.slowRead());
    time.mono = 300;
    db.settle();
    expect((await first).state).toBe('active');
    db.set({ state: 'revoked', user });
    time.mono = 499;
    expect((await cache.check('u1', 's1', () => db.read())).state).toBe('active');
    time.mono = 500;
    expect((await cache.check('u1', 's1', () => db.read())).state).toBe('revoked');
  });

  it('keeps no refusal: each one is read again', async () => {
    const { cache, db } = setup(500);
    db.set({ state: 'revoked', user });
    await cache.check('u1', 's1', () => db.read());
    await cache.check('u1', 's1', () => db.read());
    db.set({ state: 'account-gone' });
    expect((await cache.check('u1', 's1', () => db.read())).state).toBe('account-gone');
    expect(db.reads).toBe(3);
  });

  it("never answers past the session's expiry", async () => {
    const { cache, time, db } = setup(500);
    db.set(active(new Date(wall.getTime() + 100)));
    await cache.check('u1', 's1', () => db.read());
    time.wall = new Date(wall.getTime() + 100);
    db.set({ state: 'expired', user });
    expect((await cache.check('u1', 's1', () => db.read())).state).toBe('expired');
  });

  it('forgetUser: the next check reads, and a read in flight before it is not kept', async () => {
    const { cache, db } = setup(500);
    await cache.check('u1', 's1', () => db.read());
    await cache.check('u1', 's2', () => db.read());
    const inFlight = cache.check('u1', 's3', () => db.slowRead());
    cache.forgetUser('u1');
    db.set({ state: 'revoked', user });
    expect((await cache.check('u1', 's1', () => db.read())).state).toBe('revoked');
    expect((await cache.check('u1', 's2', () => db.read())).state).toBe('revoked');
    // Answers with the state it read (revoked by now here), and is not kept either way.
    db.set(active());
    db.settle();
    await inFlight;
    db.set({ state: 'revoked', user });
    expect((await cache.check('u1', 's3', () => db.read())).state).toBe('revoked');
    expect(db.reads).toBe(6);
  });

  it('forgets only that user', async () => {
    const { cache, db } = setup(500);
    await cache.check('u1', 's1', () => db.read());
    await cache.check('u2', 's9', () => db.read());
    cache.forgetUser('u1');
    await cache.check('u2', 's9', () => db.read());
    expect(db.reads).toBe(2);
  });

  it('shares one read among concurrent checks, but joins none sent a TTL ago', async () => {
    const { cache, time, db } = setup(500);
    const checks = Array.from({ length: 50 }, () => cache.check('u1', 's1', () => db.slowRead()));
    expect(db.reads).toBe(1);
    // A read still unanswered after the TTL may predate a change: a new check reads anew.
    time.mono = 500;
    const late = cache.check('u1', 's1', () => db.slowRead());
    expect(db.reads).toBe(2);
    db.settle();
    expect(new Set((await Promise.all([...checks, late])).map((c) => c.state))).toEqual(
      new Set(['active']),
    );
  });

  it('a failed read is not kept: the next check reads again, and the failure reaches every joiner', async () => {
    const { cache, db } = setup(500);
    const failing = () => {
      db.reads += 1;
      return Promise.reject(new Error('connection lost'));
    };
    const both = [cache.check('u1', 's1', failing), cache.check('u1', 's1', failing)];
    await expect(Promise.all(both)).rejects.toThrow('connection lost');
    expect(db.reads).toBe(1);
    expect((await cache.check('u1', 's1', () => db.read())).state).toBe('active');
  });

  it('TTL 0 reads every time; more than 1000 ms is refused', async () => {
    const { cache, db } = setup(0);
    await cache.check('u1', 's1', () => db.read());
    await cache.check('u1', 's1', () => db.read());
    expect(db.reads).toBe(2);
    expect(() => createSessionCheckCache({ ttlMs: 1_001 })).toThrow(RangeError);
  });

  it('holds at most maxEntries sessions: expired ones go first, then all', async () => {
    const { cache, time, db } = setup(500, 3);
    await cache.check('u1', 's1', () => db.read());
    await cache.check('u2', 's2', () => db.read());
    time.mono = 600;
    await cache.check('u3', 's3', () => db.read());
    // Full: the two expired entries make room, u3's stays.
    await cache.check('u4', 's4', () => db.read());
    await cache.check('u3', 's3', () => db.read());
    expect(db.reads).toBe(4);
    await cache.check('u5', 's5', () => db.read());
    // Full with live entries: all dropped, then u6 held.
    await cache.check('u6', 's6', () => db.read());
    await cache.check('u3', 's3', () => db.read());
    expect(db.reads).toBe(7);
  });
});
