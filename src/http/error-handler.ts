import type { ErrorRequestHandler, RequestHandler } from 'express';
import { isDatabaseUnavailableError } from '../db/database-errors';
import { CommonErrorCode, DomainError } from '../errors/domain-error';
import { errorStatusOf, HttpErrorCode } from './error-statuses';
import { internalError, sendProblem } from './problem';

/** Turns an unmatched request into a 404 `ROUTE_NOT_FOUND`. */
export const notFoundHandler: RequestHandler = (req) => {
  throw new DomainError(HttpErrorCode.ROUTE_NOT_FOUND, `No route for ${req.method} ${req.path}`);
};

/**
 * The app's single error middleware. Domain errors become the status their code maps to; so do
 * the client errors Express's router and body parser raise (they mark them with a 4xx `status`).
 * Everything else is a bug or an outage: it is logged with its stack and the client gets a bare
 * 500, with no message or stack that could leak internals. Only 5xx replies log at error level.
 */
export const errorHandler: ErrorRequestHandler = (err: unknown, req, res, next) => {
  if (res.headersSent) {
    // Too late for a problem document: let Express end the connection.
    next(err);
    return;
  }
  const error = toDomainError(err);
  const status = errorStatusOf(error.code)?.status ?? 500;
  if (status >= 500) {
    req.log.error({ err }, status === 500 ? 'unhandled error' : error.message);
  }
  sendProblem(req, res, error);
};

/** Errors raised by Express's JSON body parser, keyed by their `type`. */
const BODY_PARSER_ERRORS: Record<string, () => DomainError> = {
  'entity.parse.failed': () =>
    new DomainError(HttpErrorCode.MALFORMED_JSON, 'The request body is not valid JSON'),
  'entity.too.large': () =>
    new DomainError(HttpErrorCode.PAYLOAD_TOO_LARGE, 'The request body is too large'),
  'encoding.unsupported': () =>
    new DomainError(
      HttpErrorCode.UNSUPPORTED_MEDIA_TYPE,
      'The request body has an unsupported content encoding',
    ),
  'charset.unsupported': () =>
    new DomainError(
      HttpErrorCode.UNSUPPORTED_MEDIA_TYPE,
      'The request body has an unsupported charset',
    ),
  'request.aborted': () =>
    new DomainError(CommonErrorCode.VALIDATION_FAILED, 'The request body was cut short'),
  'request.size.invalid': () =>
    new DomainError(
      CommonErrorCode.VALIDATION_FAILED,
      'The request body does not match its Content-Length',
    ),
};

function toDomainError(err: unknown): DomainError {
  if (err instanceof DomainError) return err as DomainError;
  // The one place where a database outage becomes a 503: every route that queries the database
  // gets it without a try/catch of its own.
  if (isDatabaseUnavailableError(err)) {
    return new DomainError(
      CommonErrorCode.SERVICE_UNAVAILABLE,
      'The database is unavailable; try again shortly',
      { cause: err },
    );
  }
  if (err && typeof err === 'object' && 'type' in err && typeof err.type === 'string') {
    const translate = BODY_PARSER_ERRORS[err.type];
    if (translate) return translate();
  }
  const clientError = clientErrorOf(err);
  if (clientError) return clientError;
  return internalError(err);
}

/**
 * An error that Express's router or a middleware marked as the client's fault (`status` or
 * `statusCode` 400-499, as http-errors sets them): a bad percent-escape in a path (the router's
 * URIError), a body its parser could not decode. Its own message is not sent: it may name
 * internals (zlib's "incorrect header check"), and clients branch on the code.
 */
function clientErrorOf(err: unknown): DomainError | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const marked = 'status' in err ? err.status : 'statusCode' in err ? err.statusCode : undefined;
  if (typeof marked !== 'number' || marked < 400 || marked > 499) return undefined;
  if (err instanceof URIError) {
    return new DomainError(
      HttpErrorCode.MALFORMED_PATH,
      'The request path has a bad percent-escape',
      {
        cause: err,
      },
    );
  }
  if (marked === 413) {
    return new DomainError(HttpErrorCode.PAYLOAD_TOO_LARGE, 'The request body is too large');
  }
  if (marked === 415) {
    return new DomainError(
      HttpErrorCode.UNSUPPORTED_MEDIA_TYPE,
      'The request has an unsupported media type or encoding',
    );
  }
  return new DomainError(HttpErrorCode.BAD_REQUEST, 'The request could not be read', {
    cause: err,
  });
}
