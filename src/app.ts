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
import { createHealthRouter } from './health/health.router';
import { errorHandler, notFoundHandler } from './http/error-handler';
import { jsonBody } from './http/json-body';
import { installRequestContext } from './http/request-context';
import type { Logger } from './logger';
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
  /** True once graceful shutdown has begun. */
  isShuttingDown?: () => boolean;
}

/**
 * Builds the Express app. It never listens and never touches `process`: the entry points do,
 * and tests drive the app with supertest.
 */
export function createApp({
  config,
  logger,
  db,
  redis,
  isShuttingDown = () => false,
}: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // A hop count, never `true`: trusting every proxy would let any client pick its own IP
  // with an X-Forwarded-For header.
  app.set('trust proxy', config.http.trustProxy);

  app.use(installRequestContext(app, { logger, quietPrefixes: ['/health'] }));
  app.use(helmet());
  app.use(
    cors({
      origin: [...config.http.corsOrigins],
      credentials: true,
      exposedHeaders: ['X-Request-Id', 'RateLimit', 'RateLimit-Policy', 'Retry-After'],
      maxAge: 600,
    }),
  );

  const limits = createRateLimiters({ config, logger, redis });
  // Mounted before any limiter: probes are never rate limited.
  app.use('/health', createHealthRouter({ db, redis, isShuttingDown, rateLimit: limits.state }));

  if (config.apiDocs.enabled) app.use('/docs', createDocsRouter(APP_VERSION));

  const tokens = new TokenService(config.jwt);
  const auth = createAuthService({
    repository: createAuthRepository(db.prisma),
    tokens,
    passwords: createPasswordHasher(),
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

  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}
