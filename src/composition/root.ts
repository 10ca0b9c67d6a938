import cluster from 'node:cluster';
import type { DestinationStream } from 'pino';
import { accountMails } from '../account/account.mails';
import { createAccountRepository } from '../account/account.repository';
import { accountFeature } from '../account/account.routes';
import { createAccountService, type AccountService } from '../account/account.service';
import { startResetRequestSweep } from '../account/reset-request-sweep';
import { createAdminRepository } from '../admin/admin.repository';
import { adminFeature } from '../admin/admin.routes';
import { createAdminService } from '../admin/admin.service';
import { createAuditLog, type AuditLog } from '../audit/audit-log';
import { startAuditPurge } from '../audit/audit-purge';
import { createAuditRepository } from '../audit/audit.repository';
import { activityFeature, auditAdminFeature } from '../audit/audit.routes';
import { createAuditService } from '../audit/audit.service';
import { authFeature, bearerAuthenticator } from '../auth/auth.routes';
import { createAuthRepository } from '../auth/auth.repository';
import { createAuthService } from '../auth/auth.service';
import { createSessionCheckCache } from '../auth/session-check-cache';
import { createPasswordHasher, type PasswordHasher } from '../auth/password-hasher';
import { createPasswordPolicy } from '../auth/password-policy';
import { startTokenPurge } from '../auth/token-purge';
import { TokenService } from '../auth/token-service';
import { clusterMetricsSource, serveClusterMetrics } from '../cluster/cluster-metrics';
import { serveEmbeddedDatabase } from '../cluster/embedded-database-server';
import { watchWorkerMemory } from '../cluster/worker-memory-limit';
import type { Config, LoadedConfig } from '../config';
import { openDatabase, type Database } from '../db/database';
import { openReadReplica, primaryReads } from '../db/read-replica';
import { createReadinessCheck, type Readiness } from '../health/readiness';
import type { StatusProvider } from '../health/status-provider';
import { createInFlightHandlers, type InFlightHandlers } from '../http/in-flight';
import type { Authenticator, Feature } from '../http/route';
import { createLogger, type Logger } from '../logger';
import { createMailMetrics } from '../mail/mail-metrics';
import { messageIdDomain } from '../mail/mail-outbox';
import { createMailOutboxRepository } from '../mail/mail-outbox.repository';
import { startMailSender, type MailSender } from '../mail/mail-sender';
import { createMailTransport } from '../mail/mail-transport';
import { startEventLoopMonitor } from '../metrics/event-loop-monitor';
import { monitorMemoryIfEnabled } from '../metrics/memory-monitor';
import type { MetricsView } from '../metrics/metric-names';
import { createMetrics, processMetricsView, type Metrics } from '../metrics/metrics';
import { setUpRateLimitClusterPrimary } from '../rate-limit/cluster-primary';
import { createRateLimiters, type RateLimiters } from '../rate-limit/rate-limiters';
import { createRedisClient, redisTarget, type Redis } from '../redis/redis-client';
import { Closers } from './closers';

export interface ComposeOptions {
  /** Where log lines go; stdout by default. Tests keep them. */
  logDestination?: DestinationStream;
  /**
   * A `node:cluster` worker: its metrics endpoints describe the whole machine, it may be
   * recycled over a memory limit, and without Redis its rate limits count in the primary.
   * Defaults to `cluster.isWorker`.
   */
  clusterWorker?: boolean;
  /**
   * Apply pending migrations when the database is the embedded one (default true). It belongs
   * to this process, so it is migrated here; a server database is migrated once per deploy
   * (`pnpm db:migrate`), never by each replica as it starts. The integration tier starts from an
   * already migrated copy and skips the check.
   */
  migrateEmbedded?: boolean;
  /**
   * Tests only: wraps the password hasher, to observe which checks reach it and hold them
   * there (the sign-in policy's fairness tests). Production passes none.
   */
  wrapPasswordHasher?: (hasher: PasswordHasher) => PasswordHasher;
  /**
   * Tests only: drops the work a request leaves to run after its reply (the processing of a
   * password reset request), as a crash right after the reply would. Production passes none.
   */
  dropAfterReplyWork?: boolean;
}

