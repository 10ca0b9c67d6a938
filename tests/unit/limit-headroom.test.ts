import { LimitHeadroom } from '../../src/rate-limit/limit-headroom';

/** A small deterministic generator (mulberry32): the same interleavings on every run. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('LimitHeadroom', () => {
  const window = { resetAt: 1_000_000 };
  const now = () => 0;

  it('says no for a key it has not seen counted, yes above the margin, no at it', () => {
    const headroom = new LimitHeadroom({ margin: 2, now });
    expect(headroom.reserve('a')).toBe(false);
    headroom.enter('a', false);
    headroom.settle('a', { left: 4, ...window });
    expect(headroom.reserve('a')).toBe(true); // 4 left > 2: now 3
    expect(headroom.reserve('a')).toBe(true); // 3 > 2: now 2
    expect(headroom.reserve('a')).toBe(false); // 2 is the margin
    // A later count saying more is left (an older reply overtaken) does not raise the estimate.
    headroom.enter('a', true);
    headroom.settle('a', { left: 10, ...window });
    expect(headroom.reserve('a')).toBe(false);
  });

  it('forgets a key when its window ends, and the oldest key beyond maxKeys', () => {
    let time = 0;
    const headroom = new LimitHeadroom({ margin: 0, maxKeys: 2, now: () => time });
    for (const key of ['a', 'b', 'c']) {
      headroom.enter(key, false);
      headroom.settle(key, { left: 10, resetAt: 100 });
    }
    expect(headroom.size).toBe(2);
    expect(headroom.reserve('a')).toBe(false);
    expect(headroom.reserve('c')).toBe(true);
    time = 100;
    expect(headroom.reserve('c')).toBe(false);
  });

  it('with one counting process, never lets a request start early that the limit then refuses', () => {
    // A store counting hits; requests enter, their counts land in order, and the replies are
    // read back in any order.
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const next = random(seed);
      const limit = 40;
      const headroom = new LimitHeadroom({ margin: Math.floor(next() * 5), now });
      let hits = 0;
      type Req = { reserved: boolean; landed?: number };
      const entered: Req[] = [];
      const landed: Req[] = [];
      let earlyRefused = 0;
      let early = 0;
      for (let step = 0; step < 2_000; step++) {
        const roll = next();
        if (roll < 0.4) {
          const reserved = headroom.reserve('k');
          if (reserved) early += 1;
          headroom.enter('k', reserved);
          entered.push({ reserved });
        } else if (roll < 0.7 && entered.length > 0) {
          // One process sends its counts down one connection: they land in the order sent.
          const req = entered.shift()!;
          hits += 1;
          req.landed = hits;
          if (req.reserved && hits > limit) earlyRefused += 1;
          landed.push(req);
        } else if (landed.length > 0) {
          const req = landed.splice(Math.floor(next() * landed.length), 1)[0]!;
          headroom.settle('k', { left: Math.max(limit - req.landed!, 0), ...window });
        }
      }
      expect(early).toBeGreaterThan(0);
      expect(earlyRefused).toBe(0);
    }
  });
});
