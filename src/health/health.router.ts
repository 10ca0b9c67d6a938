import { Router } from 'express';
import type { Database } from '../db/database';
import type { RateLimitState } from '../rate-limit/store-selection';
import type { Redis } from '../redis/redis-client';

/** One dependency check of the readiness probe. */
export interface CheckResult {
  name: string;
  status: 'up' | 'down';
  /** Whether the instance can still serve without it (Redis: the rate limiter falls back). */
  critical: boolean;
  latencyMs: number;
  error?: string;
}

export interface HealthDeps {
  db: Pick<Database, 'ping'>;
  redis?: Pick<Redis, 'ping'> | undefined;
  /** True once shutdown has begun: readiness must fail first so load balancers stop sending. */
  isShuttingDown: () => boolean;
  checkTimeoutMs?: number;
  /** Where rate limits count now: a Redis outage shows here as `memory-fallback`. */
  rateLimit?: (() => RateLimitState) | undefined;
}

/**
 * Probes for load balancers and orchestrators.
 * - `/health/live`: the process is up and its event loop turns; it checks no dependency, so a
 *   database outage never gets healthy processes restarted.
 * - `/health/ready`: whether this instance can serve traffic now.
 */
export function createHealthRouter({
  db,
  redis,
  isShuttingDown,
  checkTimeoutMs = 1_000,
  rateLimit,
}: HealthDeps): Router {
  const router = Router();

  router.get('/live', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/ready', async (_req, res) => {
    const checks = await Promise.all([
      runCheck('database', true, () => db.ping(), checkTimeoutMs),
      ...(redis ? [runCheck('redis', false, () => redis.ping(), checkTimeoutMs)] : []),
    ]);
    const shuttingDown = isShuttingDown();
    const ready =
      !shuttingDown && checks.every((check) => check.status === 'up' || !check.critical);
    const rateLimitState = rateLimit?.();
    const degraded =
      checks.some((check) => check.status === 'down') ||
      rateLimitState?.store === 'memory-fallback';
    res
      .status(ready ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json({
        status: shuttingDown
          ? 'shutting_down'
          : !ready
            ? 'unavailable'
            : degraded
              ? 'degraded'
              : 'ok',
        checks,
        ...(rateLimitState ? { rateLimit: rateLimitState } : {}),
      });
  });

  return router;
}

async function runCheck(
  name: string,
  critical: boolean,
  check: () => Promise<unknown>,
  timeoutMs: number,
): Promise<CheckResult> {
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { name, status: 'up', critical, latencyMs: elapsed(start) };
  } catch (error) {
    return {
      name,
      status: 'down',
      critical,
      latencyMs: elapsed(start),
      error: (error as Error).message,
    };
  } finally {
    clearTimeout(timer);
  }
}

const elapsed = (start: number) => Math.round((performance.now() - start) * 10) / 10;
