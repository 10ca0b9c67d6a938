import type { Request } from 'express';
import {
  MemoryStore,
  type ClientRateLimitInfo,
  type IncrementResponse,
  type Options,
  type Store,
} from 'express-rate-limit';
import { CountAhead } from '../../src/rate-limit/count-ahead';

/** A request from `ip`, as far as the key function looks. */
const from = (ip: string) => ({ ip }) as Request;

/** Counts per key, answering each increment with the count it made, as the Redis store does. */
class CountingStore implements Store {
  readonly localKeys = true;
  readonly prefix = 'counting:';
  readonly counts = new Map<string, number>();
  increments = 0;
  increment(key: string): Promise<IncrementResponse> {
    this.increments += 1;
    const totalHits = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, totalHits);
    return Promise.resolve({ totalHits, resetTime: undefined });
  }
  get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const totalHits = this.counts.get(key);
    return Promise.resolve(
      totalHits === undefined ? undefined : { totalHits, resetTime: undefined },
    );
  }
  decrement(key: string) {
    this.counts.set(key, (this.counts.get(key) ?? 1) - 1);
  }
  resetKey(key: string) {
    this.counts.delete(key);
  }
}

function setUp<S extends Store>(inner: S) {
  const ahead = new CountAhead(inner, (req) => req.ip ?? '');
  /** What express-rate-limit does with a request: its key, then one increment of it. */
  const limit = async (req: Request) => {
    const key = ahead.keyGenerator(req);
    return (await ahead.store.increment(key)).totalHits;
  };
  return { inner, ahead, limit };
}

describe('CountAhead', () => {
  it('the limiter uses the count started ahead instead of counting again', async () => {
    const { ahead, inner, limit } = setUp(new CountingStore());
    const req = from('192.0.2.1');
    ahead.start(req);
    expect(inner.increments).toBe(1);
    expect(await limit(req)).toBe(1);
    expect(inner.increments).toBe(1);
    // The next request, not started ahead, counts when its limiter runs.
    expect(await limit(from('192.0.2.1'))).toBe(2);
    expect(inner.increments).toBe(2);
  });

  it('counts every request once whoever reads which count, started ahead or not, interleaved', async () => {
    const { ahead, inner, limit } = setUp(new CountingStore());
    const requests = Array.from({ length: 12 }, () => from('192.0.2.2'));
    // Every other request started ahead; the limiters then run in another order, concurrently.
    requests.forEach((req, i) => {
      if (i % 2 === 0) ahead.start(req);
    });
    const order = [5, 0, 11, 2, 3, 8, 1, 10, 4, 7, 9, 6].map((i) => requests[i]!);
    const hits = await Promise.all(order.map(limit));
    expect(inner.increments).toBe(12);
    expect([...hits].sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(inner.counts.get('192.0.2.2')).toBe(12);
  });

  it('a count started ahead is the one the store answered then, not what its record says later', async () => {
    const memory = new MemoryStore();
    memory.init({ windowMs: 60_000 } as Options);
    const { ahead, limit } = setUp(memory);
    const first = from('192.0.2.9');
    ahead.start(first);
    await new Promise(setImmediate);
    for (let i = 2; i <= 4; i++) expect(await limit(from('192.0.2.9'))).toBe(i);
    expect(await limit(first)).toBe(1);
  });

  it('a count started for a request its limiter never sees stays counted, and is read by no one', async () => {
    const { ahead, limit } = setUp(new CountingStore());
    ahead.start(from('192.0.2.3')); // refused before its limiter ran
    expect(await limit(from('192.0.2.3'))).toBe(2);
    expect(await limit(from('192.0.2.3'))).toBe(3);
  });

  it('keeps each key apart, and ignores a count started under another key', async () => {
    const { ahead, inner, limit } = setUp(new CountingStore());
    const a = from('192.0.2.4');
    ahead.start(a);
    expect(await limit(from('192.0.2.5'))).toBe(1);
    expect(await limit(a)).toBe(1);
    expect(inner.increments).toBe(2);
    // The key a request had when started no longer its key: counted afresh under the new one.
    const moved = from('192.0.2.6');
    ahead.start(moved);
    (moved as { ip: string }).ip = '192.0.2.7';
    expect(await limit(moved)).toBe(1);
    expect(inner.increments).toBe(4);
  });

  it('answers for the inner store otherwise: get, decrement, reset, its key sharing and prefix', async () => {
    const { ahead, inner, limit } = setUp(new CountingStore());
    await limit(from('192.0.2.8'));
    expect((await ahead.store.get?.('192.0.2.8'))?.totalHits).toBe(1);
    await ahead.store.decrement('192.0.2.8');
    expect((await inner.get('192.0.2.8'))?.totalHits).toBe(0);
    await ahead.store.resetKey('192.0.2.8');
    expect(await inner.get('192.0.2.8')).toBeUndefined();
    expect(ahead.store.localKeys).toBe(inner.localKeys);
    expect(ahead.store.prefix).toBe(inner.prefix);
    await ahead.store.shutdown?.();
  });
});
