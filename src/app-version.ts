import { readFileSync } from 'node:fs';
import path from 'node:path';

let version: string | undefined;

/**
 * The `version` in package.json, read once on first use. This file sits one level below the
 * project root both as source (`src/`) and built (`dist/`), so the same path works for both.
 */
export function appVersion(): string {
  version ??=
    (
      JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as {
        version?: string;
      }
    ).version ?? 'unknown';
  return version;
}
