import { coalesced } from '../../src/db/read-replica';

/** A fetch whose calls are answered by hand, in order, each with its call number. */
function manualFetch() {
  const pending: Array<() => void> = [];
  let calls = 0;
  return {
    fetch: () =>
      new Promise<number>((resolve) => {
        const call = ++calls;
        pending.push(() => resolve(call));
      }),
    calls: () => calls,
    answerNext: () => pending.shift()!(),
  };
}

describe('the primary position shared by concurrent reads (coalesced)', () => {
  it('shares one call among the callers that arrive before it is sent', async () => {
    const source = manualFetch();
    const position = coalesced(source.fetch);
    const first = position();
    source.answerNext();
    expect(await first).toBe(1);
    expect(source.calls()).toBe(1);
  });

  it('never answers a caller from a call sent before it arrived; later callers share the next call', async () => {
    const source = manualFetch();
    const position = coalesced(source.fetch);
    const early = position();
    // These arrive while call 1 is in flight: call 1 may not reflect what they wrote.
    const late = [position(), position(), position()];
    expect(source.calls()).toBe(1);
    source.answerNext();
    expect(await early).toBe(1);
    await Promise.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    expect(source.calls()).toBe(2);
    source.answerNext();
    expect(await Promise.all(late)).toEqual([2, 2, 2]);
  });

  it('lets the callers waiting for the next call get it even when the one in flight fails', async () => {
    let calls = 0;
    const position = coalesced(() => {
      calls += 1;
      return calls === 1
        ? Promise.reject(new Error('primary unreachable'))
        : Promise.resolve(calls);
    });
    const early = position();
    const late = position();
    await expect(early).rejects.toThrow('primary unreachable');
    expect(await late).toBe(2);
  });
});
