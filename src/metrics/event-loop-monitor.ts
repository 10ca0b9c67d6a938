import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { Logger } from '../logger';

/** How the event loop fared over one window. Delays are the extra wait of a loop turn, in ms. */
export interface EventLoopStats {
  delayP50Ms: number;
  delayP99Ms: number;
  delayMaxMs: number;
  /** Share of the window the loop spent running code rather than waiting (0 to 1). */
  utilization: number;
}

export interface EventLoopMonitorOptions {
  logger: Logger;
  /** A window whose longest delay reaches this logs a warning (rate-limited). */
  warnThresholdMs: number;
  /** Length of a window; {@link EventLoopMonitor.stats} describes the last complete one. */
  windowMs: number;
  /** At most one warning per this interval, however long the loop stays slow. */
  warnIntervalMs?: number;
}

/** A running event-loop monitor. */
export interface EventLoopMonitor {
  /** The last complete window (before the first one ends: the time since start). */
  stats(): EventLoopStats;
  stop(): void;
}

/** Sampling period of the delay histogram: finer costs more wake-ups, coarser hides short stalls. */
const RESOLUTION_MS = 10;

/**
 * Measures event-loop delay (`perf_hooks.monitorEventLoopDelay`) and utilisation over windows
 * of `windowMs`, and warns when a window's longest delay reaches `warnThresholdMs`: a loop
 * blocked that long delayed every request waiting on it.
 *
 * Warnings are rate-limited to one per `warnIntervalMs`: a stall gives one line, and a loop that
 * stays slow gives one line a minute (counting the windows in between), never one per request.
 * Its timer is unref'd: it never keeps the process alive.
 */
export function startEventLoopMonitor({
  logger,
  warnThresholdMs,
  windowMs,
  warnIntervalMs = 60_000,
}: EventLoopMonitorOptions): EventLoopMonitor {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  let utilizationStart = performance.eventLoopUtilization();
  let windowStart = performance.now();
  let lastWindow: EventLoopStats | undefined;
  let lastWarningAt = -Infinity;
  let windowsAbove = 0;
  let worstMs = 0;

  // The histogram records the time between its samples, resolution included: an idle loop
  // would read as 10 ms of delay. Only the wait beyond the resolution is delay.
  const delayMs = (nanoseconds: number) => round(Math.max(0, nanoseconds / 1e6 - RESOLUTION_MS));

  const read = (lateMs: number): EventLoopStats => {
    const sampled = histogram.count > 0;
    return {
      delayP50Ms: sampled ? delayMs(histogram.percentile(50)) : 0,
      delayP99Ms: sampled ? delayMs(histogram.percentile(99)) : 0,
      delayMaxMs: Math.max(sampled ? delayMs(histogram.max) : 0, round(lateMs)),
      utilization: round(performance.eventLoopUtilization(utilizationStart).utilization, 3),
    };
  };

  const endWindow = () => {
    const now = performance.now();
    // The histogram drops the first sample after a reset, which is exactly where a stall lands
    // when it also delays this timer past its due time. The timer's own lateness is therefore
    // counted as a delay too, so a stall across a window boundary is never missed.
    lastWindow = read(now - windowStart - windowMs);
    histogram.reset();
    utilizationStart = performance.eventLoopUtilization();
    windowStart = now;

    if (lastWindow.delayMaxMs < warnThresholdMs) return;
    windowsAbove += 1;
    worstMs = Math.max(worstMs, lastWindow.delayMaxMs);
    if (now - lastWarningAt < warnIntervalMs) return;
    logger.warn(
      {
        delayMaxMs: worstMs,
        delayP99Ms: lastWindow.delayP99Ms,
        utilization: lastWindow.utilization,
        thresholdMs: warnThresholdMs,
        windowsAbove,
        windowMs,
      },
      'event loop delay above threshold',
    );
    lastWarningAt = now;
    windowsAbove = 0;
    worstMs = 0;
  };
  const timer = setInterval(endWindow, windowMs);
  timer.unref();

  return {
    stats: () => lastWindow ?? read(0),
    stop() {
      clearInterval(timer);
      histogram.disable();
    },
  };
}

function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
