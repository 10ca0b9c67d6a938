import { STATUS_CODES } from 'node:http';
import { AuthErrorCode } from '../auth/auth.errors';
import { CommonErrorCode } from '../errors/domain-error';

/** Codes only the HTTP layer raises: about the request as HTTP, not about the domain. */
export const HttpErrorCode = {
  MALFORMED_JSON: 'MALFORMED_JSON',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  ROUTE_NOT_FOUND: 'ROUTE_NOT_FOUND',
  RATE_LIMITED: 'RATE_LIMITED',
} as const;

export type HttpErrorCode = (typeof HttpErrorCode)[keyof typeof HttpErrorCode];

/** Every code the API can answer with. */
export type ErrorCode = CommonErrorCode | HttpErrorCode | AuthErrorCode;

interface ErrorStatus {
  status: number;
  /** Headers every reply with this code carries. */
  headers?: Readonly<Record<string, string>>;
}

/**
 * The one place where error codes meet HTTP: the status each code answers with (its reason
 * phrase is the problem's `title`). A feature's codes must all be here (the `satisfies` makes a
 * missing one a compile error), which is also what the OpenAPI document and the reply checks
 * read to know a route's error statuses.
 */
const ERROR_STATUSES = {
  [CommonErrorCode.VALIDATION_FAILED]: { status: 400 },
  [CommonErrorCode.UNAUTHORIZED]: { status: 401 },
  [CommonErrorCode.FORBIDDEN]: { status: 403 },
  [CommonErrorCode.NOT_FOUND]: { status: 404 },
  [CommonErrorCode.CONFLICT]: { status: 409 },
  [CommonErrorCode.INTERNAL_ERROR]: { status: 500 },
  // Retry-After: clients and proxies that honour it back off instead of hammering a database
  // that is coming back.
  [CommonErrorCode.SERVICE_UNAVAILABLE]: { status: 503, headers: { 'Retry-After': '5' } },

  [HttpErrorCode.MALFORMED_JSON]: { status: 400 },
  [HttpErrorCode.PAYLOAD_TOO_LARGE]: { status: 413 },
  [HttpErrorCode.UNSUPPORTED_MEDIA_TYPE]: { status: 415 },
  [HttpErrorCode.ROUTE_NOT_FOUND]: { status: 404 },
  // express-rate-limit sets Retry-After itself, from the window.
  [HttpErrorCode.RATE_LIMITED]: { status: 429 },

  [AuthErrorCode.AUTH_REQUIRED]: { status: 401 },
  [AuthErrorCode.TOKEN_INVALID]: { status: 401 },
  [AuthErrorCode.TOKEN_EXPIRED]: { status: 401 },
  [AuthErrorCode.INVALID_CREDENTIALS]: { status: 401 },
  [AuthErrorCode.EMAIL_TAKEN]: { status: 409 },
  [AuthErrorCode.INVALID_CURRENT_PASSWORD]: { status: 403 },
  [AuthErrorCode.ACCOUNT_NOT_FOUND]: { status: 401 },
  [AuthErrorCode.REFRESH_TOKEN_REUSED]: { status: 401 },
  [AuthErrorCode.REFRESH_TOKEN_REVOKED]: { status: 401 },
  [AuthErrorCode.SESSION_EXPIRED]: { status: 401 },
  [AuthErrorCode.SESSION_REVOKED]: { status: 401 },
  [AuthErrorCode.SESSION_NOT_FOUND]: { status: 404 },
} as const satisfies Record<ErrorCode, ErrorStatus>;

const table: ReadonlyMap<string, ErrorStatus> = new Map(Object.entries(ERROR_STATUSES));

/** The status and headers of `code`; undefined for a code missing from the table (a bug). */
export function errorStatusOf(code: string): ErrorStatus | undefined {
  return table.get(code);
}

/** The reason phrase of a status: the problem document's `title`. */
export const titleOf = (status: number): string => STATUS_CODES[status] ?? 'Error';
