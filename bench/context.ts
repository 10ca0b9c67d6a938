import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { startServer, type AppServer, BUILT_SERVER } from '../harness/app-server';
import { register, type Account } from '../harness/auth-api';
import { runLoad, type LoadJob } from './autocannon';
import type { BenchConfig } from './config';
import { median, ratio, type BenchReport, type Measurement } from './report';

/** The folders of one run. */
export interface BenchPaths {
  /** The repository. */
  root: string;
  /** `bench-results/<time>/`: the report. */
  results: string;
  /** `bench-results/<time>/logs/`: one log file per server. */
  logs: string;
  /** A temp folder for the run: every server's working folder (no stray .env is read). */
  work: string;
  /** The app's DATA_DIR (embedded database, shared by every scenario of the run). */
  data: string;
}

/** What a scenario measured, and what it could not. */
export interface BenchResults {
  readonly measurements: Measurement[];
  readonly skipped: BenchReport['skipped'];
}

/** One scenario's measurement: a load job against a running server. */
export interface MeasureOptions {
  id: string;
  title: string;
  group: Measurement['group'];
  job: LoadJob;
  /** The id of its floor reference (see Measurement.floor). */
  floor?: string;
  /** The id of its ceiling reference (see Measurement.ceiling). */
  ceiling?: string;
  /** The scenario this one is a variant of, and the settings that make it one. */
  variantOf?: string;
  variantEnv?: Record<string, string>;
  /** Seconds of warm-up, when not the run's `BENCH_WARMUP` (later rounds of a warm server). */
  warmupSec?: number;
  /** Runs while the load does, with its end; its figures become the measurement's `extra`. */
  during?: (done: Promise<unknown>) => Promise<Record<string, number>>;
}

/** Everything a scenario works with; the runner makes one per run and passes it to each. */
export interface BenchContext {
  readonly config: BenchConfig;
  readonly paths: BenchPaths;
  readonly results: BenchResults;
  /** The app's environment: production-like, with limits no single bench client can reach. */
  appEnv(overrides?: Record<string, string>): Record<string, string>;
  /** Starts a server script on a free port, its output in `logs/<name>.log`; ready once `readyPath` answers 200. */
  startServer(
    name: string,
    script: string,
    env: Record<string, string | undefined>,
    readyPath: string,
  ): Promise<AppServer>;
  /** The built app (`pnpm start`), ready, with {@link appEnv} plus `overrides`. */
  startApp(name: string, overrides?: Record<string, string>): Promise<AppServer>;
  /**
   * Runs a load job, prints its line, and records the measurement: a new one, or one more round
   * of the measurement with that id (see Measurement.samples).
   */
  measure(options: MeasureOptions): Promise<Measurement>;
  /** Records a measurement made otherwise (the argon2 floor), as {@link measure} does. */
  record(measurement: Measurement): Measurement;
  /** Records a scenario that could not run, and why. */
  skip(id: string, reason: string): void;
  /**
   * The account the authenticated scenarios use, registered once per run: through `url` (a
   * running app) the first time, or through an app started for it when no scenario ran one.
   */
  account(url?: string): Promise<Account>;
  /** `memory`, `cluster memory` or `Redis`: where the rate limiter counts, for titles. */
  storeName(cluster?: boolean): string;
  /** The soak's memory report, when it ran. */
  soak?: import('./report').SoakReport;
}

/** The event-loop window of the app during the bench (EVENT_LOOP_WINDOW_MS): see the login scenario. */
export const EVENT_LOOP_WINDOW_MS = 1_000;

/**
 * Builds the context of one run. Once `interrupted` aborts (Ctrl-C), a measurement in progress
 * is not reported: its load was cut short.
 */