/** Everything a server process runs on, built from its configuration. */
export interface Services {
  readonly config: Config;
  readonly logger: Logger;
  readonly db: Database;
  readonly redis: Redis | undefined;
  /** The process's metrics; requests are counted into them. */
  readonly metrics: Metrics;
  /** What the metrics endpoints serve: this process's figures, or the machine's in a cluster. */
  readonly metricsView: MetricsView;
  readonly limits: RateLimiters;
  /** The audit log's writer (`AUDIT_ENABLED`). */
  readonly audit: AuditLog;
  /** This process's outbox sender: `wake()` it once a transaction that queued mail commits. */
  readonly mailSender: MailSender;
  /** The account lifecycle (its sweep of left-behind reset requests runs on a timer). */
  readonly account: AccountService;
  readonly readiness: () => Promise<Readiness>;
  /** Components that report their state in `/health/metrics`, each under its name. */
  readonly statusProviders: readonly StatusProvider[];
  /** Every feature's route table, mounted under /api and described in the OpenAPI document. */
  readonly features: readonly Feature[];
  readonly authenticator: Authenticator;
  readonly inFlight: InFlightHandlers;
  /** True once graceful shutdown has begun: readiness then fails. */
  isShuttingDown(): boolean;
  /** Makes readiness fail, so load balancers stop sending: the first step of shutdown. */
  beginShutdown(): void;
}

/** The services, and the one way to release them all. */
export interface ServerRoot extends Services {
  /** Closes every resource, last opened first, each bounded in time. @returns false on a failure. */
  close(): Promise<boolean>;
}

/** Thrown when a resource could not be opened; already logged as fatal, nothing left open. */
export class StartupError extends Error {
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}

/**
 * The composition root: config in, every dependency of a server process out. Each resource
 * registers its closer as soon as it is opened. The single-process server, each cluster worker,
 * the integration tier and the bench (through the server) all build their process here, so
 * tests run the wiring production runs.
 *
 * @throws {StartupError} when a resource cannot be opened; what was opened is closed first.
 */
