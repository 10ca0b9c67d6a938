/**
 * Roles and what they may do: the one file a project edits to add a role or a permission.
 * A route declares the permission it needs (`permission` in its route table); the bearer
 * authenticator reads the caller's role with the session check of the same request, so a role
 * change takes effect within AUTH_SESSION_CACHE_MS on every replica and worker (on the next
 * request on the process that made it).
 */

/** Every permission a route can require. */
export const PERMISSIONS = ['users:read', 'users:manage', 'sessions:manage', 'audit:read'] as const;

export type Permission = (typeof PERMISSIONS)[number];

/** Each role's permissions. `user` is what registration gives. */
export const ROLE_PERMISSIONS = {
  user: [],
  admin: ['users:read', 'users:manage', 'sessions:manage', 'audit:read'],
} as const satisfies Record<string, readonly Permission[]>;

export type Role = keyof typeof ROLE_PERMISSIONS;

export const ROLES = Object.keys(ROLE_PERMISSIONS) as Role[];

/** The role registration gives. */
export const DEFAULT_ROLE: Role = 'user';

export const isRole = (value: string): value is Role => Object.hasOwn(ROLE_PERMISSIONS, value);

/** Whether `role` grants `permission`. An unknown role (removed from the map) grants nothing. */
export function roleCan(role: string, permission: Permission): boolean {
  return isRole(role) && (ROLE_PERMISSIONS[role] as readonly Permission[]).includes(permission);
}
