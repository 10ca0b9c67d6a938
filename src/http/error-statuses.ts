import { STATUS_CODES } from 'node:http';
import { AccountErrorCode } from '../account/account.errors';
import { AuthErrorCode } from '../auth/auth.errors';
import { PasswordErrorCode } from '../auth/password.errors';
import { CommonErrorCode } from '../errors/domain-error';

/** Codes only the HTTP layer raises: about the request as HTTP, not about the domain. */
export const HttpErrorCode = {
  MALFORMED_JSON: 'MALFORMED_JSON',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  ROUTE_NOT_FOUND: 'ROUTE_NOT_FOUND',
  RATE_LIMITED: 'RATE_LIMITED',
  /** A path the router cannot decode (a bad percent-escape such as `%ZZ`). */
  MALFORMED_PATH: 'MALFORMED_PATH',
  /** A body that cannot be decoded with its `Content-Encoding` (corrupt gzip, deflate, br). */
  MALFORMED_BODY: 'MALFORMED_BODY',
  /** Any other request Express or a middleware refused with a 4xx of its own. */
  BAD_REQUEST: 'BAD_REQUEST',
  /** An account had too many password attempts: this one must wait (`Retry-After`). */
  SIGN_IN_DELAYED: 'SIGN_IN_DELAYED',
  /** Another password check of the same account is already running in this process. */
  TOO_MANY_CONCURRENT_ATTEMPTS: 'TOO_MANY_CONCURRENT_ATTEMPTS',
} as const;

export type HttpErrorCode = (typeof HttpErrorCode)[keyof typeof HttpErrorCode];

/** Every code the API can answer with. */
export type ErrorCode =
  CommonErrorCode | HttpErrorCode | AuthErrorCode | PasswordErrorCode | AccountErrorCode;

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
  [CommonErrorCode.PERMISSION_DENIED]: { status: 403 },
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
  [HttpErrorCode.MALFORMED_PATH]: { status: 400 },
  [HttpErrorCode.MALFORMED_BODY]: { status: 400 },
  [HttpErrorCode.BAD_REQUEST]: { status: 400 },
  // The sign-in delay sets Retry-After itself: the time until the account's next attempt.
  [HttpErrorCode.SIGN_IN_DELAYED]: { status: 429 },
  [HttpErrorCode.TOO_MANY_CONCURRENT_ATTEMPTS]: { status: 429, headers: { 'Retry-After': '1' } },

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
  [AuthErrorCode.CSRF_ORIGIN_REFUSED]: { status: 403 },

  [PasswordErrorCode.PASSWORD_TOO_COMMON]: { status: 400 },
  [PasswordErrorCode.PASSWORD_BREACHED]: { status: 400 },
  [PasswordErrorCode.PASSWORD_CHECKS_BUSY]: { status: 503, headers: { 'Retry-After': '1' } },

  [AccountErrorCode.ACCOUNT_TOKEN_INVALID]: { status: 400 },
  [AccountErrorCode.ACCOUNT_TOKEN_EXPIRED]: { status: 400 },
  [AccountErrorCode.EMAIL_NOT_VERIFIED]: { status: 403 },
  [AccountErrorCode.EMAIL_ALREADY_VERIFIED]: { status: 409 },
} as const satisfies Record<ErrorCode, ErrorStatus>;

const table: ReadonlyMap<string, ErrorStatus> = new Map(Object.entries(ERROR_STATUSES));

/** The status and headers of `code`; undefined for a code missing from the table (a bug). */
export function errorStatusOf(code: string): ErrorStatus | undefined {
  return table.get(code);
}

/** The reason phrase of a status: the problem document's `title`. */
export const titleOf = (status: number): string => STATUS_CODES[status] ?? 'Error';
