import { LogCapture, type LogLine } from '../../harness/log-capture';
import { createLogger, type Logger } from '../../src/logger';

/** The app's real logger, whose lines the harness's log capture keeps, parsed, in `lines`. */
export function capturedLogger(level = 'debug'): { logger: Logger; lines: LogLine[] } {
  const capture = new LogCapture();
  const logger = createLogger({ level, instanceId: 'test', destination: capture.stream() });
  return { logger, lines: capture.lines };
}
