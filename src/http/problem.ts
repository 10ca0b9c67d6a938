import type { Request, Response } from 'express';
import { z } from 'zod';
import { CommonErrorCode, DomainError } from '../errors/domain-error';
import { errorStatusOf, titleOf } from './error-statuses';

/**
 * The RFC 9457 problem document every error reply carries. One schema drives the OpenAPI
 * component and the reply checks of the integration tier.
 */
export const problemSchema = z.object({
  type: z.literal('about:blank'),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.string().describe('Stable and machine-readable: clients branch on this'),
  requestId: z
    .string()
    .describe('Also in the X-Request-Id header: quote it when reporting a problem'),
  instance: z.string().describe('The path that failed (never its query string)'),
  errors: z
    .array(z.object({ field: z.string(), message: z.string() }))
    .optional()
    .describe('Per-field problems of a 400 VALIDATION_FAILED'),
});

export type ProblemDocument = z.infer<typeof problemSchema>;

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/**
 * Writes `error` as an `application/problem+json` reply, with the status and headers the error
 * table gives its code. A code missing from the table is a bug: it answers 500.
 *
 * Never stored by a cache (`Cache-Control: no-store`): a 404 is cacheable by default (RFC 9111,
 * section 4.2.2), so a shared cache could keep answering it after the route exists, and a 401,
 * 403 or 429 describes one client's state at one moment.
 */
export function sendProblem(req: Request, res: Response, error: DomainError): void {
  const mapped = errorStatusOf(error.code);
  if (!mapped) {
    req.log.error(
      { err: error },
      `error code ${error.code} has no status in http/error-statuses.ts`,
    );
    sendProblem(req, res, internalError(error));
    return;
  }
  const problem: ProblemDocument = {
    type: 'about:blank',
    title: titleOf(mapped.status),
    status: mapped.status,
    detail: error.message,
    code: error.code,
    requestId: req.id,
    instance: req.originalUrl.split('?', 1)[0] ?? '',
    ...(error.details ? { errors: [...error.details] } : {}),
  };
  res.locals.errorCode = error.code;
  res.set('Cache-Control', 'no-store');
  if (mapped.headers) res.set(mapped.headers);
  res.status(mapped.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
}

/** The bare 500 of an unexpected error: no message or stack that could leak internals. */
export const internalError = (cause: unknown) =>
  new DomainError(CommonErrorCode.INTERNAL_ERROR, 'An unexpected error occurred', { cause });
