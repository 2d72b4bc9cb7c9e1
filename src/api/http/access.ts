import type { Context } from 'hono';
import { ancestryOf } from '../../db/repositories/organizations.js';
import { decide, type Action } from '../auth/policy.js';
import type { AppEnv } from './context.js';
import { ApiError } from './problem.js';

export const forbidden = (action: Action) => new ApiError(403, 'forbidden', `The caller may not ${action.replace('.', ': ')}.`);

/**
 * Allows a global action (the catalog, root organizations, the platform's keys, webhook endpoints
 * and whole audit log) or answers 403. The policy grants organization roles nothing here but
 * reading the catalog: OWNER of one tenant is nobody on the platform.
 */
export function requireGlobal(c: Context<AppEnv>, action: Action): void {
  if (decide(c.var.principal, action) !== 'allow') throw forbidden(action);
}

/**
 * Allows an action on an organization or refuses it. An organization that does not exist and one
 * the caller cannot see get the same 404, so ids reveal nothing across tenants.
 */
export async function requireOrganization(c: Context<AppEnv>, action: Action, organizationId: string): Promise<string[]> {
  const ancestry = await ancestryOf(c.var.em, organizationId);
  const decision = ancestry ? decide(c.var.principal, action, ancestry) : 'not_visible';
  if (!ancestry || decision === 'not_visible') {
    throw new ApiError(404, 'organization_not_found', `No organization ${organizationId}.`);
  }
  if (decision === 'forbidden') throw forbidden(action);
  return ancestry;
}

/**
 * Access to an object that belongs to an organization, or to the platform when it has none.
 * `notFound` is thrown both when the caller cannot see the owner and when the object is missing.
 */
export async function requireOwnedObject(
  c: Context<AppEnv>,
  action: Action,
  organizationId: string | null,
  notFound: () => ApiError,
): Promise<void> {
  if (organizationId === null) {
    if (c.var.principal.platformRole === null) throw notFound();
    requireGlobal(c, action);
    return;
  }
  const ancestry = await ancestryOf(c.var.em, organizationId);
  const decision = ancestry ? decide(c.var.principal, action, ancestry) : 'not_visible';
  if (decision === 'not_visible') throw notFound();
  if (decision === 'forbidden') throw forbidden(action);
}
