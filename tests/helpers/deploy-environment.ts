import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { register } from '../../harness/auth-api';
import { eventually } from '../../harness/eventually';
import {
  startLoad,
  waitForRequests,
  type LoadFailure,
  type LoadReport,
  type RunningLoad,
} from '../../harness/load-generator';
import { parseLogLines, type LogLine } from '../../harness/log-capture';
import { startNginx, type Nginx } from '../../harness/nginx';
import { createDatabase, type Database } from '../../harness/postgres';
import { startProcess } from '../../harness/processes';
import { makeTempDir, removeTempDir } from '../../harness/temp-dirs';
import { sharedPostgresAdminUrl } from './e2e-database';

const ROOT = path.resolve(__dirname, '../..');

/** One line of the local driver's `<state dir>/instances`. */
export interface DeployedInstance {
  name: string;
  address: string;
  pid: number;
  version: string;
}

export interface DeployRun {
  /** The script's exit code. */
  code: number | NodeJS.Signals;
  output: string;
}

/** What a deploy test runs against: the shipped nginx, a database, an env file, a state dir. */
export interface DeployEnvironment {
  /** A temp folder of this environment, removed with it. */
  tmp: string;
  nginx: Nginx;
  database: Database;
  envFile: string;
  stateDir: string;
  /**
   * A release directory in the temp folder, as the local driver deploys: this checkout's
   * node_modules, prisma and package.json, and its dist/ (or a dist/ whose server.js is
   * `serverSource`, the rest of dist/db kept so migrations run).
   */
  release(name: string, serverSource?: string): string;
  /** Runs scripts/deploy-<strategy>.sh --driver local against this environment. */
  deploy(strategy: 'rolling' | 'blue-green', version: string, args?: string[]): Promise<DeployRun>;
  /** The instances the state dir records now. */
  instances(): DeployedInstance[];
  /** Parsed JSON log lines of an instance, from the state dir. */
  instanceLogs(name: string): LogLine[];
  destroy(): Promise<void>;
}

export const TEST_SECRETS = {
  JWT_ACCESS_SECRET: 'e2e-deploy-access-secret-0123456789-abcdefghijk',
  JWT_REFRESH_SECRET: 'e2e-deploy-refresh-secret-0123456789-abcdefghij',
};

/**
 * The environment every deploy test uses: production settings (secrets required, docs off) behind
 * one nginx hop, on a fresh database the first deploy migrates. Settings of features built on
 * other branches are set too (a build without them ignores unknown variables): rate limits high
 * enough that the load is never limited, and no drain delay on SIGTERM, since the scripts take an
 * instance out of nginx before they stop it: the tests prove that ordering alone.
 */
export async function startDeployEnvironment(): Promise<DeployEnvironment> {
  const tmp = makeTempDir('e2e-deploy-');
  const stateDir = path.join(tmp, 'state');
  const envFile = path.join(tmp, 'app.env');
  const [database, nginx] = await Promise.all([
    createDatabase(sharedPostgresAdminUrl()),
    startNginx(),
  ]);
  const vars: Record<string, string> = {
    NODE_ENV: 'production',
    DATABASE_URL: database.url,
    DATABASE_POOL_SIZE: '4',
    ...TEST_SECRETS,
    TRUST_PROXY: '1',
    LOG_LEVEL: 'info',
    SHUTDOWN_TIMEOUT_MS: '10000',
    RATE_LIMIT_API_MAX: '1000000',
    RATE_LIMIT_AUTH_MAX: '1000000',
    RATE_LIMIT_AUTH_EMAIL_MAX: '1000000',
    RATE_LIMIT_REFRESH_MAX: '1000000',
    SHUTDOWN_DRAIN_DELAY_MS: '0',
    APP_PUBLIC_URL: 'https://app.example.test',
    // The load signs accounts up and uses their tokens at once: nobody follows a mailed link here.
    AUTH_ALLOW_UNVERIFIED_SIGN_IN: 'true',
    // Production needs a way out for mail; these tests send none worth reading.
    MAIL_TRANSPORT: 'log',
    MAIL_FROM: 'Deploy Test <no-reply@example.com>',
  };
  writeFileSync(
    envFile,
    Object.entries(vars)
      .map(([key, value]) => `${key}=${value}`)
      .join('\n') + '\n',
  );

  const env: DeployEnvironment = {
    tmp,
    nginx,
    database,
    envFile,
    stateDir,
    release(name, serverSource) {
      const dir = path.join(tmp, name);
      mkdirSync(dir);
      for (const entry of ['node_modules', 'prisma', 'package.json'])
        symlinkSync(path.join(ROOT, entry), path.join(dir, entry));
      if (serverSource === undefined) {
        symlinkSync(path.join(ROOT, 'dist'), path.join(dir, 'dist'));
      } else {
        mkdirSync(path.join(dir, 'dist'));
        symlinkSync(path.join(ROOT, 'dist', 'db'), path.join(dir, 'dist', 'db'));
        writeFileSync(path.join(dir, 'dist', 'server.js'), serverSource);
      }
      return dir;
    },
    async deploy(strategy, version, args = []) {
      const proc = startProcess(
        'bash',
        [
          path.join(ROOT, 'scripts', `deploy-${strategy}.sh`),
          '--driver',
          'local',
          '--env-file',
          envFile,
          '--state-dir',
          stateDir,
          ...nginx.deployArgs,
          ...args,
          version,
        ],
        {
          name: `deploy-${strategy}.sh`,
          env: { PATH: process.env.PATH, HOME: process.env.HOME ?? tmp },
        },
      );
      const code = await proc.exited;
      return { code, output: proc.output() };
    },
    instances: () => readInstances(stateDir),
    instanceLogs: (name) =>
      parseLogLines(readFileSync(path.join(stateDir, 'logs', `${name}.log`), 'utf8')),
    async destroy() {
      await stopEveryInstance(stateDir);
      await nginx.destroy();
      await database.drop();
      removeTempDir(tmp);
    },
  };
  return env;
}

