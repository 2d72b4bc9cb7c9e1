import type { OrganizationRole, PlatformRole, Scope } from '../../db/entities/index.js';

/** Who is calling, after authentication. */
export interface Principal {
  kind: 'bootstrap_key' | 'api_key' | 'user';
  /** Key id, user id, or `bootstrap`; idempotency keys and rate limits are per principal. */
  id: string;
  platformRole: PlatformRole | null;
  scopes: readonly Scope[];
  /** An organization-confined API key: it acts as OWNER of this organization and its children. */
  confinedTo: string | null;
  /** A person's roles, by organization id. */
  memberships: ReadonlyMap<string, OrganizationRole>;
}

/**
 * The name a principal acts under where people are named (approvals, comments, named approvers):
 * a person's user id (the JWT's `sub`), otherwise the key's principal id.
 */
export function actingUserId(principal: Principal): string {
  return principal.kind === 'user' ? principal.id.slice('user:'.length) : principal.id;
}

interface Rule {
  scope: Scope;
  platform: readonly PlatformRole[];
  organization: readonly OrganizationRole[];
}

const everyRole: readonly OrganizationRole[] = ['OWNER', 'BILLING_ADMIN', 'ADMIN', 'MEMBER'];
const adminRoles: readonly OrganizationRole[] = ['OWNER', 'BILLING_ADMIN', 'ADMIN'];
const billingRoles: readonly OrganizationRole[] = ['OWNER', 'BILLING_ADMIN'];

/**
 * The one policy table. A platform role allows an action everywhere; an organization role allows
 * it in that organization and, for the admin roles, in its children. The scope is what an API
 * key must carry for the action (`write` includes `read`).
 */
export const policy = {
  'catalog.read': { scope: 'read', platform: ['platform_admin', 'finance'], organization: everyRole },
  'catalog.write': { scope: 'write', platform: ['platform_admin'], organization: [] },
  'organization.create': { scope: 'write', platform: ['platform_admin'], organization: [] },
  'organization.createChild': { scope: 'write', platform: ['platform_admin'], organization: ['OWNER'] },
  'organization.read': { scope: 'read', platform: ['platform_admin', 'finance'], organization: everyRole },
  'organization.update': { scope: 'write', platform: ['platform_admin'], organization: billingRoles },
  'department.read': { scope: 'read', platform: ['platform_admin', 'finance'], organization: everyRole },
  'department.write': { scope: 'write', platform: ['platform_admin'], organization: billingRoles },
  'member.read': { scope: 'read', platform: ['platform_admin', 'finance'], organization: adminRoles },
  'member.write': { scope: 'write', platform: ['platform_admin'], organization: ['OWNER'] },
  'externalId.read': { scope: 'read', platform: ['platform_admin', 'finance'], organization: adminRoles },
  'externalId.write': { scope: 'write', platform: ['platform_admin'], organization: billingRoles },
  'apiKey.read': { scope: 'read', platform: ['platform_admin'], organization: ['OWNER'] },
  'apiKey.write': { scope: 'write', platform: ['platform_admin'], organization: ['OWNER'] },
  'webhookEndpoint.read': { scope: 'read', platform: ['platform_admin'], organization: billingRoles },
  'webhookEndpoint.write': { scope: 'write', platform: ['platform_admin'], organization: billingRoles },
  'audit.read': { scope: 'read', platform: ['platform_admin', 'finance'], organization: ['OWNER'] },
  'subscription.read': { scope: 'read', platform: ['platform_admin', 'finance'], organization: adminRoles },
  'subscription.manage': { scope: 'write', platform: ['platform_admin'], organization: billingRoles },
  'seat.assign': { scope: 'write', platform: ['platform_admin'], organization: adminRoles },
  'invoice.read': { scope: 'read', platform: ['platform_admin', 'finance'], organization: billingRoles },
  'invoice.run': { scope: 'write', platform: ['platform_admin', 'finance'], organization: [] },
  // Money moves only by the operator's finance team: a customer never records its own payment or credits itself.
  'invoice.pay': { scope: 'write', platform: ['platform_admin', 'finance'], organization: [] },
  'invoice.void': { scope: 'write', platform: ['platform_admin', 'finance'], organization: [] },
  'creditNote.write': { scope: 'write', platform: ['platform_admin', 'finance'], organization: [] },
  'seat.verify': { scope: 'seats:verify', platform: ['platform_admin'], organization: everyRole },
  // Product backends report usage with `usage:write` keys; people (JWT scopes read/write) never do.
  'usage.write': { scope: 'usage:write', platform: ['platform_admin'], organization: billingRoles },
  'usage.read': { scope: 'read', platform: ['platform_admin', 'finance'], organization: adminRoles },
  // Global rules are the platform's; an organization's OWNER writes the rules scoped to it.
  'approvalRule.read': { scope: 'read', platform: ['platform_admin', 'finance'], organization: ['OWNER'] },
  'approvalRule.write': { scope: 'write', platform: ['platform_admin'], organization: ['OWNER'] },
  'approvalRequest.read': { scope: 'read', platform: ['platform_admin', 'finance'], organization: adminRoles },
  'approvalRequest.create': { scope: 'write', platform: ['platform_admin', 'finance'], organization: adminRoles },
  // Who may send a decision at all; whether they decide this level is the workflow's validator's verdict.
  'approvalRequest.decide': { scope: 'write', platform: ['platform_admin', 'finance'], organization: adminRoles },
  // A customer disputes its invoices and may withdraw; only the operator resolves (money moves by its finance team).
  'dispute.read': { scope: 'read', platform: ['platform_admin', 'finance'], organization: billingRoles },
  'dispute.open': { scope: 'write', platform: ['platform_admin', 'finance'], organization: billingRoles },
  'dispute.comment': { scope: 'write', platform: ['platform_admin', 'finance'], organization: billingRoles },
  'dispute.withdraw': { scope: 'write', platform: [], organization: billingRoles },
  'dispute.resolve': { scope: 'write', platform: ['platform_admin', 'finance'], organization: [] },
  // Contracts are negotiated by the operator; the customer's billing people read theirs.
  'contract.read': { scope: 'read', platform: ['platform_admin', 'finance'], organization: billingRoles },
  'contract.write': { scope: 'write', platform: ['platform_admin', 'finance'], organization: [] },
  // An organization's billing people set its budgets; its admins and the finance team follow them.
  'budget.read': { scope: 'read', platform: ['platform_admin', 'finance'], organization: adminRoles },
  'budget.write': { scope: 'write', platform: ['platform_admin'], organization: billingRoles },
  // ERP integrations are the operator's books: its finance team maps accounts and re-syncs; customers never see them.
  'integration.read': { scope: 'read', platform: ['platform_admin', 'finance'], organization: [] },
  'integration.write': { scope: 'write', platform: ['platform_admin', 'finance'], organization: [] },
  'paymentMethod.setup': { scope: 'write', platform: ['platform_admin'], organization: billingRoles },
} as const satisfies Record<string, Rule>;

