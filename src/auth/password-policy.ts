import { DomainError } from '../errors/domain-error';
import commonPasswords from './common-passwords.json';
import { normalizePassword } from './password-hasher';
import { PasswordErrorCode } from './password.errors';

/**
 * What a new password must pass besides its length (checked by the schemas): it must not be one
 * of the most common passwords of a breach corpus (ASVS 5.0 6.2.4, NIST SP 800-63B 3.1.1.2).
 * Called wherever a password is set (registration, password change, and later a reset), never
 * where one is verified: a policy change must not lock anyone out.
 */
export interface PasswordPolicy {
  /** @throws {DomainError} `PASSWORD_TOO_COMMON` when the password is refused. */
  assertAcceptable(password: string): void;
  /** Entries in the list (for the start-up log and tests). */
  readonly size: number;
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

/** The policy over the shipped list, or over `list` (tests, or a project's own list). */
export function createPasswordPolicy(list?: Iterable<string>): PasswordPolicy {
  const refused = list ? new Set([...list].map(commonPasswordForm)) : shippedList();
  return {
    size: refused.size,
    assertAcceptable(password) {
      if (!refused.has(commonPasswordForm(password))) return;
      throw new DomainError(
        PasswordErrorCode.PASSWORD_TOO_COMMON,
        'This password is one of the most commonly used and breached passwords; choose another (a few unrelated words make a strong one)',
      );
    },
  };
}
