import { setTimeout as sleep } from 'node:timers/promises';
import { eventually } from '../../harness/eventually';
import type { LogLine } from '../../harness/log-capture';
import { startEventLoopMonitor, type EventLoopMonitor } from '../../src/metrics/event-loop-monitor';
import { capturedLogger } from '../helpers/captured-logger';

/** Keeps the event loop busy for `ms`, as a synchronous bug or a huge JSON.parse would. */
function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy
  }
}

const warnings = (lines: readonly LogLine[]) =>
  lines.filter((line) => line.msg === 'event loop delay above threshold');

describe('event loop monitor', () => {
  let monitor: EventLoopMonitor | undefined;
  afterEach(() => monitor?.stop());

  it('reports the delay and utilisation of a stall, until its window has passed', async () => {
    const { logger } = capturedLogger();
    // The stall is read within its window or the next (the first window also reports the time
    // since start): a window of 2 s leaves a busy machine that much to run the two short sleeps.
    monitor = startEventLoopMonitor({ logger, warnThresholdMs: 10_000, windowMs: 2_000 });
    await sleep(30);
    block(150);
    await sleep(30); // the delay histogram records the stall at its next sample
    const stats = monitor.stats();
    expect(stats.delayMaxMs).toBeGreaterThanOrEqual(100);
    expect(stats.delayP50Ms).toBeLessThanOrEqual(stats.delayMaxMs);
    expect(stats.utilization).toBeGreaterThan(0);
    expect(stats.utilization).toBeLessThanOrEqual(1);
    // A later, quiet window replaces it: the figures are recent, not since the start.
    await eventually(() => monitor!.stats().delayMaxMs, {
      describe: 'a quiet window after the stall',
      intervalMs: 50,
      until: (delayMaxMs) => delayMaxMs < 100,
    });
  });

  it('reports figures before the first window ends', () => {
    const { logger } = capturedLogger();
    monitor = startEventLoopMonitor({ logger, warnThresholdMs: 50, windowMs: 60_000 });
    expect(monitor.stats()).toEqual({
      delayP50Ms: expect.any(Number),
      delayP99Ms: expect.any(Number),
      delayMaxMs: expect.any(Number),
      utilization: expect.any(Number),
    });
  });

  it('logs one warning for a stall, not one per window or per stall, within the warning interval', async () => {
    const { logger, lines } = capturedLogger();
    // Well above the hiccups of a busy CI machine, well below the stalls made here.
    monitor = startEventLoopMonitor({ logger, warnThresholdMs: 120, windowMs: 100 });
    await sleep(30);
    block(200);
    await sleep(250);
    block(200);
    await sleep(250);
    expect(warnings(lines)).toEqual([
      expect.objectContaining({
        level: 'warn',
        thresholdMs: 120,
        delayMaxMs: expect.any(Number),
        windowsAbove: 1,
      }),
    ]);
    // The line reports the delay that crossed the threshold (how much of a 200 ms stall one
    // window sees depends on where the window boundaries fall on a busy machine).
    expect(warnings(lines)[0]?.delayMaxMs).toBeGreaterThanOrEqual(120);
  });

  it('warns again once the interval has passed, counting the windows above the threshold', async () => {
    const { logger, lines } = capturedLogger();
    const warnIntervalMs = 2_000;
    monitor = startEventLoopMonitor({
      logger,
      warnThresholdMs: 120,
      windowMs: 100,
      warnIntervalMs,
    });
    await sleep(30);
    block(200);
    // The first warning is written when the stall's window ends; the next stall comes right
    // after, well within the interval however busy the machine: counted, not logged.
    await eventually(() => warnings(lines).length === 1, { describe: 'the first warning' });
    block(200);
    // A sleep never ends early: the interval has surely passed at the third stall.
    await sleep(warnIntervalMs);
    block(200);
    await eventually(() => warnings(lines).length >= 2, { describe: 'a second warning' });
    const counts = warnings(lines).map((line) => line.windowsAbove);
    expect(counts).toEqual([1, expect.any(Number)]);
    expect(counts[1]).toBeGreaterThanOrEqual(2); // the suppressed stall, and the last one
  });

  it('stays quiet while delays stay under the threshold, and after it is stopped', async () => {
    const { logger, lines } = capturedLogger();
    monitor = startEventLoopMonitor({ logger, warnThresholdMs: 1_000, windowMs: 100 });
    block(150);
    await sleep(250);
    monitor.stop();
    const stopped = startEventLoopMonitor({ logger, warnThresholdMs: 50, windowMs: 100 });
    stopped.stop();
    block(150);
    await sleep(250);
    expect(warnings(lines)).toEqual([]);
  });
});
