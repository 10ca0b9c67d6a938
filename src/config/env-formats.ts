import { z } from 'zod';
import { isIpRange } from '../http/ip-allowlist';

/**
 * Formats of environment values: each parses the variable's text and says what is wrong in words
 * a reader of the startup error understands. The settings in `settings.ts` are built from these.
 */

/** `true`/`false` (or `1`/`0`). */
export const bool = z
  .enum(['true', 'false', '1', '0'], { message: 'must be true or false' })
  .transform((value) => value === 'true' || value === '1');

/** A whole number from `min` to `max`. */
export const wholeNumber = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ message: 'must be a number' })
    .int({ message: 'must be a whole number' })
    .min(min, { message: `must be at least ${min}` })
    .max(max, { message: `must be at most ${max}` });

/** Text that is unset when blank. */
export const optionalString = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

/** Non-blank text, trimmed. */
export const text = z.string().trim().min(1);

/** The memory stores clear expired counts with a timer, and Node's timers stop at 2^31 - 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A URL with one of `protocols` (`'redis:'`), or unset when blank. */
export const url = (protocols: readonly string[]) =>
  optionalString.refine(
    (value) => {
      if (value === undefined) return true;
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );

const splitCommas = (value: string): string[] =>
  value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);

/** Comma-separated entries, trimmed, blanks dropped. */
export const commaList = z.string().transform(splitCommas);

/**
 * Comma-separated web origins (`https://app.example.com`, `http://localhost:5173`): scheme, host
 * and port only, as a browser writes them in `Origin`. Anything else (a trailing slash, a path,
 * `*`) would never match one, so it is refused by name rather than ignored.
 */
export const originList = commaList.superRefine((entries, context) => {
  for (const entry of entries) {
    let origin: string | undefined;
    try {
      const parsed = new URL(entry);
      if (parsed.protocol === 'http:' || parsed.protocol === 'https:') origin = parsed.origin;
    } catch {
      // not a URL: reported below
    }
    if (origin !== entry) {
      context.addIssue({
        code: 'custom',
        message: `"${entry}" is not an origin: scheme, host and optional port, no path or trailing slash (e.g. https://app.example.com)`,
      });
    }
  }
});

/** Comma-separated IPs and CIDR ranges, each named when invalid; unset when blank. */
export const ipRangeList = optionalString
  .transform((value) => (value === undefined ? undefined : splitCommas(value)))
  .superRefine((entries, context) => {
    for (const entry of entries ?? []) {
      if (!isIpRange(entry)) {
        context.addIssue({
          code: 'custom',
          message: `"${entry}" is not an IP address or CIDR range (e.g. 10.0.0.0/8, ::1)`,
        });
      }
    }
  });

/** Comma-separated `host:port` entries (IPv6 in brackets), each named when invalid; unset when blank. */
export const hostPortList = optionalString
  .transform((value) => (value === undefined ? undefined : splitCommas(value)))
  .transform((entries, context) => {
    if (entries === undefined) return undefined;
    const parsed: Array<{ host: string; port: number }> = [];
    for (const entry of entries) {
      const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(entry);
      const port = Number(match?.[3]);
      if (!match || port < 1 || port > 65535) {
        context.addIssue({
          code: 'custom',
          message: `"${entry}" is not host:port (e.g. sentinel-1:26379, [::1]:26379)`,
        });
        continue;
      }
      parsed.push({ host: match[1] ?? match[2]!, port });
    }
    return parsed;
  });

/**
 * One mailbox as a `From` header writes it: `no-reply@example.com` or
 * `Example App <no-reply@example.com>`; unset when blank.
 */
export const mailbox = optionalString.refine(
  (value) =>
    value === undefined || /^(?:[^<>@\r\n]*<[^\s<>@]+@[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+)$/.test(value),
  {
    message:
      'must be an address (no-reply@example.com) or a name and an address (Example <no-reply@example.com>)',
  },
);
