import { Router, type Request, type RequestHandler, type Response } from 'express';
import { CommonErrorCode, DomainError } from '../errors/domain-error';
import type { AccountStage, RateLimiters } from '../rate-limit/rate-limiters';
import type { InFlightHandlers } from './in-flight';
import { jsonBody } from './json-body';
import { replyCheck, type ReplyViolationReporter } from './reply-check';
import { errorCodesOf, fullPath, type Authenticator, type Feature, type Route } from './route';
import { parseInput } from './validation';

export interface ApiRouterDeps {
  features: readonly Feature[];
  /** Verifies the caller of every `bearer` route. */
  authenticator: Authenticator;
  limits: Pick<RateLimiters, 'api' | 'apiHasRoom' | 'policies'>;
  /** Largest JSON body accepted (`BODY_LIMIT`). */
  bodyLimit: string;
  /** Counts running handlers, so shutdown can wait for them. */
  inFlight: InFlightHandlers;
  /** Tests only: checks every reply against its route's declaration (see reply-check.ts). */
  onReplyViolation?: ReplyViolationReporter | undefined;
}

/**
 * The adapter from route tables to Express: builds the `/api` router from every feature's
 * routes. For each request, in order:
 * 1. the API-wide rate limit, then the route's limits that need no body, before the body is
 *    read: a flood is turned away for the price of one counter. When the client had room under
 *    the API-wide limit (see RateLimiters.apiHasRoom), the route's own counts are sent with the
 *    API-wide one (one round trip to the store, see count-ahead.ts), and on a `bearer` route
 *    with no limit of its own before the body, the authenticator's I/O (the session check)
 *    starts while the API-wide limit is counted: the round trips overlap, and a flood over the
 *    limit still costs no database read and one count per request;
 * 2. JSON body parsing (any other body type is a 415);
 * 3. the feature's headers, authentication, the route's permission, validation of params,
 *    query and body (in that order), then the route's limits keyed by account (the `signIn`
 *    policy: by the authenticated user, or by the body's email), so a bearer route is limited
 *    per user;
 * 4. the handler, counted while it runs; its reply is sent as JSON, or bare (204).
 * A request that matches no route is counted by the API-wide limit, then answered 404 (its body
 * is never read). Routes match case-insensitively and with a trailing slash (Express's
 * defaults), limits too.
 */
export function createApiRouter({
  features,
  authenticator,
  limits,
  bodyLimit,
  inFlight,
  onReplyViolation,
}: ApiRouterDeps): Router {
  const api = Router();
  const parseJson = jsonBody(bodyLimit);
  // Work a request can start while its API-wide count is on its way (when its client had room
  // under that limit): a bearer route's session check, or a limited route's own per-address
  // counts, which then reach the store with the API-wide one.
  const startSessionCheck = (req: Request) => {
    const started = authenticator.start?.(req);
    // Counted like the handler: shutdown waits for it before it closes the pool.
    if (started) void inFlight.track(started).catch(() => {});
  };

  // Each route is one Express route holding its whole chain, so a request is matched once
  // against the route table, not once per stage. Features may share a base path (the admin
  // API's users and audit tables both mount on /admin); the same method and path in two of them
  // is a mistake.
  const seen = new Set<string>();
  for (const feature of features) {
    const { headers } = feature;
    const setHeaders: RequestHandler | undefined = headers
      ? (_req, res, next) => {
          res.set(headers);
          next();
        }
      : undefined;
    for (const route of feature.routes) {
      const path = fullPath(feature, route);
      const key = `${route.method.toUpperCase()} ${path}`;
      if (seen.has(key)) throw new Error(`${key} is declared twice (feature ${feature.name})`);
      seen.add(key);
      if (route.permission && route.auth !== 'bearer') {
        throw new Error(
          `${path} requires ${route.permission} but authenticates no caller: make it a bearer route`,
        );
      }
      const policies = policiesOf(route, limits);
      const limited = policies.filter((policy) => policy.early.length > 0);
      // A route limited before its body (change-password's sign-in limits) could refuse the
      // request after the API-wide limit let it through: it checks the session after both.
      const ahead: ReadonlyArray<(req: Request) => void> =
        limited.length > 0
          ? limited.map((policy) => policy.countAhead)
          : route.auth === 'bearer' && authenticator.start
            ? [startSessionCheck]
            : [];
      const chain: RequestHandler[] = [
        ...(ahead.length > 0
          ? [
              ((req, _res, next) => {
                if (limits.apiHasRoom(req)) for (const begin of ahead) begin(req);
                next();
              }) satisfies RequestHandler,
            ]
          : []),
        limits.api,
        ...(onReplyViolation
          ? [replyCheck(key, route, errorCodesOf(route, authenticator), onReplyViolation)]
          : []),
        ...policies.flatMap((policy) => policy.early),
        ...parseJson,
        ...(setHeaders ? [setHeaders] : []),
        handle(route, authenticator, inFlight, limits),
      ];
      api[route.method](`${feature.basePath}${route.path}`, ...chain);
    }
  }
  // Any other request under /api is counted all the same, then answered 404 by the app.
  api.use(limits.api);
  return api;
}

function policiesOf(route: Route, limits: Pick<RateLimiters, 'policies'>) {
  return (route.rateLimits ?? []).map((name) => limits.policies[name]);
}

/** Authenticates, validates, applies the account limits, runs the handler and sends its reply. */
function handle(
  route: Route,
  authenticator: Authenticator,
  inFlight: InFlightHandlers,
  limits: Pick<RateLimiters, 'policies'>,
) {
  const accountStages = policiesOf(route, limits).flatMap((policy) =>
    policy.account ? [policy.account] : [],
  );
  return async function routeHandler(
    req: Parameters<RequestHandler>[0],
    res: Response,
  ): Promise<void> {
    // Authentication may query the database (the session check): counted with the handler, so
    // shutdown waits for it before it closes the pool.
    const reply = await inFlight.track(run(route, authenticator, accountStages, req, res));
    res.status(reply.status);
    if ('body' in reply) res.json(reply.body);
    else res.end();
  };
}

async function run(
  route: Route,
  authenticator: Authenticator,
  accountStages: readonly AccountStage[],
  req: Parameters<RequestHandler>[0],
  res: Response,
) {
  const auth = route.auth === 'bearer' ? await authenticator.authenticate(req, res) : undefined;
  if (route.permission && !(auth && authenticator.can(auth, route.permission))) {
    throw new DomainError(
      CommonErrorCode.PERMISSION_DENIED,
      `This requires the permission ${route.permission}, which your role does not grant`,
    );
  }
  const input = {
    auth,
    params: route.params ? parseInput(route.params, req.params) : undefined,
    query: route.query ? parseInput(route.query, req.query) : undefined,
    body: route.body
      ? parseInput(route.body, route.bodyOptional ? ((req.body as unknown) ?? {}) : req.body)
      : undefined,
    req,
    res,
  };
  // The account's limits come after validation (they key on the body's email or the caller) and
  // hold their place until the handler is done.
  const releases: Array<() => void> = [];
  try {
    for (const stage of accountStages) releases.push(await stage(req, res, auth));
    return await route.handler(input);
  } finally {
    for (const release of releases) release();
  }
}
