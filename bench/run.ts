/**
 * `pnpm bench`: measures the template against a bare Express 5 and a raw node:http hello-world,
 * in one run on one machine, and checks the targets. See the README's "Performance" section.
 *
 * Knobs (environment, see config.ts): BENCH_NODE, BENCH_DURATION, BENCH_WARMUP,
 * BENCH_CONNECTIONS, BENCH_ONLY (reference, single, cluster, nginx), BENCH_APP_ENV, DATABASE_URL
 * and REDIS_URL (real servers; embedded database and memory store otherwise).
 *
 * The runner reads the knobs, makes this run's folders, and passes one context to each scenario
 * in bench/scenarios/ in turn; the scenarios record what they measure in it. Then it writes the
 * report (report.ts) and exits 1 if any scenario got error responses.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { migrate } from '../harness/app-server';
import { stopAll } from '../harness/processes';
import { makeTempDir, removeTempDir } from '../harness/temp-dirs';
import { readBenchConfig, UsageError, type BenchConfig } from './config';
import { createContext, type BenchPaths } from './context';
import { markdown, svgChart, targetLines, textTable, type BenchReport } from './report';
import { behindNginx } from './scenarios/nginx';
import { cluster } from './scenarios/cluster';
import { argon2Floor, expressWithDatabaseRead, references } from './scenarios/references';
import type { Scenario } from './scenarios/scenario';
import { singleProcess } from './scenarios/single-process';
import { soak } from './scenarios/soak';
import { targets } from './targets';

/**
 * In this order: the Prisma reference needs the single-process app stopped (the embedded database
 * has one owner) and its account. The floors of the single-process scenarios run inside it.
 */
const SCENARIOS: readonly Scenario[] = [
  references,
  argon2Floor,
  singleProcess,
  expressWithDatabaseRead,
  soak,
  cluster,
  behindNginx,
];

const ROOT = path.resolve(__dirname, '..');

/** Runs the selected scenarios and writes the report; resolves with the exit status. */
async function bench(
  config: BenchConfig,
  paths: BenchPaths,
  interrupted: AbortSignal,
): Promise<number> {
  const nodeVersion = execFileSync(config.node, ['--version'], { encoding: 'utf8' })
    .trim()
    .replace(/^v/, '');
  const database = config.databaseUrl
    ? `PostgreSQL (DATABASE_URL: ${new URL(config.databaseUrl).host})`
    : 'embedded PGlite (set DATABASE_URL for PostgreSQL)';
  const store = config.redisUrl
    ? `Redis (REDIS_URL: ${new URL(config.redisUrl).host})`
    : 'memory (set REDIS_URL for Redis)';
  console.log(`Node ${nodeVersion} (${config.node})`);
  console.log(`Machine: ${machine()}`);
  console.log(`Database: ${database}`);
  console.log(`Rate-limit store: ${store}`);
  console.log(
    `Load: autocannon, ${config.connections} connections, ${config.durationSec} s per scenario after ${config.warmupSec} s of warm-up; ${config.repeat} round(s) of the scenarios with a floor or variant; logs in ${path.relative(ROOT, paths.logs)}/\n`,
  );

  // A server database is migrated once, as a deploy does (the app never migrates it itself).
  if (config.databaseUrl) await migrate(config.databaseUrl, config.node);

  const ctx = createContext(config, paths, interrupted);
  for (const scenario of SCENARIOS) {
    if (scenario.selected(config.groups)) await scenario.run(ctx);
  }

  const { measurements, skipped } = ctx.results;
  const report: BenchReport = {
    date: new Date().toISOString().slice(0, 10),
    machine: machine(),
    node: nodeVersion,
    database,
    rateLimitStore: store,
    connections: config.connections,
    durationSec: config.durationSec,
    warmupSec: config.warmupSec,
    repeat: config.repeat,
    measurements,
    skipped,
    targets: targets(measurements, {
      redis: config.redisUrl !== undefined,
      refreshBaseline: config.refreshBaseline,
      soak: ctx.soak,
    }),
    ...(ctx.soak ? { soak: ctx.soak } : {}),
  };
  writeFileSync(path.join(paths.results, 'results.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(path.join(paths.results, 'results.md'), markdown(report));
  writeFileSync(path.join(paths.results, 'results.svg'), svgChart(report));

  console.log(`\n${textTable(report)}\n`);
  for (const line of targetLines(report)) console.log(line);
  const rel = path.relative(ROOT, paths.results);
  console.log(`\nWritten: ${rel}/results.json, ${rel}/results.md, ${rel}/results.svg`);
  const missed = report.targets.filter((t) => !t.met).length;
  console.log(`${report.targets.length - missed} targets met, ${missed} missed`);
  // A missed ratio is a finding about this machine; an error response is a defect.
  return measurements.some((m) => m.errors > 0) ? 1 : 0;
}

function machine(): string {
  const cpu = os.cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
  const gib = Math.round(os.totalmem() / 2 ** 30);
  return `${os.availableParallelism()} cores (${cpu}), ${gib} GiB, ${os.type()} ${os.release()}`;
}

/** This run's folders, made now: nothing is created before the bench runs. */
function makePaths(): BenchPaths {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const results = path.join(ROOT, 'bench-results', stamp);
  const logs = path.join(results, 'logs');
  mkdirSync(logs, { recursive: true });
  const work = makeTempDir('bench-');
  const data = path.join(work, 'data');
  mkdirSync(data);
  return { root: ROOT, results, logs, work, data };
}

function main(): void {
  let config: BenchConfig;
  try {
    config = readBenchConfig(process.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`bench: ${error.message}`);
    process.exit(2);
  }
  const paths = makePaths();

  // Stops everything, removes the work folder, exits: once, whoever asks first (the end of the
  // run, or a signal) decides the exit status.
  let finishing: Promise<never> | undefined;
  const finish = (code: number): Promise<never> =>
    (finishing ??= (async () => {
      await stopAll();
      removeTempDir(paths.work);
      process.exit(code);
    })());
  const interruption = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // `on`, not `once`: Ctrl-C reaches this process both from the terminal and relayed by pnpm or
    // tsx, and a second delivery with no listener would kill it before it stopped its servers.
    process.on(signal, () => {
      if (interruption.signal.aborted) return;
      console.error(`\nbench: ${signal}: stopping everything it started`);
      interruption.abort(new Error(`interrupted by ${signal}`));
      void finish(130);
    });
  }

  bench(config, paths, interruption.signal).then(
    (code) => finish(code),
    (error: unknown) => {
      if (!interruption.signal.aborted)
        console.error(`\nbench failed: ${error instanceof Error ? error.message : String(error)}`);
      void finish(1);
    },
  );
}

main();
