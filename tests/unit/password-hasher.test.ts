import { concurrencyLimit, createPasswordHasher } from '../../src/auth/password-hasher';

/** A task that runs until the test settles it. */
function deferred() {
  let resolve!: (value: string) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<string>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('concurrencyLimit', () => {
  it('runs at most `max` tasks at once and starts the others in arrival order', async () => {
    const limited = concurrencyLimit(2);
    const tasks = Array.from({ length: 5 }, () => deferred());
    const started: number[] = [];
    const results = tasks.map((task, i) =>
      limited(() => {
        started.push(i);
        return task.promise;
      }),
    );
    await turn();
    expect(started).toEqual([0, 1]);

    tasks[1]!.resolve('one');
    await expect(results[1]).resolves.toBe('one');
    await turn();
    expect(started).toEqual([0, 1, 2]);

    // A failed task frees its slot too, and its caller sees the failure.
    tasks[0]!.reject(new Error('boom'));
    await expect(results[0]).rejects.toThrow('boom');
    await turn();
    expect(started).toEqual([0, 1, 2, 3]);

    for (const task of tasks.slice(2)) task.resolve('done');
    await Promise.all(results.slice(2));
    expect(started).toEqual([0, 1, 2, 3, 4]);

    // All slots are free again: `max` new tasks start at once.
    const again = [deferred(), deferred()];
    let running = 0;
    const more = again.map((task) =>
      limited(() => {
        running++;
        return task.promise;
      }),
    );
    await turn();
    expect(running).toBe(2);
    for (const task of again) task.resolve('ok');
    await Promise.all(more);
  });
});

describe('createPasswordHasher with a concurrency of 1', () => {
  it('hashes and verifies correctly when many calls queue at once', async () => {
    const hasher = createPasswordHasher({ concurrency: 1 });
    const hashes = await Promise.all(
      ['first password', 'second password', 'third password'].map((p) => hasher.hash(p)),
    );
    const checks = await Promise.all([
      hasher.verify(hashes[0]!, 'first password'),
      hasher.verify(hashes[1]!, 'second password'),
      hasher.verify(hashes[2]!, 'wrong password'),
      hasher.verifyDummy('anything'),
    ]);
    expect(checks).toEqual([true, true, false, undefined]);
  });
});
