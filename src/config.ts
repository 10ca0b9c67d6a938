import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { isIpRange } from './http/ip-allowlist';

/**
 * The only module that reads `process.env`. Everything else receives a {@link Config}.
 *
 * Production differs from development only through what this schema makes explicit: in
 * production the database URL and both JWT secrets are required and checked; elsewhere, missing
 * secrets are generated once per machine (see {@link loadDevSecrets}). The shutdown drain delay
 * defaults to 5 s in production and 0 elsewhere (both documented in the README's table).
 */

/** Secret values shipped in `.env.example` and `.env.prod.example`; production refuses them. */
export const PLACEHOLDER_SECRETS: readonly string[] = Object.freeze([
  'dev-only-access-secret-change-me-in-production-0123456789',
  'dev-only-refresh-secret-change-me-in-production-0123456789',
  'CHANGE_ME_generate_with_openssl_rand_base64_48_access',
  'CHANGE_ME_generate_with_openssl_rand_base64_48_refresh',
]);

const MIN_SECRET_BYTES = 32;
const MIN_METRICS_TOKEN_LENGTH = 16;

/** Who may read metrics when neither METRICS_ALLOW nor METRICS_TOKEN is set: this machine. */
export const LOOPBACK_ONLY: readonly string[] = Object.freeze(['127.0.0.0/8', '::1']);

const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0'], { message: 'must be true or false' })
    .default(fallback ? 'true' : 'false')
    .transform((value) => value === 'true' || value === '1');

const wholeNumber = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ message: 'must be a number' })
    .int({ message: 'must be a whole number' })
    .min(min, { message: `must be at least ${min}` })
    .max(max, { message: `must be at most ${max}` });

const int = (fallback: number, min: number, max = Number.MAX_SAFE_INTEGER) =>
  wholeNumber(min, max).default(fallback);

const optionalString = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

// The memory stores clear expired counts with a timer, and Node's timers stop at 2^31 - 1 ms.
const MAX_TIMER_MS = 2 ** 31 - 1;

