/**
 * `pnpm db:seed`: development accounts to try the API with, on the configured database.
 * - `admin@example.com`, an admin, and `user@example.com`, a user, each with a random password
 *   printed once. An account that exists already is left alone (its password is not printed).
 * Refuses to run with NODE_ENV=production: real admins come from `pnpm admin:create`.
 */
import { randomBytes } from 'node:crypto';
import type { Role } from '../../auth/permissions';
import { provisionAccount } from '../provision-account';
import { runProvisioning } from './provision-context';

const ACCOUNTS: ReadonlyArray<{ email: string; role: Role }> = [
  { email: 'admin@example.com', role: 'admin' },
  { email: 'user@example.com', role: 'user' },
];

void runProvisioning(async (deps, config) => {
  if (config.isProduction) {
    throw new Error(
      'db:seed creates accounts with known addresses and refuses to run in production; use `pnpm admin:create <email>`',
    );
  }
  for (const { email, role } of ACCOUNTS) {
    // 18 random bytes: 24 base64url characters, far from any common-password list.
    const password = randomBytes(18).toString('base64url');
    const result = await provisionAccount(deps, {
      email,
      role,
      existing: 'keep',
      password: () => Promise.resolve(password),
      via: 'seed',
    });
    if (result.outcome === 'created') {
      console.log(`created ${role.padEnd(5)} ${email}  password: ${password}`);
    } else {
      console.log(`exists  ${result.user.role.padEnd(5)} ${email}  (left as it is)`);
    }
  }
});
