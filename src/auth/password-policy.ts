import { createHash } from 'node:crypto';
import { DomainError } from '../errors/domain-error';
import type { Logger } from '../logger';
import commonPasswords from './common-passwords.json';
import { normalizePassword } from './password-hasher';
import { PasswordErrorCode } from './password.errors';

/**
 * What a new password must pass besides its length (checked by the schemas): it must not be one
 * of the most common passwords of a breach corpus (ASVS 5.0 6.2.4, NIST SP 800-63B 3.1.1.2), and,
 * when an online check is configured, not appear in the Pwned Passwords corpus. Called wherever
 * a password is set (registration, password change, and later a reset), never where one is
 * verified: a policy change must not lock anyone out.
 */
export interface PasswordPolicy {
  /**
   * @throws {DomainError} `PASSWORD_TOO_COMMON` (the shipped list) or `PASSWORD_BREACHED` (the
   * online check) when the password is refused.
   */
  assertAcceptable(password: string): Promise<void>;
  /** Entries in the offline list (for tests). */
  readonly size: number;
}

export interface PasswordPolicyOptions {
  /** The refused passwords; defaults to the shipped list. */
  list?: Iterable<string>;
  /**
   * A Pwned Passwords range endpoint (`https://api.pwnedpasswords.com/range/`) to also ask, by
   * k-anonymity: only the first 5 hex digits of the password's SHA-1 leave the process. Off
   * when undefined.
   */
  breachCheckUrl?: string | undefined;
  /** Where an unreachable breach check is reported. */
  logger?: Logger;
  /** How long the breach check may take before the password is accepted without it. */
  breachCheckTimeoutMs?: number;
}

/**
 * The form compared with the list, which is lower-case: NFKC (as the hasher stores it),
 * surrounding whitespace removed, lower-cased. Cracking tools try every case variant and
 * padding of a common password first, so `Password`, `PASSWORD` and ` password ` are as
 * guessable as `password`; the password itself is stored as typed.
 */
export const commonPasswordForm = (password: string) =>
  normalizePassword(password).trim().toLowerCase();

let shipped: ReadonlySet<string> | undefined;

/**
 * The shipped list (src/auth/common-passwords.json, compiled into dist/ with the code): 49,233
 * passwords, read once per process, on first use.
 */
function shippedList(): ReadonlySet<string> {
  shipped ??= new Set(commonPasswords.passwords.map(commonPasswordForm));
  return shipped;
}

/** The policy over the shipped list (or `list`), with the online check when configured. */
export function createPasswordPolicy({
  list,
  breachCheckUrl,
  logger,
  breachCheckTimeoutMs = 2_000,
}: PasswordPolicyOptions = {}): PasswordPolicy {
  const refused = list ? new Set([...list].map(commonPasswordForm)) : shippedList();
  const breached = breachCheckUrl
    ? pwnedRangeCheck(breachCheckUrl, breachCheckTimeoutMs, logger)
    : undefined;
  return {
    size: refused.size,
    async assertAcceptable(password) {
      if (refused.has(commonPasswordForm(password))) {
        throw new DomainError(
          PasswordErrorCode.PASSWORD_TOO_COMMON,
          'This password is one of the most commonly used and breached passwords; choose another (a few unrelated words make a strong one)',
        );
      }
      if (breached && (await breached(normalizePassword(password)))) {
        throw new DomainError(
          PasswordErrorCode.PASSWORD_BREACHED,
          'This password appears in known data breaches; choose another (a few unrelated words make a strong one)',
        );
      }
    },
  };
}

/**
 * Asks a Pwned Passwords range API whether a password is in its corpus: sends the first 5 hex
 * digits of its SHA-1 (with `Add-Padding`, so the reply's size says nothing either) and looks
 * for the other 35 among the suffixes returned. An unreachable or failing API accepts the
 * password, with a warning: a third party's outage must not stop registrations, and the offline
 * list was checked already.
 */
function pwnedRangeCheck(
  baseUrl: string,
  timeoutMs: number,
  logger: Logger | undefined,
): (password: string) => Promise<boolean> {
  return async (password) => {
    const digest = createHash('sha1').update(password).digest('hex').toUpperCase();
    const prefix = digest.slice(0, 5);
    const suffix = digest.slice(5);
    try {
      const res = await fetch(`${baseUrl}${prefix}`, {
        headers: { 'Add-Padding': 'true' },
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!res.ok) throw new Error(`the breach check answered ${res.status}`);
      for (const line of (await res.text()).split('\n')) {
        const [candidate, count] = line.trim().split(':');
        // Padding lines have a count of 0.
        if (candidate === suffix) return Number(count) > 0;
      }
      return false;
    } catch (error) {
      logger?.warn(
        { err: error },
        'password breach check unavailable; the new password was checked against the offline list only',
      );
      return false;
    }
  };
}
