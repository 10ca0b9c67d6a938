import { STATUS_CODES } from 'node:http';

/**
 * Stable, machine-readable error codes. Clients branch on these, never on messages, so a code
 * is never renamed once published.
 */
export const ErrorCode = {
  VALIDATION_FAILED: 'VALIDATION_FAILED',
  MALFORMED_JSON: 'MALFORMED_JSON',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  ROUTE_NOT_FOUND: 'ROUTE_NOT_FOUND',
  CONFLICT: 'CONFLICT',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  RATE_LIMITED: 'RATE_LIMITED',
  INTERNAL_ERROR: 'INTERNAL_ERROR',
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
} as const;

/** A code from {@link ErrorCode}, or a feature's own `UPPER_SNAKE` code. */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode] | (string & {});

/** One problem with one input field, as listed in a 400 reply. */
export interface FieldIssue {
  /** Dotted path of the field, e.g. `email` or `items.0.id`; empty for the whole body. */
  field: string;
  message: string;
}

export interface AppErrorOptions {
  details?: readonly FieldIssue[];
  cause?: unknown;
  /** Extra response headers, e.g. `Retry-After` on a 429 or 503. */
  headers?: Readonly<Record<string, string>>;
}

/**
 * An error the client should see: an HTTP status, a stable code, and a message written for the
 * client. Anything thrown that is not an AppError is a bug or an outage, and becomes a 500 with
 * no detail (see error-handler.ts).
 */
export class AppError extends Error {
  readonly status: number;
  readonly code: ErrorCodeValue;
  readonly details: readonly FieldIssue[] | undefined;
  readonly headers: Readonly<Record<string, string>> | undefined;

  constructor(
    status: number,
    code: ErrorCodeValue,
    message: string,
    options: AppErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.status = status;
    this.code = code;
    this.details = options.details;
    this.headers = options.headers;
  }

  /** The reason phrase for the status, used as the problem `title`. */
  get title(): string {
    return STATUS_CODES[this.status] ?? 'Error';
  }
}

export const badRequest = (
  message: string,
  details?: readonly FieldIssue[],
  code: ErrorCodeValue = ErrorCode.VALIDATION_FAILED,
) => new AppError(400, code, message, { details });
export const unauthorized = (
  message = 'Authentication required',
  code: ErrorCodeValue = ErrorCode.UNAUTHORIZED,
) => new AppError(401, code, message);
export const forbidden = (message = 'Not allowed', code: ErrorCodeValue = ErrorCode.FORBIDDEN) =>
  new AppError(403, code, message);
export const notFound = (message = 'Not found', code: ErrorCodeValue = ErrorCode.NOT_FOUND) =>
  new AppError(404, code, message);
export const conflict = (message: string, code: ErrorCodeValue = ErrorCode.CONFLICT) =>
  new AppError(409, code, message);
export const tooManyRequests = (
  message = 'Too many requests, try again later',
  retryAfterSeconds?: number,
) =>
  new AppError(429, ErrorCode.RATE_LIMITED, message, {
    headers:
      retryAfterSeconds === undefined ? undefined : { 'Retry-After': String(retryAfterSeconds) },
  });
export const serviceUnavailable = (message = 'Service temporarily unavailable', cause?: unknown) =>
  new AppError(503, ErrorCode.SERVICE_UNAVAILABLE, message, {
    cause,
    headers: { 'Retry-After': '5' },
  });
