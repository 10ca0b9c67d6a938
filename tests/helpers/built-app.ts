import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, type AppServer } from '../../harness/app-server';
import { makeTempDir } from '../../harness/temp-dirs';
import { GENEROUS_LIMITS } from './limits';

const FIXTURES = path.join(__dirname, 'e2e');

/**
 * The built server plus test-only routes (`/test/slow`, `/test/query`, `/test/crash`,
 * `/test/reject`): see test-routes-server.js.
 */
export const TEST_ROUTES_SERVER = path.join(FIXTURES, 'test-routes-server.js');
/** The built cluster whose workers have the test-only routes: see test-routes-cluster.js. */
export const TEST_ROUTES_CLUSTER = path.join(FIXTURES, 'test-routes-cluster.js');
/** Preloaded into a cluster: its workers fail at start-up, every time. */
export const CRASH_IN_WORKER = path.join(FIXTURES, 'crash-in-worker.js');

/**
 * AUTH_SESSION_CACHE_MS of every app these tests start (the default): how long a process may
 * answer an access token's session check from memory, so a session ended, an account disabled or
 * a role changed through another process is seen by this one within it.
 */
export const SESSION_CACHE_MS = 500;

/**
 * Waits out {@link SESSION_CACHE_MS} after a change's reply: from then on every process must see
 * the change (a check it reuses was sent before the change committed, so it is older than that).
 * This wait is the bound under test, not a guess at how fast the machine is: a busy machine only
 * makes it longer, never wrong. The margin covers timers firing a little early.
 */
export const pastSessionCache = () => sleep(SESSION_CACHE_MS + 50);

/** The built server (or `entry`) in its own process, under test settings. */
export interface AppProcess extends AppServer {
  /** The data folder it was given (embedded database, development secrets). */
  dataDir: string;
}

export interface StartAppOptions {
  /** Settings on top of the test defaults. */
  env?: Record<string, string>;
  /** The script to run; defaults to the built server, dist/server.js. */
  entry?: string;
  /** Resolve once this path answers 200 (default `/health/ready`); `false` to not wait. */
  waitFor?: string | false;
}

/**
 * Starts the built server on a free port with a clean environment: test settings plus `env`,
 * and nothing of the developer's own (no DATABASE_URL, no .env). Without `DATA_DIR` in `env`, it
 * gets a data folder of its own, kept for the whole test file (a test may restart a server on
 * the same folder).
 */
export async function startApp({
  env = {},
  entry,
  waitFor = '/health/ready',
}: StartAppOptions = {}): Promise<AppProcess> {
  const dataDir = env.DATA_DIR ?? makeTempDir('e2e-app-');
  const server = await startServer({
    entry,
    cwd: dataDir, // no stray .env is read
    readyPath: waitFor,
    env: {
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: '10000',
      // Every test client is 127.0.0.1; tests of the limits pass their own.
      ...GENEROUS_LIMITS,
      // Tests read readiness right after breaking or restoring a dependency: no reuse of the
      // last check (concurrent probes still share one). The cache has its own tests.
      READINESS_CACHE_MS: '0',
      AUTH_SESSION_CACHE_MS: String(SESSION_CACHE_MS),
      ...env,
      DATA_DIR: dataDir,
    },
  });
  return Object.assign(server, { dataDir });
}
