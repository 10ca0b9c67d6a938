import { setTimeout as sleep } from 'node:timers/promises';
import { startEventLoopMonitor, type EventLoopMonitor } from '../../src/metrics/event-loop-monitor';
import { captureLogs } from '../helpers/log-capture';

/** Keeps the event loop busy for `ms`, as a synchronous bug or a huge JSON.parse would. */
function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy
  }
}

const warnings = (lines: Array<Record<string, unknown>>) =>
  lines.filter((line) => line.msg === 'event loop delay above threshold');

describe('event loop monitor', () => {
  let monitor: EventLoopMonitor | undefined;
  afterEach(() => monitor?.stop());

  it('reports the delay and utilisation of a stall, until its window has passed', async () => {
    const { logger } = captureLogs();
    monitor = startEventLoopMonitor({ logger, warnThresholdMs: 10_000, windowMs: 300 });
    await sleep(30);
    block(150);
    await sleep(30); // the delay histogram records the stall at its next sample
    const stats = monitor.stats();
    expect(stats.delayMaxMs).toBeGreaterThanOrEqual(100);
    expect(stats.delayP50Ms).toBeLessThanOrEqual(stats.delayMaxMs);
    expect(stats.utilization).toBeGreaterThan(0);
    expect(stats.utilization).toBeLessThanOrEqual(1);
    // A later, quiet window replaces it: the figures are recent, not since the start.
    const deadline = Date.now() + 5_000;
    while (monitor.stats().delayMaxMs >= 100 && Date.now() < deadline) await sleep(50);
    expect(monitor.stats().delayMaxMs).toBeLessThan(100);
  });

  it('reports figures before the first window ends', () => {
    const { logger } = captureLogs();
    monitor = startEventLoopMonitor({ logger, warnThresholdMs: 50, windowMs: 60_000 });
    expect(monitor.stats()).toEqual({
      delayP50Ms: expect.any(Number),
      delayP99Ms: expect.any(Number),
      delayMaxMs: expect.any(Number),
      utilization: expect.any(Number),
    });
  });

  it('logs one warning for a stall, not one per window or per stall, within the warning interval', async () => {
    const { logger, lines } = captureLogs();
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
    const { logger, lines } = captureLogs();
    monitor = startEventLoopMonitor({
      logger,
      warnThresholdMs: 120,
      windowMs: 100,
      warnIntervalMs: 800,
    });
    await sleep(30);
    block(200);
    await sleep(250);
    block(200); // within the interval: counted, not logged
    await sleep(700);
    block(200);
    await sleep(250);
    const counts = warnings(lines).map((line) => line.windowsAbove);
    expect(counts).toEqual([1, expect.any(Number)]);
    expect(counts[1]).toBeGreaterThanOrEqual(2); // the suppressed stall, and the last one
  });

  it('stays quiet while delays stay under the threshold, and after it is stopped', async () => {
    const { logger, lines } = captureLogs();
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
