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

describe('concurrencyLimit with a bounded queue', () => {
  it('refuses a task at once with PASSWORD_CHECKS_BUSY when `maxQueued` already wait, and queues again once one starts', async () => {
    const limited = concurrencyLimit(1, 2);
    const tasks = Array.from({ length: 3 }, () => deferred());
    let started = 0;
    const run = (task: ReturnType<typeof deferred>) =>
      limited(() => {
        started++;
        return task.promise;
      });
    const accepted = tasks.map(run); // one running, two waiting
    await turn();
    const refused = deferred();
    await expect(run(refused)).rejects.toMatchObject({ code: 'PASSWORD_CHECKS_BUSY' });
    expect(started).toBe(1);

    tasks[0]!.resolve('first');
    await accepted[0];
    await turn();
    // One of the waiting started: there is room for one more in the queue.
    const late = deferred();
    const lateResult = run(late);
    for (const task of tasks.slice(1)) task.resolve('done');
    late.resolve('late');
    await expect(lateResult).resolves.toBe('late');
    await Promise.all(accepted);
    expect(started).toBe(4);
  });

  it('lets the hasher answer a full queue with PASSWORD_CHECKS_BUSY rather than a false verification', async () => {
    const hasher = createPasswordHasher({ concurrency: 1, maxQueued: 1 });
    const stored = await hasher.hash('the password');
    const checks = Array.from({ length: 4 }, () =>
      hasher.verify(stored, 'the password').then(
        (ok) => ({ ok }),
        (error: { code?: string }) => ({ code: error.code }),
      ),
    );
    const outcomes = await Promise.all(checks);
    // One running and one waiting at most: the other two are refused, none verified as false.
    expect(outcomes.filter((o) => 'ok' in o)).toEqual([{ ok: true }, { ok: true }]);
    expect(outcomes.filter((o) => 'code' in o)).toEqual(
      Array(2).fill({ code: 'PASSWORD_CHECKS_BUSY' }),
    );
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
