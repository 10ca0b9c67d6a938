/**
 * The auth hot path's SQL, sent below Prisma on the process's own driver (see db/database.ts,
 * `Database.sql`): refresh rotation, the session check of every authenticated request, and the
 * revocations. Each is ONE statement, so it costs one round trip and one parse (a named prepared
 * statement is parsed once per connection).
 *
 * One lock order everywhere, so no two of them can deadlock: **the session row first, then its
 * refresh-token rows**. Several sessions are locked in id order. A statement that changes token
 * rows always holds their session's lock before it touches them.
 *
 * A revocation marks the session and its live token (`replaced_by_id IS NULL`), not the tokens
 * the session already spent: the session's `revoked_at` refuses those (the rotation's verdict
 * answers `revoked` before `reused`), and a session keeps each token it spent until the purge
 * deletes it, hundreds of rows that a revocation would otherwise rewrite.
 *
 * Every parameter carries an explicit cast: the same text runs on node-postgres (PostgreSQL,
 * PgBouncer, the cluster's embedded database server) and on PGlite in this process.
 *
 * The statements that make a security-relevant change (a sign-in, a reuse's revocation, a
 * logout, a revocation) also insert its audit event (src/audit/audit-log.ts), in the same
 * statement, so the event commits with the change and costs no extra round trip. Their last six
 * parameters are the event's ({@link auditEventParams}); a null event id (auditing off) writes
 * none.
 */
import type { AuditEventType, RequestMeta } from '../audit/audit-log';
import type { SqlStatement } from '../db/database';

/** An audit event a hot statement writes with its change. */
export interface SqlAuditEvent {
  /** From `newAuditEventId()`. */
  id: string;
  type: AuditEventType;
  /** Who did it; null for an anonymous request (a presented refresh token of unknown origin). */
  actorUserId: string | null;
  request: RequestMeta;
}

/** The six trailing parameters of a statement that records an event: all null for none. */
export const auditEventParams = (event: SqlAuditEvent | undefined): unknown[] =>
  event
    ? [
        event.id,
        event.type,
        event.actorUserId,
        event.request.ip,
        event.request.userAgent,
        event.request.requestId,
      ]
    : [null, null, null, null, null, null];

/** A user as the hot statements return it: the columns of `PublicUser`. */
export interface UserRow {
  id: string;
  email: string;
  name: string | null;
  role: string;
  email_verified_at: Date | null;
  created_at: Date;
}

/**
 * A sign-in: the session, its first refresh token and the `signin.succeeded` event, in one
 * statement: one round trip, where a Prisma nested create is a transaction (BEGIN, INSERTs,
 * COMMIT). Parameters: $1 session id, $2 user id, $3 user agent, $4 ip, $5 session expiry,
 * $6 token id, $7 token hash, $8 token expiry, $9-$14 the event ({@link auditEventParams}).
 * Returns the session id.
 */
export const createSession: SqlStatement = {
  name: 'auth_create_session',
  text: `
WITH session AS (
  INSERT INTO sessions (id, user_id, user_agent, ip, expires_at)
  VALUES ($1::uuid, $2::uuid, $3::text, $4::text, $5::timestamptz)
  RETURNING id
), token AS (
  INSERT INTO refresh_tokens (id, session_id, token_hash, expires_at)
  SELECT $6::uuid, id, $7::text, $8::timestamptz FROM session
), event AS (
  INSERT INTO audit_events (id, type, actor_user_id, subject_user_id, session_id, ip, user_agent, request_id)
  SELECT $9::uuid, $10::text, $11::uuid, $2::uuid, id, $12::text, $13::text, $14::text
  FROM session WHERE $9::uuid IS NOT NULL
)
SELECT id FROM session`,
};

/** What one rotation attempt did: the row {@link rotateRefreshToken} returns. */
export type RotationOutcome =
  /** Spent, successor stored, session touched. */
  | 'rotated'
  /** Already spent: a copy came back. The session and its live token were revoked by this statement. */
  | 'reused'
  /** The token or its session had been revoked (logout, reuse, password change...). */
  | 'revoked'
  /** The account was disabled by an admin (its sessions were revoked with it). */
  | 'disabled'
  /** The session reached its absolute lifetime. */
  | 'session_expired'
  /** The token's row has expired. */
  | 'expired'
  /** No such token in that session of that user, or its hash differs: signed by us but not stored. */
  | 'unknown';

export interface RotationRow extends Partial<UserRow> {
  outcome: RotationOutcome;
}

