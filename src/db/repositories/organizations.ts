import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from '../sql.js';

/**
 * The one walk of the organization tree, as a recursive common table expression for a
 * `with recursive` clause: `name(origin, id, parent_id, depth)` holds each organization matching
 * `start` (a condition on `organizations`, e.g. `id = $1` or `id = any($1::uuid[])`) as its own
 * origin at depth 0, then its ancestors (parent at depth 1, …) or its descendants (children at
 * depth 1, …). A trigger keeps the tree free of cycles (`organizations_no_cycle`), so the walk ends.
 */
export function organizationTree(name: string, direction: 'ancestors' | 'descendants', start: string): string {
  const step = direction === 'ancestors' ? `o.id = ${name}.parent_id` : `o.parent_id = ${name}.id`;
  return `${name}(origin, id, parent_id, depth) as (
       select id, id, parent_id, 0 from organizations where ${start}
       union all
       select ${name}.origin, o.id, o.parent_id, ${name}.depth + 1 from organizations o join ${name} on ${step}
     )`;
}

/**
 * The organization followed by its parent, grandparent, …; null when it does not exist. Inside a
 * request's transaction it uses that transaction's connection (and sees its writes) instead of
 * taking a second connection from the pool.
 */
export async function ancestryOf(em: EntityManager, organizationId: string): Promise<string[] | null> {
  const rows = await sql<{ id: string }>(em, `with recursive ${organizationTree('chain', 'ancestors', 'id = $1')} select id from chain order by depth`, [
    organizationId,
  ]);
  return rows.length ? rows.map((row) => row.id) : null;
}

export interface OrganizationNode {
  id: string;
  name: string;
  parentId: string | null;
}

/** The organization and everything below it, parents before children. */
export async function subtreeOf(em: EntityManager, organizationId: string): Promise<OrganizationNode[]> {
  return sql<OrganizationNode>(
    em,
    `with recursive ${organizationTree('tree', 'descendants', 'id = $1')}
     select o.id, o.name, o.parent_id as "parentId" from tree join organizations o on o.id = tree.id order by tree.depth, o.name, o.id`,
    [organizationId],
  );
}

/** Sets when billing started, once: the first time wins. Null when the organization does not exist. */
export async function recordBillingStart(em: EntityManager, organizationId: string, at: Date): Promise<string | null> {
  const [row] = await sql<{ startedAt: string }>(
    em,
    `update organizations set billing_started_at = coalesce(billing_started_at, $1) where id = $2
     returning to_char(billing_started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "startedAt"`,
    [at, organizationId],
  );
  return row?.startedAt ?? null;
}

/**
 * Makes `paymentMethodId` the default payment method of the organization owning the Stripe
 * customer, unless its current default was reported later. Returns the organization's id, or
 * undefined when nothing changed.
 */
export async function setDefaultPaymentMethodOfCustomer(
  em: EntityManager,
  change: { customerId: string; paymentMethodId: string; reportedAt: Date; now: Date },
): Promise<string | undefined> {
  const [row] = await sql<{ id: string }>(
    em,
    `update organizations set stripe_default_payment_method_id = $1, stripe_default_payment_method_set_at = $2, updated_at = $3
     where stripe_customer_id = $4 and (stripe_default_payment_method_set_at is null or stripe_default_payment_method_set_at <= $2)
     returning id`,
    [change.paymentMethodId, change.reportedAt, change.now, change.customerId],
  );
  return row?.id;
}

/** The organization that has this Stripe customer, if any. */
export async function organizationIdOfStripeCustomer(em: EntityManager, customerId: string): Promise<string | undefined> {
  const [row] = await sql<{ id: string }>(em, 'select id from organizations where stripe_customer_id = $1', [customerId]);
  return row?.id;
}

/**
 * Locks the billing account's row for the rest of the caller's transaction: one closing (or
 * failure report) per account at a time. `no key update`: usage ingestion's foreign-key checks
 * take `key share` on this row while it holds its subscriptions `for share`, which a closing then
 * updates; `for update` would deadlock.
 */
export async function lockBillingAccount(tx: EntityManager, accountId: string): Promise<void> {
  await sql(tx, 'select id from organizations where id = $1 for no key update', [accountId]);
}
