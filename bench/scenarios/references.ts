import path from 'node:path';
import { parseLogLines } from '../../harness/log-capture';
import { startProcess } from '../../harness/processes';
import { LOGIN_BURST_CONNECTIONS } from '../targets';
import type { Scenario } from './scenario';

const REFERENCES = path.resolve(__dirname, '..', 'references');

/** Raw node:http and bare Express 5 hello-worlds: the yardsticks every ratio divides by. */
export const references: Scenario = {
  selected: (groups) => groups.has('reference'),
  async run(ctx) {
    console.log('References (same machine, same Node):');
    for (const [id, title, script] of [
      ['ref-node-http', 'raw node:http hello-world', 'node-http.mjs'],
      ['ref-express', 'bare Express 5 hello-world', 'express.mjs'],
    ] as const) {
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

/**
 * The floors of the database-bound scenarios, on the same PostgreSQL: bare Express plus one
 * node-postgres prepared statement, the read of a user by id (`/me`'s floor) and the app's own
 * rotation statement (refresh's floor). They need a PostgreSQL server (DATABASE_URL) and, for
 * the rotation, the unspent tokens the single-process scenario set aside.
 */
export const databaseFloors: Scenario = {
  selected: (groups) => groups.has('reference') && groups.has('single'),
  async run(ctx) {
    if (!ctx.config.databaseUrl) {
      ctx.skip('ref-express-pg', 'the pg floors need a PostgreSQL server: set DATABASE_URL');
      return;
    }
    const account = await ctx.account();
    const read = await ctx.startServer(
      'ref-express-pg-read',
      path.join(REFERENCES, 'express-pg-read.mjs'),
      ctx.appEnv({ BENCH_USER_ID: account.userId }),
      '/',
    );
    try {
      await ctx.measure({
        id: 'ref-express-pg-read',
        title: 'bare Express 5 + one pg prepared read of a user',
        group: 'reference',
        job: { url: read.url, method: 'GET', path: '/' },
      });
    } finally {
      await read.stop();
    }
    const tokens = ctx.spareRefreshTokens;
    if (!tokens) return;
    // Ready once it listens: GET / is a 404 from Express, not a 200.
    const rotation = await ctx.startServer(
      'ref-express-pg-rotation',
      path.join(REFERENCES, 'express-pg-rotation.mjs'),
      ctx.appEnv(),
      '/health',
    );
    try {
      await ctx.measure({
        id: 'ref-express-pg-rotation',
        title: 'bare Express 5 + one pg rotation statement',
        group: 'reference',
        job: { url: rotation.url, method: 'POST', path: '/', refreshTokens: tokens },
      });
    } finally {
      await rotation.stop();
    }
  },
};

/**
 * The argon2id floor of login: verifications per second through the app's own hasher (its
 * parameters and concurrency), 32 in flight like the login burst, on the same cores.
 */
export const argon2Floor: Scenario = {
  selected: (groups) => groups.has('reference'),
  async run(ctx) {
    process.stdout.write('  argon2id floor (verifications/s, the app hasher, 32 in flight) ... ');
    const floor = startProcess(ctx.config.node, [path.join(REFERENCES, 'argon2-floor.mjs')], {
      name: 'argon2 floor',
      env: {
        ...ctx.appEnv(),
        PATH: process.env.PATH,
        BENCH_DURATION: String(ctx.config.durationSec),
        BENCH_WARMUP: String(ctx.config.warmupSec),
        BENCH_FLOOR_IN_FLIGHT: String(LOGIN_BURST_CONNECTIONS),
      },
      cwd: ctx.paths.work,
    });
    if ((await floor.exited) !== 0) throw new Error(`the argon2 floor failed:\n${floor.tail()}`);
    const result = parseLogLines(floor.output()).at(-1) as { verificationsPerSec: number };
    const perSec = result.verificationsPerSec;
    console.log(`${perSec.toFixed(1)} verifications/s`);
    ctx.results.measurements.push({
      id: 'ref-argon2',
      title: 'argon2id floor: verifications/s at the app concurrency',
      group: 'reference',
      requestsPerSec: perSec,
      latencyMs: { p50: 0, p99: 0, max: 0 },
      total: Math.round(perSec * ctx.config.durationSec),
      errors: 0,
      statusCounts: {},
    });
  },
};
