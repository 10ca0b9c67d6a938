import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from './config-error';

/** The JWT secrets generated for a machine without configured ones. */
export interface DevSecrets {
  readonly accessSecret: string;
  readonly refreshSecret: string;
}

/**
 * Returns the development secrets stored in `file`, creating them on first use.
 *
 * Every process on the machine (cluster workers, restarts, `pnpm dev` reloads) must sign with the
 * same secrets, or tokens issued by one would fail on another. Creation is atomic: the secrets
 * are written to a private temporary file which is then hard-linked into place; `link` fails if
 * another process won the race, and then its file is read instead.
 *
 * @throws {ConfigError} when `file` exists but was not written by this function.
 */
export function loadDevSecrets(file: string): DevSecrets {
  if (!existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true });
    const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    const secrets = {
      accessSecret: randomBytes(48).toString('base64url'),
      refreshSecret: randomBytes(48).toString('base64url'),
    };
    writeFileSync(temp, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
    try {
      linkSync(temp, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      rmSync(temp, { force: true });
    }
  }
  const stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<Record<string, unknown>>;
  if (typeof stored.accessSecret !== 'string' || typeof stored.refreshSecret !== 'string') {
    throw new ConfigError([
      `${file}: is not a secrets file written by this app; delete it to regenerate`,
    ]);
  }
  return { accessSecret: stored.accessSecret, refreshSecret: stored.refreshSecret };
}
