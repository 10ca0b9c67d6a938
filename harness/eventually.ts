import { setTimeout as sleep } from 'node:timers/promises';

/** How long {@link eventually} waits unless told otherwise. */
export const DEFAULT_TIMEOUT_MS = 30_000;

export interface EventuallyOptions {
  /** What is awaited, as the end of "timed out waiting for ...": "two workers", "/health/ready". */
  describe: string;
  /**
   * Give up after this long (default 30 s). A bound on a hang, never a performance target: on a
   * machine whose cores are busy with other work, everything takes several times longer.
   */
  timeoutMs?: number;
  /** The pause between two attempts (default 100 ms). */
  intervalMs?: number;
}

/**
 * Thrown by a probe to stop waiting at once, when what is awaited can no longer happen (the
 * process that was to get ready has exited): the wait fails with this message instead of
 * running out its timeout.
 */
export class GiveUp extends Error {
  override name = 'GiveUp';
}

/**
 * Calls `probe` until what it returns is accepted (by `until`, or by being anything but
 * `undefined`, `null` or `false`), and resolves with that value. A probe that throws counts as
 * an observation, not a failure, except for {@link GiveUp}. On timeout, the error says what was
 * awaited and the last observation, so a failure explains itself.
 *
 * This is the harness's only polling loop: tests and the bench wait for conditions, never for
 * fixed times, so they hold on a busy machine.
 */
export function eventually<T>(
  probe: () => T | Promise<T>,
  options: EventuallyOptions & { until: (value: T) => boolean },
): Promise<T>;
export function eventually<T>(
  probe: () => T | Promise<T>,
  options: EventuallyOptions,
): Promise<Exclude<T, undefined | null | false>>;
export async function eventually<T>(
  probe: () => T | Promise<T>,
  {
    describe,
    timeoutMs = DEFAULT_TIMEOUT_MS,
    intervalMs = 100,
    until = isSomething,
  }: EventuallyOptions & { until?: (value: T) => boolean },
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    try {
      const value = await probe();
      if (until(value)) return value;
      last = show(value);
    } catch (error) {
      if (error instanceof GiveUp)
        throw new Error(`gave up waiting for ${describe}: ${error.message}`, { cause: error });
      last = `threw ${error instanceof Error ? error.message : String(error)}`;
    }
    if (Date.now() >= deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${describe}; last observation: ${last}`,
      );
    await sleep(intervalMs);
  }
}

const isSomething = (value: unknown) => value !== undefined && value !== null && value !== false;

function show(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 500 ? `${text.slice(0, 500)}...` : text;
}