const url = (protocols: readonly string[]) =>
  optionalString.refine(
    (value) => {
      if (value === undefined) return true;
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().trim().min(1).default('0.0.0.0'),
  PORT: int(3001, 0, 65535),
  DATABASE_URL: url(['postgresql:', 'postgres:']),
  DATABASE_POOL_SIZE: int(10, 1, 1000),
  REDIS_URL: url(['redis:', 'rediss:']),
  REDIS_COMMAND_TIMEOUT_MS: int(250, 10),
  REDIS_CONNECT_TIMEOUT_MS: int(2_000, 100),
  REDIS_KEY_PREFIX: z
    .string()
    .trim()
    .regex(/^[\w:.-]{0,64}$/, {
      message: 'must be at most 64 letters, digits, or _ : . - (for example myapp:)',
    })
    .default(''),
  RATE_LIMIT_API_MAX: int(300, 1),
  RATE_LIMIT_API_WINDOW_MS: int(60_000, 1_000, MAX_TIMER_MS),
  RATE_LIMIT_AUTH_MAX: int(20, 1),
  RATE_LIMIT_AUTH_EMAIL_MAX: int(5, 1),
  RATE_LIMIT_AUTH_WINDOW_MS: int(15 * 60_000, 1_000, MAX_TIMER_MS),
  RATE_LIMIT_REFRESH_MAX: int(60, 1),
  RATE_LIMIT_REFRESH_WINDOW_MS: int(15 * 60_000, 1_000, MAX_TIMER_MS),
  RATE_LIMIT_IPV6_SUBNET: int(56, 32, 64),
  JWT_ACCESS_SECRET: optionalString,
  JWT_REFRESH_SECRET: optionalString,
  JWT_ISSUER: z.string().trim().min(1).default('express-production-template'),
  JWT_AUDIENCE: z.string().trim().min(1).default('express-production-template-api'),
  JWT_ACCESS_TTL_SECONDS: int(900, 30, 24 * 3600),
  JWT_REFRESH_TTL_SECONDS: int(7 * 24 * 3600, 60),
  AUTH_SESSION_MAX_AGE_SECONDS: int(30 * 24 * 3600, 60),
  AUTH_PURGE_INTERVAL_MS: int(3_600_000, 0),
  // Unset: one less than the cores, or a share of them per cluster worker (see PasswordHasher).
  PASSWORD_HASH_CONCURRENCY: wholeNumber(1, 64).optional(),
  REFRESH_COOKIE_SECURE: bool(true),
  API_DOCS_ENABLED: z
    .enum(['true', 'false', '1', '0'], { message: 'must be true or false' })
    .optional(),
  FRONTEND_URL: z.string().default('http://localhost:3000,http://localhost:5173'),
  TRUST_PROXY: z
    .string()
    .trim()
    .regex(/^\d+$/, {
      message:
        'must be the number of proxies in front of the app (0 when clients connect directly, 1 behind nginx); "true" would trust any client-supplied X-Forwarded-For',
    })
    .default('0')
    .transform(Number),
  BODY_LIMIT: z
    .string()
    .trim()
    .regex(/^\d+(b|kb|mb)$/i, { message: 'must be a size such as 100kb or 1mb' })
    .default('100kb'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  INSTANCE_ID: optionalString,
  SHUTDOWN_TIMEOUT_MS: int(10_000, 100),
  // Its default depends on NODE_ENV (see loadConfig), so it has none here.
  SHUTDOWN_DRAIN_DELAY_MS: wholeNumber(0).optional(),
  DATA_DIR: z.string().trim().min(1).default('.data'),
  CLUSTER_MODE: bool(false),
  MAX_WORKERS: int(os.availableParallelism(), 1, 1024),
  MAX_OLD_SPACE_SIZE: int(0, 0),
  WORKER_MEMORY_LIMIT_MB: int(0, 0),
  ENABLE_MEMORY_MONITORING: bool(false),
  MEMORY_THRESHOLD_MB: int(512, 16),
  MEMORY_MONITOR_INTERVAL_MS: int(60_000, 1_000),
  EVENT_LOOP_DELAY_THRESHOLD_MS: int(50, 1),
  EVENT_LOOP_WINDOW_MS: int(10_000, 100, MAX_TIMER_MS),
  METRICS_TOKEN: optionalString.refine(
    (value) => value === undefined || value.length >= MIN_METRICS_TOKEN_LENGTH,
    {
      message: `must be at least ${MIN_METRICS_TOKEN_LENGTH} characters (generate one with: openssl rand -hex 24)`,
    },
  ),
  METRICS_ALLOW: optionalString
    .transform((value) =>
      value
        ?.split(',')
        .map((entry) => entry.trim())
        .filter(Boolean),
    )
    .superRefine((entries, context) => {
      for (const entry of entries ?? []) {
        if (!isIpRange(entry)) {
          context.addIssue({
            code: 'custom',
            message: `"${entry}" is not an IP address or CIDR range (e.g. 10.0.0.0/8, ::1)`,
          });
        }
      }
    }),
});

/** The validated, frozen configuration of one process. */
export interface Config {
  readonly env: 'development' | 'production' | 'test';
  readonly isProduction: boolean;
  readonly host: string;
  readonly port: number;
  readonly instanceId: string;
  readonly dataDir: string;
  readonly database: {
    /** PostgreSQL URL; when absent the embedded PGlite database under `dataDir` is used. */
    readonly url: string | undefined;
    readonly poolSize: number;
  };
  readonly redis: {
    /** Redis URL (`redis://` or `rediss://` for TLS); when absent, nothing uses Redis. */
    readonly url: string | undefined;
    readonly commandTimeoutMs: number;
    readonly connectTimeoutMs: number;
    /** Put before every key this app writes, so several apps can share one Redis database. */
    readonly keyPrefix: string;
  };
  readonly rateLimit: {
    /** Every request under `/api`, per client address. */
    readonly api: RateLimitPolicy;
    /** `register` and `login` together, per client address. */
    readonly auth: RateLimitPolicy;
    /** `register` and `login` per (client address, email): cuts off a run against one account. */
    readonly authEmail: RateLimitPolicy;
    /** `refresh`, per client address. */
    readonly refresh: RateLimitPolicy;
    /** IPv6 clients are counted per subnet of this prefix length: one host often owns a /64. */
    readonly ipv6Subnet: number;
  };
  readonly jwt: {
    readonly accessSecret: string;
    readonly refreshSecret: string;
    readonly issuer: string;
    readonly audience: string;
    readonly accessTtlSeconds: number;
    readonly refreshTtlSeconds: number;
  };
  readonly auth: {
    /** Absolute lifetime of a login: rotating its refresh tokens never extends it. */
    readonly sessionMaxAgeSeconds: number;
    /** How often expired and revoked sessions are purged; 0 disables the job. */
    readonly purgeIntervalMs: number;
    /** `Secure` attribute of the refresh cookie (browsers accept it on http://localhost too). */
    readonly refreshCookieSecure: boolean;
    /**
     * Password hashes (argon2) computed at once by this process; the rest wait their turn.
     * Undefined: the hasher's default (one less than the cores).
     */
    readonly passwordHashConcurrency: number | undefined;
  };
  /** Swagger UI at /docs and the OpenAPI document at /docs/openapi.json. */
  readonly apiDocs: { readonly enabled: boolean };
  readonly http: {
    readonly corsOrigins: readonly string[];
    /** Hop count for Express's `trust proxy`; 0 trusts no proxy. */
    readonly trustProxy: number;
    readonly bodyLimit: string;
  };
  readonly log: { readonly level: string };
  readonly shutdown: {
    /** The whole graceful shutdown, drain delay included, must finish within this. */
    readonly timeoutMs: number;
    /**
     * How long the instance keeps serving after `/health/ready` turns 503, so that load balancers
     * see it and stop sending before the listener closes.
     */
    readonly drainDelayMs: number;
  };
  readonly cluster: {
    readonly enabled: boolean;
    /** Workers to fork; defaults to the CPUs available to the process (container limits included). */
    readonly maxWorkers: number;
    /** V8 old-space limit (MB) passed to each worker; 0 leaves Node's default. */
    readonly maxOldSpaceMb: number;
    /** A worker whose rss stays above this (MB) is replaced gracefully; 0 disables. */
    readonly workerMemoryLimitMb: number;
  };
  readonly memory: {
    /** Log memory use every `intervalMs`, as a warning above `thresholdMb` of rss. */
    readonly monitoring: boolean;
    readonly thresholdMb: number;
    readonly intervalMs: number;
  };
  readonly metrics: {
    /** A bearer token the metrics endpoints require; unset, none is required. */
    readonly token: string | undefined;
    /**
     * IPs and CIDR ranges allowed to read metrics (matched against `req.ip`); `undefined` allows
     * any address, which is only ever the case when a token is required.
     */
    readonly allow: readonly string[] | undefined;
  };
  readonly eventLoop: {
    /** An event-loop delay at least this long is logged as a warning (rate-limited). */
    readonly delayThresholdMs: number;
    /** Event-loop figures in metrics describe the last complete window of this length. */
    readonly windowMs: number;
  };
}

/** At most `limit` requests per `windowMs` (a fixed window). */
export interface RateLimitPolicy {
  readonly limit: number;
  readonly windowMs: number;
}

/** What loading produced: the config plus warnings to log once a logger exists. */
export interface LoadedConfig {
  readonly config: Config;
  readonly warnings: readonly string[];
}

/** Thrown when the environment is invalid; `problems` holds one readable line each. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadConfigOptions {
  /** Variables to read; defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
  /**
   * A dotenv file whose values apply where `env` has none. Defaults to `.env` in the working
   * directory (`ENV_FILE` overrides); pass `false` to read none.
   */
  envFile?: string | false;
}

