import { MemorySignInDelay, waitAfter } from '../../src/rate-limit/sign-in-delay';

const OPTIONS = { afterFailures: 3, baseMs: 1_000, maxMs: 8_000 };

/** A delay on a clock the test moves. */
function delayAt(start = 1_000_000) {
  let now = start;
  const delay = new MemorySignInDelay(OPTIONS, { now: () => now });
  return {
    delay,
    advance: (ms: number) => (now += ms),
    attempt: () => delay.attemptNow('account'),
  };
}

describe('waitAfter', () => {
  it('lets the first attempts run at once, then doubles from the base up to the cap', () => {
    const waits = Array.from({ length: 9 }, (_, i) => waitAfter(i + 1, OPTIONS));
    expect(waits).toEqual([0, 0, 1_000, 2_000, 4_000, 8_000, 8_000, 8_000, 8_000]);
    expect(waitAfter(10_000, OPTIONS)).toBe(8_000);
  });
});

describe('MemorySignInDelay', () => {
  it('admits `afterFailures` attempts at once, then one per growing interval, never longer than the cap', () => {
    const { delay, advance, attempt } = delayAt();
    try {
      expect([attempt(), attempt(), attempt()]).toEqual(Array(3).fill({ allowed: true }));
      expect(attempt()).toEqual({ allowed: false, retryAfterMs: 1_000 });
      advance(999);
      expect(attempt()).toEqual({ allowed: false, retryAfterMs: 1 });
      advance(1);
      expect(attempt()).toEqual({ allowed: true });
      expect(attempt()).toEqual({ allowed: false, retryAfterMs: 2_000 });
      advance(2_000);
      expect(attempt()).toEqual({ allowed: true });
      advance(4_000);
      expect(attempt()).toEqual({ allowed: true });
      // Capped: however many attempts follow, the wait stays at 8 s.
      for (let i = 0; i < 5; i++) {
        expect(attempt()).toEqual({ allowed: false, retryAfterMs: 8_000 });
        advance(8_000);
        expect(attempt()).toEqual({ allowed: true });
      }
    } finally {
      delay.close();
    }
  });

  it('does not count refused attempts: hammering an account does not lengthen its wait', () => {
    const { delay, advance, attempt } = delayAt();
    try {
      for (let i = 0; i < 3; i++) attempt();
      for (let i = 0; i < 1_000; i++) expect(attempt().allowed).toBe(false);
      advance(1_000);
      expect(attempt()).toEqual({ allowed: true });
      expect(attempt()).toEqual({ allowed: false, retryAfterMs: 2_000 });
    } finally {
      delay.close();
    }
  });

  it('starts an account afresh after a success, and keeps accounts apart', async () => {
    const { delay, attempt } = delayAt();
    try {
      for (let i = 0; i < 3; i++) attempt();
      expect(attempt().allowed).toBe(false);
      expect(delay.attemptNow('another account')).toEqual({ allowed: true });
      await delay.reset('account');
      expect([attempt(), attempt(), attempt()]).toEqual(Array(3).fill({ allowed: true }));
    } finally {
      delay.close();
    }
  });

  it('forgets an account a day after its last attempt, and keeps at most maxEntries', () => {
    let now = 0;
    const delay = new MemorySignInDelay(OPTIONS, { now: () => now, maxEntries: 2 });
    try {
      for (let i = 0; i < 4; i++) delay.attemptNow('a');
      expect(delay.attemptNow('a').allowed).toBe(false);
      now += 24 * 60 * 60_000;
      expect(delay.attemptNow('a')).toEqual({ allowed: true });

      for (let i = 0; i < 4; i++) delay.attemptNow('b');
      delay.attemptNow('c');
      delay.attemptNow('d'); // the oldest, b, is dropped
      expect(delay.attemptNow('b')).toEqual({ allowed: true });
    } finally {
      delay.close();
    }
  });
});
