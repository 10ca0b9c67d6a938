import cluster from 'node:cluster';
import type { RequestHandler } from 'express';
import { rateLimit, type Options, type Store } from 'express-rate-limit';
import type { Config, RateLimitPolicy } from '../config';
import { DomainError } from '../errors/domain-error';
import { HttpErrorCode } from '../http/error-statuses';
import { sendProblem } from '../http/problem';
import type { Logger } from '../logger';
import type { Redis } from '../redis/redis-client';
import { emailFromBody, ipAndEmailKey } from './client-key';
import { selectStores, type RateLimitState, type StoreSelection } from './store-selection';

export interface RateLimitersDeps {
  config: Pick<Config, 'redis' | 'rateLimit'>;
  logger: Logger;
  /** The process's shared Redis connection; without it, counts stay in memory. */
  redis?: Pick<Redis, 'call' | 'status' | 'on' | 'off'> | undefined;
  /** Defaults to `cluster.isWorker`: a worker counts in the cluster primary's memory. */
  isClusterWorker?: boolean;
}

/** The policies a route can name in its `rateLimits` (see http/route.ts). */
export type RateLimitPolicyName = 'auth' | 'authEmail' | 'refresh';

/** A limiter a route names, and where it must run. */
export interface RouteRateLimit {
  handler: RequestHandler;
  /**
   * Whether it reads the parsed body (a key with the email): it then runs after body parsing;
   * the others run before it, so a flood is refused without reading its bodies.
   */
  needsBody: boolean;
}

/** The app's rate limiters and the state of their store. */
export interface RateLimiters {
  /** Every request under `/api`, per client address. Mount before body parsing. */
  api: RequestHandler;
  /**
   * - `auth`: sign-in and registration together, per client address;
   * - `authEmail`: the same per (client address, email); a request without a usable email is
   *   not counted here (the per-address limit still applies);
   * - `refresh`: token refreshes, per client address.
   */
  policies: Readonly<Record<RateLimitPolicyName, RouteRateLimit>>;
  /** Where counts live now (Redis, or the memory fallback during an outage). */
  state: () => RateLimitState;
  /** Stops watching Redis and the stores' timers. */
  close: () => Promise<void>;
}

const STORE_DESCRIPTIONS: Record<StoreSelection['kind'], string> = {
  redis:
    'rate limiting: counts in Redis, shared by every instance that uses it (limits hold per fleet; while Redis is unavailable, each process counts on its own)',
  'cluster-memory':
    "rate limiting: counts in the cluster primary's memory (limits hold per machine: each machine counts on its own; set REDIS_URL to share counts across machines)",
  memory:
    "rate limiting: counts in this process's memory (limits hold per process: each replica and each worker counts on its own; set REDIS_URL to share counts)",
};

/**
 * Builds the rate limiters from the configuration: IETF draft-8 `RateLimit` and
 * `RateLimit-Policy` headers plus `Retry-After`, and a 429 `RATE_LIMITED` problem document.
 * Logs once which store counts and what a limit therefore guarantees.
 *
 * Clients are keyed by `req.ip`, which Express derives from `TRUST_PROXY`: behind one nginx it
 * is the address nginx appended to `X-Forwarded-For`, and with no proxy an `X-Forwarded-For`
 * sent by the client is ignored. IPv6 clients are keyed by subnet (`RATE_LIMIT_IPV6_SUBNET`).
 */
export function createRateLimiters({
  config,
  logger,
  redis,
  isClusterWorker = cluster.isWorker,
}: RateLimitersDeps): RateLimiters {
  const log = logger.child({ component: 'rate-limit' });
  const stores = selectStores({
    redis,
    keyPrefix: config.redis.keyPrefix,
    isClusterWorker,
    logger: log,
    startupGraceMs: config.redis.connectTimeoutMs,
  });
  const { ipv6Subnet } = config.rateLimit;
  const limiterLogger: Options['logger'] = {
    error: (err, msg) => log.error({ err }, msg ?? 'express-rate-limit error'),
    warn: (err, msg) => log.warn({ err }, msg ?? 'express-rate-limit warning'),
  };

  const created: Store[] = [];
  const limiter = (
    name: string,
    policy: RateLimitPolicy,
    detail: string,
    options: Partial<Options> = {},
  ): RequestHandler => {
    // Read-only and shared: under a flood, 429s are the hot path, and an error per reply would
    // capture a stack trace each time.
    const rejection = new DomainError(HttpErrorCode.RATE_LIMITED, detail);
    const store: Store = stores.create(name);
    created.push(store);
    return rateLimit({
      windowMs: policy.windowMs,
      limit: policy.limit,
      // The policy name in the RateLimit headers: fixed, rather than computed per request.
      identifier: name,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      store,
      // The stores never throw on a Redis outage (they fall back to memory); this only keeps a
      // request alive if a cluster primary stops answering.
      passOnStoreError: true,
      logger: limiterLogger,
      validate: {
        // Our proxies send X-Forwarded-For and a `Forwarded` header is ignored by design. The
        // check looks at a limiter's first request only, so it would report whatever the first
        // client after a deploy chose to send, not our configuration.
        forwardedHeader: false,
      },
      handler: (req, res) => sendProblem(req, res, rejection),
      ...(options.keyGenerator ? {} : { ipv6Subnet }),
      ...options,
    });
  };

  const api = limiter('api', config.rateLimit.api, 'Too many requests; try again later');
  const policies: Record<RateLimitPolicyName, RouteRateLimit> = {
    auth: {
      handler: limiter(
        'auth',
        config.rateLimit.auth,
        'Too many sign-in or registration attempts; try again later',
      ),
      needsBody: false,
    },
    authEmail: {
      handler: limiter(
        'auth-email',
        config.rateLimit.authEmail,
        'Too many attempts for this account; try again later',
        {
          keyGenerator: ipAndEmailKey(ipv6Subnet),
          skip: (req) => emailFromBody(req.body) === undefined,
        },
      ),
      needsBody: true,
    },
    refresh: {
      handler: limiter(
        'refresh',
        config.rateLimit.refresh,
        'Too many token refreshes; try again later',
      ),
      needsBody: false,
    },
  };
  log.info(
    {
      store: stores.kind,
      scope: stores.scope,
      ...(redis ? { keyPrefix: `${config.redis.keyPrefix}rl:` } : {}),
      limits: {
        api: config.rateLimit.api,
        auth: config.rateLimit.auth,
        authEmail: config.rateLimit.authEmail,
        refresh: config.rateLimit.refresh,
      },
    },
    STORE_DESCRIPTIONS[stores.kind],
  );
  stores.start();

  return {
    api,
    policies,
    state: stores.state,
    async close() {
      stores.close();
      await Promise.allSettled(created.map((store) => Promise.resolve(store.shutdown?.())));
    },
  };
}
