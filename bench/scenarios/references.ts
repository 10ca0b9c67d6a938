import path from 'node:path';
import { parseLogLines } from '../../harness/log-capture';
import { startProcess } from '../../harness/processes';
import { LOGIN_BURST_CONNECTIONS } from '../targets';
import type { BenchContext } from '../context';
import type { Scenario } from './scenario';

const REFERENCES = path.resolve(__dirname, '..', 'references');

/**
 * Raw node:http and bare Express 5 hello-worlds: the yardsticks every ratio divides by. With the
 * `single` group, bare Express is measured there instead, in rounds alternated with the app.
 */
export const references: Scenario = {
  selected: (groups) => groups.has('reference'),
  async run(ctx) {
    console.log('References (same machine, same Node):');
    const all = [
      ['ref-node-http', 'raw node:http hello-world', 'node-http.mjs'],
      ['ref-express', 'bare Express 5 hello-world', 'express.mjs'],
    ] as const;
    for (const [id, title, script] of ctx.config.groups.has('single') ? all.slice(0, 1) : all) {
      const server = await ctx.startServer(
        id,
        path.join(REFERENCES, script),
        { NODE_ENV: 'production' },
        '/',
      );
      try {
        await ctx.measure({
          id,
          title,
          group: 'reference',
          job: { url: server.url, method: 'GET', path: '/' },
        });
      } finally {
        await server.stop();
      }
    }
  },
};

/**
 * Bare Express plus a Prisma read of the user, for comparison with the `pg` floor: what one
 * Prisma statement costs. Runs once the single-process app has stopped (the embedded database has one
 * owner), with the account it registered.
 */
export const expressWithDatabaseRead: Scenario = {
  selected: (groups) => groups.has('reference') && groups.has('single'),
  async run(ctx) {
    const account = await ctx.account();
    const server = await ctx.startServer(
      'ref-express-prisma',
      path.join(REFERENCES, 'express-prisma.mjs'),
      ctx.appEnv({ BENCH_USER_ID: account.userId }),
      '/',
    );
    try {
      await ctx.measure({
        id: 'ref-express-prisma',
        title: 'bare Express 5 + a Prisma read of a user',
        group: 'reference',
        job: { url: server.url, method: 'GET', path: '/' },
      });
    } finally {
      await server.stop();
    }
  },
};

/** The scripts of the references, for the scenarios that start them. */
export const referenceScript = (name: string) => path.join(REFERENCES, name);

/**
 * The argon2id floor of login, without the `single` group (which measures it in rounds).
 */
export const argon2Floor: Scenario = {
  selected: (groups) => groups.has('reference') && !groups.has('single'),
  run: (ctx) => measureArgon2Floor(ctx, ctx.config.warmupSec),
};

/**
 * The argon2id floor of login: verifications per second through the app's own hasher (its
 * parameters and concurrency), 32 in flight like the login burst, on the same cores. Recorded
 * as the measurement `ref-argon2` (one more round of it when it exists).
 */
export async function measureArgon2Floor(ctx: BenchContext, warmupSec: number): Promise<void> {
  process.stdout.write('  argon2id floor (verifications/s, the app hasher, 32 in flight) ... ');
  const floor = startProcess(ctx.config.node, [path.join(REFERENCES, 'argon2-floor.mjs')], {
    name: 'argon2 floor',
    env: {
      ...ctx.appEnv(),
      PATH: process.env.PATH,
      BENCH_DURATION: String(ctx.config.durationSec),
      BENCH_WARMUP: String(warmupSec),
      BENCH_FLOOR_IN_FLIGHT: String(LOGIN_BURST_CONNECTIONS),
    },
    cwd: ctx.paths.work,
  });
  if ((await floor.exited) !== 0) throw new Error(`the argon2 floor failed:\n${floor.tail()}`);
  const result = parseLogLines(floor.output()).at(-1) as { verificationsPerSec: number };
  const perSec = result.verificationsPerSec;
  console.log(`${perSec.toFixed(1)} verifications/s`);
  ctx.record({
    id: 'ref-argon2',
    title: 'argon2id floor: verifications/s at the app concurrency',
    group: 'reference',
    requestsPerSec: perSec,
    latencyMs: { p50: 0, p99: 0, max: 0 },
    total: Math.round(perSec * ctx.config.durationSec),
    errors: 0,
    statusCounts: {},
  });
}
