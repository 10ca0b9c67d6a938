import express, { type RequestHandler } from 'express';
import { DomainError } from '../errors/domain-error';
import { HttpErrorCode } from './error-statuses';

/**
 * Parses JSON request bodies up to `limit`, and rejects a body of any other type with 415.
 *
 * Express's parser silently skips bodies that are not JSON, which would leave a handler with an
 * empty `req.body` and a confusing validation error; a wrong `Content-Type` deserves its own
 * answer. Requests without a body (GET, or a POST like logout-all) pass untouched.
 */
export function jsonBody(limit: string): RequestHandler[] {
  const requireJson: RequestHandler = (req, _res, next) => {
    // An empty body (Content-Length: 0, as clients send for a bare POST) is no body at all.
    const hasBody =
      req.headers['transfer-encoding'] !== undefined ||
      (req.headers['content-length'] ?? '0') !== '0';
    if (hasBody && !req.is('application/json')) {
      throw new DomainError(
        HttpErrorCode.UNSUPPORTED_MEDIA_TYPE,
        'Send the request body as application/json',
      );
    }
    next();
  };
  const parse = express.json({ limit });
  // The parser inflates gzip, deflate and br bodies; a corrupt one fails in zlib with a bare
  // 400 and no `type`, which the error handler could only call BAD_REQUEST: name it here.
  const parseJson: RequestHandler = (req, res, next) => {
    parse(req, res, (err?: unknown) => {
      if (isUndecodableBody(err)) {
        next(
          new DomainError(
            HttpErrorCode.MALFORMED_BODY,
            `The request body could not be decoded as ${req.headers['content-encoding']}`,
            { cause: err },
          ),
        );
        return;
      }
      next(err);
    });
  };
  return [requireJson, parseJson];
}

/** A parser error of a compressed body: a 400 without one of body-parser's `type`s. */
function isUndecodableBody(err: unknown): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    !('type' in err) &&
    'status' in err &&
    err.status === 400
  );
}
