/**
 * `pnpm admin:create <email>`: makes an account an admin. An existing account is promoted (and
 * enabled if it was disabled), keeping its password; a new one is created with the password
 * typed at the terminal (no echo, twice) or piped on stdin, never taken from argv. The password
 * must pass the registration policy. Production images run `node dist/admin/cli/create-admin.js`.
 */
import { emailSchema } from '../../auth/auth.schemas';
import { provisionAccount } from '../provision-account';
import { readPassword } from './read-password';
import { runProvisioning } from './provision-context';

const args = process.argv.slice(2);
const email = emailSchema.safeParse(args[0]);
if (args.length !== 1 || !email.success) {
  console.error(
    'Usage: pnpm admin:create <email>\n' +
      'The password is read from the terminal, or from stdin when piped; never from the command line.',
  );
  process.exit(2);
}

void runProvisioning(async (deps) => {
  const result = await provisionAccount(deps, {
    email: email.data,
    role: 'admin',
    existing: 'promote',
    password: () => readPassword(),
    via: 'cli',
  });
  const messages = {
    created: `Created the admin ${result.user.email} (${result.user.id}).`,
    promoted: `${result.user.email} (${result.user.id}) is now an enabled admin; its password is unchanged.`,
    unchanged: `${result.user.email} (${result.user.id}) is already an enabled admin: nothing to do.`,
  };
  console.log(messages[result.outcome]);
});
