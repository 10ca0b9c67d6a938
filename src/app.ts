import cors from 'cors';
import express, { type Express, Router } from 'express';
import helmet from 'helmet';
import { createAuthRouter } from './auth/auth.router';
import { createAuthRepository } from './auth/auth.repository';
import { createAuthService } from './auth/auth.service';
import { createPasswordHasher } from './auth/password-hasher';
import { TokenService } from './auth/token-service';
import type { Config } from './config';
import type { Database } from './db/database';
import { createHealthDetailsRouter, createProbeRouter } from './health/health.router';
import { restrictMetricsAccess } from './health/metrics-access';
import { createReadinessCheck } from './health/readiness';
import type { StatusProvider } from './health/status-provider';
import { errorHandler, notFoundHandler } from './http/error-handler';
import { jsonBody } from './http/json-body';
import { installRequestContext } from './http/request-context';
import type { Logger } from './logger';
import type { Metrics } from './metrics/metrics';
import { createRateLimiters } from './rate-limit/rate-limiters';
import type { Redis } from './redis/redis-client';
import { createDocsRouter } from './docs/docs.router';
import { APP_VERSION } from './version';

/** Routes (under `/api`) that take a password: strict limits per address and per account. */
const SIGN_IN_PATHS = ['/auth/login', '/auth/register'];

/** Everything the app needs, built by the entry point (or a test) and passed in. */
export interface AppDeps {
  config: Config;
  logger: Logger;
  db: Database;
  redis?: Redis | undefined;
  /** The process's metrics (see createMetrics); requests are counted into them. */
  metrics: Metrics;
  /** True once graceful shutdown has begun. */
  isShuttingDown?: () => boolean;
  /**
   * Components that report their state in `/health/metrics`, each under its name: the rate
   * limiter as `rateLimit`, for example.
   */
  statusProviders?: readonly StatusProvider[];
  /**
   * Routers mounted after the API, before the 404 handler. The production entry passes none:
   * this exists so that tests can run the real server with a route only a test should have
   * (tests/e2e/fixtures: a deliberately slow request, a crash), instead of shipping debug routes.
   */
  extraRoutes?: readonly Router[];
}

/**
 * Builds the Express app. It never listens and never touches `process` signals or exit: the
 * entry points do, and tests drive the app with supertest.
 */
export function createApp({
  config,
  logger,
  db,
  redis,
  metrics,
  isShuttingDown = () => false,
  statusProviders = [],
  extraRoutes = [],
}: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // API and health replies are `no-store` JSON, the rest errors: an ETag (a SHA-1 of every body,
  // computed on every response) would never be used.
  app.disable('etag');
  // A hop count, never `true`: trusting every proxy would let any client pick its own IP
  // with an X-Forwarded-For header.
  app.set('trust proxy', config.http.trustProxy);

  const limits = createRateLimiters({ config, logger, redis });
  const readiness = createReadinessCheck({ db, redis, isShuttingDown, rateLimit: limits.state });
  // The probes come first: they are called every second and need nothing that follows.
  app.use('/health', createProbeRouter({ readiness }));

  app.use(
    installRequestContext(app, {
      logger,
      quietPrefixes: ['/health', '/metrics'],
      observer: metrics.requests,
    }),
  );
  app.use(helmet());
  app.use(
    cors({
      origin: [...config.http.corsOrigins],
      credentials: true,
      exposedHeaders: ['X-Request-Id', 'RateLimit', 'RateLimit-Policy', 'Retry-After'],
      maxAge: 600,
    }),
  );

  app.use(
    createHealthDetailsRouter({
      readiness,
      metrics,
      access: restrictMetricsAccess(config.metrics),
      instanceId: config.instanceId,
      version: APP_VERSION,
      statusProviders: [{ name: 'rateLimit', state: limits.state }, ...statusProviders],
    }),
  );

  if (config.apiDocs.enabled) app.use('/docs', createDocsRouter(APP_VERSION));

  const tokens = new TokenService(config.jwt);
  const auth = createAuthService({
    repository: createAuthRepository(db.prisma),
    tokens,
    passwords: createPasswordHasher(
      config.auth.passwordHashConcurrency
        ? { concurrency: config.auth.passwordHashConcurrency }
        : {},
    ),
    logger,
    sessionMaxAgeSeconds: config.auth.sessionMaxAgeSeconds,
  });

  const api = Router();
  // Per-address limits run before the body is parsed: a flood is turned away for the price of
  // one counter, not of reading its bodies. Paths match case-insensitively and with a trailing
  // slash, as the routes themselves do, so neither escapes its limit.
  api.use(limits.api);
  api.use(SIGN_IN_PATHS, limits.auth);
  api.use('/auth/refresh', limits.refresh);
  api.use(jsonBody(config.http.bodyLimit));
  // The per-account limit reads the email from the parsed body.
  api.use(SIGN_IN_PATHS, limits.authEmail);
  api.use(
    '/auth',
    createAuthRouter({ auth, tokens, refreshCookieSecure: config.auth.refreshCookieSecure }),
  );
  app.use('/api', api);

  for (const router of extraRoutes) app.use(router);

  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}
