import { isRole, type Role } from '../auth/permissions';
import type { PasswordHasher } from '../auth/password-hasher';
import type { PasswordPolicy } from '../auth/password-policy';
import { newPasswordSchema } from '../auth/auth.schemas';
import { CommonErrorCode, DomainError } from '../errors/domain-error';
import type { AdminRepository, AdminUser } from './admin.repository';

/** What provisioning did. */
export type ProvisionOutcome =
  | { outcome: 'created'; user: AdminUser }
  /** The account existed and now has the role (and is enabled). */
  | { outcome: 'promoted'; user: AdminUser }
  /** The account existed and was left as it was. */
  | { outcome: 'unchanged'; user: AdminUser };

export interface ProvisionDeps {
  repository: AdminRepository;
  passwords: Pick<PasswordHasher, 'hash'>;
  passwordPolicy: PasswordPolicy;
  now?: () => Date;
}

/**
 * Creates an account with a role, or gives an existing one that role: what `pnpm admin:create`
 * and the development seed do, outside any request. A new account's password passes the same
 * policy as a registration's; its address counts as verified (the operator vouches for it).
 * `password` is only asked for when an account is created. Audited like the API's changes,
 * with no actor and `via` in the event's data.
 */
export async function provisionAccount(
  { repository, passwords, passwordPolicy, now = () => new Date() }: ProvisionDeps,
  request: {
    email: string;
    role: Role;
    /** Promote an existing account (the CLI) or leave it as it is (the seed). */
    existing: 'promote' | 'keep';
    password: () => Promise<string>;
    via: string;
  },
): Promise<ProvisionOutcome> {
  if (!isRole(request.role)) throw new Error(`unknown role ${String(request.role)}`);
  const found = await repository.findUserByEmail(request.email);
  if (found) {
    if (request.existing === 'keep') return { outcome: 'unchanged', user: found };
    if (found.role === request.role && found.disabledAt === null) {
      return { outcome: 'unchanged', user: found };
    }
    const user = await repository.transaction(async (tx) => {
      const updated = await tx.updateUser(found.id, { role: request.role, disabledAt: null });
      await tx.audit([
        ...(found.role === request.role
          ? []
          : [
              {
                type: 'role.changed' as const,
                subjectUserId: found.id,
                data: { from: found.role, to: request.role, via: request.via },
              },
            ]),
        ...(found.disabledAt === null
          ? []
          : [
              {
                type: 'account.enabled' as const,
                subjectUserId: found.id,
                data: { via: request.via },
              },
            ]),
      ]);
      return updated;
    });
    return { outcome: 'promoted', user };
  }

  const password = await request.password();
  const length = newPasswordSchema.safeParse(password);
  if (!length.success) {
    throw new DomainError(
      CommonErrorCode.VALIDATION_FAILED,
      `The password ${length.error.issues[0]?.message ?? 'is not acceptable'}`,
    );
  }
  await passwordPolicy.assertAcceptable(password);
  const passwordHash = await passwords.hash(password);
  const user = await repository.transaction(async (tx) => {
    const created = await tx.createUser({
      email: request.email,
      passwordHash,
      role: request.role,
      emailVerifiedAt: now(),
    });
    await tx.audit({
      type: 'user.registered',
      subjectUserId: created.id,
      data: { role: request.role, via: request.via },
    });
    return created;
  });
  return { outcome: 'created', user };
}
