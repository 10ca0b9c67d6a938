import type { Request, Response } from 'express';
import type { z } from 'zod';
import type { Permission } from '../auth/permissions';
import { CommonErrorCode } from '../errors/domain-error';
import type { RateLimitPolicyName } from '../rate-limit/rate-limiters';
import type { ErrorCode } from './error-statuses';

/**
 * A route as data: everything the adapter (mount-routes.ts) needs to mount it, the OpenAPI
 * generator (docs/openapi.ts) needs to describe it, and the integration tier needs to check its
 * replies (reply-check.ts). Adding an endpoint is one entry in a feature's route table plus its
 * handler.
 */

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** Who sent an authenticated request: what the handler of an `auth: 'bearer'` route receives. */
export interface Principal {
  userId: string;
  /** The session (login) the access token was issued to. */
  sessionId: string;
  /**
   * The caller's account, as the authenticator read it with the session check (one statement):
   * a handler that needs it makes no second read.
   */
  user: {
    id: string;
    email: string;
    name: string | null;
    /** Decides the permissions a route can require (src/auth/permissions.ts). */
    role: string;
    emailVerifiedAt: Date | null;
    createdAt: Date;
  };
}

/** How a route authenticates its caller. */
export type AuthMode = 'none' | 'bearer';

/** One success reply a route sends: its status is the key in {@link RouteSpec.responses}. */
export interface ReplySpec {
  description: string;
  /** The JSON body's schema; absent for a reply without a body (204). */
  body?: z.ZodType;
}

export type Responses = Readonly<Record<number, ReplySpec>>;

/** What a handler returns: one of the declared statuses, with the body its schema describes. */
export type ReplyOf<R extends Responses> = {
  [S in keyof R & number]: R[S] extends { body: z.ZodType }
    ? { status: S; body: z.input<R[S]['body']> }
    : { status: S };
}[keyof R & number];

type Parsed<S> = S extends z.ZodType ? z.output<S> : undefined;

/** What a handler receives: validated input, the caller, and the raw request for the rest. */
export interface RouteInput<Body, Params, Query, Auth> {
  body: Body;
  params: Params;
  query: Query;
  /** The authenticated caller of a `bearer` route; undefined on a public one. */
  auth: Auth;
  req: Request;
  res: Response;
}

/** A route's declaration: everything but its handler. */
export interface RouteDeclaration<
  BodySchema extends z.ZodType | undefined,
  ParamsSchema extends z.ZodType | undefined,
  QuerySchema extends z.ZodType | undefined,
  Auth extends AuthMode,
  R extends Responses,
> {
  method: HttpMethod;
  /** Express syntax, relative to the feature's base path: `/sessions/:id`. */
  path: string;
  summary: string;
  description?: string;
  auth: Auth;
  /**
   * What the caller's role must grant (src/auth/permissions.ts); only on `bearer` routes. Checked
   * after authentication, before validation: a caller without it gets 403 `PERMISSION_DENIED`.
   */
  permission?: Auth extends 'bearer' ? Permission : never;
  /**
   * Rate-limit policies on top of the API-wide one. Their per-address limits run before the
   * body is read, so a flood is turned away for the price of one counter; their per-account
   * limits run once the account is known (after authentication and validation). Every endpoint
   * that verifies or sets a password declares `signIn`.
   */
  rateLimits?: readonly RateLimitPolicyName[];
  body?: BodySchema;
  /** A body may be left out (`{}` is validated instead): refresh and logout read a cookie. */
  bodyOptional?: boolean;
  params?: ParamsSchema;
  query?: QuerySchema;
  responses: R;
  /**
   * The codes the handler itself may answer with. Those the stack adds (validation, body
   * parsing, rate limits, an unavailable database, the authenticator's) are implied: see
   * {@link errorCodesOf}.
   */
  errors: readonly ErrorCode[];
}

/** Turns validated input into a reply of one of the declared statuses. */
export type RouteHandler<
  BodySchema extends z.ZodType | undefined,
  ParamsSchema extends z.ZodType | undefined,
  QuerySchema extends z.ZodType | undefined,
  Auth extends AuthMode,
  R extends Responses,
> = (
  input: RouteInput<
    Parsed<BodySchema>,
    Parsed<ParamsSchema>,
    Parsed<QuerySchema>,
    Auth extends 'bearer' ? Principal : undefined
  >,
) => Promise<ReplyOf<R>> | ReplyOf<R>;

type AnySchema = z.ZodType | undefined;

