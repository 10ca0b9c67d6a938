import type { Config } from '../config';
import type { Logger } from '../logger';

export interface MemoryMonitorOptions {
  logger: Logger;
  /** Resident memory (rss) above this is logged as a warning. */
  thresholdMb: number;
  intervalMs: number;
}

/** A running memory monitor. */
export interface MemoryMonitor {
  stop(): void;
}

/**
 * Logs this process's memory every `intervalMs` (`ENABLE_MEMORY_MONITORING`): one line with
 * rss, heap and external memory, at warn level when rss is above `thresholdMb`.
 *
 * The threshold applies to rss because that is what a container's memory limit and the OOM
 * killer count; the heap figures say whether the growth is JavaScript's. Each process (each
 * cluster worker) logs its own line, identified by the logger's pid and instance id.
 * Its timer is unref'd: it never keeps the process alive.
 */
export function startMemoryMonitor({
  logger,
  thresholdMb,
  intervalMs,
}: MemoryMonitorOptions): MemoryMonitor {
  const timer = setInterval(() => {
    const usage = process.memoryUsage();
    const fields = {
      rssMb: toMb(usage.rss),
      heapUsedMb: toMb(usage.heapUsed),
      heapTotalMb: toMb(usage.heapTotal),
      externalMb: toMb(usage.external),
      thresholdMb,
    };
    if (fields.rssMb > thresholdMb) logger.warn(fields, 'memory above threshold');
    else logger.info(fields, 'memory usage');
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

const toMb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

/** The monitor `ENABLE_MEMORY_MONITORING` asks for (server and cluster primary alike), or none. */
export function monitorMemoryIfEnabled(
  memory: Config['memory'],
  logger: Logger,
): MemoryMonitor | undefined {
  return memory.monitoring
    ? startMemoryMonitor({ logger, thresholdMb: memory.thresholdMb, intervalMs: memory.intervalMs })
    : undefined;
}
