/**
 * Stable, machine-readable error codes that any layer may use. Clients branch on codes, never on
 * messages, so a code is never renamed once published. Each feature adds its own codes (for
 * example auth/auth.errors.ts); the HTTP edge alone decides which status each code answers with
 * (http/error-statuses.ts), so a service, a repository, a job or a CLI never speaks HTTP.
 */
export const CommonErrorCode = {
  /** The input breaks a rule; `details` lists each problem by field. */
  VALIDATION_FAILED: 'VALIDATION_FAILED',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  /** The caller's role does not grant the permission the route requires. */
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  /** A bug: anything thrown that is not a DomainError. Never sent with a message of its own. */
  INTERNAL_ERROR: 'INTERNAL_ERROR',
  /** A dependency (the database) cannot be reached right now; retrying later may succeed. */
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
} as const;

export type CommonErrorCode = (typeof CommonErrorCode)[keyof typeof CommonErrorCode];

/** One problem with one input field. */
export interface FieldIssue {
  /** Dotted path of the field, e.g. `email` or `items.0.id`; empty for the whole input. */
  field: string;
  message: string;
}

export interface DomainErrorOptions {
  /** Per-field problems, for `VALIDATION_FAILED`. */
  details?: readonly FieldIssue[];
  cause?: unknown;
}

/**
 * An error the caller should see: a stable code and a message written for the caller. Anything
 * thrown that is not a DomainError is a bug or an outage (see http/error-handler.ts).
 */
export class DomainError<Code extends string = string> extends Error {
  readonly code: Code;
  readonly details: readonly FieldIssue[] | undefined;

  constructor(code: Code, message: string, options: DomainErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DomainError';
    this.code = code;
    this.details = options.details;
  }
}