export type Action = keyof typeof policy;

export type Decision = 'allow' | 'forbidden' | 'not_visible';

/** Whether a set of scopes covers one (`write` includes `read`). */
export function grantsScope(scopes: readonly Scope[], scope: Scope): boolean {
  return scopes.includes(scope) || (scope === 'read' && scopes.includes('write'));
}

/**
 * The caller's role in an organization whose ancestry (itself first, then its parent, …) is given:
 * its own membership there, else the strongest admin role it holds in an ancestor. MEMBER does
 * not reach down to children, and nothing reaches up: a child never sees its parent.
 */
export function roleIn(principal: Principal, ancestry: readonly string[]): OrganizationRole | null {
  if (principal.confinedTo !== null) return ancestry.includes(principal.confinedTo) ? 'OWNER' : null;
  const [self, ...ancestors] = ancestry;
  const own = self === undefined ? undefined : principal.memberships.get(self);
  if (own) return own;
  const inherited = ancestors
    .map((id) => principal.memberships.get(id))
    .filter((role): role is OrganizationRole => role !== undefined && adminRoles.includes(role));
  return adminRoles.find((role) => inherited.includes(role)) ?? null;
}

/**
 * Decides one action. With `ancestry` the action targets that organization: an organization the
 * caller cannot see at all is `not_visible` (answered as 404, so ids leak nothing). Without it the
 * action is global (the catalog, root organizations).
 */
export function decide(principal: Principal, action: Action, ancestry?: readonly string[]): Decision {
  const rule: Rule = policy[action];
  const platformAllowed = principal.platformRole !== null && rule.platform.includes(principal.platformRole);
  if (ancestry) {
    const role = roleIn(principal, ancestry);
    if (principal.platformRole === null && role === null) return 'not_visible';
    const allowed = platformAllowed || (role !== null && rule.organization.includes(role));
    return allowed && grantsScope(principal.scopes, rule.scope) ? 'allow' : 'forbidden';
  }
  // Outside any organization, an organization role counts only for actions open to every
  // member (reading the catalog): OWNER of one tenant is nobody on the platform.
  const isMember = principal.confinedTo !== null || principal.memberships.size > 0;
  const organizationAllowed = isMember && everyRole.every((role) => rule.organization.includes(role));
  return (platformAllowed || organizationAllowed) && grantsScope(principal.scopes, rule.scope) ? 'allow' : 'forbidden';
}
