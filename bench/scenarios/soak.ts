import { setTimeout as sleep } from 'node:timers/promises';
import { login, PASSWORD } from '../../harness/auth-api';
import { requestJson } from '../../harness/http-client';
import { runLoad, type LoadResult } from '../autocannon';
import type { SoakReport } from '../report';
import type { Scenario } from './scenario';

const SAMPLE_EVERY_MS = 5_000;

/**
 * `BENCH_SOAK=<seconds>`: the single-process app under a mixed load for that long (`/me`,
 * refresh and login at once, from three load generators), its RSS and heap sampled every 5 s
 * from `/health/metrics`. After a warm-up (the first quarter), a least-squares slope of each: an
 * upward trend is a slope that would grow it by more than 10% of its mean and 8 MB over the
 * measured window (below that, it is the garbage collector's sawtooth).
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
        const metrics = await requestJson<{ memoryMb?: { rss: number; heapUsed: number } }>(
          `${app.url}/health/metrics`,
        ).catch(() => undefined);
        if (metrics?.memoryMb)
          samples.push([
            Math.round((Date.now() - started) / 1000),
            metrics.memoryMb.rss,
            metrics.memoryMb.heapUsed,
          ]);
        await Promise.race([sleep(SAMPLE_EVERY_MS), loads.catch(() => undefined)]);
      }
      const [me, refresh, logins] = await loads;
      ctx.soak = soakReport(seconds, samples, { me: me, refresh: refresh, login: logins });
      const s = ctx.soak;
      console.log(
        `  ${samples.length} samples; RSS ${samples[0]?.[1]} -> ${samples.at(-1)?.[1]} MB, heap ${samples[0]?.[2]} -> ${samples.at(-1)?.[2]} MB; ` +
          `slope after warm-up: RSS ${s.rssSlopeMbPerMin.toFixed(2)} MB/min, heap ${s.heapSlopeMbPerMin.toFixed(2)} MB/min: ` +
          `${s.upwardTrend ? 'UPWARD TREND' : 'no upward trend'}; ${s.errors} errors`,
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
  const measured = samples.slice(Math.floor(samples.length / 4));
  const trend = (column: 1 | 2) => {
    const xs = measured.map((sample) => sample[0] / 60);
    const ys = measured.map((sample) => sample[column]);
    const slope = leastSquaresSlope(xs, ys);
    const window = (xs.at(-1) ?? 0) - (xs[0] ?? 0);
    const mean = ys.reduce((sum, y) => sum + y, 0) / Math.max(1, ys.length);
    return { slope, rising: slope * window > Math.max(0.1 * mean, 8) };
  };
  const rss = trend(1);
  const heap = trend(2);
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
    rssSlopeMbPerMin: rss.slope,
    heapSlopeMbPerMin: heap.slope,
    upwardTrend: rss.rising || heap.rising,
    requests: Object.fromEntries(Object.entries(results).map(([k, r]) => [k, r.total])),
    errors,
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
