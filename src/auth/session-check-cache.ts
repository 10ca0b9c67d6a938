import { performance } from 'node:perf_hooks';
import type { SessionCheck } from './auth.repository';

/**
 * The session check of every authenticated request, answered from memory for a short while
 * (`AUTH_SESSION_CACHE_MS`, at most 1 s), so that a client's burst of requests costs one
 * database read instead of one each.
 *
 * **The bound.** An answer is reused only while less than `ttlMs` has passed since its read was
 * *sent* (a monotonic clock). A read sent after a change committed sees the change, so a
 * revocation, a disabling, a deletion or a role change committed at time C is seen by every
 * request any process handles from C + ttlMs on: on every replica and worker, with no message
 * between them to lose. The process that made the change forgets the user's entries as soon as it
 * has committed ({@link forgetUser}), so its own next request sees it at once.
 *
 * - Only `active` answers are kept, and never past the session's own expiry; refusals are read
 *   again each time (they are rare, and one may be lifted: an account enabled again).
 * - Concurrent checks of one session share one read (no stampede when an entry expires), but
 *   only a read sent less than `ttlMs` ago: one slower than that is not joined.
 * - A read that was in flight when its user was forgotten is not kept: it may predate the change.
 * - At most `maxEntries` sessions are held; past that, expired entries are dropped, then all.
 */
export interface SessionCheckCache {
  /** The check of (user, session): a recent enough answer, or `read()`'s. */
  check(
    userId: string,
    sessionId: string,
    read: () => Promise<SessionCheck>,
  ): Promise<SessionCheck>;
  /** Drops every answer about this user: call it once a change to the user or a session has committed. */
  forgetUser(userId: string): void;
}

export interface SessionCheckCacheOptions {
  /** How long an answer may be reused; 0 reads every time. At most 1000 (the guarantee). */
  ttlMs: number;
  maxEntries?: number;
  /** Wall clock, for the session's expiry. */
  now?: () => Date;
  /** Monotonic milliseconds, for the answers' age. */
  clock?: () => number;
  /** Counts where each check was answered from. */
  onCheck?: (source: 'memory' | 'database') => void;
}

interface Entry {
  /** When its read was sent (monotonic). */
  readonly sentAt: number;
  readonly answer: Promise<SessionCheck>;
  /** The session's expiry, once the answer is known to be `active`. */
  expiresAt?: Date;
}

/** A user's entries. Replaced, never cleared, when forgotten: a read holding the old one is dropped. */
type UserEntries = Map<string, Entry>;

export const MAX_SESSION_CACHE_TTL_MS = 1_000;

export function createSessionCheckCache({
  ttlMs,
  maxEntries = 50_000,
  now = () => new Date(),
  clock = () => performance.now(),
  onCheck,
}: SessionCheckCacheOptions): SessionCheckCache {
  if (ttlMs > MAX_SESSION_CACHE_TTL_MS) {
    throw new RangeError(
      `the session check cache keeps answers ${MAX_SESSION_CACHE_TTL_MS} ms at most`,
    );
  }
  const users = new Map<string, UserEntries>();
  let size = 0;

  /** Removes `entry` if it is still held (not forgotten, evicted or replaced since). */
  const drop = (entries: UserEntries, userId: string, sessionId: string, entry: Entry) => {
    if (users.get(userId) !== entries || entries.get(sessionId) !== entry) return;
    entries.delete(sessionId);
    size -= 1;
    if (entries.size === 0) users.delete(userId);
  };

  const makeRoom = (at: number) => {
    if (size < maxEntries) return;
    for (const [userId, entries] of users) {
      for (const [sessionId, entry] of entries) {
        if (at - entry.sentAt >= ttlMs) drop(entries, userId, sessionId, entry);
      }
    }
    if (size >= maxEntries) {
      users.clear();
      size = 0;
    }
  };

  return {
    check(userId, sessionId, read) {
      if (ttlMs <= 0) {
        onCheck?.('database');
        return read();
      }
      const at = clock();
      const entries = users.get(userId);
      const entry = entries?.get(sessionId);
      if (
        entry &&
        at - entry.sentAt < ttlMs &&
        (entry.expiresAt === undefined || now() < entry.expiresAt)
      ) {
        onCheck?.('memory');
        return entry.answer;
      }
      onCheck?.('database');
      makeRoom(at);
      let own = users.get(userId);
      if (!own) {
        own = new Map();
        users.set(userId, own);
      }
      const held = own;
      if (held.has(sessionId)) size -= 1;
      const fresh: Entry = {
        sentAt: at,
        answer: read().then(
          (answer) => {
            if (answer.state === 'active') fresh.expiresAt = answer.expiresAt;
            else drop(held, userId, sessionId, fresh);
            return answer;
          },
          (error: unknown) => {
            drop(held, userId, sessionId, fresh);
            throw error;
          },
        ),
      };
      held.set(sessionId, fresh);
      size += 1;
      return fresh.answer;
    },

    forgetUser(userId) {
      const entries = users.get(userId);
      if (!entries) return;
      users.delete(userId);
      size -= entries.size;
    },
  };
}
