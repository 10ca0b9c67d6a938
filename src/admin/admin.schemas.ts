import { z } from 'zod';
import { sessionSchema } from '../auth/auth.schemas';
import { ROLES } from '../auth/permissions';

/**
 * The request and response shapes of /api/admin (see auth.schemas.ts for the conventions):
 * validated requests, the OpenAPI document and the integration tier's reply checks all read
 * these.
 */

const MAX_PAGE = 100;

/** `true` or `false` in a query string; anything else is a 400. */
const queryBoolean = z
  .enum(['true', 'false'], { message: 'must be true or false' })
  .transform((value) => value === 'true');

export const listUsersQuery = z.strictObject({
  cursor: z
    .string()
    .min(1)
    .max(400)
    .optional()
    .describe('`nextCursor` of the previous page; leave out for the first page'),
  limit: z.coerce
    .number({ message: 'must be a number' })
    .int()
    .min(1)
    .max(MAX_PAGE)
    .default(20)
    .describe(`Users per page, 1 to ${MAX_PAGE} (default 20)`),
  email: z
    .string()
    .trim()
    .toLowerCase()
    .min(1)
    .max(254)
    .optional()
    .describe('Only addresses that start with this (case-insensitive)'),
  role: z.enum(ROLES).optional(),
  disabled: queryBoolean
    .optional()
    .describe('`true`: only disabled accounts; `false`: only enabled'),
  verified: queryBoolean
    .optional()
    .describe('`true`: only confirmed addresses; `false`: only unconfirmed'),
});

export type ListUsersQuery = z.output<typeof listUsersQuery>;

export const userParams = z.strictObject({
  id: z.uuid({ message: 'must be a user id (UUID)' }),
});

export const userSessionParams = z.strictObject({
  id: z.uuid({ message: 'must be a user id (UUID)' }),
  sessionId: z.uuid({ message: 'must be a session id (UUID)' }),
});

export const updateUserBody = z
  .strictObject({
    role: z.enum(ROLES).optional().describe('The new role (src/auth/permissions.ts)'),
    disabled: z
      .boolean()
      .optional()
      .describe(
        '`true` disables the account and revokes every session at once; `false` enables it again',
      ),
  })
  .refine((body) => body.role !== undefined || body.disabled !== undefined, {
    message: 'send `role`, `disabled` or both',
  });

/** An account as an admin sees it: never the password hash. */
export const adminUserSchema = z.strictObject({
  id: z.uuid(),
  email: z.email(),
  name: z.string().nullable(),
  role: z.string(),
  emailVerified: z.boolean(),
  disabled: z.boolean(),
  disabledAt: z.iso.datetime().nullable().describe('When an admin disabled it; null when enabled'),
  createdAt: z.iso.datetime(),
});

export const usersPageResponse = z.strictObject({
  users: z.array(adminUserSchema).describe('Ordered by email'),
  nextCursor: z
    .string()
    .nullable()
    .describe('Pass as `cursor` for the next page; null on the last page'),
});

export const userDetailResponse = z.strictObject({
  user: adminUserSchema,
  sessions: z.array(sessionSchema).describe('Its active sessions, most recently used first'),
});

export const userResponse = z.strictObject({ user: adminUserSchema });

export const revokedResponse = z.strictObject({
  revoked: z.number().int().describe('How many active sessions were revoked'),
});
