import { setTimeout as sleep } from 'node:timers/promises';
import { login, PASSWORD } from '../../harness/auth-api';
import { requestJson } from '../../harness/http-client';
import { EVENT_LOOP_WINDOW_MS } from '../context';
import { LOGIN_BURST_CONNECTIONS } from '../targets';
import { measureLiveAndMe } from './jobs';
import type { Scenario } from './scenario';

/** The template as `pnpm start` runs it: probes, an authenticated read, rotation, logins. */
export const singleProcess: Scenario = {
  selected: (groups) => groups.has('single'),
  async run(ctx) {
    console.log('The template, one process (pnpm start):');
    const app = await ctx.startApp('app');
    const { url } = app;
    try {
      const account = await ctx.account(url);
      const group = 'single process';
      await measureLiveAndMe(ctx, { url, account, group });

      const { connections } = ctx.config;
      const sessions = await refreshSessions(url, account.email, 4 * connections);
      // Half for the rotation reference, which runs on this database once the app has stopped.
      ctx.spareRefreshTokens = {
        warmup: sessions.slice(2 * connections, 3 * connections),
        measured: sessions.slice(3 * connections),
      };
      await ctx.measure({
        id: 'refresh',
        title: 'POST /api/auth/refresh (rotation)',
        group,
        floor: 'ref-express-pg-rotation',
        job: {
          url,
          method: 'POST',
          path: '/api/auth/refresh',
          refreshTokens: {
            warmup: sessions.slice(0, connections),
            measured: sessions.slice(connections, 2 * connections),
          },
        },
      });

      await ctx.measure({
        id: 'login',
        title: `POST /api/auth/login (${LOGIN_BURST_CONNECTIONS} concurrent)`,
        group,
        job: {
          url,
          method: 'POST',
          path: '/api/auth/login',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: account.email, password: PASSWORD }),
          connections: LOGIN_BURST_CONNECTIONS,
        },
        floor: 'ref-argon2',
        during: (done) => eventLoopDuring(url, done),
      });
    } finally {
      await app.stop();
    }
  },
};

/** Logs in `count` times (a few at a time): one refresh-token session each. */
async function refreshSessions(url: string, email: string, count: number): Promise<string[]> {
  const tokens: string[] = [];
  let started = 0;
  const next = async (): Promise<void> => {
    while (started < count) {
      const index = started++;
      tokens[index] = (await login(url, email)).refreshToken;
    }
  };
  await Promise.all(Array.from({ length: 4 }, next));
  return tokens;
}

/**
 * Samples the server's event-loop figures once a window while `done` is pending. With
 * EVENT_LOOP_WINDOW_MS=1000, each sample is the last complete 1 s window; windows that began after
 * the load started (two windows in) lie wholly inside the burst, and the worst of them is
 * reported. A sampler at a fixed period, not a wait: it awaits no condition.
 */
async function eventLoopDuring(
  url: string,
  done: Promise<unknown>,
): Promise<Record<string, number>> {
  let finished = false;
  void done.then(
    () => (finished = true),
    () => (finished = true),
  );
  const startedAt = Date.now();
  const p99s: number[] = [];
  const maxes: number[] = [];
  while (!finished) {
    await sleep(EVENT_LOOP_WINDOW_MS);
    if (finished || Date.now() - startedAt < 2 * EVENT_LOOP_WINDOW_MS + 500) continue;
    const metrics = await requestJson(`${url}/health/metrics`).catch(() => undefined);
    const delay = (metrics?.eventLoop as { delayMs?: { p99: number; max: number } } | undefined)
      ?.delayMs;
    if (!delay) continue;
    p99s.push(delay.p99);
    maxes.push(delay.max);
  }
  // A burst shorter than three windows has none wholly inside it: reported as not measured.
  if (p99s.length === 0) return { eventLoopWindows: 0 };
  return {
    eventLoopP99Ms: Math.max(...p99s),
    eventLoopMaxMs: Math.max(...maxes),
    eventLoopWindows: p99s.length,
  };
}