/**
 * Refresh rotation. Parameters: $1 token id (jti), $2 its SHA-256, $3 session id, $4 user id,
 * $5 now, $6 successor id, $7 successor hash, $8 successor expiry, $9-$14 the event recorded
 * when the outcome is `reused` ({@link auditEventParams}; a rotation records nothing).
 *
 * - `s` locks the session row (FOR UPDATE) first; `t` then locks the token row. Waiting on the
 *   session serialises every presentation of one session's tokens, and READ COMMITTED re-reads a
 *   locked row at its newest version, so of 50 concurrent presentations of one token exactly one
 *   sees it unspent; the others see it spent (`reused`) or its session revoked (`revoked`).
 * - The checks keep the order the API has always answered with: unknown, revoked, reused,
 *   session expired, token expired; a disabled account comes right after unknown, so its owner
 *   is told why (disabling also revoked its sessions). The user row is read, not locked.
 * - `spent` marks the token spent (rotated), by its primary key; `revoked_tokens` revokes the
 *   session's live token (reused). At most one of them runs: each is gated by the verdict
 *   as a one-time filter, so a rotation reads the one token row, not the session's history (a
 *   session keeps every token it spent until the purge deletes it at its expiry, hundreds of
 *   rows; a plan that scanned them made every rotation slower than the last, see the integration
 *   test). `session` touches or revokes the session in one UPDATE. A row is changed at most once.
 * - The successor's expiry is capped by the session's, in SQL, even if a caller asked for more.
 * - `reuse_event` records the reuse (`refresh.reuse_detected`) with the revocation it causes.
 * - The last SELECT returns one row always: the outcome, and the user when it rotated.
 */
export const rotateRefreshToken: SqlStatement = {
  name: 'auth_rotate_refresh_token',
  text: `
WITH s AS (
  SELECT id, user_id, expires_at, revoked_at FROM sessions
  WHERE id = $3::uuid AND user_id = $4::uuid
  FOR UPDATE
), t AS (
  SELECT id, token_hash, expires_at, revoked_at, replaced_by_id FROM refresh_tokens
  WHERE id = $1::uuid AND session_id = (SELECT id FROM s)
  FOR UPDATE
), verdict AS (
  SELECT CASE
    WHEN t.id IS NULL OR t.token_hash <> $2::text THEN 'unknown'
    WHEN (SELECT disabled_at FROM users WHERE id = $4::uuid) IS NOT NULL THEN 'disabled'
    WHEN s.revoked_at IS NOT NULL OR t.revoked_at IS NOT NULL THEN 'revoked'
    WHEN t.replaced_by_id IS NOT NULL THEN 'reused'
    WHEN s.expires_at <= $5::timestamptz THEN 'session_expired'
    WHEN t.expires_at <= $5::timestamptz THEN 'expired'
    ELSE 'rotated'
  END AS outcome
  FROM (SELECT 1) AS one LEFT JOIN s ON true LEFT JOIN t ON true
), spent AS (
  UPDATE refresh_tokens SET replaced_by_id = $6::uuid
  WHERE id = $1::uuid AND (SELECT outcome FROM verdict) = 'rotated'
), revoked_tokens AS (
  UPDATE refresh_tokens SET revoked_at = $5::timestamptz
  WHERE session_id = $3::uuid AND replaced_by_id IS NULL AND revoked_at IS NULL
    AND (SELECT outcome FROM verdict) = 'reused'
), successor AS (
  INSERT INTO refresh_tokens (id, session_id, token_hash, expires_at, created_at)
  SELECT $6::uuid, s.id, $7::text, LEAST($8::timestamptz, s.expires_at), $5::timestamptz
  FROM s, verdict v WHERE v.outcome = 'rotated'
), session AS (
  UPDATE sessions SET
    last_used_at = CASE WHEN v.outcome = 'rotated' THEN $5::timestamptz ELSE last_used_at END,
    revoked_at = CASE WHEN v.outcome = 'reused' THEN $5::timestamptz ELSE revoked_at END
  FROM verdict v
  WHERE sessions.id = $3::uuid AND v.outcome IN ('rotated', 'reused')
), reuse_event AS (
  INSERT INTO audit_events (id, type, actor_user_id, subject_user_id, session_id, ip, user_agent, request_id)
  SELECT $9::uuid, $10::text, $11::uuid, s.user_id, s.id, $12::text, $13::text, $14::text
  FROM s, verdict v WHERE v.outcome = 'reused' AND $9::uuid IS NOT NULL
)
SELECT v.outcome, u.id, u.email, u.name, u.role, u.email_verified_at, u.created_at
FROM verdict v
LEFT JOIN s ON v.outcome = 'rotated'
LEFT JOIN users u ON u.id = s.user_id`,
};

/** What the session check says about an access token's session. */
export type SessionState = 'active' | 'disabled' | 'revoked' | 'expired';

