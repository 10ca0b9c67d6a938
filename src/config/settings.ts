import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import {
  bool,
  hostPortList,
  ipRangeList,
  mailbox,
  originList,
  MAX_TIMER_MS,
  optionalString,
  text,
  url,
  wholeNumber,
} from './env-formats';
import { listSettings, setting, type ProductionRule, type Setting } from './setting';

/** A path under APP_PUBLIC_URL for a mailed link: `/verify-email`. */
const linkPath = z
  .string()
  .trim()
  .regex(/^\/[\w\-./~%]*$/, {
    message: 'must be a path starting with / (letters, digits, - _ . / ~ %), without ? or #',
  });

/**
 * Every setting the app reads from the environment, each declared once: variable, format,
 * default, production rule and the line the README's table shows. `pnpm config:docs` writes that
 * table; tests/unit/config-drift.test.ts checks it and the example env files against these.
 *
 * Production differs from development only where a declaration says so, and the README shows
 * each: a `production` rule (the database URL and both JWT secrets are required and checked) or a
 * default that differs in production (the shutdown drain delay, the API docs).
 */

/** Secret values shipped in `.env.example` and `.env.prod.example`; production refuses them. */
export const PLACEHOLDER_SECRETS: readonly string[] = Object.freeze([
  'dev-only-access-secret-change-me-in-production-0123456789',
  'dev-only-refresh-secret-change-me-in-production-0123456789',
  'CHANGE_ME_generate_with_openssl_rand_base64_48_access',
  'CHANGE_ME_generate_with_openssl_rand_base64_48_refresh',
]);

/** Who may read metrics when neither METRICS_ALLOW nor METRICS_TOKEN is set: this machine. */
export const LOOPBACK_ONLY: readonly string[] = Object.freeze(['127.0.0.0/8', '::1']);

const MIN_SECRET_BYTES = 32;
const MIN_METRICS_TOKEN_LENGTH = 16;

const requiredInProduction = (reason: string): ProductionRule => ({
  doc: '**Required in production.**',
  check: (value) => (value ? [] : [`is required in production (${reason})`]),
});

const signingSecretInProduction = (doc: string): ProductionRule<string | undefined> => ({
  doc,
  check(value) {
    if (!value) return ['is required in production'];
    if (PLACEHOLDER_SECRETS.includes(value)) {
      return [
        'is the placeholder from the example env file; generate one with: openssl rand -base64 48',
      ];
    }
    const bytes = Buffer.byteLength(value);
    if (bytes < MIN_SECRET_BYTES)
      return [`must be at least ${MIN_SECRET_BYTES} bytes (got ${bytes})`];
    return [];
  },
});

const requestLimit = (env: string, fallback: number, doc: string) =>
  setting({ env, format: wholeNumber(1), default: fallback, doc });

const limitWindow = (env: string, fallback: number, doc: string) =>
  setting({ env, format: wholeNumber(1_000, MAX_TIMER_MS), default: fallback, doc });