/** A route with its types erased, as route tables hold them. */
export interface Route extends RouteDeclaration<
  AnySchema,
  AnySchema,
  AnySchema,
  AuthMode,
  Responses
> {
  handler: RouteHandler<AnySchema, AnySchema, AnySchema, AuthMode, Responses>;
}

/**
 * Declares a route: `defineRoute({ method, path, ... }).handle(async (input) => reply)`. The
 * handler's input and reply types come from the declaration's schemas, so a handler that reads
 * an undeclared field or returns an undeclared status or body does not compile. (Two steps,
 * because TypeScript infers the declaration's types before it checks the handler against them.)
 */
export function defineRoute<
  BodySchema extends AnySchema = undefined,
  ParamsSchema extends AnySchema = undefined,
  QuerySchema extends AnySchema = undefined,
  Auth extends AuthMode = 'none',
  R extends Responses = Responses,
>(
  declaration: RouteDeclaration<BodySchema, ParamsSchema, QuerySchema, Auth, R>,
): { handle(handler: RouteHandler<BodySchema, ParamsSchema, QuerySchema, Auth, R>): Route } {
  return {
    handle: (handler) => ({ ...declaration, handler }) as unknown as Route,
  };
}

/** A feature's HTTP face: its route table and where it is mounted. */
export interface Feature {
  /** Its name, also its OpenAPI tag: `auth`. */
  name: string;
  /** One line for the OpenAPI tag. */
  description: string;
  /** Where its routes mount, under `/api`: `/auth`. */
  basePath: string;
  /** Headers on every reply under the base path, errors included (set before anything runs). */
  headers?: Readonly<Record<string, string>>;
  routes: readonly Route[];
}

/**
 * Verifies the caller of a `bearer` route, or throws (rejects with) a DomainError; it may set
 * reply headers (`WWW-Authenticate`). Provided by the auth feature. It may be asynchronous (the
 * auth feature checks the session in the database).
 */
export interface Authenticator {
  authenticate(req: Request, res: Response): Principal | Promise<Principal>;
  /** Whether the caller's role grants `permission`. */
  can(principal: Principal, permission: Permission): boolean;
  /**
   * Optional: starts the I/O of {@link authenticate} for `req` ahead of it, while the API-wide
   * limit is still being counted (the route adapter asks only when the client has room under that
   * limit, see RateLimiters.apiHasRoom); `authenticate` then uses what it started. It touches no
   * reply and never throws: whatever goes wrong, `authenticate` finds out again and answers.
   * Returns the work started (settling when it is done), or undefined when it started none.
   */
  start?(req: Request): Promise<unknown> | undefined;
  /** The codes it throws, for the docs and reply checks of every `bearer` route. */
  errors: readonly ErrorCode[];
}

/** Where a route sits under the API: `/api/auth/sessions/:id`. */
export const API_PREFIX = '/api';
export const fullPath = (feature: Feature, route: Route) =>
  `${API_PREFIX}${feature.basePath}${route.path}`;

/**
 * The codes the stack may answer any API route with, besides those it declares: every request
 * passes the API-wide rate limit and the JSON body parser (which judges any body sent, even to a
 * route that reads none, and refuses a body cut short as VALIDATION_FAILED), and any route may
 * find the database down.
 */
export const STACK_ERROR_CODES: readonly ErrorCode[] = [
  'VALIDATION_FAILED',
  'MALFORMED_JSON',
  'MALFORMED_BODY',
  'MALFORMED_PATH',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'RATE_LIMITED',
  'SERVICE_UNAVAILABLE',
];

/**
 * The codes a route's rate-limit policies add: the `signIn` policy's progressive delay and
 * per-account concurrency cap (429), and the password hasher's full queue (503).
 */
export const POLICY_ERROR_CODES: Readonly<Record<RateLimitPolicyName, readonly ErrorCode[]>> = {
  signIn: ['SIGN_IN_DELAYED', 'TOO_MANY_CONCURRENT_ATTEMPTS', 'PASSWORD_CHECKS_BUSY'],
  refresh: [],
  accountMail: [],
};

/** Every code a route can answer with: its own, its authenticator's, its policies' and the stack's. */
export function errorCodesOf(route: Route, authenticator: Authenticator): Set<ErrorCode> {
  return new Set<ErrorCode>([
    ...STACK_ERROR_CODES,
    ...(route.auth === 'bearer' ? authenticator.errors : []),
    ...(route.permission ? [CommonErrorCode.PERMISSION_DENIED] : []),
    ...(route.rateLimits ?? []).flatMap((policy) => POLICY_ERROR_CODES[policy]),
    ...route.errors,
  ]);
}
