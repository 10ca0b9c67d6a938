import { createReadinessCheck } from '../../src/health/readiness';

/** A database whose pings are counted and answered when the test says so. */
function countingDatabase() {
  const pending: Array<() => void> = [];
  const db = {
    pings: 0,
    ping: () => {
      db.pings += 1;
      return new Promise<void>((resolve) => pending.push(resolve));
    },
    answerAll: () => pending.splice(0).forEach((resolve) => resolve()),
  };
  return db;
}

describe('readiness check', () => {
  it('shares one database query among concurrent callers', async () => {
    const db = countingDatabase();
    const readiness = createReadinessCheck({ db, isShuttingDown: () => false });
    const answers = Array.from({ length: 50 }, () => readiness());
    db.answerAll();
    const results = await Promise.all(answers);
    expect(db.pings).toBe(1);
    expect(results.every((result) => result.status === 'ok')).toBe(true);
  });

  it('answers from the last result until cacheMs has passed since it came, then asks again', async () => {
    const db = countingDatabase();
    let clock = 0;
    const readiness = createReadinessCheck({
      db,
      isShuttingDown: () => false,
      cacheMs: 1_000,
      now: () => clock,
    });
    const first = readiness();
    clock = 5_000; // a slow check: the result's age counts from its answer, not its start
    db.answerAll();
    await first;
    clock = 5_999;
    await readiness();
    expect(db.pings).toBe(1);
    clock = 6_000;
    const next = readiness();
    db.answerAll();
    await next;
    expect(db.pings).toBe(2);
  });

  it('reads shutdown on every call: a cached result never hides that shutdown has begun', async () => {
    const db = countingDatabase();
    let shuttingDown = false;
    const readiness = createReadinessCheck({
      db,
      isShuttingDown: () => shuttingDown,
      now: () => 0,
    });
    const first = readiness();
    db.answerAll();
    expect((await first).ready).toBe(true);
    shuttingDown = true;
    const second = await readiness();
    expect(db.pings).toBe(1);
    expect(second).toMatchObject({ status: 'shutting_down', ready: false });
  });

  it('caches nothing with cacheMs 0', async () => {
    const db = countingDatabase();
    const readiness = createReadinessCheck({ db, isShuttingDown: () => false, cacheMs: 0 });
    const first = readiness();
    db.answerAll();
    await first;
    const second = readiness();
    db.answerAll();
    await second;
    expect(db.pings).toBe(2);
  });
});