/**
 * Reads and validates the configuration.
 *
 * @throws {ConfigError} with one line per problem when the environment is invalid.
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = withEnvFile(options.env ?? process.env, options.envFile);
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join('.') || 'env'}: ${issue.message}`),
    );
  }
  const vars = parsed.data;
  const isProduction = vars.NODE_ENV === 'production';
  const warnings: string[] = [];
  const problems: string[] = [];

  // Production waits for load balancers to notice readiness failing; elsewhere nobody is
  // watching, and a developer's Ctrl-C or a watch-mode restart should not wait 5 s.
  const drainDelayMs = vars.SHUTDOWN_DRAIN_DELAY_MS ?? (isProduction ? 5_000 : 0);
  if (drainDelayMs >= vars.SHUTDOWN_TIMEOUT_MS) {
    problems.push(
      `SHUTDOWN_DRAIN_DELAY_MS: must be shorter than SHUTDOWN_TIMEOUT_MS (${vars.SHUTDOWN_TIMEOUT_MS}), which also covers in-flight requests and closing connections`,
    );
  }

  if (isProduction && !vars.DATABASE_URL) {
    problems.push(
      'DATABASE_URL: is required in production (the embedded database is for development)',
    );
  }

  let accessSecret = vars.JWT_ACCESS_SECRET;
  let refreshSecret = vars.JWT_REFRESH_SECRET;
  if (isProduction) {
    problems.push(...secretProblems('JWT_ACCESS_SECRET', accessSecret));
    problems.push(...secretProblems('JWT_REFRESH_SECRET', refreshSecret));
    if (accessSecret && accessSecret === refreshSecret) {
      problems.push('JWT_REFRESH_SECRET: must differ from JWT_ACCESS_SECRET');
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);

  if (!accessSecret || !refreshSecret) {
    const file = path.resolve(vars.DATA_DIR, 'dev-secrets.json');
    const generated = loadDevSecrets(file);
    accessSecret ??= generated.accessSecret;
    refreshSecret ??= generated.refreshSecret;
    warnings.push(
      `JWT secrets not set: using development secrets generated once and kept in ${file}. ` +
        'Set JWT_ACCESS_SECRET and JWT_REFRESH_SECRET before deploying.',
    );
  }

  const config: Config = {
    env: vars.NODE_ENV,
    isProduction,
    host: vars.HOST,
    port: vars.PORT,
    instanceId: vars.INSTANCE_ID ?? `${os.hostname()}-${process.pid}`,
    dataDir: path.resolve(vars.DATA_DIR),
    database: { url: vars.DATABASE_URL, poolSize: vars.DATABASE_POOL_SIZE },
    redis: {
      url: vars.REDIS_URL,
      commandTimeoutMs: vars.REDIS_COMMAND_TIMEOUT_MS,
      connectTimeoutMs: vars.REDIS_CONNECT_TIMEOUT_MS,
      keyPrefix: vars.REDIS_KEY_PREFIX,
    },
    rateLimit: {
      api: { limit: vars.RATE_LIMIT_API_MAX, windowMs: vars.RATE_LIMIT_API_WINDOW_MS },
      auth: { limit: vars.RATE_LIMIT_AUTH_MAX, windowMs: vars.RATE_LIMIT_AUTH_WINDOW_MS },
      authEmail: {
        limit: vars.RATE_LIMIT_AUTH_EMAIL_MAX,
        windowMs: vars.RATE_LIMIT_AUTH_WINDOW_MS,
      },
      refresh: { limit: vars.RATE_LIMIT_REFRESH_MAX, windowMs: vars.RATE_LIMIT_REFRESH_WINDOW_MS },
      ipv6Subnet: vars.RATE_LIMIT_IPV6_SUBNET,
    },
    jwt: {
      accessSecret,
      refreshSecret,
      issuer: vars.JWT_ISSUER,
      audience: vars.JWT_AUDIENCE,
      accessTtlSeconds: vars.JWT_ACCESS_TTL_SECONDS,
      refreshTtlSeconds: vars.JWT_REFRESH_TTL_SECONDS,
    },
    auth: {
      sessionMaxAgeSeconds: vars.AUTH_SESSION_MAX_AGE_SECONDS,
      purgeIntervalMs: vars.AUTH_PURGE_INTERVAL_MS,
      refreshCookieSecure: vars.REFRESH_COOKIE_SECURE,
      passwordHashConcurrency: vars.PASSWORD_HASH_CONCURRENCY,
    },
    // On by default outside production: the document describes the API to anyone who asks.
    apiDocs: {
      enabled: vars.API_DOCS_ENABLED
        ? ['true', '1'].includes(vars.API_DOCS_ENABLED)
        : !isProduction,
    },
    http: {
      corsOrigins: vars.FRONTEND_URL.split(',')
        .map((origin) => origin.trim())
        .filter(Boolean),
      trustProxy: vars.TRUST_PROXY,
      bodyLimit: vars.BODY_LIMIT.toLowerCase(),
    },
    log: { level: vars.LOG_LEVEL },
    shutdown: { timeoutMs: vars.SHUTDOWN_TIMEOUT_MS, drainDelayMs },
    cluster: {
      enabled: vars.CLUSTER_MODE,
      maxWorkers: vars.MAX_WORKERS,
      maxOldSpaceMb: vars.MAX_OLD_SPACE_SIZE,
      workerMemoryLimitMb: vars.WORKER_MEMORY_LIMIT_MB,
    },
    memory: {
      monitoring: vars.ENABLE_MEMORY_MONITORING,
      thresholdMb: vars.MEMORY_THRESHOLD_MB,
      intervalMs: vars.MEMORY_MONITOR_INTERVAL_MS,
    },
    eventLoop: {
      delayThresholdMs: vars.EVENT_LOOP_DELAY_THRESHOLD_MS,
      windowMs: vars.EVENT_LOOP_WINDOW_MS,
    },
    metrics: {
      token: vars.METRICS_TOKEN,
      // Metrics describe internals (versions, memory, traffic): with no restriction configured
      // they are served to this machine only, never to the world by accident.
      allow: vars.METRICS_ALLOW ?? (vars.METRICS_TOKEN ? undefined : LOOPBACK_ONLY),
    },
  };
  return { config: deepFreeze(config), warnings };
}

function secretProblems(name: string, value: string | undefined): string[] {
  if (!value) return [`${name}: is required in production`];
  if (PLACEHOLDER_SECRETS.includes(value)) {
    return [
      `${name}: is the placeholder from the example env file; generate one with: openssl rand -base64 48`,
    ];
  }
  if (Buffer.byteLength(value) < MIN_SECRET_BYTES) {
    return [
      `${name}: must be at least ${MIN_SECRET_BYTES} bytes (got ${Buffer.byteLength(value)})`,
    ];
  }
  return [];
}

/**
 * Returns the development secrets stored in `file`, creating them on first use.
 *
 * Every process on the machine (cluster workers, restarts, `pnpm dev` reloads) must sign with the
 * same secrets, or tokens issued by one would fail on another. Creation is atomic: the secrets
 * are written to a private temporary file which is then hard-linked into place; `link` fails if
 * another process won the race, and then its file is read instead.
 */
function loadDevSecrets(file: string): { accessSecret: string; refreshSecret: string } {
  if (!existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true });
    const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    const secrets = {
      accessSecret: randomBytes(48).toString('base64url'),
      refreshSecret: randomBytes(48).toString('base64url'),
    };
    writeFileSync(temp, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
    try {
      linkSync(temp, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      rmSync(temp, { force: true });
    }
  }
  const stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<Record<string, unknown>>;
  if (typeof stored.accessSecret !== 'string' || typeof stored.refreshSecret !== 'string') {
    throw new ConfigError([
      `${file}: is not a secrets file written by this app; delete it to regenerate`,
    ]);
  }
  return { accessSecret: stored.accessSecret, refreshSecret: stored.refreshSecret };
}

function withEnvFile(
  env: NodeJS.ProcessEnv,
  envFile: string | false | undefined,
): NodeJS.ProcessEnv {
  if (envFile === false) return env;
  const file = path.resolve(envFile ?? env.ENV_FILE ?? '.env');
  if (!existsSync(file)) return env;
  // Real environment variables win over the file, as with dotenv.
  return { ...parseEnv(readFileSync(file, 'utf8')), ...env };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
