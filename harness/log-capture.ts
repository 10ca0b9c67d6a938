import { Writable } from 'node:stream';
import { eventually, GiveUp } from './eventually';

/** One parsed JSON log line (the app logs one JSON object per line, with pino). */
export type LogLine = Record<string, unknown>;

/** Parses every line of `text` that holds a JSON object; other lines (plain text) are skipped. */
export function parseLogLines(text: string): LogLine[] {
  return text.split('\n').flatMap((line) => {
    const parsed = parseLogLine(line);
    return parsed ? [parsed] : [];
  });
}

function parseLogLine(line: string): LogLine | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as LogLine;
  } catch {
    return undefined; // a line that only looks like JSON: output, not a log line
  }
}

/**
 * JSON log lines captured as they are written: from a stream (a logger's destination, see
 * {@link LogCapture.stream}) or from a process's output (fed to {@link LogCapture.push}). Output
 * arrives in chunks that need not end at a line break: a partial line waits for its end.
 */
export class LogCapture {
  /** The lines so far, in order; the same array throughout, growing. */
  readonly lines: LogLine[] = [];
  #partial = '';

  /** Feeds output as it arrives. */
  push(text: string): void {
    const pieces = (this.#partial + text).split('\n');
    this.#partial = pieces.pop() ?? '';
    for (const piece of pieces) {
      const line = parseLogLine(piece);
      if (line) this.lines.push(line);
    }
  }

  /** A writable stream that feeds this capture, e.g. as a logger's destination. */
  stream(): Writable {
    return new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        this.push(chunk.toString('utf8'));
        callback();
      },
    });
  }
}

export interface WaitForLogOptions {
  /** What the line is, for the message (default: "a matching log line"). */
  describe?: string;
  timeoutMs?: number;
  /**
   * Whether the writer has ended (its process exited): then a line not there yet never will be,
   * and the wait fails at once.
   */
  ended?: () => boolean;
  /** The writer's output (its tail), for the failure message. */
  context?: () => string;
}

/**
 * Resolves with the first line of `lines()` that matches `predicate`, once it is there: log lines
 * travel through a pipe or a file and arrive later than the replies a test already has.
 */
export function waitForLog(
  lines: () => readonly LogLine[],
  predicate: (line: LogLine) => boolean,
  {
    describe = 'a matching log line',
    timeoutMs = 30_000,
    ended = () => false,
    context = () => '',
  }: WaitForLogOptions = {},
): Promise<LogLine> {
  return eventually(
    () => {
      // Read whether the writer has ended before reading its lines: all it wrote is in by then.
      const over = ended();
      const found = lines().find(predicate);
      if (!found && over) throw new GiveUp('the writer ended without it');
      return found ?? `${lines().length} lines, none matching`;
    },
    {
      describe,
      timeoutMs,
      intervalMs: 50,
      until: (found): found is LogLine => typeof found !== 'string',
    },
  ).catch((error: Error) => {
    const output = context();
    throw output ? new Error(`${error.message}\n${output}`, { cause: error }) : error;
  }) as Promise<LogLine>;
}
