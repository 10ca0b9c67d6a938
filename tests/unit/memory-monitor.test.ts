import { setTimeout as sleep } from 'node:timers/promises';
import { startMemoryMonitor, type MemoryMonitor } from '../../src/metrics/memory-monitor';
import { captureLogs } from '../helpers/log-capture';

/** Waits until `condition` holds: timers run late on a loaded machine, so no fixed sleep. */
async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

describe('memory monitor', () => {
  let monitor: MemoryMonitor | undefined;
  afterEach(() => monitor?.stop());

  it('logs rss, heap and external memory periodically', async () => {
    const { logger, lines } = captureLogs();
    monitor = startMemoryMonitor({ logger, thresholdMb: 1_000_000, intervalMs: 20 });
    await until(() => lines.length >= 2);
    const usage = lines.filter((line) => line.msg === 'memory usage');
    expect(usage).toHaveLength(lines.length);
    expect(usage[0]).toMatchObject({
      level: 'info',
      rssMb: expect.any(Number),
      heapUsedMb: expect.any(Number),
      heapTotalMb: expect.any(Number),
      externalMb: expect.any(Number),
    });
    expect(usage[0]?.rssMb).toBeGreaterThan(usage[0]?.heapUsedMb as number);
  });

  it('warns when rss is above the threshold', async () => {
    const { logger, lines } = captureLogs();
    // Any Node process uses more than 16 MB.
    monitor = startMemoryMonitor({ logger, thresholdMb: 16, intervalMs: 20 });
    await until(() => lines.length >= 1);
    expect(lines[0]).toMatchObject({
      level: 'warn',
      msg: 'memory above threshold',
      thresholdMb: 16,
    });
  });

  it('logs nothing more once stopped', async () => {
    const { logger, lines } = captureLogs();
    monitor = startMemoryMonitor({ logger, thresholdMb: 16, intervalMs: 20 });
    monitor.stop();
    await sleep(60);
    expect(lines).toEqual([]);
  });
});
