import type { RequestHandler } from 'express';
import { errorStatusOf } from './error-statuses';
import { PROBLEM_CONTENT_TYPE, problemSchema } from './problem';
import type { ReplySpec, Route } from './route';

/** A reply that does not match what its route declares. */
export interface ReplyViolation {
  /** `POST /api/auth/login` */
  route: string;
  status: number;
  problem: string;
}

/** Told of each violation: the integration tier fails the test that caused it. */
export type ReplyViolationReporter = (violation: ReplyViolation) => void;

/**
 * Checks every reply of one route against its declaration: a success status must be declared
 * and its body must match its schema (replies are strict objects, so an undeclared field fails
 * too); an error must be a problem document whose code the route can answer with, at the status
 * the error table gives that code.
 *
 * For tests: it keeps a copy of each reply body, so production never mounts it. The check runs
 * once the reply is finished, so it sees what the client saw, whoever wrote it (the handler, the
 * error handler, a rate limiter).
 */
export function replyCheck(
  name: string,
  route: Route,
  codes: ReadonlySet<string>,
  report: ReplyViolationReporter,
): RequestHandler {
  return (_req, res, next) => {
    let sent: string | undefined;
    const send = res.send.bind(res);
    res.send = (body?: unknown) => {
      if (typeof body === 'string') sent = body;
      else if (Buffer.isBuffer(body)) sent = body.toString('utf8');
      return send(body);
    };
    res.once('finish', () => {
      const problem = judge(route, codes, res.statusCode, res.get('Content-Type'), sent);
      if (problem) report({ route: name, status: res.statusCode, problem });
    });
    next();
  };
}

function judge(
  route: Route,
  codes: ReadonlySet<string>,
  status: number,
  contentType: string | undefined,
  body: string | undefined,
): string | undefined {
  if (status >= 400) return judgeProblem(codes, status, contentType, body);
  const spec: ReplySpec | undefined = route.responses[status];
  if (!spec) return `status ${status} is not among the declared responses`;
  if (!spec.body) return body ? `declares no body but sent ${body.slice(0, 200)}` : undefined;
  if (!contentType?.startsWith('application/json'))
    return `expected application/json, got ${contentType}`;
  const result = spec.body.safeParse(parseJson(body));
  return result.success ? undefined : `body does not match its schema: ${result.error.message}`;
}

function judgeProblem(
  codes: ReadonlySet<string>,
  status: number,
  contentType: string | undefined,
  body: string | undefined,
): string | undefined {
  if (!contentType?.startsWith(PROBLEM_CONTENT_TYPE))
    return `expected ${PROBLEM_CONTENT_TYPE}, got ${contentType}`;
  const result = problemSchema.strict().safeParse(parseJson(body));
  if (!result.success) return `not a problem document: ${result.error.message}`;
  const { code } = result.data;
  if (!codes.has(code)) return `code ${code} is not among the route's error codes`;
  const expected = errorStatusOf(code)?.status;
  return expected === status ? undefined : `code ${code} maps to ${expected}, sent with ${status}`;
}

function parseJson(body: string | undefined): unknown {
  try {
    return body === undefined ? undefined : (JSON.parse(body) as unknown);
  } catch {
    return body;
  }
}
