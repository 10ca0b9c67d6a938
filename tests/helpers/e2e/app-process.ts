import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GENEROUS_LIMITS } from '../limits';
import { spawnTracked, type RunningProcess } from './child-processes';
import { freePort } from './ports';

const SERVER = path.resolve(__dirname, '../../../dist/server.js');

/**
 * The built server plus test-only routes (`/test/slow`, `/test/query`, `/test/crash`,
 * `/test/reject`): see test-routes-server.js.
 */
export const TEST_ROUTES_SERVER = path.resolve(__dirname, 'test-routes-server.js');

/** The built server (`node dist/server.js`, as `pnpm start` runs it) in its own process. */
export interface AppProcess extends RunningProcess {
  url: string;
  port: number;
  /** The data folder it was given (embedded database, development secrets). */
  dataDir: string;
  /** Parsed JSON log lines so far. */
  logs(): Array<Record<string, unknown>>;
  /** Resolves with the first log line matching `predicate` (lines arrive over a pipe, later than replies). */
  waitForLog(
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
}

export interface StartAppOptions {
  env?: Record<string, string>;
  /** The script to run; defaults to the built server, dist/server.js. */
  entry?: string;
  /** Resolve once this path answers 200 (default `/health/ready`); `false` to not wait. */
  waitFor?: string | false;
  timeoutMs?: number;
}

/**
 * Starts the built server on a free port with a clean environment (only what is passed, plus
 * PATH): the developer's own DATABASE_URL or .env never leak into a test.
 */
export async function startApp({
  env = {},
  entry = SERVER,
  waitFor = '/health/ready',
  timeoutMs = 30_000,
}: StartAppOptions = {}): Promise<AppProcess> {
  const port = Number(env.PORT ?? (await freePort()));
  const dataDir = env.DATA_DIR ?? createdDataDir();
  const proc = spawnTracked(process.execPath, [entry], {
    cwd: dataDir, // no stray .env is read
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: '10000',
      // Every test client is 127.0.0.1; tests of the limits pass their own.
      ...GENEROUS_LIMITS,
      ...env,
      PORT: String(port),
      DATA_DIR: dataDir,
    },
  });
  const app: AppProcess = {
    ...proc,
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir,
    logs: () =>
      proc
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    async waitForLog(predicate, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const line = app.logs().find(predicate);
        if (line) return line;
        if (Date.now() > deadline)
          throw new Error(`no matching log line within ${timeoutMs} ms:\n${proc.output()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
  if (waitFor !== false) {
    // A server that never got ready is not handed to the test, so the test cannot stop it:
    // stop it here rather than leave it running until the worker exits.
    await waitUntilOk(app, waitFor, timeoutMs).catch(async (error: unknown) => {
      await proc.stop('SIGKILL');
      throw error;
    });
  }
  return app;
}

async function waitUntilOk(app: AppProcess, urlPath: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | NodeJS.Signals | undefined;
  void app.exited.then((code) => (exitCode = code));
  for (;;) {
    if (exitCode !== undefined)
      throw new Error(
        `the server exited (${exitCode}) before ${urlPath} was ready:\n${app.output()}`,
      );
    const ok = await fetch(`${app.url}${urlPath}`, { signal: AbortSignal.timeout(2_000) }).then(
      (res) => res.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`${urlPath} was not ready within ${timeoutMs} ms:\n${app.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const createdDataDirs: string[] = [];
// Kept for the whole test file (a test may restart an app on the same folder), removed at its end.
process.on('exit', () => {
  for (const dir of createdDataDirs) rmSync(dir, { recursive: true, force: true });
});

function createdDataDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'e2e-app-'));
  createdDataDirs.push(dir);
  return dir;
}
