import cors from 'cors';
import express, { type Express, type Router } from 'express';
import helmet from 'helmet';
import type { Services } from './composition/root';
import { createDocsRouter } from './docs/docs.router';
import { createHealthDetailsRouter, createProbeRouter } from './health/health.router';
import { restrictMetricsAccess } from './health/metrics-access';
import type { StatusProvider } from './health/status-provider';
import { errorHandler, notFoundHandler } from './http/error-handler';
import { createApiRouter } from './http/mount-routes';
import type { ReplyViolationReporter } from './http/reply-check';
import { API_PREFIX } from './http/route';
import { installRequestContext } from './http/request-context';
import { APP_VERSION } from './version';

/** What the app is built from: the services of the composition root (see composeServer). */
export type AppDeps = Pick<
  Services,
  | 'config'
  | 'logger'
  | 'metrics'
  | 'metricsView'
  | 'limits'
  | 'readiness'
  | 'statusProviders'
  | 'features'
  | 'authenticator'
  | 'inFlight'
>;

/** What only tests add. The production entry passes none of it. */
export interface AppOptions {
  /**
   * Routers mounted after the API, before the 404 handler, so that tests can run the real
   * server with a route only a test should have (tests/e2e fixtures: a deliberately slow
   * request, a crash), instead of shipping debug routes.
   */
  extraRouters?: readonly Router[] | undefined;
  /** More sections for `/health/metrics` (see StatusProvider). */
  statusProviders?: readonly StatusProvider[];
  /** Checks every API reply against its route's declaration (the integration tier). */
  onReplyViolation?: ReplyViolationReporter;
}

/**
 * Builds the Express app: the probes, the request context and security headers, the restricted
 * health details, the docs, and every feature's route table under /api. It never listens and
 * never touches `process`: the entry files do, and tests drive the app with supertest.
 */
export function createApp(deps: AppDeps, options: AppOptions = {}): Express {
  const { config, logger, metrics, readiness, features, authenticator } = deps;
  const app = express();
  app.disable('x-powered-by');
  // API and health replies are `no-store` JSON, the rest errors: an ETag (a SHA-1 of every body,
  // computed on every response) would never be used.
  app.disable('etag');
  // A hop count, never `true`: trusting every proxy would let any client pick its own IP
  // with an X-Forwarded-For header.
  app.set('trust proxy', config.http.trustProxy);

  // The probes come first: they are called every second and need nothing that follows.
  app.use('/health', createProbeRouter({ readiness }));

  app.use(
    installRequestContext(app, {
      logger,
      quietPrefixes: ['/health', '/metrics'],
      observer: metrics.requests,
    }),
  );
  // helmet's defaults, except the Content-Security-Policy: its default is written for HTML
  // pages (scripts, styles, fonts, images from 'self'), and every reply here is JSON, which
  // loads nothing and must never be framed. The Swagger UI page sets its own (docs.router.ts).
  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
      },
    }),
  );
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
      metrics: deps.metricsView,
      access: restrictMetricsAccess(config.metrics),
      instanceId: config.instanceId,
      version: APP_VERSION,
      statusProviders: [...deps.statusProviders, ...(options.statusProviders ?? [])],
    }),
  );

  if (config.apiDocs.enabled) {
    app.use('/docs', createDocsRouter({ version: APP_VERSION, features, authenticator }));
  }

  app.use(
    API_PREFIX,
    createApiRouter({
      features,
      authenticator,
      limits: deps.limits,
      bodyLimit: config.http.bodyLimit,
      inFlight: deps.inFlight,
      onReplyViolation: options.onReplyViolation,
    }),
  );

  for (const router of options.extraRouters ?? []) app.use(router);

  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}
