import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Organization } from '../db/entities/index.js';
import type { StripeGateway } from './stripe.js';

/**
 * The organization with its Stripe customer, created at most once. `em` must be in a
 * transaction: the organization row stays locked until it ends, so a concurrent caller waits and
 * then finds the stored id. If a transaction that created a customer rolls back, the next call
 * sends the same idempotency key (`organization:<id>:customer`) and Stripe returns that customer.
 * Null when there is no such organization.
 */
export async function ensureOrganizationCustomer(em: EntityManager, gateway: StripeGateway, organizationId: string): Promise<Organization | null> {
  const organization = await em.findOne(Organization, { id: organizationId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
  if (!organization) return null;
  if (!organization.stripeCustomerId) {
    organization.stripeCustomerId = await gateway.ensureCustomer({ organizationId, name: organization.name, email: organization.billingEmail ?? null });
    await em.flush();
  }
  return organization;
}
