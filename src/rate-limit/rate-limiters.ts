import cluster from 'node:cluster';
import type { Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, rateLimit, type Options, type Store } from 'express-rate-limit';
import type { Config, RateLimitPolicy } from '../config';
import { DomainError } from '../errors/domain-error';
import { HttpErrorCode } from '../http/error-statuses';
import { sendProblem } from '../http/problem';
import type { Logger } from '../logger';
import type { Redis } from '../redis/redis-client';
import { AccountConcurrency } from './account-concurrency';
import { ACCOUNT_LOCAL, accountKey, ipAndAccountKey } from './client-key';
import { CountAhead } from './count-ahead';
import { LimitHeadroom } from './limit-headroom';
import type { SignInDelay } from './sign-in-delay';
import { selectStores, type RateLimitState, type StoreSelection } from './store-selection';

export interface RateLimitersDeps {
  config: Pick<Config, 'redis' | 'rateLimit'>;
  logger: Logger;
  /** The process's shared Redis connection; without it, counts stay in memory. */
  redis?: Pick<Redis, 'call' | 'status' | 'on' | 'off'> | undefined;
  /** Defaults to `cluster.isWorker`: a worker counts in the cluster primary's memory. */
  isClusterWorker?: boolean;
}

/**
 * The policies a route can name in its `rateLimits` (see http/route.ts):
 * - `signIn`: every endpoint that verifies or sets a password (login, register, change-password
 *   and any re-authentication): per address, per (address, account), per account with a
 *   progressive delay, and a cap on the account's checks running at once;
 * - `refresh`: token refreshes, per address;
 * - `accountMail`: endpoints that mail an account a link (forgot password, resend the
 *   verification, email change): per address, and per account whatever the address, so nobody
 *   can flood one mailbox.
 */
export type RateLimitPolicyName = 'signIn' | 'refresh' | 'accountMail';

/** The caller of an authenticated route, as far as limits care. */
export interface LimitedCaller {
  userId: string;
}

/**
 * Admits a request once its account is known, or throws a DomainError (429 or 503). Resolves
 * with the function that ends the admission: the route adapter calls it when the handler is
 * done (it frees the account's place among the checks running at once).
 */
export type AccountStage = (
  req: Request,
  res: Response,
  caller: LimitedCaller | undefined,
) => Promise<() => void>;

/** What a route's policy runs, and where. */
export interface RouteRateLimit {
  /** Before the body is read (per address): a flood is turned away for one counter each. */
  early: readonly RequestHandler[];
  /**
   * Starts the counts of {@link early} for `req` now, before the limiters run (they then use
   * them): called with the API-wide count, so that both reach the store in one round trip
   * (see count-ahead.ts). Only while the client had room under the API-wide limit
   * ({@link RateLimiters.apiHasRoom}): a request that limit refuses has been counted here too.
   */
  countAhead: (req: Request) => void;
  /**
   * Once the account is known: after authentication and validation (a `bearer` route is keyed
   * by its user, a public one by the email of its body).
   */
  account?: AccountStage;
}

