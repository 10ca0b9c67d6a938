import { createAuditLog } from '../../audit/audit-log';
import { createPasswordHasher } from '../../auth/password-hasher';
import { createPasswordPolicy } from '../../auth/password-policy';
import { ConfigError, loadConfig, type Config } from '../../config';
import { openDatabase } from '../../db/database';
import { DomainError } from '../../errors/domain-error';
import { createLogger } from '../../logger';
import { createAdminRepository } from '../admin.repository';
import type { ProvisionDeps } from '../provision-account';

/**
 * What the account commands run on: the configuration (DATABASE_URL, or the embedded database
 * when unset, as `pnpm db:migrate`), the audit log and the password policy of the server.
 * Runs `work`, closes the database, and turns a failure into a message and exit code 1.
 */
export async function runProvisioning(
  work: (deps: ProvisionDeps, config: Config) => Promise<void>,
): Promise<void> {
  try {
    const { config } = loadConfig();
    const db = await openDatabase(config);
    try {
      const logger = createLogger({ level: 'warn', instanceId: config.instanceId });
      await work(
        {
          repository: createAdminRepository(
            db,
            createAuditLog({ prisma: db.prisma, enabled: config.audit.enabled }),
          ),
          passwords: createPasswordHasher({ concurrency: 1 }),
          passwordPolicy: createPasswordPolicy({
            breachCheckUrl: config.auth.passwordBreachCheckUrl,
            logger,
          }),
        },
        config,
      );
    } finally {
      await db.close();
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) console.error(`config error: ${problem}`);
    } else if (error instanceof DomainError) {
      console.error(`${error.message} (${error.code})`);
    } else {
      console.error(error instanceof Error ? error.message : String(error));
    }
    process.exitCode = 1;
  }
}
