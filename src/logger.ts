import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Paths whose values never reach a log line, wherever a caller puts them. */
export const REDACTED_PATHS: readonly string[] = [
  'authorization',
  'cookie',
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
  'password',
  'currentPassword',
  'newPassword',
  'passwordHash',
  'token',
  'accessToken',
  'refreshToken',
  '*.authorization',
  '*.cookie',
  '*.password',
  '*.currentPassword',
  '*.newPassword',
  '*.passwordHash',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  'err.config.headers',
];

export interface LoggerOptions {
  level: string;
  instanceId: string;
  /** Where lines go; defaults to stdout (pretty-printed when stdout is a terminal). */
  destination?: DestinationStream;
}

/**
 * Builds the process logger: JSON lines with the instance id on each, secrets redacted.
 *
 * Pretty output is only for a human at a terminal: when stdout is not a TTY (containers, log
 * shippers, pipes) lines stay JSON, and pino-pretty, a development dependency, is never loaded.
 */
export function createLogger({ level, instanceId, destination }: LoggerOptions): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { pid: process.pid, instanceId },
    redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  if (destination) return pino(options, destination);
  if (process.stdout.isTTY && canResolve('pino-pretty')) {
    return pino({
      ...options,
      formatters: {},
      transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } },
    });
  }
  // Synchronous: each line is written before the call returns, so lines keep their order and
  // none is lost when the process exits or is killed. pino's default (asynchronous) stdout lost
  // that: `process.exit` during an in-flight write made its exit hook write the remaining lines
  // first (a replica's log ended with "shutting down" after "shutdown complete"), and a kill -9
  // or an OOM kill drops whatever is still queued, the lines that matter most. Measured on
  // `/api/auth/me` under load: no difference in throughput (6,637 vs 6,500 req/s, 5 runs each).
  return pino(options, pino.destination({ dest: 1, sync: true }));
}

function canResolve(moduleName: string): boolean {
  try {
    require.resolve(moduleName);
    return true;
  } catch {
    return false;
  }
}