/** The declarations, in the shape of {@link Config} (see `load-config.ts` for what it adds). */
export const settings = {
  env: setting({
    env: 'NODE_ENV',
    format: z.enum(['development', 'production', 'test']),
    default: 'development',
    doc: '`development`, `test` or `production`. Production applies the production rules and defaults shown here.',
  }),
  host: setting({ env: 'HOST', format: text, default: '0.0.0.0', doc: 'Interface to listen on.' }),
  port: setting({
    env: 'PORT',
    format: wholeNumber(0, 65535),
    default: 3001,
    doc: 'Port to listen on.',
  }),
  instanceId: setting({
    env: 'INSTANCE_ID',
    format: optionalString,
    default: { computed: () => `${os.hostname()}-${process.pid}`, doc: 'hostname-pid' },
    doc: 'Put on every log line; identifies the replica.',
  }),
  /** An absolute path. */
  dataDir: setting({
    env: 'DATA_DIR',
    format: text.transform((dir) => path.resolve(dir)),
    default: '.data',
    doc: 'Local state: the embedded database, generated development secrets.',
  }),
  database: {
    /** PostgreSQL URL; when absent the embedded PGlite database under `dataDir` is used. */
    url: setting({
      env: 'DATABASE_URL',
      format: url(['postgresql:', 'postgres:']),
      unset: 'embedded PGlite',
      doc: '`postgresql://user:pass@host:5432/db`.',
      production: requiredInProduction('the embedded database is for development'),
    }),
    poolSize: setting({
      env: 'DATABASE_POOL_SIZE',
      format: wholeNumber(1, 1000),
      default: 10,
      doc: "Connections per process (replicas x workers x this must fit the server's `max_connections`).",
    }),
    preparedStatements: setting({
      env: 'DATABASE_PREPARED_STATEMENTS',
      format: bool,
      default: true,
      doc: 'Send the auth hot-path statements as named prepared statements (parsed once per connection). Set `false` behind PgBouncer < 1.21 in transaction pooling mode, which cannot keep them (cluster workers on the embedded database get `false` from the primary).',
    }),
    /**
     * A streaming replica for reads that tolerate lag (session lists); see `db/read-replica.ts`.
     * Each read goes there only once the replica has replayed what the primary had committed.
     */
    readUrl: setting({
      env: 'DATABASE_READ_URL',
      format: url(['postgresql:', 'postgres:']),
      unset: 'every read on the primary',
      doc: 'A read replica of `DATABASE_URL` for reads that tolerate lag; falls back to the primary (see [Scaling out](#scaling-out)).',
    }),
  },
  redis: {
    /** Redis URL (`redis://` or `rediss://` for TLS); when absent, nothing uses Redis. */
    url: setting({
      env: 'REDIS_URL',
      format: url(['redis:', 'rediss:']),
      unset: 'no Redis',
      doc: '`redis://[:password@]host:6379[/db]`, or `rediss://` for TLS.',
    }),
    commandTimeoutMs: setting({
      env: 'REDIS_COMMAND_TIMEOUT_MS',
      format: wholeNumber(10),
      default: 250,
      doc: 'A Redis command that takes longer fails, so a stalled Redis never stalls requests.',
    }),
    connectTimeoutMs: setting({
      env: 'REDIS_CONNECT_TIMEOUT_MS',
      format: wholeNumber(100),
      default: 2_000,
      doc: 'Connection attempt timeout; reconnection continues in the background.',
    }),
    /** Put before every key this app writes, so several apps can share one Redis database. */
    keyPrefix: setting({
      env: 'REDIS_KEY_PREFIX',
      format: z
        .string()
        .trim()
        .regex(/^[\w:.-]{0,64}$/, {
          message: 'must be at most 64 letters, digits, or _ : . - (for example myapp:)',
        }),
      default: '',
      doc: 'Put before every Redis key the app writes (e.g. `myapp:`), so apps can share a Redis database.',
    }),
    /**
     * A Sentinel group instead of `url`: the sentinels to ask where the primary is. ioredis asks
     * them on every (re)connect and follows a failover without a restart.
     */
    sentinels: setting({
      env: 'REDIS_SENTINELS',
      format: hostPortList,
      unset: 'no Sentinel',
      doc: 'Comma-separated `host:port` of Redis Sentinels, used instead of `REDIS_URL` (not both): see [Scaling out](#scaling-out).',
    }),
    sentinelMaster: setting({
      env: 'REDIS_SENTINEL_MASTER',
      format: text,
      default: 'mymaster',
      doc: 'The name the sentinels monitor the primary under (`sentinel monitor <name> ...`).',
    }),
    /** The data nodes' password (`requirepass`) with Sentinel; with `url` it is in the URL. */
    password: setting({
      env: 'REDIS_PASSWORD',
      format: optionalString,
      secret: true,
      doc: "With `REDIS_SENTINELS`: the Redis nodes' `requirepass` (with `REDIS_URL` it goes in the URL).",
    }),
    sentinelPassword: setting({
      env: 'REDIS_SENTINEL_PASSWORD',
      format: optionalString,
      secret: true,
      doc: "The sentinels' own password (their `requirepass`), when they have one.",
    }),
  },
  rateLimit: {
    /** Every request under `/api`, per client address. */
    api: {
      limit: requestLimit(
        'RATE_LIMIT_API_MAX',
        300,
        'Requests per client address per window, over all of `/api` (see [Rate limiting](#rate-limiting)).',
      ),
      windowMs: limitWindow('RATE_LIMIT_API_WINDOW_MS', 60_000, 'Window of the `/api` limit.'),
    },
    /** Every password-verifying endpoint together (the `signIn` policy), per client address. */
    auth: {
      limit: requestLimit(
        'RATE_LIMIT_AUTH_MAX',
        20,
        'Attempts at every password-verifying endpoint (`login`, `register`, `change-password`) per client address per window.',
      ),
      windowMs: limitWindow(
        'RATE_LIMIT_AUTH_WINDOW_MS',
        15 * 60_000,
        'Window of both sign-in limits (15 min).',
      ),
    },
    /**
     * The same per (client address, account): cuts off a run against one account.
     * Its window is `auth`'s (added by `loadConfig`).
     */
    authEmail: {
      limit: requestLimit(
        'RATE_LIMIT_AUTH_EMAIL_MAX',
        5,
        'The same per (client address, account): the email, or the authenticated user for `change-password`.',
      ),
    },
    /**
     * Per account alone, across addresses (finding 10): after `afterFailures` attempts without a
     * success, each further attempt waits `baseMs`, doubling, at most `maxMs` (see the README's
     * "Limits" part of the Security section).
     */
    signInDelay: {
      afterFailures: setting({
        env: 'SIGN_IN_DELAY_AFTER_FAILURES',
        format: wholeNumber(1),
        default: 10,
        doc: 'Password attempts per account (across all addresses) before each further one must wait; a success resets the count.',
      }),
      baseMs: setting({
        env: 'SIGN_IN_DELAY_BASE_MS',
        format: wholeNumber(1, MAX_TIMER_MS),
        default: 1_000,
        doc: 'The first wait once an account is delayed; it doubles with each further attempt.',
      }),
      maxMs: setting({
        env: 'SIGN_IN_DELAY_MAX_MS',
        format: wholeNumber(1, MAX_TIMER_MS),
        default: 5 * 60_000,
        doc: 'The longest wait between two attempts at one account (5 min): a victim is slowed, never locked out for longer.',
      }),
    },
    /** Password checks of one account running at once in one process; the rest are refused. */
    signInConcurrency: setting({
      env: 'SIGN_IN_CONCURRENCY_PER_ACCOUNT',
      format: wholeNumber(1, 1000),
      default: 2,
      doc: 'Password-verifying requests of one account a process runs at once; more are answered 429 at once, so one account cannot fill the password hasher queue.',
    }),
    /** `refresh`, per client address. */
    refresh: {
      limit: requestLimit(
        'RATE_LIMIT_REFRESH_MAX',
        60,
        'Token refreshes per client address per window.',
      ),
      windowMs: limitWindow(
        'RATE_LIMIT_REFRESH_WINDOW_MS',
        15 * 60_000,
        'Window of the refresh limit (15 min).',
      ),
    },
    /**
     * Endpoints that mail an account a link (`accountMail` policy: forgot password, resend the
     * verification, email change), per client address and per account (the email of the body,
     * or the authenticated user).
     */
    accountMail: {
      limit: requestLimit(
        'RATE_LIMIT_ACCOUNT_MAIL_MAX',
        10,
        'Requests that mail a link (`password/forgot`, `verify-email/resend`, `email/change`) per client address per window.',
      ),
      accountLimit: requestLimit(
        'RATE_LIMIT_ACCOUNT_MAIL_ACCOUNT_MAX',
        3,
        'The same per account (the email of the body, or the authenticated user), whatever the address.',
      ),
      windowMs: limitWindow(
        'RATE_LIMIT_ACCOUNT_MAIL_WINDOW_MS',
        60 * 60_000,
        'Window of both account-mail limits (1 h).',
      ),
    },
    /**
     * How many requests of a client's `/api` allowance must be left (as this process last saw it)
     * for an authenticated request to check its session while the limit is counted, rather than
     * after (see rate-limit/limit-headroom.ts).
     */
    apiOverlapMargin: setting({
      env: 'RATE_LIMIT_API_OVERLAP_MARGIN',
      format: wholeNumber(0),
      default: 20,
      doc: "Work starts while the `/api` limit is counted (an authenticated request's session check; a limited route's own per-address count, sent with it) only when more than this many requests of the client's allowance were left (as this process last saw); else after. Room for other instances' counts.",
    }),
    ipv6Subnet: setting({
      env: 'RATE_LIMIT_IPV6_SUBNET',
      format: wholeNumber(32, 64),
      default: 56,
      doc: 'IPv6 clients are counted per subnet of this prefix length (32-64): one customer often holds a whole /64.',
    }),
  },
  jwt: {
    accessSecret: setting({
      env: 'JWT_ACCESS_SECRET',
      format: optionalString,
      secret: true,
      unset: 'generated outside production',
      doc: 'Signs access tokens.',
      production: signingSecretInProduction(
        '**Production:** required, >= 32 bytes, not a placeholder.',
      ),
    }),
    refreshSecret: setting({
      env: 'JWT_REFRESH_SECRET',
      format: optionalString,
      secret: true,
      unset: 'generated outside production',
      doc: 'Signs refresh tokens.',
      // That the two differ is checked by loadConfig, which sees both.
      production: signingSecretInProduction(
        '**Production:** the same rules, and must differ from the access secret.',
      ),
    }),
    issuer: setting({
      env: 'JWT_ISSUER',
      format: text,
      default: 'express-production-template',
      doc: '`iss` of every token, checked on verification.',
    }),
    audience: setting({
      env: 'JWT_AUDIENCE',
      format: text,
      default: 'express-production-template-api',
      doc: '`aud` of every token, checked on verification.',
    }),
    accessTtlSeconds: setting({
      env: 'JWT_ACCESS_TTL_SECONDS',
      format: wholeNumber(30, 24 * 3600),
      default: 900,
      doc: 'Access token lifetime.',
    }),
    refreshTtlSeconds: setting({
      env: 'JWT_REFRESH_TTL_SECONDS',
      format: wholeNumber(60),
      default: 7 * 24 * 3600,
      doc: 'Refresh token lifetime (7 days).',
    }),
  },
  auth: {
    /** Absolute lifetime of a login: rotating its refresh tokens never extends it. */
    sessionMaxAgeSeconds: setting({
      env: 'AUTH_SESSION_MAX_AGE_SECONDS',
      format: wholeNumber(60),
      default: 30 * 24 * 3600,
      doc: 'Absolute lifetime of a login (30 days), whatever the rotations.',
    }),
    sessionCacheMs: setting({
      env: 'AUTH_SESSION_CACHE_MS',
      format: wholeNumber(0, 1_000),
      default: 500,
      doc: "How long (0-1000 ms) a process may answer an access token's session check from memory instead of the database: a logout, revocation, password change, disabled or deleted account, or role change made elsewhere is seen by every replica and worker within it, and at once by the process that made it. `0` reads the database on every authenticated request (see [Performance](#performance)).",
    }),
    purgeIntervalMs: setting({
      env: 'AUTH_PURGE_INTERVAL_MS',
      format: wholeNumber(0),
      default: 3_600_000,
      doc: 'How often expired sessions and tokens are deleted; `0` disables.',
    }),
    /**
     * Password hashes (argon2) computed at once by this process; the rest wait their turn.
     * Undefined: the hasher's default (see PasswordHasher).
     */
    passwordHashConcurrency: setting({
      env: 'PASSWORD_HASH_CONCURRENCY',
      format: wholeNumber(1, 64),
      unset: 'cores - 1, at least 1, shared among cluster workers',
      doc: 'Password hashes (argon2id) one process computes at once; further logins wait their turn, so a login burst cannot starve the event loop (see [Performance](#performance)).',
    }),
    passwordHashQueueMax: setting({
      env: 'PASSWORD_HASH_QUEUE_MAX',
      format: wholeNumber(1, 100_000),
      default: 64,
      doc: 'Password hashes that may wait for the hasher in one process; beyond that a sign-in is answered 503 `PASSWORD_CHECKS_BUSY` with `Retry-After` instead of queueing.',
    }),
    /** Off unless set: the offline list is always checked (see password-policy.ts). */
    passwordBreachCheckUrl: setting({
      env: 'PASSWORD_BREACH_CHECK_URL',
      format: url(['https:', 'http:']),
      unset: 'off',
      doc: 'A Pwned Passwords range API (`https://api.pwnedpasswords.com/range/`) also asked, by k-anonymity (5 hex of a SHA-1), whether a new password was breached; unreachable within 2 s: the password is accepted and a warning logged.',
    }),
  },
  /** The account lifecycle: mailed links (verification, reset, email change) and their rules. */
  account: {
    /** The front end the mailed links open; it posts the link's token to the API. */
    publicUrl: setting({
      env: 'APP_PUBLIC_URL',
      format: url(['https:', 'http:']),
      // Production has no default: a link to localhost in a real user's mailbox is a bug.
      default: { production: '', otherwise: 'http://localhost:3000' },
      doc: "The front end's base URL that mailed links point to: `APP_PUBLIC_URL` + a link path + `?token=...` (see [Account lifecycle](#account-lifecycle)).",
      production: requiredInProduction('mailed links must open your front end'),
    }),
    verifyEmailPath: setting({
      env: 'ACCOUNT_VERIFY_EMAIL_PATH',
      format: linkPath,
      default: '/verify-email',
      doc: 'Path of the email verification link, under `APP_PUBLIC_URL`.',
    }),
    resetPasswordPath: setting({
      env: 'ACCOUNT_RESET_PASSWORD_PATH',
      format: linkPath,
      default: '/reset-password',
      doc: 'Path of the password reset link, under `APP_PUBLIC_URL`.',
    }),
    confirmEmailPath: setting({
      env: 'ACCOUNT_CONFIRM_EMAIL_PATH',
      format: linkPath,
      default: '/confirm-email',
      doc: 'Path of the email change confirmation link (sent to the new address), under `APP_PUBLIC_URL`.',
    }),
    verificationTtlSeconds: setting({
      env: 'EMAIL_VERIFICATION_TTL_SECONDS',
      format: wholeNumber(60, 30 * 24 * 3600),
      default: 24 * 3600,
      doc: 'Lifetime of an email verification link (24 h).',
    }),
    resetTtlSeconds: setting({
      env: 'PASSWORD_RESET_TTL_SECONDS',
      format: wholeNumber(60, 24 * 3600),
      default: 30 * 60,
      doc: 'Lifetime of a password reset link (30 min).',
    }),
    /**
     * Every server process sweeps reset requests whose processing after the reply never ran
     * (a crash, a database blip): the longest a request accepted by `forgot` can wait.
     */
    resetRequestSweepIntervalMs: setting({
      env: 'PASSWORD_RESET_SWEEP_INTERVAL_MS',
      format: wholeNumber(100, 3_600_000),
      default: 10_000,
      doc: 'How often each server process mails the password reset requests left behind for more than 5 s (accepted with 202, but not processed after the reply: a crash, a database blip); requests older than `PASSWORD_RESET_TTL_SECONDS` are dropped instead.',
    }),
    emailChangeTtlSeconds: setting({
      env: 'EMAIL_CHANGE_TTL_SECONDS',
      format: wholeNumber(60, 7 * 24 * 3600),
      default: 3600,
      doc: 'Lifetime of an email change confirmation link (1 h: the change was just authorised with the password).',
    }),
    /**
     * Production refuses unverified sign-ins: an address nobody confirmed may belong to someone
     * else. Elsewhere there is often no mail catcher running, and a developer signs up and in
     * without one.
     */
    allowUnverifiedSignIn: setting({
      env: 'AUTH_ALLOW_UNVERIFIED_SIGN_IN',
      format: bool,
      default: { production: false, otherwise: true },
      doc: 'Whether an account whose address is not confirmed yet can sign in. `false`: `register` answers without tokens (`verificationRequired: true`) and `login` answers 403 `EMAIL_NOT_VERIFIED` until the link is followed (a completed password reset confirms the address too).',
    }),
  },
  audit: {
    enabled: setting({
      env: 'AUDIT_ENABLED',
      format: bool,
      default: true,
      doc: 'Record security events (sign-ins, revocations, account and admin changes) in the audit log, each in the transaction of the change it records.',
    }),
    retentionDays: setting({
      env: 'AUDIT_RETENTION_DAYS',
      format: wholeNumber(0, 36_500),
      default: 365,
      doc: 'Audit events older than this many days are deleted by the audit purge; `0` keeps them forever.',
    }),
    purgeIntervalMs: setting({
      env: 'AUDIT_PURGE_INTERVAL_MS',
      format: wholeNumber(0),
      default: 3_600_000,
      doc: 'How often audit events past `AUDIT_RETENTION_DAYS` are deleted (in batches, safe on many replicas); `0` disables.',
    }),
  },
  health: {
    /** How long `/health/ready`'s dependency checks are reused; concurrent probes share one. */
    readinessCacheMs: setting({
      env: 'READINESS_CACHE_MS',
      format: wholeNumber(0, 60_000),
      default: 1_000,
      doc: 'How long `/health/ready` reuses its database and Redis checks; concurrent probes share one run. `0`: only those share.',
    }),
  },
  /** Swagger UI at /docs and the OpenAPI document at /docs/openapi.json. */
  apiDocs: {
    // Off in production unless asked for: the document describes the API to anyone who asks.
    enabled: setting({
      env: 'API_DOCS_ENABLED',
      format: bool,
      default: { production: false, otherwise: true },
      doc: 'Serve `/docs` and `/docs/openapi.json`.',
    }),
  },
  http: {
    /**
     * Origins allowed to call the API from a browser (CORS, with credentials), and to use the
     * refresh cookie (the CSRF check). Production has no default: a frontend on localhost is a
     * development convenience, not something a production API should grant.
     */
    corsOrigins: setting({
      env: 'FRONTEND_URL',
      format: originList,
      default: { production: '', otherwise: 'http://localhost:3000,http://localhost:5173' },
      doc: 'Comma-separated origins allowed to call the API from a browser (CORS with credentials; the refresh cookie). None by default in production.',
    }),
    /** Hop count for Express's `trust proxy`; 0 trusts no proxy. */
    trustProxy: setting({
      env: 'TRUST_PROXY',
      format: z
        .string()
        .trim()
        .regex(/^\d+$/, {
          message:
            'must be the number of proxies in front of the app (0 when clients connect directly, 1 behind nginx); "true" would trust any client-supplied X-Forwarded-For',
        })
        .transform(Number),
      default: 0,
      doc: 'Number of proxies in front of the app: `0` direct, `1` behind one nginx. Never `true`.',
    }),
    bodyLimit: setting({
      env: 'BODY_LIMIT',
      format: z
        .string()
        .trim()
        .regex(/^\d+(b|kb|mb)$/i, { message: 'must be a size such as 100kb or 1mb' })
        .transform((size) => size.toLowerCase()),
      default: '100kb',
      doc: 'Largest JSON body accepted (413 beyond).',
    }),
  },
  log: {
    level: setting({
      env: 'LOG_LEVEL',
      format: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
      default: 'info',
      doc: '`fatal` `error` `warn` `info` `debug` `trace` `silent`.',
    }),
  },
  shutdown: {
    /** The whole graceful shutdown, drain delay included, must finish within this. */
    timeoutMs: setting({
      env: 'SHUTDOWN_TIMEOUT_MS',
      format: wholeNumber(100),
      default: 10_000,
      doc: 'The whole graceful shutdown, drain delay included, must finish within this, or the process exits 1.',
    }),
    /**
     * How long the instance keeps serving after `/health/ready` turns 503, so that load balancers
     * see it and stop sending before the listener closes.
     */
    drainDelayMs: setting({
      env: 'SHUTDOWN_DRAIN_DELAY_MS',
      format: wholeNumber(0),
      // Production waits for load balancers to notice readiness failing; elsewhere nobody is
      // watching, and a developer's Ctrl-C or a watch-mode restart should not wait 5 s.
      default: { production: 5_000, otherwise: 0 },
      doc: 'After SIGTERM, keep serving this long with `/health/ready` at 503 so load balancers stop sending, before the listener closes. Must be shorter than `SHUTDOWN_TIMEOUT_MS`.',
    }),
  },
  cluster: {
    enabled: setting({
      env: 'CLUSTER_MODE',
      format: bool,
      default: false,
      doc: '`true` makes `pnpm start` run the cluster, like `pnpm start:cluster` (see [Cluster mode](#cluster-mode)).',
    }),
    /** Workers to fork; defaults to the CPUs available to the process (container limits included). */
    maxWorkers: setting({
      env: 'MAX_WORKERS',
      format: wholeNumber(1, 1024),
      default: { computed: () => os.availableParallelism(), doc: 'CPUs available' },
      doc: 'Cluster workers (`os.availableParallelism()`, which respects container CPU limits).',
    }),
    /** V8 old-space limit (MB) passed to each worker; 0 leaves Node's default. */
    maxOldSpaceMb: setting({
      env: 'MAX_OLD_SPACE_SIZE',
      format: wholeNumber(0),
      default: 0,
      doc: "V8 heap limit (MB) passed to each cluster worker; `0` leaves Node's default.",
    }),
    /** A worker whose rss stays above this (MB) is replaced gracefully; 0 disables. */
    workerMemoryLimitMb: setting({
      env: 'WORKER_MEMORY_LIMIT_MB',
      format: wholeNumber(0),
      default: 0,
      doc: 'A cluster worker whose rss stays above this (MB) is replaced gracefully (new one first, then the old one drains); `0` disables.',
    }),
  },
  /** Log memory use every `intervalMs`, as a warning above `thresholdMb` of rss. */
  memory: {
    monitoring: setting({
      env: 'ENABLE_MEMORY_MONITORING',
      format: bool,
      default: false,
      doc: "Log each process's rss, heap and external memory every `MEMORY_MONITOR_INTERVAL_MS`.",
    }),
    thresholdMb: setting({
      env: 'MEMORY_THRESHOLD_MB',
      format: wholeNumber(16),
      default: 512,
      doc: 'Above this rss, the memory line is a warning.',
    }),
    intervalMs: setting({
      env: 'MEMORY_MONITOR_INTERVAL_MS',
      format: wholeNumber(1_000),
      default: 60_000,
      doc: 'How often memory is logged (>= 1000).',
    }),
  },
  eventLoop: {
    /** An event-loop delay at least this long is logged as a warning (rate-limited). */
    delayThresholdMs: setting({
      env: 'EVENT_LOOP_DELAY_THRESHOLD_MS',
      format: wholeNumber(1),
      default: 50,
      doc: 'An event-loop delay this long logs a warning (at most one a minute).',
    }),
    /** Event-loop figures in metrics describe the last complete window of this length. */
    windowMs: setting({
      env: 'EVENT_LOOP_WINDOW_MS',
      format: wholeNumber(100, MAX_TIMER_MS),
      default: 10_000,
      doc: 'Event-loop delay and utilisation in metrics describe the last complete window of this length (>= 100).',
    }),
  },
  /**
   * Outgoing mail: how it leaves (`transport`, `smtpUrl`), who it is from, and how the outbox
   * sender (mail/mail-sender.ts) claims, sends and retries the rows of `mail_outbox`.
   */
  mail: {
    /** `undefined`: SMTP when `smtpUrl` is set, else the development outbox (see loadConfig). */
    transport: setting({
      env: 'MAIL_TRANSPORT',
      format: z.enum(['smtp', 'outbox', 'log'], { message: 'must be smtp, outbox or log' }),
      unset: '`smtp` with `SMTP_URL`, else `outbox`',
      doc: '`smtp`: send through `SMTP_URL`. `outbox` (development): one log line per message with its links, and an `.eml` file under `DATA_DIR/outbox/`. `log`: the log line only; the explicit way to run production without SMTP (links in the log are credentials). See [Mail](#mail).',
    }),
    smtpUrl: setting({
      env: 'SMTP_URL',
      format: url(['smtp:', 'smtps:']),
      unset: 'no SMTP',
      doc: '`smtp://user:pass@host:587` (STARTTLS when offered; `?requireTLS=true` insists) or `smtps://user:pass@host:465` (TLS from the start).',
      // Checked by loadConfig, which also sees MAIL_TRANSPORT.
      production: {
        doc: '**Required in production** unless `MAIL_TRANSPORT=log`.',
        check: () => [],
      },
    }),
    from: setting({
      env: 'MAIL_FROM',
      format: mailbox,
      default: { production: '', otherwise: 'Express Template <no-reply@localhost>' },
      doc: 'The `From` of every message; its domain ends each `Message-ID`.',
      production: requiredInProduction('receiving servers refuse mail from a made-up domain'),
    }),
    pollIntervalMs: setting({
      env: 'MAIL_POLL_INTERVAL_MS',
      format: wholeNumber(0, MAX_TIMER_MS),
      default: 1_000,
      doc: 'How often each process looks for due messages (a message queued by this process is sent at once; this is the backstop for retries and other replicas). `0`: this process sends no mail.',
    }),
    maxAttempts: setting({
      env: 'MAIL_MAX_ATTEMPTS',
      format: wholeNumber(1, 100),
      default: 12,
      doc: 'Send attempts before a message is marked `failed` (with the defaults, retries span about 50 minutes).',
    }),
    retryBaseMs: setting({
      env: 'MAIL_RETRY_BASE_MS',
      format: wholeNumber(10, MAX_TIMER_MS),
      default: 5_000,
      doc: 'The wait after the first failed attempt; it doubles with each further one (with jitter), up to `MAIL_RETRY_MAX_MS`.',
    }),
    bodyRetentionMs: setting({
      env: 'MAIL_BODY_RETENTION_MS',
      format: wholeNumber(0, MAX_TIMER_MS),
      default: 15 * 60_000,
      doc: 'How long a delivered (or given up) message keeps its body in the outbox; then it is blanked, because its links carry live account tokens (15 min).',
    }),
    retentionDays: setting({
      env: 'MAIL_RETENTION_DAYS',
      format: wholeNumber(0, 36_500),
      default: 30,
      doc: 'Delivered and given-up messages are deleted from the outbox after this many days; `0` keeps them.',
    }),
    retryMaxMs: setting({
      env: 'MAIL_RETRY_MAX_MS',
      format: wholeNumber(10, MAX_TIMER_MS),
      default: 10 * 60_000,
      doc: 'The longest wait between two attempts (10 min).',
    }),
    sendTimeoutMs: setting({
      env: 'MAIL_SEND_TIMEOUT_MS',
      format: wholeNumber(1_000, 10 * 60_000),
      default: 30_000,
      doc: 'SMTP connection, greeting and inactivity timeout. A claimed message is leased for 3x this: if its process dies mid-send, another sends it once the lease is over.',
    }),
  },
  metrics: {
    /** A bearer token the metrics endpoints require; unset, none is required. */
    token: setting({
      env: 'METRICS_TOKEN',
      format: optionalString.refine(
        (value) => value === undefined || value.length >= MIN_METRICS_TOKEN_LENGTH,
        {
          message: `must be at least ${MIN_METRICS_TOKEN_LENGTH} characters (generate one with: openssl rand -hex 24)`,
        },
      ),
      secret: true,
      doc: 'When set (>= 16 characters), `/health`, `/health/metrics` and `/metrics` also require `Authorization: Bearer <token>` (401 without).',
    }),
    /**
     * IPs and CIDR ranges allowed to read metrics (matched against `req.ip`); `undefined` allows
     * any address, which is only ever the case when a token is required.
     */
    allow: setting({
      env: 'METRICS_ALLOW',
      format: ipRangeList,
      // The fallback is applied by loadConfig, which sees the token as well.
      unset: `\`${LOOPBACK_ONLY.join(',')}\`, or any address when \`METRICS_TOKEN\` is set`,
      doc: 'Comma-separated IPs/CIDRs that may read `/health`, `/health/metrics` and `/metrics` (matched against the client IP, so set `TRUST_PROXY`). Others get 403.',
    }),
  },
};

/** Read before the others, by the `.env` reader itself, so not part of the config. */
export const envFileSetting = setting({
  env: 'ENV_FILE',
  format: z.string(),
  default: '.env',
  doc: 'The dotenv file to read.',
});

/** Every declared setting in declaration order: the config's, then {@link envFileSetting}. */
export const DECLARED_SETTINGS: readonly Setting[] = Object.freeze([
  ...listSettings(settings).map((entry) => entry.setting),
  envFileSetting,
]);