export async function composeServer(
  { config, warnings }: LoadedConfig,
  options: ComposeOptions = {},
): Promise<ServerRoot> {
  const { clusterWorker = cluster.isWorker, migrateEmbedded = true } = options;
  const logger = createLogger({
    level: config.log.level,
    instanceId: config.instanceId,
    destination: options.logDestination,
  });
  for (const warning of warnings) logger.warn(warning);
  const closers = new Closers(logger, config.shutdown.timeoutMs);

  /** Runs a step that opens something; on failure logs it, closes the rest, throws. */
  const open = async <T>(failure: string, step: () => Promise<T>): Promise<T> => {
    try {
      return await step();
    } catch (error) {
      logger.fatal({ err: error }, failure);
      await closers.closeAll();
      throw new StartupError(failure, { cause: error });
    }
  };

  const db = await open('could not open the database', () => openDatabase(config));
  closers.add('database', () => db.close());
  if (db.kind === 'embedded' && migrateEmbedded) {
    const applied = await open('could not migrate the embedded database', () =>
      db.applyMigrations(logger),
    );
    if (applied.length > 0) logger.info({ migrations: applied }, 'applied migrations');
  }
  const readReplica = config.database.readUrl
    ? openReadReplica({
        url: config.database.readUrl,
        poolSize: config.database.poolSize,
        primary: db.prisma,
        logger,
      })
    : undefined;
  if (readReplica) closers.add('database read replica', () => readReplica.close());
  // The first query loads Prisma's query compiler: pay for it now, not on the first request.
  await db
    .ping()
    .catch((error: unknown) => logger.warn({ err: error }, 'database not reachable yet'));

  const target = redisTarget(config);
  const redis = target ? createRedisClient({ ...config.redis, target }, logger) : undefined;
  if (redis) closers.add('Redis connection', () => closeRedis(redis));

  const eventLoop = startEventLoopMonitor({
    logger,
    warnThresholdMs: config.eventLoop.delayThresholdMs,
    windowMs: config.eventLoop.windowMs,
  });
  closers.add('event-loop monitor', () => eventLoop.stop());
  const memoryMonitor = monitorMemoryIfEnabled(config.memory, logger);
  if (memoryMonitor) closers.add('memory monitor', () => memoryMonitor.stop());

  const metrics = createMetrics({ eventLoop, windowMs: config.eventLoop.windowMs });
  let metricsView = processMetricsView(metrics);
  if (clusterWorker) {
    const machine = clusterMetricsSource(metrics.registry, config.instanceId);
    closers.add('cluster metrics', () => machine.close());
    metricsView = machine.view;
    if (config.cluster.workerMemoryLimitMb > 0) {
      const stop = watchWorkerMemory({ limitMb: config.cluster.workerMemoryLimitMb, logger });
      closers.add('worker memory limit', stop);
    }
  }

  const limits = createRateLimiters({ config, logger, redis, isClusterWorker: clusterWorker });
  closers.add('rate limiters', () => limits.close());

  let shuttingDown = false;
  const readiness = createReadinessCheck({
    db,
    redis,
    isShuttingDown: () => shuttingDown,
    rateLimit: limits.state,
    cacheMs: config.health.readinessCacheMs,
    readReplica,
  });

  const audit = createAuditLog({
    prisma: db.prisma,
    enabled: config.audit.enabled,
    counter: metrics.securityEvents,
  });
  const auditRepository = createAuditRepository(db, readReplica ?? primaryReads(db.prisma));
  const auditService = createAuditService({ repository: auditRepository, audit });
  const stopAuditPurge = startAuditPurge({
    repository: auditRepository,
    logger,
    retentionDays: config.audit.retentionDays,
    intervalMs: config.audit.purgeIntervalMs,
  });
  closers.add('audit purge', stopAuditPurge);

  // Every server process sends what the outbox holds: each replica, each cluster worker.
  const mailTransport = createMailTransport(config, logger);
  closers.add('mail transport', () => mailTransport.close());
  const mailOutbox = createMailOutboxRepository(db);
  const mailSender = startMailSender({
    outbox: mailOutbox,
    transport: mailTransport,
    metrics: createMailMetrics(metrics.registry, mailOutbox),
    logger,
    pollIntervalMs: config.mail.pollIntervalMs,
    maxAttempts: config.mail.maxAttempts,
    retryBaseMs: config.mail.retryBaseMs,
    retention: { bodyMs: config.mail.bodyRetentionMs, days: config.mail.retentionDays },
    retryMaxMs: config.mail.retryMaxMs,
    // Past every timeout of one send (connection, greeting, then inactivity), so a live process
    // is never overtaken by a replica re-sending what it still sends.
    leaseMs: 3 * config.mail.sendTimeoutMs,
  });
  // Closed before the transport and the database (last opened, first closed); an in-flight send
  // gets the shutdown timeout to finish, then its lease covers it.
  closers.add('mail sender', () => mailSender.stop());
  const tokens = new TokenService(config.jwt);
  const authRepository = createAuthRepository(db, readReplica ?? primaryReads(db.prisma));
  const passwords = (options.wrapPasswordHasher ?? ((hasher) => hasher))(
    createPasswordHasher({
      ...(config.auth.passwordHashConcurrency
        ? { concurrency: config.auth.passwordHashConcurrency }
        : {}),
      maxQueued: config.auth.passwordHashQueueMax,
    }),
  );
  const passwordPolicy = createPasswordPolicy({
    breachCheckUrl: config.auth.passwordBreachCheckUrl,
    logger,
  });
  const inFlight = createInFlightHandlers();
  const appHost = new URL(config.account.publicUrl).hostname;
  const sessionChecks = createSessionCheckCache({
    ttlMs: config.auth.sessionCacheMs,
    onCheck: metrics.sessionChecks,
  });
  const account = createAccountService({
    repository: createAccountRepository(db),
    sessionChecks,
    passwords,
    passwordPolicy,
    audit,
    mails: accountMails(appHost),
    // Message-IDs in the domain the mail comes from (MAIL_FROM's).
    mailDomain: messageIdDomain(config.mail.from),
    links: config.account,
    allowUnverifiedSignIn: config.account.allowUnverifiedSignIn,
    // Started on the next turn of the event loop, once the reply is written; counted with the
    // handlers from now on, so shutdown waits for it before closing the pool.
    runAfterReply: (what, work) => {
      if (options.dropAfterReplyWork) return;
      inFlight
        .track(new Promise<void>((resolve) => setImmediate(resolve)).then(work))
        .catch((error: unknown) => {
          logger.error({ err: error }, `${what} failed`);
        });
    },
    // The request does not wait for SMTP: the sender takes it from here.
    mailQueued: () => mailSender.wake(),
    logger,
  });
  const auth = createAuthService({
    repository: authRepository,
    tokens,
    passwords,
    passwordPolicy,
    logger,
    audit,
    sessionMaxAgeSeconds: config.auth.sessionMaxAgeSeconds,
    lifecycle: account.authHooks,
    sessionChecks,
  });
  const stopPurge = startTokenPurge({
    repository: authRepository,
    logger,
    intervalMs: config.auth.purgeIntervalMs,
    refreshTtlSeconds: config.jwt.refreshTtlSeconds,
  });
  closers.add('token purge', stopPurge);
  const stopResetRequestSweep = startResetRequestSweep({
    account,
    logger,
    intervalMs: config.account.resetRequestSweepIntervalMs,
  });
  closers.add('password reset request sweep', stopResetRequestSweep);
  const admin = createAdminService({
    repository: createAdminRepository(db, audit),
    sessionChecks,
  });

  return {
    config,
    logger,
    db,
    redis,
    metrics,
    metricsView,
    limits,
    audit,
    mailSender,
    account,
    readiness,
    statusProviders: [
      { name: 'rateLimit', state: limits.state },
      ...(readReplica ? [{ name: 'databaseReadReplica', state: () => readReplica.state() }] : []),
    ],
    features: [
      authFeature({ auth, allowedOrigins: config.http.corsOrigins }),
      accountFeature({ account }),
      activityFeature({ audit: auditService }),
      adminFeature({ admin }),
      auditAdminFeature({ audit: auditService }),
    ],
    authenticator: bearerAuthenticator(tokens, auth),
    inFlight,
    isShuttingDown: () => shuttingDown,
    beginShutdown: () => {
      shuttingDown = true;
    },
    close: () => closers.closeAll(),
  };
}

