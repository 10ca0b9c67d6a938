import { eventually } from '../../harness/eventually';
import { LogCapture } from '../../harness/log-capture';
import {
  RESET_REQUEST_SWEEP_BATCH,
  type ResetRequestSweep,
} from '../../src/account/account.service';
import { startResetRequestSweep } from '../../src/account/reset-request-sweep';
import { createLogger } from '../../src/logger';

/** The timer around the sweep; what a sweep does is tested over the database (integration). */
function setUp(sweep: () => Promise<ResetRequestSweep>, intervalMs = 20) {
  const logs = new LogCapture();
  const logger = createLogger({ level: 'info', instanceId: 'test', destination: logs.stream() });
  const stop = startResetRequestSweep({
    account: { sweepResetRequests: sweep },
    logger,
    intervalMs,
  });
  return { logs, stop };
}

const nothing: ResetRequestSweep = { processed: 0, dropped: 0 };

describe('the sweep of left-behind password reset requests', () => {
  it('runs on its interval, logs what it did, keeps going after a failure, and stops', async () => {
    const results: Array<ResetRequestSweep | Error> = [
      { processed: 2, dropped: 1 },
      new Error('database blip'),
    ];
    let runs = 0;
    const { logs, stop } = setUp(() => {
      runs += 1;
      const next = results.shift() ?? nothing;
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
    });
    await eventually(() => runs >= 4, { describe: 'four sweeps' });
    await stop();
    const seen = runs;
    expect(logs.lines).toContainEqual(
      expect.objectContaining({ level: 'info', processed: 2, dropped: 1 }),
    );
    expect(logs.lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        err: expect.objectContaining({ message: 'database blip' }),
      }),
    );
    // Five intervals: a sweep still scheduled would have run by then.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(runs).toBe(seen);
  });

  it('sweeps again at once after a full batch, rather than an interval later', async () => {
    jest.useFakeTimers();
    jest.spyOn(Math, 'random').mockReturnValue(0.5);
    try {
      const hour = 3_600_000;
      const results: ResetRequestSweep[] = [
        { processed: RESET_REQUEST_SWEEP_BATCH, dropped: 0 },
        { processed: 3, dropped: 0 },
      ];
      let runs = 0;
      const { stop } = setUp(() => {
        runs += 1;
        return Promise.resolve(results.shift() ?? nothing);
      }, hour);
      // The first sweep at half an hour; the next scheduled one would be at an hour and a half.
      await jest.advanceTimersByTimeAsync(hour);
      expect(runs).toBe(2);
      expect(results).toEqual([]);
      await stop();
    } finally {
      jest.restoreAllMocks();
      jest.useRealTimers();
    }
  });

  it('waits, when stopped, for a sweep in progress to finish', async () => {
    let finish!: () => void;
    let started = false;
    const { stop } = setUp(
      () =>
        new Promise<ResetRequestSweep>((resolve) => {
          started = true;
          finish = () => resolve(nothing);
        }),
    );
    await eventually(() => started, { describe: 'a sweep in progress' });
    let stopped = false;
    const stopping = stop().then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    finish();
    await stopping;
    expect(stopped).toBe(true);
  });
});
