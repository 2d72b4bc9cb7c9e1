import type { EntityManager } from '@mikro-orm/postgresql';
import { ApprovalRequest } from '../entities/index.js';
import { sql } from '../sql.js';

/** The caller as the approval lists see them: a person (or a confined key) with roles by organization, and a platform role. */
export interface ApprovalViewer {
  userId: string;
  isPerson: boolean;
  platformRole: string | null;
  /** Organization id → the role held there (a confined key: its organization as OWNER). */
  roles: readonly (readonly [string, string])[];
}

export interface ApprovalListFilter {
  status?: string;
  organizationId?: string;
  /** Only what the viewer can decide now. */
  assignedToViewer: boolean;
  after: { at: Date; id: string } | null;
  limit: number;
}

/**
 * Each organization the viewer reaches, with their role there as src/api/auth/policy.ts `roleIn`
 * decides it: their own membership, else the strongest admin role held in an ancestor.
 */
const effectiveRoles = `recursive mine(org_id, role) as (select unnest($2::uuid[]), unnest($3::text[])),
  reach(org_id, role, depth) as (
    select org_id, role, 0 from mine
    union all
    select o.id, r.role, r.depth + 1 from organizations o join reach r on o.parent_id = r.org_id where r.role in ('OWNER', 'BILLING_ADMIN', 'ADMIN')
  ),
  effective as (
    select distinct on (org_id) org_id, role from reach
    order by org_id, (depth = 0) desc, case role when 'OWNER' then 0 when 'BILLING_ADMIN' then 1 when 'ADMIN' then 2 else 3 end
  )`;

/** A level's role is satisfied by a stronger one of its kind (src/domain/approval/request.ts `holdsLevel`). */
const satisfiesCurrentRole = `(
  (r.current_role = 'OWNER' and e.role = 'OWNER')
  or (r.current_role = 'BILLING_ADMIN' and e.role in ('OWNER', 'BILLING_ADMIN'))
  or (r.current_role = 'ADMIN' and e.role in ('OWNER', 'BILLING_ADMIN', 'ADMIN'))
  or (r.current_role = 'finance' and $4::text in ('finance', 'platform_admin'))
  or (r.current_role = 'platform_admin' and $4::text = 'platform_admin')
)`;

/**
 * A page of requests the viewer can see (platform roles: all; otherwise those of organizations
 * where they hold an admin role, and their own), oldest first; with `assignedToViewer`, only those
 * they may decide at the current level now.
 */
export async function approvalRequestPage(em: EntityManager, viewer: ApprovalViewer, filter: ApprovalListFilter): Promise<ApprovalRequest[]> {
  const rows = await sql<{ id: string }>(
    em,
    `with ${effectiveRoles}
     select r.id from approval_requests r left join effective e on e.org_id = r.organization_id
     where ($4::text is not null or e.role in ('OWNER', 'BILLING_ADMIN', 'ADMIN') or r.requested_by = $1)
       and ($5::text is null or r.status = $5)
       and ($6::uuid is null or r.organization_id = $6)
       and ($7::timestamptz is null or r.created_at > $7 or (r.created_at = $7 and r.id > $8::uuid))
       and (not $9::boolean or (
         $10::boolean and r.status = 'pending' and r.requested_by <> $1 and not ($1 = any(r.decided_by))
         and (cardinality(r.current_approvers) = 0 or $1 = any(r.current_approvers))
         and ${satisfiesCurrentRole}))
     order by r.created_at, r.id limit $11`,
    [
      viewer.userId,
      viewer.roles.map(([organizationId]) => organizationId),
      viewer.roles.map(([, role]) => role),
      viewer.platformRole,
      filter.status ?? null,
      filter.organizationId ?? null,
      filter.after?.at ?? null,
      filter.after?.id ?? null,
      filter.assignedToViewer,
      viewer.isPerson,
      filter.limit,
    ],
  );
  if (rows.length === 0) return [];
  return em.find(ApprovalRequest, { id: { $in: rows.map((row) => row.id) } }, { orderBy: { createdAt: 'asc', id: 'asc' } });
}
