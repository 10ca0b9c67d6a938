import { BUILT_CLUSTER } from '../../harness/app-server';
import { eventually } from '../../harness/eventually';
import { requestJson } from '../../harness/http-client';
import { measureLiveAndMe } from './jobs';
import type { Scenario } from './scenario';

/** The template as `pnpm start:cluster` runs it, with 2 workers. */
export const cluster: Scenario = {
  selected: (groups) => groups.has('cluster'),
  async run(ctx) {
    console.log('The template, src/cluster.ts with 2 workers (pnpm start:cluster):');
    const account = await ctx.account();
    const primary = await ctx.startServer(
      'cluster',
      BUILT_CLUSTER,
      ctx.appEnv({ MAX_WORKERS: '2' }),
      '/health/ready',
    );
    const { url } = primary;
    try {
      // Ready means one worker answers; the figures are for two.
      await eventually(
        async () => (await requestJson<{ workers?: unknown[] }>(`${url}/health/metrics`)).workers,
        {
          describe: 'the cluster to report 2 workers',
          timeoutMs: 60_000,
          intervalMs: 200,
          until: (workers) => Array.isArray(workers) && workers.length >= 2,
        },
      );
      await measureLiveAndMe(ctx, {
        url,
        account,
        group: 'cluster',
        prefix: { id: 'cluster-', title: 'cluster x2: ' },
        store: ctx.storeName(true),
      });
    } finally {
      await primary.stop();
    }
  },
};
