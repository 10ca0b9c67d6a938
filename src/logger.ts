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
  return pino(options);
}

/**
 * Exits with `code` once every line logged so far has reached stdout. pino writes stdout
 * asynchronously, and a bare `process.exit` while a write was in flight made pino's exit hook
 * write the remaining lines synchronously, before the in-flight ones: a replica's log ended with
 * "shutting down" after "shutdown complete" (seen under load in CI). Exits anyway after
 * `timeoutMs` if stdout does not drain (a reader that stopped reading).
 */
export function exitAfterLogs(logger: Logger, code: number, timeoutMs = 2_000): Promise<never> {
  return new Promise<never>(() => {
    const exit = () => process.exit(code);
    setTimeout(exit, timeoutMs);
    logger.flush(exit);
  });
}

function canResolve(moduleName: string): boolean {
  try {
    require.resolve(moduleName);
    return true;
  } catch {
    return false;
  }
}
