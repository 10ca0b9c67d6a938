/**
 * Recognises the errors that mean "the database cannot be reached right now", as opposed to a bug
 * in a query. The error handler turns them into a 503 `SERVICE_UNAVAILABLE` (with `Retry-After`),
 * so an outage reads as an outage to clients and load balancers, not as a stream of 500s.
 *
 * The shapes below were produced by a real Prisma 7 client, not guessed from documentation:
 * - through `@prisma/adapter-pg`, a refused or reset connection arrives as a
 *   `PrismaClientKnownRequestError` (code `P2010` from raw queries, `P1001`/`P1017` from model
 *   queries and transactions) whose `meta.driverAdapterError.cause.kind` names the failure;
 * - a connection that opens but never answers surfaces as node-postgres's own plain `Error`
 *   ("Connection terminated due to connection timeout"), with no code;
 * - a server shutting down sends PostgreSQL error `57P01` before it closes the connection;
 * - the embedded database, once closed, throws "PGlite is closed";
 * - a pool with every connection busy for `connectionTimeoutMillis` (5 s) throws node-postgres's
 *   "timeout exceeded when trying to connect", raw or inside Prisma's error; an interactive
 *   transaction that cannot get a connection in time is Prisma's `P2028` ("Unable to start a
 *   transaction in the given time").
 *
 * Overload is an outage too: a statement cancelled by `statement_timeout`, a lock wait over
 * `lock_timeout`, a deadlock or serialization failure the server broke. Retrying later may
 * succeed, so they answer 503 with `Retry-After`, never 500 (the auth statements take their
 * locks in one order, so a deadlock there would be a bug, but the answer still must not be 500).
 */

/**
 * A driver error that means no usable connection, raised where the hot statements run on
 * node-postgres directly (db/database.ts): there, unlike through Prisma, socket errors
 * (`ECONNREFUSED`...) arrive raw, and only the database's own socket can raise them.
 */
export class DatabaseUnavailableError extends Error {
  constructor(cause: unknown) {
    super('The database cannot be reached', { cause });
    this.name = 'DatabaseUnavailableError';
  }
}

/** Socket error codes of node-postgres's connection to the server. */
const SOCKET_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Whether an error thrown by node-postgres itself is its socket failing. */
export function isSocketError(error: unknown): boolean {
  return isObject(error) && typeof error.code === 'string' && SOCKET_ERROR_CODES.has(error.code);
}

/** Driver adapter error kinds (`@prisma/driver-adapter-utils`) that mean no usable connection. */
const UNAVAILABLE_KINDS: ReadonlySet<string> = new Set([
  'DatabaseNotReachable',
  'ConnectionClosed',
  'SocketTimeout',
  'TooManyConnections',
  'TransactionWriteConflict',
]);

/**
 * Prisma's own codes for the same situations: can't reach the server, timed out, closed
 * connection, no free connection in the pool in time, a transaction that could not start or
 * ran out of time (P2028), a write conflict or deadlock (P2034).
 */
const UNAVAILABLE_PRISMA_CODES: ReadonlySet<string> = new Set([
  'P1001',
  'P1002',
  'P1008',
  'P1017',
  'P2024',
  'P2028',
  'P2034',
]);

/**
 * PostgreSQL SQLSTATEs of a server that is going away or refusing work: admin shutdown, crash
 * shutdown, cannot connect now (starting or stopping), too many connections; and of work the
 * server gave up on under load: query cancelled (`statement_timeout`), lock not available
 * (`lock_timeout`), deadlock detected, serialization failure. Class `08` (connection exception)
 * is matched as a whole.
 */
const UNAVAILABLE_SQLSTATES: ReadonlySet<string> = new Set([
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '57014',
  '55P03',
  '40P01',
  '40001',
]);

/** Messages of driver errors that carry no code at all (node-postgres, PGlite). */
const UNAVAILABLE_MESSAGES: readonly RegExp[] = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect$/,
  /^Client has encountered a connection error and is not queryable$/,
  /^Cannot use a pool after calling end on the pool$/,
  /^PGlite is closed$/,
];

/**
 * Whether `error` (or one of its causes) means the database is unreachable, down, or refusing
 * connections, so the request may succeed if retried later.
 */
export function isDatabaseUnavailableError(error: unknown): boolean {
  let current: unknown = error;
  // Errors wrap errors; a short walk down `cause` is enough and can never loop forever.
  for (let depth = 0; depth < 5 && isObject(current); depth++) {
    if (matches(current)) return true;
    current = current.cause;
  }
  return false;
}

function matches(error: Record<string, unknown>): boolean {
  if (error instanceof DatabaseUnavailableError) return true;
  const { code, message, meta } = error;
  if (typeof code === 'string') {
    // Raw socket codes (ECONNREFUSED...) are deliberately not matched here: Prisma never lets them
    // through unwrapped, and an HTTP client's ECONNREFUSED is some other service's outage.
    if (UNAVAILABLE_PRISMA_CODES.has(code) || isUnavailableSqlState(code)) return true;
  }
  if (isObject(meta) && isObject(meta.driverAdapterError)) {
    const cause = meta.driverAdapterError.cause;
    if (isObject(cause)) {
      if (typeof cause.kind === 'string' && UNAVAILABLE_KINDS.has(cause.kind)) return true;
      // A PostgreSQL error the adapter did not map keeps its SQLSTATE in `code`.
      if (typeof cause.code === 'string' && isUnavailableSqlState(cause.code)) return true;
    }
  }
  return typeof message === 'string' && UNAVAILABLE_MESSAGES.some((re) => re.test(message));
}

function isUnavailableSqlState(code: string): boolean {
  return UNAVAILABLE_SQLSTATES.has(code) || /^08[0-9A-Z]{3}$/.test(code);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
