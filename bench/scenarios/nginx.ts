import { copyFileSync } from 'node:fs';
import path from 'node:path';
import type { AppServer } from '../../harness/app-server';
import { findBinary } from '../../harness/binaries';
import { parseLogLines, waitForLog } from '../../harness/log-capture';
import { startNginx, type Nginx } from '../../harness/nginx';
import { startProcess, type ManagedProcess } from '../../harness/processes';
import type { BenchContext } from '../context';
import { measureLiveAndMe } from './jobs';
import type { Scenario } from './scenario';

const EMBEDDED_DATABASE = path.resolve(__dirname, '..', 'embedded-database.mjs');

/**
 * Two replicas behind the shipped nginx configuration (least_conn). The one change to the shipped
 * files besides paths and port is `keepalive_requests` (see the harness's `endlessKeepAlive`).
 */
export const behindNginx: Scenario = {
  selected: (groups) => groups.has('nginx'),
  async run(ctx) {
    console.log('The template, 2 replicas behind the shipped nginx (least_conn):');
    try {
      findBinary('nginx');
    } catch {
      // The e2e tier fails without nginx; the bench measures what it can and says what it skipped.
      ctx.skip('nginx', 'nginx is not installed (scripts/install-system-deps.sh installs it)');
      return;
    }
    const account = await ctx.account();
    let database: ManagedProcess | undefined;
    const replicas: AppServer[] = [];
    let nginx: Nginx | undefined;
    try {
      let databaseUrl = ctx.config.databaseUrl;
      const served: Record<string, string> = {};
      if (!databaseUrl) {
        database = serveEmbeddedDatabase(ctx);
        databaseUrl = await databaseUrlOf(database);
        // One PGlite session behind every connection: no named prepared statements.
        served.DATABASE_PREPARED_STATEMENTS = 'false';
      }
      for (const name of ['replica-1', 'replica-2']) {
        replicas.push(
          await ctx.startApp(name, {
            DATABASE_URL: databaseUrl,
            ...served,
            TRUST_PROXY: '1',
            INSTANCE_ID: name,
          }),
        );
      }
      nginx = await startNginx({
        upstreams: replicas.map((replica) => replica.address),
        endlessKeepAlive: true,
        outputFile: path.join(ctx.paths.logs, 'nginx.log'),
      });
      await measureLiveAndMe(ctx, {
        url: nginx.url,
        account,
        group: 'nginx',
        prefix: { id: 'nginx-', title: 'nginx + 2 replicas: ' },
      });
    } finally {
      if (nginx) {
        copyFileSync(nginx.errorLog, path.join(ctx.paths.logs, 'nginx-error.log'));
        await nginx.destroy();
      }
      await Promise.all(replicas.map((replica) => replica.stop()));
      await database?.stop();
    }
  },
};

/**
 * Two processes cannot open one embedded database: without DATABASE_URL it is served as the
 * cluster's primary serves it to its workers (see bench/embedded-database.mjs).
 */
function serveEmbeddedDatabase(ctx: BenchContext): ManagedProcess {
  return startProcess(ctx.config.node, [EMBEDDED_DATABASE], {
    name: 'embedded-database',
    env: { PATH: process.env.PATH, ...ctx.appEnv(), PORT: '0' },
    cwd: ctx.paths.work,
    outputFile: path.join(ctx.paths.logs, 'embedded-database.log'),
  });
}

/** The URL the embedded database prints, as one JSON line, once it serves. */
async function databaseUrlOf(database: ManagedProcess): Promise<string> {
  const line = await waitForLog(
    () => parseLogLines(database.output()),
    (candidate) => typeof candidate.url === 'string',
    {
      describe: 'the embedded database URL',
      timeoutMs: 60_000,
      ended: () => database.exitStatus() !== undefined,
      context: () => database.tail(),
    },
  );
  return line.url as string;
}
