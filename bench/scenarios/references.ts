import path from 'node:path';
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
 * Bare Express plus the database read of `/me` and nothing else: what `/me` would cost with no
 * middleware at all. Runs once the single-process app has stopped (the embedded database has one
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
        title: 'bare Express 5 + the Prisma read of /me',
        group: 'reference',
        job: { url: server.url, method: 'GET', path: '/' },
      });
    } finally {
      await server.stop();
    }
  },
};
