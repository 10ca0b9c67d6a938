import { setTimeout as sleep } from 'node:timers/promises';
import type { AppServer } from '../../harness/app-server';
import { login, PASSWORD } from '../../harness/auth-api';
import { requestJson } from '../../harness/http-client';
import { EVENT_LOOP_WINDOW_MS, type MeasureOptions } from '../context';
import { envLabel } from '../report';
import { LOGIN_BURST_CONNECTIONS, VARIANTS, type Variant } from '../targets';
import { countSessionChecks } from './jobs';
import { measureArgon2Floor, referenceScript } from './references';
import type { Scenario } from './scenario';

/**
 * The template as `pnpm start` runs it: probes, an authenticated read, rotation, logins, each in
 * `BENCH_REPEAT` rounds alternated with its floor reference (with the `reference` group) and its
 * variants (see VARIANTS, with a server database), all of them running side by side so that a
 * round measures them back to back: the machine's drift (other processes, a busy disk, CPU
 * boost) then hits both sides of a ratio alike. The order within a pair flips every round.
 */
export const singleProcess: Scenario = {
  selected: (groups) => groups.has('single'),
  async run(ctx) {
    console.log(
      `The template, one process (pnpm start), ${ctx.config.repeat} round(s) alternated with its references:`,
    );
    const servers: AppServer[] = [];
    const start = async (server: Promise<AppServer>) => {
      const started = await server;
      servers.push(started);
      return started;
    };
    try {
      const app = await start(ctx.startApp('app'));
      const account = await ctx.account(app.url);
      const { databaseUrl, groups, repeat, connections, warmupSec } = ctx.config;
      const withReferences = groups.has('reference');

      // The references and variants, started once and left idle while another is measured.
      const express = withReferences
        ? await start(
            ctx.startServer(
              'ref-express',
              referenceScript('express.mjs'),
              { NODE_ENV: 'production' },
              '/',
            ),
          )
        : undefined;
      let pgRead: AppServer | undefined;
      let pgRotation: AppServer | undefined;
      let namedPackages: AppServer | undefined;
      if (withReferences && databaseUrl) {
        pgRead = await start(
          ctx.startServer(
            'ref-express-pg-read',
            referenceScript('express-pg-read.mjs'),
            ctx.appEnv({ BENCH_USER_ID: account.userId }),
            '/',
          ),
        );
        // Ready once it listens: GET / is a 404 from Express, not a 200.
        pgRotation = await start(
          ctx.startServer(
            'ref-express-pg-rotation',
            referenceScript('express-pg-rotation.mjs'),
            ctx.appEnv(),
            '/health',
          ),
        );
        namedPackages = await start(
          ctx.startServer(
            'ref-express-pg-rotation-named-packages',
            referenceScript('express-pg-rotation-named-packages.mjs'),
            ctx.appEnv(),
            '/health',
          ),
        );
      } else if (withReferences) {
        ctx.skip('ref-express-pg', 'the pg floors need a PostgreSQL server: set DATABASE_URL');
      }
      const variantApps = new Map<Variant, AppServer>();
      if (databaseUrl) {
        const byEnv = new Map<string, AppServer>();
        for (const variant of VARIANTS.filter((v) => ctx.config.variants.includes(v.id))) {
          const key = JSON.stringify(variant.env);
          let server = byEnv.get(key);
          if (!server) {
            server = await start(ctx.startApp(`app-${variant.name}`, { ...variant.env }));
            byEnv.set(key, server);
          }
          variantApps.set(variant, server);
        }
      } else if (ctx.config.variants.length > 0) {
        ctx.skip(
          'variants',
          `the variants (${ctx.config.variants.join(', ')}) run a second app on the same database: set DATABASE_URL`,
        );
      }

      const group = 'single process' as const;
      for (let round = 0; round < repeat; round++) {
        if (repeat > 1) console.log(` round ${round + 1} of ${repeat}:`);
        // The first round warms every server up; later ones need a second of it at most.
        const warm = round === 0 ? warmupSec : Math.min(warmupSec, 1);
        const measure =
          (options: MeasureOptions, warmupSec = warm) =>
          () =>
            ctx.measure({ ...options, warmupSec }).then(() => {});
        const variantsOf = (
          id: string,
          options: (server: AppServer, variant: Variant) => MeasureOptions,
          warmupSec = warm,
        ) =>
          [...variantApps].flatMap(([variant, server]) => {
            if (variant.of !== id) return [];
            const base = options(server, variant);
            return [
              measure(
                {
                  ...base,
                  id: variant.id,
                  title: `${base.title}, ${envLabel(variant.env)}`,
                  variantOf: id,
                  variantEnv: { ...variant.env },
                },
                warmupSec,
              ),
            ];
          });

        await alternate(round, [
          measure({
            id: 'live',
            title: 'GET /health/live',
            group,
            floor: 'ref-express',
            job: { url: app.url, method: 'GET', path: '/health/live' },
          }),
          ...(express
            ? [
                measure({
                  id: 'ref-express',
                  title: 'bare Express 5 hello-world',
                  group: 'reference',
                  job: { url: express.url, method: 'GET', path: '/' },
                }),
              ]
            : []),
        ]);

        await alternate(round, [
          measure({
            id: 'me',
            title: `GET /api/auth/me (${ctx.storeName()} store)`,
            group,
            floor: 'ref-express-pg-read',
            during: countSessionChecks(app.url),
            job: {
              url: app.url,
              method: 'GET',
              path: '/api/auth/me',
              headers: { authorization: `Bearer ${account.accessToken}` },
            },
          }),
          ...variantsOf('me', (server) => ({
            id: '',
            title: `GET /api/auth/me (${ctx.storeName()} store)`,
            group,
            during: countSessionChecks(server.url),
            job: {
              url: server.url,
              method: 'GET',
              path: '/api/auth/me',
              headers: { authorization: `Bearer ${account.accessToken}` },
            },
          })),
          ...(pgRead
            ? [
                measure({
                  id: 'ref-express-pg-read',
                  title: 'bare Express 5 + one pg prepared read of a user',
                  group: 'reference',
                  job: { url: pgRead.url, method: 'GET', path: '/' },
                }),
              ]
            : []),
        ]);

        // Every rotation run spends its own sessions: a warm-up set and a measured set each
        // (a request cut off when a run ends may have rotated a token whose reply was never read).
        // Later rounds skip the warm-up: the servers are warm, and each set costs 50 logins.
        const rotationWarm = round === 0 ? warm : 0;
        // Each server signs its own sessions in (the reference's come from the app): a server
        // that just hashed 100 passwords and one that sat idle would not start a burst alike.
        const tokensVia = async (url: string) => {
          const sessions = await refreshSessions(
            url,
            account.email,
            (rotationWarm > 0 ? 2 : 1) * connections,
          );
          return {
            measured: sessions.slice(0, connections),
            warmup: sessions.slice(connections),
          };
        };
        const signedIn = new Map<string, Awaited<ReturnType<typeof tokensVia>>>();
        const refreshVariants = [...variantApps].filter(([v]) => v.of === 'refresh');
        for (const url of [app.url, ...refreshVariants.map(([, server]) => server.url)])
          if (!signedIn.has(url)) signedIn.set(url, await tokensVia(url));
        const referenceTokens = pgRotation ? await tokensVia(app.url) : undefined;
        const namedPackagesTokens = namedPackages ? await tokensVia(app.url) : undefined;
        const refresh = (url: string) => ({
          title: 'POST /api/auth/refresh (rotation)',
          group,
          job: {
            url,
            method: 'POST' as const,
            path: '/api/auth/refresh',
            refreshTokens: signedIn.get(url)!,
          },
        });
        await alternate(round, [
          measure(
            {
              id: 'refresh',
              floor: 'ref-express-pg-rotation',
              ...(namedPackages ? { ceiling: 'ref-express-pg-rotation-named-packages' } : {}),
              ...refresh(app.url),
            },
            rotationWarm,
          ),
          ...(pgRotation
            ? [
                measure(
                  {
                    id: 'ref-express-pg-rotation',
                    title: 'bare Express 5 + one pg rotation statement',
                    group: 'reference',
                    job: {
                      url: pgRotation.url,
                      method: 'POST',
                      path: '/',
                      refreshTokens: referenceTokens!,
                    },
                  },
                  rotationWarm,
                ),
              ]
            : []),
          ...(namedPackages
            ? [
                measure(
                  {
                    id: 'ref-express-pg-rotation-named-packages',
                    title:
                      'the pg rotation + jsonwebtoken (verify, 2 signs) + express-rate-limit (2 limits, ' +
                      `${ctx.storeName()} store), alone`,
                    group: 'reference',
                    // Its ratio to the floor: what the packages alone leave of it (information).
                    floor: 'ref-express-pg-rotation',
                    job: {
                      url: namedPackages.url,
                      method: 'POST',
                      path: '/',
                      refreshTokens: namedPackagesTokens!,
                    },
                  },
                  rotationWarm,
                ),
              ]
            : []),
          ...variantsOf('refresh', (server) => ({ id: '', ...refresh(server.url) }), rotationWarm),
        ]);

        const loginJob = (url: string) => ({
          url,
          method: 'POST' as const,
          path: '/api/auth/login',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: account.email, password: PASSWORD }),
          connections: LOGIN_BURST_CONNECTIONS,
        });
        const loginTitle = `POST /api/auth/login (${LOGIN_BURST_CONNECTIONS} concurrent)`;
        await alternate(round, [
          measure({
            id: 'login',
            title: loginTitle,
            group,
            job: loginJob(app.url),
            floor: 'ref-argon2',
            during: (done) => eventLoopDuring(app.url, done),
          }),
          ...(withReferences ? [() => measureArgon2Floor(ctx, warm)] : []),
          ...variantsOf('login', (server) => ({
            id: '',
            title: loginTitle,
            group,
            job: loginJob(server.url),
          })),
        ]);
      }
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
    }
  },
};

/**
 * Runs the measurements one after the other: in the order given in even rounds, reversed in odd
 * ones (A B, B A, A B...), so neither side of a ratio always runs first.
 */
async function alternate(round: number, runs: ReadonlyArray<() => Promise<void>>) {
  for (const run of round % 2 === 0 ? runs : [...runs].reverse()) await run();
}

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
  await Promise.all(Array.from({ length: 8 }, next));
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
