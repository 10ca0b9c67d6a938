import type { Database } from '../db/database';
import type { ReadReplica } from '../db/read-replica';
import type { RateLimitState } from '../rate-limit/store-selection';
import type { Redis } from '../redis/redis-client';

/** One dependency check. */
export interface CheckResult {
  name: string;
  status: 'up' | 'down';
  /** Whether the instance can still serve without it (Redis: the rate limiter falls back). */
  critical: boolean;
  latencyMs: number;
  error?: string;
}

/**
 * - `ok`: everything up;
 * - `degraded`: a non-critical dependency (Redis, the read replica) is down, the instance still
 *   serves;
 * - `unavailable`: a critical dependency (the database) is down;
 * - `shutting_down`: graceful shutdown has begun.
 */
export type ReadinessStatus = 'ok' | 'degraded' | 'unavailable' | 'shutting_down';

export interface Readiness {
  status: ReadinessStatus;
  /** Whether a load balancer should send traffic here: `ok` or `degraded`. */
  ready: boolean;
  checks: CheckResult[];
  /** Where rate limits count now: a Redis outage shows as `memory-fallback` (degraded). */
  rateLimit?: RateLimitState;
}

export interface ReadinessDeps {
  db: Pick<Database, 'ping'>;
  redis?: Pick<Redis, 'ping'> | undefined;
  /** The database read replica, when configured: non-critical, reads fall back to the primary. */
  readReplica?: Pick<ReadReplica, 'ping'> | undefined;
  /** True once shutdown has begun: readiness must fail first so load balancers stop sending. */
  isShuttingDown: () => boolean;
  /** Each check's limit; a dependency slower than this counts as down. */
  checkTimeoutMs?: number;
  rateLimit?: (() => RateLimitState) | undefined;
  /**
   * How long a dependency result is reused after it came (0: never). The probe is public and
   * unauthenticated: without this, every call is a database query anyone can send.
   */
  cacheMs?: number;
  /** Milliseconds from any fixed point; tests pass their own clock. */
  now?: () => number;
}

/**
 * Builds the readiness check: the database (`SELECT 1`, critical) and Redis (`PING`, when
 * configured, non-critical), in parallel, each bounded by `checkTimeoutMs`, so the answer comes
 * within that time however the dependencies fail.
 *
 * The dependency checks are shared: callers that arrive while one is running wait for it, and its
 * result answers every call for `cacheMs` after it came. However many probes arrive, the
 * database sees at most one `SELECT 1` per `cacheMs` plus the check's own duration. Shutdown
 * and the rate limiter's state are read on every call, so a cached result never delays
 * readiness failing at shutdown.
 */
export function createReadinessCheck({
  db,
  redis,
  isShuttingDown,
  checkTimeoutMs = 1_000,
  rateLimit,
  cacheMs = 1_000,
  now = () => performance.now(),
  readReplica,
}: ReadinessDeps): () => Promise<Readiness> {
  let last: { checks: Promise<CheckResult[]>; answeredAt?: number } | undefined;
  const dependencyChecks = (): Promise<CheckResult[]> => {
    const fresh = last && (last.answeredAt === undefined || now() - last.answeredAt < cacheMs);
    if (last && fresh) return last.checks;
    const current: NonNullable<typeof last> = {
      // runCheck never rejects: a failing dependency is a `down` result.
      checks: Promise.all([
        runCheck('database', true, () => db.ping(), checkTimeoutMs),
        ...(redis ? [runCheck('redis', false, () => redis.ping(), checkTimeoutMs)] : []),
        ...(readReplica
          ? [runCheck('databaseReadReplica', false, () => readReplica.ping(), checkTimeoutMs)]
          : []),
      ]),
    };
    void current.checks.then(() => {
      current.answeredAt = now();
    });
    last = current;
    return current.checks;
  };

  return async () => {
    const checks = await dependencyChecks();
    // Read after the checks: a shutdown that began meanwhile must not be answered with 200.
    const shuttingDown = isShuttingDown();
    const criticalDown = checks.some((check) => check.status === 'down' && check.critical);
    const rateLimitState = rateLimit?.();
    const anyDown =
      checks.some((check) => check.status === 'down') ||
      rateLimitState?.store === 'memory-fallback';
    const status: ReadinessStatus = shuttingDown
      ? 'shutting_down'
      : criticalDown
        ? 'unavailable'
        : anyDown
          ? 'degraded'
          : 'ok';
    return {
      status,
      ready: status === 'ok' || status === 'degraded',
      checks,
      ...(rateLimitState ? { rateLimit: rateLimitState } : {}),
    };
  };
}

/**
 * Resolves with `work`'s value, or rejects once `timeoutMs` has passed, whichever comes first.
 * The timer is cleared either way: a fast answer leaves nothing behind.
 */
export async function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function runCheck(
  name: string,
  critical: boolean,
  check: () => Promise<unknown>,
  timeoutMs: number,
): Promise<CheckResult> {
  const start = performance.now();
  try {
    await withTimeout(check(), timeoutMs);
    return { name, status: 'up', critical, latencyMs: elapsed(start) };
  } catch (error) {
    return { name, status: 'down', critical, latencyMs: elapsed(start), error: reason(error) };
  }
}

/**
 * The gist of a failure, on one line: Prisma's messages open with lines about the invocation,
 * and end with what actually happened ("Can't reach database server at ...").
 */
function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const lines = message
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  return lines.at(-1) ?? 'failed';
}

const elapsed = (start: number) => Math.round((performance.now() - start) * 10) / 10;