/** QUIT lets Redis finish what was sent; if Redis is unreachable, drop the connection. */
async function closeRedis(redis: Redis): Promise<void> {
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}

/** What a cluster primary holds: one per machine. */
export interface PrimaryRoot {
  readonly config: Config;
  readonly logger: Logger;
  /**
   * The embedded database served to the workers on a loopback port, when DATABASE_URL is unset:
   * only one process may open it.
   */
  readonly embeddedDatabaseUrl: string | undefined;
  close(): Promise<boolean>;
}

/**
 * The cluster primary's composition root: it runs no app, but holds what must be one per
 * machine: the embedded database when there is no DATABASE_URL, the rate-limit counts when
 * there is no Redis, and the merging of the workers' metrics.
 *
 * @throws {StartupError} when the embedded database cannot be opened (already logged).
 */
export async function composePrimary({ config, warnings }: LoadedConfig): Promise<PrimaryRoot> {
  const logger = createLogger({ level: config.log.level, instanceId: config.instanceId }).child({
    role: 'primary',
  });
  for (const warning of warnings) logger.warn(warning);
  const closers = new Closers(logger, config.shutdown.timeoutMs);

  let embeddedDatabaseUrl: string | undefined;
  if (!config.database.url) {
    try {
      const database = await serveEmbeddedDatabase(config, logger);
      closers.add('embedded database', () => database.close());
      embeddedDatabaseUrl = database.url;
    } catch (error) {
      logger.fatal({ err: error }, 'could not open the embedded database');
      throw new StartupError('could not open the embedded database', { cause: error });
    }
  }
  // Lives as long as the process (the library offers no way to stop it; its timers are unref'd).
  setUpRateLimitClusterPrimary(config);
  closers.add('cluster metrics', serveClusterMetrics());
  const memoryMonitor = monitorMemoryIfEnabled(config.memory, logger);
  if (memoryMonitor) closers.add('memory monitor', () => memoryMonitor.stop());

  return { config, logger, embeddedDatabaseUrl, close: () => closers.closeAll() };
}
