import { availableParallelism } from 'node:os';
import { hash, verify, type Algorithm, type Options } from '@node-rs/argon2';
import { DomainError } from '../errors/domain-error';
import { PasswordErrorCode } from './password.errors';

// `Algorithm` is a const enum, which isolated-module builds cannot read: Argon2id is 2.
const ARGON2ID = 2 as Algorithm;

/**
 * argon2id with the first configuration the OWASP Password Storage Cheat Sheet recommends
 * (19 MiB, 2 iterations, 1 lane). Hashing runs on libuv's thread pool, never on the event loop.
 * Each hash embeds its parameters, so raising them later only affects new hashes, and
 * {@link PasswordHasher.needsRehash} lets login upgrade old ones.
 */
const PARAMS = {
  algorithm: ARGON2ID,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
} satisfies Options;
const PARAMS_TAG = `$argon2id$v=19$m=${PARAMS.memoryCost},t=${PARAMS.timeCost},p=${PARAMS.parallelism}$`;

/** Longest password accepted, in UTF-8 bytes: a 1 MB "password" is a 400, not a CPU burn. */
export const MAX_PASSWORD_BYTES = 1_024;
/** Shortest password accepted, in characters (code points). */
export const MIN_PASSWORD_CHARS = 8;

/**
 * The same password typed on two devices may arrive in different Unicode forms (a precomposed
 * "é" or "e" + combining accent). NIST SP 800-63B asks verifiers to normalise with NFKC or NFKD
 * before hashing, so both forms match.
 */
export const normalizePassword = (password: string) => password.normalize('NFKC');

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Constant-time comparison inside argon2; false for a malformed hash. */
  verify(passwordHash: string, password: string): Promise<boolean>;
  /** Whether a stored hash was made with other (older) parameters. */
  needsRehash(passwordHash: string): boolean;
  /**
   * Verifies against a hash of a random password, taking as long as a real verification: login
   * calls it when the email is unknown, so response time does not reveal which emails exist.
   */
  verifyDummy(password: string): Promise<void>;
}

export interface PasswordHasherOptions {
  /**
   * Hashes computed at once; the rest wait their turn, first come first served. Each hash keeps
   * a core busy for milliseconds: with as many at once as libuv has threads (4), a burst of
   * logins on a 2-core machine starved the event loop (p99 delay 14-22 ms while 32 logins
   * hashed, against 5 ms with one at a time, for about 20% fewer logins per second), and left
   * no thread for DNS lookups or file reads. Default: one less than the cores.
   */
  concurrency?: number;
  /**
   * Hashes that may wait for a slot; one more is refused at once with `PASSWORD_CHECKS_BUSY`
   * (503, `Retry-After`) rather than queued. Bounds how long any sign-in waits behind a flood
   * (about `maxQueued` x one hash / `concurrency`); one account's share of the queue is bounded
   * before it gets here, by the sign-in policy's per-account concurrency cap. Default: unbounded.
   */
  maxQueued?: number;
}

/** Thrown (and answered 503) when the hasher's queue is full. */
const hasherBusy = () =>
  new DomainError(
    PasswordErrorCode.PASSWORD_CHECKS_BUSY,
    'Too many password checks are waiting on this server; try again in a moment',
  );

/** Creates the hasher. The dummy hash starts computing at once, off the event loop. */
export function createPasswordHasher({
  concurrency = Math.max(1, availableParallelism() - 1),
  maxQueued = Infinity,
}: PasswordHasherOptions = {}): PasswordHasher {
  const limited = concurrencyLimit(concurrency, maxQueued);
  // Started before any request: it never finds the queue full.
  const dummyHash = limited(() => hash(crypto.randomUUID(), PARAMS));
  /** A malformed hash verifies as false; a full queue is the caller's to answer. */
  const falseUnlessBusy = (error: unknown) => {
    if (error instanceof DomainError) throw error;
    return false;
  };
  return {
    hash: (password) => limited(() => hash(normalizePassword(password), PARAMS)),
    verify: (passwordHash, password) =>
      limited(() => verify(passwordHash, normalizePassword(password))).catch(falseUnlessBusy),
    needsRehash: (passwordHash) => !passwordHash.startsWith(PARAMS_TAG),
    async verifyDummy(password) {
      // The same queue as a real verification, so an unknown email waits just as long.
      const dummy = await dummyHash;
      await limited(() => verify(dummy, normalizePassword(password))).catch(falseUnlessBusy);
    },
  };
}

/**
 * Runs at most `max` tasks at once; the others start in arrival order as slots free up. With
 * `maxQueued` waiting already, a further task is refused (`PASSWORD_CHECKS_BUSY`) without running.
 */
export function concurrencyLimit(
  max: number,
  maxQueued = Infinity,
): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (task) => {
    if (active < max) active++;
    else if (waiting.length >= maxQueued) throw hasherBusy();
    // A finishing task hands its slot straight to the next in line (`active` stays the same).
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}
