import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/logger';

/** A real logger whose lines are kept, parsed, in `lines`. */
export function captureLogs(level = 'debug'): {
  logger: Logger;
  lines: Array<Record<string, unknown>>;
} {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  return { logger: createLogger({ level, instanceId: 'test', destination }), lines };
}