export function createContext(
  config: BenchConfig,
  paths: BenchPaths,
  interrupted: AbortSignal,
): BenchContext {
  const results: BenchResults = { measurements: [], skipped: [] };
  const secrets = {
    access: randomBytes(48).toString('hex'),
    refresh: randomBytes(48).toString('hex'),
  };
  let account: Promise<Account> | undefined;

  const context: BenchContext = {
    config,
    paths,
    results,
    appEnv: (overrides = {}) => ({
      NODE_ENV: config.databaseUrl ? 'production' : 'development',
      HOST: '127.0.0.1',
      DATA_DIR: paths.data,
      LOG_LEVEL: 'info',
      JWT_ACCESS_SECRET: secrets.access,
      JWT_REFRESH_SECRET: secrets.refresh,
      SHUTDOWN_DRAIN_DELAY_MS: '0',
      EVENT_LOOP_WINDOW_MS: String(EVENT_LOOP_WINDOW_MS),
      // Every request still goes through every limiter (and its store); only the ceiling is out
      // of reach, since the whole load comes from one address.
      RATE_LIMIT_API_MAX: '1000000000',
      RATE_LIMIT_AUTH_MAX: '1000000000',
      RATE_LIMIT_AUTH_EMAIL_MAX: '1000000000',
      RATE_LIMIT_REFRESH_MAX: '1000000000',
      // The login burst signs one account in many times at once (each one still passes the
      // per-account delay and concurrency checks, and their stores). An attempt counts until its
      // reply, so 32 at once would otherwise reach the delay's threshold of attempts in flight.
      SIGN_IN_CONCURRENCY_PER_ACCOUNT: '1000',
      SIGN_IN_DELAY_AFTER_FAILURES: '1000000000',
      // Mail (a registration's verification message) goes to the log: production needs a way
      // out for it, and the bench measures the API, not an SMTP server.
      MAIL_TRANSPORT: 'log',
      MAIL_FROM: 'Bench <no-reply@example.com>',
      ...(config.databaseUrl
        ? {
            DATABASE_URL: config.databaseUrl,
            // Production mode: links need a front end, and the bench account signs in unconfirmed.
            APP_PUBLIC_URL: 'https://app.example.test',
            AUTH_ALLOW_UNVERIFIED_SIGN_IN: 'true',
          }
        : {}),
      ...(config.redisUrl ? { REDIS_URL: config.redisUrl } : {}),
      ...config.extraAppEnv,
      ...overrides,
    }),
    startServer: (name, script, env, readyPath) =>
      startServer({
        name,
        entry: script,
        env,
        cwd: paths.work,
        readyPath,
        node: config.node,
        outputFile: path.join(paths.logs, `${name}.log`),
      }),
    startApp: (name, overrides) =>
      context.startServer(name, BUILT_SERVER, context.appEnv(overrides), '/health/ready'),
    async measure({
      id,
      title,
      group,
      job,
      during,
      floor,
      ceiling,
      variantOf,
      variantEnv,
      warmupSec,
    }) {
      interrupted.throwIfAborted();
      process.stdout.write(`  ${title} ... `);
      const running = runLoad(config.node, {
        connections: config.connections,
        durationSec: config.durationSec,
        warmupSec: warmupSec ?? config.warmupSec,
        ...job,
      });
      const extra = during ? await during(running) : undefined;
      const result = await running;
      interrupted.throwIfAborted();
      const errors =
        Object.entries(result.statusCounts)
          .filter(([code]) => !code.startsWith('2') && code !== '429')
          .reduce((sum, [, count]) => sum + count, 0) +
        result.errors +
        result.timeouts;
      const measurement = context.record({
        id,
        title,
        group,
        requestsPerSec: result.requestsPerSec,
        latencyMs: result.latencyMs,
        total: result.total,
        errors,
        statusCounts: result.statusCounts,
        ...(extra ? { extra } : {}),
        ...(floor ? { floor } : {}),
        ...(ceiling ? { ceiling } : {}),
        ...(variantOf ? { variantOf, variantEnv } : {}),
      });
      const r = ratio(results, id);
      console.log(
        `${Math.round(result.requestsPerSec).toLocaleString('en-US')} req/s, p50 ${result.latencyMs.p50} ms, ` +
          `p99 ${result.latencyMs.p99} ms${r === undefined ? '' : `, ${r.toFixed(2)}x Express`}` +
          `${errors > 0 ? `, ${errors} ERRORS ${JSON.stringify({ ...result.statusCounts, ...result.errorKinds })}` : ''}`,
      );
      return measurement;
    },
    record(measurement) {
      const index = results.measurements.findIndex((m) => m.id === measurement.id);
      if (index === -1) {
        results.measurements.push(measurement);
        return measurement;
      }
      const merged = addRound(results.measurements[index]!, measurement);
      results.measurements[index] = merged;
      return merged;
    },
    skip(id, reason) {
      console.log(`  skipped: ${reason}`);
      results.skipped.push({ id, reason });
    },
    account(url) {
      account ??= url ? registerBenchAccount(url) : registerThroughSetupApp();
      return account;
    },
    storeName: (cluster = false) =>
      config.redisUrl ? 'Redis' : cluster ? 'cluster memory' : 'memory',
  };

  /** No scenario ran an app (BENCH_ONLY without `single`): one is started for the account. */
  async function registerThroughSetupApp(): Promise<Account> {
    const app = await context.startApp('app-setup');
    try {
      return await registerBenchAccount(app.url);
    } finally {
      await app.stop();
    }
  }

  return context;
}

/**
 * One more round of a measurement: requests/s and latencies become the medians of the rounds,
 * counts add up, and each extra figure keeps its worst (largest) round, windows counted.
 */
function addRound(so: Measurement, round: Measurement): Measurement {
  const samples = [...(so.samples ?? [so.requestsPerSec]), round.requestsPerSec];
  const latencies = [...((so as Rounds).latencyRounds ?? [so.latencyMs]), round.latencyMs];
  const statusCounts = { ...so.statusCounts };
  for (const [code, count] of Object.entries(round.statusCounts))
    statusCounts[code] = (statusCounts[code] ?? 0) + count;
  const extra = { ...so.extra };
  for (const [key, value] of Object.entries(round.extra ?? {}))
    extra[key] = /(Windows|Count)$/.test(key)
      ? (extra[key] ?? 0) + value
      : Math.max(extra[key] ?? value, value);
  const merged: Measurement & Rounds = {
    ...so,
    requestsPerSec: median(samples),
    latencyMs: {
      p50: median(latencies.map((l) => l.p50)),
      p99: median(latencies.map((l) => l.p99)),
      max: Math.max(...latencies.map((l) => l.max)),
    },
    total: so.total + round.total,
    errors: so.errors + round.errors,
    statusCounts,
    samples,
    ...(Object.keys(extra).length > 0 ? { extra } : {}),
  };
  // Kept off the report (not enumerable): only the medians are written.
  Object.defineProperty(merged, 'latencyRounds', { value: latencies, enumerable: false });
  return merged;
}

type Rounds = { latencyRounds?: Measurement['latencyMs'][] };

/** Registers a new account, `bench-*@bench.invalid`, so the bench's rows are easy to find. */
const registerBenchAccount = (url: string) =>
  register(url, { email: `bench-${randomBytes(6).toString('hex')}@bench.invalid`, name: 'Bench' });
