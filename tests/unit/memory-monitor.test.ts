import { setTimeout as sleep } from 'node:timers/promises';
import { eventually } from '../../harness/eventually';
import { startMemoryMonitor, type MemoryMonitor } from '../../src/metrics/memory-monitor';
import { capturedLogger } from '../helpers/captured-logger';

/** Timers run late on a loaded machine: wait for lines, never for a fixed time. */
const linesLogged = (lines: readonly unknown[], count: number) =>
  eventually(() => lines.length >= count, { describe: `${count} log lines`, intervalMs: 10 });

describe('memory monitor', () => {
  let monitor: MemoryMonitor | undefined;
  afterEach(() => monitor?.stop());

  it('logs rss, heap and external memory periodically', async () => {
    const { logger, lines } = capturedLogger();
    monitor = startMemoryMonitor({ logger, thresholdMb: 1_000_000, intervalMs: 20 });
    await linesLogged(lines, 2);
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
    const { logger, lines } = capturedLogger();
    // Any Node process uses more than 16 MB.
    monitor = startMemoryMonitor({ logger, thresholdMb: 16, intervalMs: 20 });
    await linesLogged(lines, 1);
    expect(lines[0]).toMatchObject({
      level: 'warn',
      msg: 'memory above threshold',
      thresholdMb: 16,
    });
  });

  it('logs nothing more once stopped', async () => {
    const { logger, lines } = capturedLogger();
    monitor = startMemoryMonitor({ logger, thresholdMb: 16, intervalMs: 20 });
    monitor.stop();
    await sleep(60); // three intervals: a monitor still running would have logged by now
    expect(lines).toEqual([]);
  });
});