/** The app's rate limiters and the state of their store. */
export interface RateLimiters {
  /** Every request under `/api`, per client address. Mount before body parsing. */
  api: RequestHandler;
  /**
   * Whether `req`, about to pass {@link api}, may start work that a refusal would waste (the
   * session check) before its count comes back: only while its client had more than
   * `RATE_LIMIT_API_OVERLAP_MARGIN` requests left, as this process last saw (see
   * limit-headroom.ts). Call it before `api` runs, at most once per request.
   */
  apiHasRoom: (req: Request) => boolean;
  /** See {@link RateLimitPolicyName}. */
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
  const limiter: Limiter = (name, policy, detail, options = {}) => {
    // Read-only and shared: under a flood, 429s are the hot path, and an error per reply would
    // capture a stack trace each time.
    const rejection = new DomainError(HttpErrorCode.RATE_LIMITED, detail);
    const store: Store = options.store ?? stores.create(name);
    if (!options.store) created.push(store);
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

  /**
   * A per-address limiter whose count can start ahead of it (see RouteRateLimit.countAhead):
   * keyed like the API-wide limit, by the client address (an IPv6 one by subnet).
   */
  const addressLimiter = (name: string, policy: RateLimitPolicy, detail: string) => {
    const inner = stores.create(name);
    created.push(inner);
    const ahead = new CountAhead(inner, (req) => apiKey(req, ipv6Subnet));
    const handler = limiter(name, policy, detail, {
      store: ahead.store,
      keyGenerator: ahead.keyGenerator,
    });
    return { handler, start: (req: Request) => ahead.start(req) };
  };
  const earlyPolicy = (
    limiters: ReadonlyArray<ReturnType<typeof addressLimiter>>,
    account?: AccountStage,
  ): RouteRateLimit => ({
    early: limiters.map((l) => l.handler),
    countAhead: (req) => {
      for (const l of limiters) l.start(req);
    },
    ...(account ? { account } : {}),
  });

  const api = apiLimiter(
    limiter('api', config.rateLimit.api, 'Too many requests; try again later', {
      keyGenerator: (req) => apiKey(req, ipv6Subnet),
      requestPropertyName: API_COUNT,
    }),
    new LimitHeadroom({ margin: config.rateLimit.apiOverlapMargin }),
    ipv6Subnet,
  );
  const perAddress = addressLimiter(
    'auth',
    config.rateLimit.auth,
    'Too many sign-in or registration attempts; try again later',
  );
  const accountRejection = new DomainError(
    HttpErrorCode.RATE_LIMITED,
    'Too many attempts for this account; try again later',
  );
  const perAddressAndAccount = limiter(
    'auth-account',
    config.rateLimit.authEmail,
    'Too many attempts for this account; try again later',
    {
      keyGenerator: ipAndAccountKey(ipv6Subnet),
      // Run inside the route adapter, which answers the error (see runLimiter).
      handler: (_req, _res, next) => next(accountRejection),
    },
  );
  const concurrency = new AccountConcurrency(config.rateLimit.signInConcurrency);
  const delay = stores.createSignInDelay('sign-in-delay', config.rateLimit.signInDelay);

  const policies: Record<RateLimitPolicyName, RouteRateLimit> = {
    signIn: earlyPolicy(
      [perAddress],
      signInAccountStage({ perAddressAndAccount, concurrency, delay, logger: log }),
    ),
    refresh: earlyPolicy([
      addressLimiter(
        'refresh',
        config.rateLimit.refresh,
        'Too many token refreshes; try again later',
      ),
    ]),
    accountMail: accountMailPolicy(config.rateLimit.accountMail, limiter, (early, account) =>
      earlyPolicy(
        [
          addressLimiter(
            'account-mail',
            early,
            'Too many account emails requested from this address; try again later',
          ),
        ],
        account,
      ),
    ),
  };
  log.info(
    {
      store: stores.kind,
      scope: stores.scope,
      ...(redis ? { keyPrefix: `${config.redis.keyPrefix}rl:` } : {}),
      limits: {
        api: config.rateLimit.api,
        auth: config.rateLimit.auth,
        authAccount: config.rateLimit.authEmail,
        signInDelay: config.rateLimit.signInDelay,
        signInConcurrency: config.rateLimit.signInConcurrency,
        refresh: config.rateLimit.refresh,
        accountMail: config.rateLimit.accountMail,
      },
    },
    STORE_DESCRIPTIONS[stores.kind],
  );
  stores.start();

  return {
    api: api.middleware,
    apiHasRoom: api.hasRoom,
    policies,
    state: stores.state,
    async close() {
      stores.close();
      delay.close();
      await Promise.allSettled(created.map((store) => Promise.resolve(store.shutdown?.())));
    },
  };
}

/**
 * The `accountMail` policy: a per-address count before the body is read, then a count per
 * account alone (the body's email, or the authenticated user), across addresses. The account
 * count is keyed by what the request names, never by whether it exists, so a refusal tells an
 * unknown address from a known one no more than the reply does.
 */
function accountMailPolicy(
  { limit, accountLimit, windowMs }: Config['rateLimit']['accountMail'],
  limiter: Limiter,
  policy: (perAddress: RateLimitPolicy, account: AccountStage) => RouteRateLimit,
): RouteRateLimit {
  const rejection = new DomainError(
    HttpErrorCode.RATE_LIMITED,
    'Too many emails requested for this account; try again later',
  );
  const perAccount = limiter(
    'account-mail-account',
    { limit: accountLimit, windowMs },
    'Too many emails requested for this account; try again later',
    {
      keyGenerator: (_req, res) => String(res.locals[ACCOUNT_LOCAL]),
      handler: (_req, _res, next) => next(rejection),
    },
  );
  return policy({ limit, windowMs }, async (req, res, caller) => {
    const account = accountKey(req, caller);
    if (account === undefined) return () => {};
    res.locals[ACCOUNT_LOCAL] = account;
    await runLimiter(perAccount, req, res);
    return () => {};
  });
}

/**
 * Builds a limiter named `name` (its key prefix and its name in the RateLimit headers), refusing
 * with `detail`; with a store of its own unless `options.store` names one.
 */
type Limiter = (
  name: string,
  policy: RateLimitPolicy,
  detail: string,
  options?: Partial<Omit<Options, 'store'>> & { store?: Store },
) => RequestHandler;

/** The API-wide count a request reserved early (its key), see RateLimiters.apiHasRoom. */
const RESERVED = Symbol('api limit reserved');

/** Where the API-wide limiter leaves its count on the request (`req[API_COUNT]`). */
const API_COUNT = 'apiRateLimit';

/** The API-wide limit's key: the client address (an IPv6 one by subnet), as the default. */
const apiKey = (req: Request, ipv6Subnet: number) => ipKeyGenerator(req.ip ?? '', ipv6Subnet);

/**
 * The API-wide limiter, telling `headroom` of every request it counts and of every count that
 * comes back, so that {@link RateLimiters.apiHasRoom} can answer without waiting for the store.
 */
function apiLimiter(limiter: RequestHandler, headroom: LimitHeadroom, ipv6Subnet: number) {
  // A flag on the request, not a WeakSet: see bearerAuthenticator.
  const flagged = (req: Request) => req as Request & { [RESERVED]?: string };
  return {
    hasRoom: (req: Request): boolean => {
      const key = apiKey(req, ipv6Subnet);
      if (!headroom.reserve(key)) return false;
      flagged(req)[RESERVED] = key;
      return true;
    },
    middleware: ((req, res, next) => {
      const reservedKey = flagged(req)[RESERVED];
      const key = reservedKey ?? apiKey(req, ipv6Subnet);
      headroom.enter(key, reservedKey !== undefined);
      const settle = () => {
        const count = (req as Request & { [API_COUNT]?: { remaining: number; resetTime?: Date } })[
          API_COUNT
        ];
        headroom.settle(
          key,
          count?.resetTime
            ? { left: count.remaining, resetAt: count.resetTime.getTime() }
            : undefined,
        );
      };
      // express-rate-limit catches its own errors (they reach `next`): the promise settles when
      // the count is known and the request was passed on or refused.
      return Promise.resolve(limiter(req, res, next)).then(settle, (error: unknown) => {
        settle();
        throw error;
      });
    }) satisfies RequestHandler,
  };
}

interface SignInStageDeps {
  perAddressAndAccount: RequestHandler;
  concurrency: AccountConcurrency;
  delay: SignInDelay;
  logger: Logger;
}

/**
 * The `signIn` policy once the account is known, cheapest refusal first: the (address, account)
 * count, the account's place among the checks running at once (not counted when refused), then
 * the account's progressive delay (which counts the attempt as a failure until a 2xx reply
 * resets it).
 */
function signInAccountStage({
  perAddressAndAccount,
  concurrency,
  delay,
  logger,
}: SignInStageDeps): AccountStage {
  const busy = new DomainError(
    HttpErrorCode.TOO_MANY_CONCURRENT_ATTEMPTS,
    'Another attempt for this account is still running; try again in a moment',
  );
  return async (req, res, caller) => {
    const account = accountKey(req, caller);
    // No account to count (a body without an email fails validation before this).
    if (account === undefined) return () => {};
    res.locals[ACCOUNT_LOCAL] = account;
    await runLimiter(perAddressAndAccount, req, res);
    const release = concurrency.tryAcquire(account);
    if (!release) throw busy;
    try {
      const decision = await delay.attempt(account);
      if (!decision.allowed) {
        const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
        res.setHeader('Retry-After', String(seconds));
        throw new DomainError(
          HttpErrorCode.SIGN_IN_DELAYED,
          `Too many failed attempts for this account; the next one may run in ${seconds} s`,
        );
      }
    } catch (error) {
      release();
      throw error;
    }
    res.once('finish', () => {
      if (res.statusCode < 200 || res.statusCode >= 300) return;
      delay.reset(account).catch((error: unknown) => {
        logger.warn({ err: error }, 'could not reset the sign-in delay of an account');
      });
    });
    return release;
  };
}

/** Runs an Express middleware as a step: resolves when it passes, rejects with what it refuses. */
function runLimiter(handler: RequestHandler, req: Request, res: Response): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: unknown) => {
      if (!error) resolve();
      // Express's `next` takes anything; ours only ever pass DomainErrors.
      else reject(error instanceof Error ? error : new Error('rate limiter failed'));
    };
    Promise.resolve(handler(req, res, done)).catch(reject);
  });
}
