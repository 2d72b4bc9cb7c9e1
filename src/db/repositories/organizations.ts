import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * The organization followed by its parent, grandparent, …; null when it does not exist. Runs
 * through `em.execute`, so inside a request's transaction it uses that transaction's connection
 * (and sees its writes) instead of taking a second connection from the pool.
 */
export async function ancestryOf(em: EntityManager, organizationId: string): Promise<string[] | null> {
  const rows = await em.execute<{ id: string }[]>(
    `with recursive chain(id, parent_id, depth) as (
       select id, parent_id, 0 from organizations where id = ?
       union all
       select o.id, o.parent_id, chain.depth + 1 from organizations o join chain on o.id = chain.parent_id
     )
     select id from chain order by depth`,
    [organizationId],
  );
  return rows.length ? rows.map((row) => row.id) : null;
}

export interface OrganizationNode {
  id: string;
  name: string;
  parentId: string | null;
}

/** The organization and everything below it, parents before children. */
export async function subtreeOf(em: EntityManager, organizationId: string): Promise<OrganizationNode[]> {
  return em.execute<OrganizationNode[]>(
    `with recursive tree(id, name, parent_id, depth) as (
       select id, name, parent_id, 0 from organizations where id = ?
       union all
       select o.id, o.name, o.parent_id, tree.depth + 1 from organizations o join tree on o.parent_id = tree.id
     )
     select id, name, parent_id as "parentId" from tree order by depth, name, id`,
    [organizationId],
  );
}

/** Sets when billing started, once: the first time wins. Null when the organization does not exist. */
export async function recordBillingStart(em: EntityManager, organizationId: string, at: Date): Promise<string | null> {
  const [row] = await em.execute<{ startedAt: string }[]>(
    `update organizations set billing_started_at = coalesce(billing_started_at, ?) where id = ?
     returning to_char(billing_started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "startedAt"`,
    [at, organizationId],
  );
  return row?.startedAt ?? null;
}
