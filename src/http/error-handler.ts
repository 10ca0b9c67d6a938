import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { isDatabaseUnavailableError } from '../db/database-errors';
import { AppError, ErrorCode, serviceUnavailable } from './errors';

/** The RFC 9457 problem document every error reply carries. */
export interface ProblemDocument {
  type: 'about:blank';
  title: string;
  status: number;
  detail: string;
  /** Stable, machine-readable: clients branch on this. */
  code: string;
  /** The request id, also in the `X-Request-Id` header: quote it when reporting a problem. */
  requestId: string;
  /** The path that failed (never its query string). */
  instance: string;
  /** Per-field problems of a 400 `VALIDATION_FAILED`. */
  errors?: AppError['details'];
}

/** Turns an unmatched request into a 404 `ROUTE_NOT_FOUND`. */
export const notFoundHandler: RequestHandler = (req) => {
  throw new AppError(404, ErrorCode.ROUTE_NOT_FOUND, `No route for ${req.method} ${req.path}`);
};

/**
 * The app's single error middleware. Known errors become their status and code; everything else
 * is a bug or an outage: it is logged with its stack and the client gets a bare 500, with no
 * message or stack that could leak internals.
 */
export const errorHandler: ErrorRequestHandler = (err: unknown, req, res, next) => {
  if (res.headersSent) {
    // Too late for a problem document: let Express end the connection.
    next(err);
    return;
  }
  const error = toAppError(err);
  if (error.status >= 500) {
    req.log.error({ err }, error.status === 500 ? 'unhandled error' : error.message);
  }
  sendProblem(req, res, error);
};

/** Writes `error` as an `application/problem+json` reply. */
export function sendProblem(req: Request, res: Response, error: AppError): void {
  const problem: ProblemDocument = {
    type: 'about:blank',
    title: error.title,
    status: error.status,
    detail: error.message,
    code: error.code,
    requestId: req.id,
    instance: req.originalUrl.split('?', 1)[0] ?? '',
    ...(error.details ? { errors: error.details } : {}),
  };
  res.locals.errorCode = error.code;
  if (error.headers) res.set(error.headers);
  res.status(error.status).type('application/problem+json').send(JSON.stringify(problem));
}

/** Errors raised by Express's JSON body parser, keyed by their `type`. */
const BODY_PARSER_ERRORS: Record<string, () => AppError> = {
  'entity.parse.failed': () =>
    new AppError(400, ErrorCode.MALFORMED_JSON, 'The request body is not valid JSON'),
  'entity.too.large': () =>
    new AppError(413, ErrorCode.PAYLOAD_TOO_LARGE, 'The request body is too large'),
  'encoding.unsupported': () =>
    new AppError(
      415,
      ErrorCode.UNSUPPORTED_MEDIA_TYPE,
      'The request body has an unsupported content encoding',
    ),
  'charset.unsupported': () =>
    new AppError(
      415,
      ErrorCode.UNSUPPORTED_MEDIA_TYPE,
      'The request body has an unsupported charset',
    ),
  'request.aborted': () =>
    new AppError(400, ErrorCode.VALIDATION_FAILED, 'The request body was cut short'),
  'request.size.invalid': () =>
    new AppError(
      400,
      ErrorCode.VALIDATION_FAILED,
      'The request body does not match its Content-Length',
    ),
};

function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  // The one place where a database outage becomes a 503: every route that queries the database
  // gets it without a try/catch of its own.
  if (isDatabaseUnavailableError(err)) {
    return serviceUnavailable('The database is unavailable; try again shortly', err);
  }
  if (err && typeof err === 'object' && 'type' in err && typeof err.type === 'string') {
    const translate = BODY_PARSER_ERRORS[err.type];
    if (translate) return translate();
  }
  return new AppError(500, ErrorCode.INTERNAL_ERROR, 'An unexpected error occurred', {
    cause: err,
  });
}