export function readInstances(stateDir: string): DeployedInstance[] {
  const file = path.join(stateDir, 'instances');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [name, address, pid, version] = line.split('\t') as [string, string, string, string];
      return { name, address, pid: Number(pid), version };
    });
}

/** Whether `pid` is a live process (not a zombie). */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Every instance a deploy started into `stateDir` that still runs: found from the instance logs
 * (each JSON line carries the pid), confirmed by the process's INSTANCE_ID, so nothing else can
 * match.
 */
export function liveInstances(stateDir: string): Array<{ name: string; pid: number }> {
  const logs = path.join(stateDir, 'logs');
  if (!existsSync(logs)) return [];
  const live: Array<{ name: string; pid: number }> = [];
  for (const file of readdirSync(logs)) {
    const name = file.replace(/\.log$/, '');
    const pids = new Set(
      [...readFileSync(path.join(logs, file), 'utf8').matchAll(/"pid":(\d+)/g)].map((m) =>
        Number(m[1]),
      ),
    );
    for (const pid of pids) {
      if (isRunning(pid) && processEnv(pid).includes(`INSTANCE_ID=${name}`))
        live.push({ name, pid });
    }
  }
  return live;
}

function processEnv(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** SIGTERM every live instance of `stateDir`, SIGKILL after 15 s: nothing outlives a test. */
export async function stopEveryInstance(stateDir: string): Promise<void> {
  const pids = new Set([
    ...readInstances(stateDir)
      .map((i) => i.pid)
      .filter(isRunning),
    ...liveInstances(stateDir).map((i) => i.pid),
  ]);
  for (const pid of pids) process.kill(pid, 'SIGTERM');
  await eventually(() => [...pids].filter(isRunning), {
    describe: 'every instance to exit after SIGTERM',
    timeoutMs: 15_000,
    until: (left) => left.length === 0,
  }).catch(() => {
    for (const pid of pids) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
  });
}

/** A login: what a client keeps (the load rotates `refreshToken` in place). */
export interface Session {
  email: string;
  accessToken: string;
  refreshToken: string;
}

/** Registers `count` users through `baseUrl` (nginx), one at a time. */
export async function registerSessions(
  baseUrl: string,
  count: number,
  label: string,
): Promise<Session[]> {
  const sessions: Session[] = [];
  for (let i = 0; i < count; i++) {
    const { email, accessToken, refreshToken } = await register(baseUrl, {
      email: `${label}-${i}@example.com`,
    });
    sessions.push({ email, accessToken, refreshToken });
  }
  return sessions;
}

/**
 * The load every deploy test runs through nginx, 12 connections in three kinds:
 * - `GET /api/auth/me` with an access token (authenticated, reads the database);
 * - `GET /health/live` (no authentication, no database);
 * - `POST /api/auth/refresh`, each of 4 workers rotating the refresh token of its own session (in
 *   place, so the next load goes on from it), so a reply lost or a request applied twice would
 *   break its chain (a reuse revokes the session): nginx never retries a POST, so these requests
 *   must never reach a replica that is going away.
 * Connection resets of idle keep-alive connections by nginx reloads are retried, once, as
 * browsers do (see `retryConnectionResets`); the test checks those attempts never reached nginx.
 */
export function startDeployLoad(baseUrl: string, sessions: readonly Session[]): RunningLoad {
  // Four refresh workers, each with a session of its own: two rotating one token would collide.
  if (sessions.length < 4) throw new Error('startDeployLoad needs 4 sessions');
  return startLoad({
    baseUrl,
    concurrency: 12,
    pauseMs: 10,
    retryConnectionResets: true,
    next(worker) {
      const session = sessions[worker % sessions.length]!;
      switch (worker % 3) {
        case 0:
          return {
            method: 'GET',
            path: '/api/auth/me',
            headers: { Authorization: `Bearer ${session.accessToken}` },
          };
        case 1:
          return { method: 'GET', path: '/health/live' };
        default: {
          const chain = sessions[Math.floor(worker / 3)]!;
          return {
            method: 'POST',
            path: '/api/auth/refresh',
            body: { refreshToken: chain.refreshToken },
            onSuccess(body) {
              chain.refreshToken = (body as { refreshToken: string }).refreshToken;
            },
          };
        }
      }
    },
  });
}

/** Runs a deploy while the load of {@link startDeployLoad} runs, with traffic before and after it. */
export async function deployUnderLoad(
  env: DeployEnvironment,
  strategy: 'rolling' | 'blue-green',
  version: string,
  sessions: readonly Session[],
  args: string[] = [],
): Promise<{ run: DeployRun; report: LoadReport; accessLogMark: number }> {
  const load = startDeployLoad(env.nginx.url, sessions);
  await waitForRequests(load, 200);
  const run = await env.deploy(strategy, version, args);
  const accessLogMark = env.nginx.accessLog().length;
  await waitForRequests(load, 200);
  const report = await load.stop();
  return { run, report, accessLogMark };
}

/**
 * The attempts the load resent after a connection reset that nginx nevertheless logged: a resent
 * request must never have been processed, so this must be empty.
 */
export function resetsThatReachedNginx(env: DeployEnvironment, report: LoadReport): LoadFailure[] {
  const seen = new Set(env.nginx.accessLog().map((entry) => entry.requestId));
  return report.resets.filter((reset) => seen.has(reset.requestId));
}