export interface SessionCheckRow extends UserRow {
  session: SessionState;
  /** The session's absolute end; null when there is no such session. */
  session_expires_at: Date | null;
}

/**
 * The check of every authenticated request, and `/me`'s read, in one statement. Parameters:
 * $1 user id, $2 session id, $3 now. No row: the account is gone. `disabled`: an admin disabled
 * the account (checked first: a session created by a sign-in that raced the disabling is
 * refused too). Otherwise a `session` that is not `active` was revoked (logout, logout-all,
 * revoke, password change, reuse), deleted, or reached its lifetime. Takes no lock.
 */
export const checkSession: SqlStatement = {
  name: 'auth_check_session',
  text: `
SELECT u.id, u.email, u.name, u.role, u.email_verified_at, u.created_at,
  CASE
    WHEN u.disabled_at IS NOT NULL THEN 'disabled'
    WHEN s.id IS NULL OR s.revoked_at IS NOT NULL THEN 'revoked'
    WHEN s.expires_at <= $3::timestamptz THEN 'expired'
    ELSE 'active'
  END AS session,
  s.expires_at AS session_expires_at
FROM users u LEFT JOIN sessions s ON s.id = $2::uuid AND s.user_id = u.id
WHERE u.id = $1::uuid`,
};

/**
 * Revokes one live session of a user and its live token: session row locked first, then the token.
 * Parameters: $1 session id, $2 user id, $3 now, $4-$9 the event recorded when it was live
 * ({@link auditEventParams}). Returns one row per session revoked (0 or 1).
 */
export const revokeSession: SqlStatement = {
  name: 'auth_revoke_session',
  text: `
WITH s AS (
  SELECT id FROM sessions
  WHERE id = $1::uuid AND user_id = $2::uuid AND revoked_at IS NULL
  FOR UPDATE
), tokens AS (
  UPDATE refresh_tokens SET revoked_at = $3::timestamptz
  WHERE session_id IN (SELECT id FROM s) AND replaced_by_id IS NULL AND revoked_at IS NULL
), event AS (
  INSERT INTO audit_events (id, type, actor_user_id, subject_user_id, session_id, ip, user_agent, request_id)
  SELECT $4::uuid, $5::text, $6::uuid, $2::uuid, id, $7::text, $8::text, $9::text
  FROM s WHERE $4::uuid IS NOT NULL
)
UPDATE sessions SET revoked_at = $3::timestamptz
WHERE id IN (SELECT id FROM s)
RETURNING id`,
};

/** The values of {@link revokeSession}, in order: for callers that run it in a transaction. */
export const revokeSessionValues = (
  sessionId: string,
  userId: string,
  now: Date,
  event?: SqlAuditEvent,
): unknown[] => [sessionId, userId, now, ...auditEventParams(event)];

/**
 * Revokes every live session of a user but `$3` (null: all) and their live tokens: sessions locked
 * in id order first, then the tokens. Parameters: $1 user id, $2 now, $3 session id to keep or null,
 * $4-$9 one event for the whole revocation ({@link auditEventParams}), its `data.sessionsRevoked`
 * the ids of the sessions revoked (as the admin's `account.disabled` records them).
 */
export const revokeUserSessions: SqlStatement = {
  name: 'auth_revoke_user_sessions',
  text: `
WITH s AS (
  SELECT id FROM sessions
  WHERE user_id = $1::uuid AND revoked_at IS NULL AND ($3::uuid IS NULL OR id <> $3::uuid)
  ORDER BY id
  FOR UPDATE
), tokens AS (
  UPDATE refresh_tokens SET revoked_at = $2::timestamptz
  WHERE session_id IN (SELECT id FROM s) AND replaced_by_id IS NULL AND revoked_at IS NULL
), event AS (
  INSERT INTO audit_events (id, type, actor_user_id, subject_user_id, ip, user_agent, request_id, data)
  SELECT $4::uuid, $5::text, $6::uuid, $1::uuid, $7::text, $8::text, $9::text,
    jsonb_build_object('sessionsRevoked', (SELECT coalesce(jsonb_agg(id ORDER BY id), '[]') FROM s))
  WHERE $4::uuid IS NOT NULL
)
UPDATE sessions SET revoked_at = $2::timestamptz
WHERE id IN (SELECT id FROM s)
RETURNING id`,
};

/** The values of {@link revokeUserSessions}, in order: for callers that run it in a transaction. */
export const revokeUserSessionsValues = (
  userId: string,
  now: Date,
  keepSessionId: string | null,
  event?: SqlAuditEvent,
): unknown[] => [userId, now, keepSessionId, ...auditEventParams(event)];
