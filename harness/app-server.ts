import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { eventually, GiveUp } from './eventually';
import { request } from './http-client';
import { LogCapture, parseLogLines, waitForLog, type LogLine } from './log-capture';
import { freePort } from './ports';
import { startProcess, type ManagedProcess } from './processes';

const ROOT = path.resolve(__dirname, '..');

/** The built server, as `pnpm start` runs it. */
export const BUILT_SERVER = path.join(ROOT, 'dist', 'server.js');
/** The built cluster primary, as `pnpm start:cluster` runs it. */
export const BUILT_CLUSTER = path.join(ROOT, 'dist', 'cluster.js');
/** The built migration command, as `pnpm db:migrate` runs it from a release. */
export const BUILT_MIGRATE = path.join(ROOT, 'dist', 'db', 'cli', 'migrate.js');

export interface StartServerOptions {
  /** The script to run (default: the built server); anything that listens on `PORT`. */
  entry?: string;
  /** A short name, for messages (default: the script's file name). */
  name?: string;
  /**
   * The whole environment (PATH is added): a developer's own DATABASE_URL or .env never leaks
   * in. `PORT` is set to a free port unless it is given.
   */
  env?: Record<string, string | undefined>;
  /** The working folder: one without a stray `.env` (the data folder, or the bench's). */
  cwd: string;
  /** Resolve once this path answers 200 (default `/health/ready`); `false` to not wait. */
  readyPath?: string | false;
  /** How long readiness may take (default 120 s: a bound on a hang on a busy machine). */
  readyTimeoutMs?: number;
  /** The Node binary (default: the one running the harness). */
  node?: string;
  /** Append output to this file instead of keeping it in memory (see {@link startProcess}). */
  outputFile?: string;
}

/** A server the harness started, listening on 127.0.0.1. */
export interface AppServer extends ManagedProcess {
  url: string;
  port: number;
  /** `127.0.0.1:<port>`, as an upstream list names it. */
  address: string;
  /** Its JSON log lines so far. */
  logs(): LogLine[];
  /** Resolves with its first log line that matches `predicate`, once written. */
  waitForLog(
    predicate: (line: LogLine) => boolean,
    options?: { describe?: string; timeoutMs?: number },
  ): Promise<LogLine>;
}

/**
 * Starts a server script (by default the built one, `node dist/server.js`) on a free port in a
 * process of its own, and waits until it is ready. A server that never gets ready, or exits
 * first, fails the start with its output, and is stopped: no caller is left holding a process it
 * never received.
 */
export async function startServer({
  entry = BUILT_SERVER,
  name = path.basename(entry),
  env = {},
  cwd,
  readyPath = '/health/ready',
  readyTimeoutMs = 120_000,
  node = process.execPath,
  outputFile,
}: StartServerOptions): Promise<AppServer> {
  const port = Number(env.PORT ?? (await freePort()));
  const capture = new LogCapture();
  const proc = startProcess(node, [entry], {
    name,
    cwd,
    env: { PATH: process.env.PATH, ...env, PORT: String(port) },
    outputFile,
    onOutput: (text) => capture.push(text),
  });
  const logs = () => (outputFile === undefined ? capture.lines : parseLogLines(proc.output()));
  const server: AppServer = Object.assign(proc, {
    url: `http://127.0.0.1:${port}`,
    port,
    address: `127.0.0.1:${port}`,
    logs,
    waitForLog: (
      predicate: (line: LogLine) => boolean,
      options: { describe?: string; timeoutMs?: number } = {},
    ) =>
      waitForLog(logs, predicate, {
        ...options,
        describe: `${options.describe ?? 'a matching log line'} from ${name}`,
        ended: () => proc.exitStatus() !== undefined,
        context: () => proc.tail(),
      }),
  });
  if (readyPath !== false) {
    await waitUntilReady(server, readyPath, readyTimeoutMs).catch(async (error: unknown) => {
      await proc.stop('SIGKILL');
      throw error;
    });
  }
  return server;
}

/** Resolves once `urlPath` of `server` answers 200; fails at once if the server exits first. */
export async function waitUntilReady(
  server: Pick<AppServer, 'url' | 'name' | 'exitStatus' | 'tail'>,
  urlPath: string,
  timeoutMs = 120_000,
): Promise<void> {
  await eventually(
    async () => {
      if (server.exitStatus() !== undefined)
        throw new GiveUp(`${server.name} exited (${server.exitStatus()})`);
      return (await request(`${server.url}${urlPath}`, { timeoutMs: 5_000 })).status;
    },
    {
      describe: `${urlPath} of ${server.name} to answer 200`,
      timeoutMs,
      until: (status) => status === 200,
    },
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n${server.tail()}`, { cause: error });
  });
}

/**
 * Applies the migrations to the database at `databaseUrl` with the built migration command, as
 * a deploy does (the app never migrates a server database itself). Rejects with its output.
 */
export async function migrate(databaseUrl: string, node = process.execPath): Promise<void> {
  await promisify(execFile)(node, [BUILT_MIGRATE], {
    env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl },
    cwd: path.dirname(BUILT_MIGRATE),
  });
}
