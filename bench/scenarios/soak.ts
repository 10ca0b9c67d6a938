import { setTimeout as sleep } from 'node:timers/promises';
import { login, PASSWORD } from '../../harness/auth-api';
import { requestJson } from '../../harness/http-client';
import { runLoad, type LoadResult } from '../autocannon';
import { soakVerdict, type SoakReport } from '../report';
import type { Scenario } from './scenario';

const SAMPLE_EVERY_MS = 5_000;

/**
 * `BENCH_SOAK=<seconds>`: the single-process app under a mixed load for that long (`/me`,
 * refresh and login at once, from three load generators), its memory sampled every 5 s from
 * `/health/metrics`; judged by {@link memoryTrend}.
 */
export const soak: Scenario = {
  selected: (groups) => groups.has('single'),
  async run(ctx) {
    const seconds = ctx.config.soakSec;
    if (seconds === 0) return;
    console.log(`Soak: ${seconds} s of mixed /me, refresh and login on one process:`);
    const app = await ctx.startApp('app-soak');
    try {
      const account = await ctx.account(app.url);
      const refreshConnections = 16;
      const tokens: string[] = [];
      for (let i = 0; i < refreshConnections; i++)
        tokens.push((await login(app.url, account.email)).refreshToken);
      const common = { url: app.url, durationSec: seconds, warmupSec: 0 };
      let finished = false;
      const loads = Promise.all([
        runLoad(ctx.config.node, {
          ...common,
          method: 'GET',
          path: '/api/auth/me',
          headers: { authorization: `Bearer ${account.accessToken}` },
          connections: 24,
        }),
        runLoad(ctx.config.node, {
          ...common,
          method: 'POST',
          path: '/api/auth/refresh',
          connections: refreshConnections,
          refreshTokens: { warmup: [], measured: tokens },
        }),
        runLoad(ctx.config.node, {
          ...common,
          method: 'POST',
          path: '/api/auth/login',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: account.email, password: PASSWORD }),
          connections: 2,
        }),
      ]).finally(() => (finished = true));
      const started = Date.now();
      const samples: SoakReport['samples'] = [];
      while (!finished) {
        const metrics = await requestJson<{
          memoryMb?: { rss: number; heapUsed: number; heapAfterGc: number | null };
        }>(`${app.url}/health/metrics`).catch(() => undefined);
        if (metrics?.memoryMb)
          samples.push([
            Math.round((Date.now() - started) / 1000),
            metrics.memoryMb.rss,
            metrics.memoryMb.heapUsed,
            metrics.memoryMb.heapAfterGc,
          ]);
        await Promise.race([sleep(SAMPLE_EVERY_MS), loads.catch(() => undefined)]);
      }
      const [me, refresh, logins] = await loads;
      ctx.soak = soakReport(seconds, samples, { me: me, refresh: refresh, login: logins });
      const s = ctx.soak;
      console.log(
        `  ${samples.length} samples; RSS ${samples[0]?.[1]} -> ${samples.at(-1)?.[1]} MB, heap ${samples[0]?.[2]} -> ${samples.at(-1)?.[2]} MB; ` +
          `slope after warm-up: RSS ${s.rssSlopeMbPerMin.toFixed(2)} MB/min, heap after ${s.fullCollections} full collections ${s.heapAfterGcSlopeMbPerMin.toFixed(2)} MB/min: ` +
          `${soakVerdict(s)}; ${s.errors} errors`,
      );
    } finally {
      await app.stop();
    }
  },
};

function soakReport(
  durationSec: number,
  samples: SoakReport['samples'],
  results: Record<string, LoadResult>,
): SoakReport {
  const errors = Object.values(results).reduce(
    (sum, r) =>
      sum +
      r.errors +
      r.timeouts +
      Object.entries(r.statusCounts)
        .filter(([code]) => !code.startsWith('2') && code !== '429')
        .reduce((n, [, count]) => n + count, 0),
    0,
  );
  return {
    durationSec,
    samples,
    ...memoryTrend(samples),
    requests: Object.fromEntries(Object.entries(results).map(([k, r]) => [k, r.total])),
    errors,
  };
}

/**
 * Judges a soak's memory samples. After a warm-up (the first quarter), a least-squares slope of
 * RSS and of the heap right after full collections (the live set): an upward trend is a slope
 * that would grow either by more than 10% of its mean and 8 MB over the measured window. The heap
 * in use at a random moment is not judged: it swings with every collection (40 to 180 MB within
 * a minute or two under this load), and a window of a few minutes holds too few of its cycles
 * for a slope to mean anything (a Node 20 soak whose RSS stayed flat was flagged on it).
 */
export function memoryTrend(
  samples: SoakReport['samples'],
): Pick<
  SoakReport,
  'rssSlopeMbPerMin' | 'heapAfterGcSlopeMbPerMin' | 'fullCollections' | 'upwardTrend'
> {
  const measured = samples.slice(Math.floor(samples.length / 4));
  const trend = (points: ReadonlyArray<readonly [number, number]>) => {
    const xs = points.map(([seconds]) => seconds / 60);
    const ys = points.map(([, mb]) => mb);
    const slope = leastSquaresSlope(xs, ys);
    const window = (xs.at(-1) ?? 0) - (xs[0] ?? 0);
    const mean = ys.reduce((sum, y) => sum + y, 0) / Math.max(1, ys.length);
    return { slope, rising: slope * window > Math.max(0.1 * mean, 8) };
  };
  const rss = trend(measured.map(([seconds, mb]) => [seconds, mb] as const));
  const live = measured.flatMap(([seconds, , , mb]) =>
    mb === null ? [] : [[seconds, mb] as const],
  );
  const heap = trend(live);
  // Each change of the figure is at least one more full collection.
  const fullCollections = live.filter(([, mb], i) => i > 0 && mb !== live[i - 1]![1]).length;
  return {
    rssSlopeMbPerMin: rss.slope,
    heapAfterGcSlopeMbPerMin: heap.slope,
    fullCollections,
    upwardTrend: rss.rising || heap.rising,
  };
}

function leastSquaresSlope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}
