import type { EntityManager } from '@mikro-orm/postgresql';
import type { SubscriptionStatus } from '../entities/index.js';
import { sql } from '../sql.js';
import { organizationTree } from './organizations.js';

/**
 * Locks the subscription's row for the rest of the caller's transaction and returns its seat
 * count and status: seat assignments and seat reductions serialize on this lock.
 */
export async function lockSubscriptionSeats(tx: EntityManager, id: string): Promise<{ seats: number; status: SubscriptionStatus } | undefined> {
  const [row] = await sql<{ seats: number; status: SubscriptionStatus }>(tx, 'select seats, status from subscriptions where id = $1 for update', [id]);
  return row;
}

/** The live (not canceled) subscriptions of the invoice's account: its organization and every organization below it. */
export async function liveSubscriptionIdsOfInvoiceAccount(em: EntityManager, invoiceId: string): Promise<string[]> {
  const rows = await sql<{ id: string }>(
    em,
    `with recursive ${organizationTree('account', 'descendants', 'id = (select organization_id from invoices where id = $1)')}
     select s.id from subscriptions s join account a on s.organization_id = a.id where s.canceled_at is null order by s.id`,
    [invoiceId],
  );
  return rows.map((row) => row.id);
}

/** Who holds a seat in the subscription, the newest assignment first. */
export async function seatHoldersNewestFirst(em: EntityManager, subscriptionId: string): Promise<{ seatId: string; userId: string }[]> {
  return sql<{ seatId: string; userId: string }>(
    em,
    'select id as "seatId", user_id as "userId" from seat_assignments where subscription_id = $1 order by assigned_at desc, id desc',
    [subscriptionId],
  );
}

/** One state of a subscription as its row and its phase rows keep it (days "YYYY-MM-DD", instants ISO 8601). */
export interface SubscriptionState {
  id: string;
  organizationId: string;
  applicationId: string;
  planId: string;
  departmentId: string | null;
  status: SubscriptionStatus;
  seats: number;
  startDate: string;
  trialEnd: string;
  billingAnchorDay: number | null;
  currentPeriodStart: string;
  currentPeriodEnd: string;
  cancelAt: string | null;
  canceledAt: string | null;
  pausedAt: string | null;
  pastDueSince: string | null;
  version: number;
  phases: { sequence: number; kind: string; effectiveAt: string; planId: string; seats: number; prorationLines: unknown }[];
}

/**
 * Writes one state of a subscription, its row and its phases, in the caller's transaction, unless
 * the row is already at this or a later version (then nothing is written and it returns false).
 * Phases are keyed by their sequence; a scheduled phase that a later change superseded never took
 * effect, so it leaves the history.
 */
export async function writeSubscriptionState(tx: EntityManager, state: SubscriptionState, now: Date): Promise<boolean> {
  const written = await sql<{ id: string }>(
    tx,
    `insert into subscriptions (id, organization_id, application_id, plan_id, department_id, status, seats, start_date, trial_end,
       billing_anchor_day, current_period_start, current_period_end, cancel_at, canceled_at, paused_at, past_due_since, version,
       created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18)
     on conflict (id) do update set plan_id = excluded.plan_id, department_id = excluded.department_id, status = excluded.status,
       seats = excluded.seats, trial_end = excluded.trial_end, current_period_start = excluded.current_period_start,
       current_period_end = excluded.current_period_end, cancel_at = excluded.cancel_at, canceled_at = excluded.canceled_at,
       paused_at = excluded.paused_at, past_due_since = excluded.past_due_since, version = excluded.version,
       updated_at = excluded.updated_at
     where subscriptions.version < excluded.version
     returning id`,
    [
      state.id,
      state.organizationId,
      state.applicationId,
      state.planId,
      state.departmentId,
      state.status,
      state.seats,
      state.startDate,
      state.trialEnd,
      state.billingAnchorDay,
      state.currentPeriodStart,
      state.currentPeriodEnd,
      state.cancelAt,
      state.canceledAt,
      state.pausedAt,
      state.pastDueSince,
      state.version,
      now,
    ],
  );
  if (written.length === 0) return false;
  const phases = JSON.stringify(
    state.phases.map((phase) => ({
      sequence: phase.sequence,
      kind: phase.kind,
      effective_at: phase.effectiveAt,
      plan_id: phase.planId,
      seats: phase.seats,
      proration_lines: phase.prorationLines,
    })),
  );
  await sql(
    tx,
    `delete from subscription_phases where subscription_id = $1
       and sequence not in (select (value ->> 'sequence')::int from jsonb_array_elements($2::jsonb))`,
    [state.id, phases],
  );
  await sql(
    tx,
    `insert into subscription_phases (id, subscription_id, sequence, kind, effective_at, plan_id, seats, proration_lines, created_at)
     select gen_random_uuid(), $1, x.sequence, x.kind, x.effective_at, x.plan_id, x.seats, x.proration_lines, $2
     from jsonb_to_recordset($3::jsonb) as x(sequence int, kind text, effective_at timestamptz, plan_id uuid, seats int, proration_lines jsonb)
     on conflict (subscription_id, sequence) do update set effective_at = excluded.effective_at, plan_id = excluded.plan_id,
       seats = excluded.seats, proration_lines = excluded.proration_lines`,
    [state.id, now, phases],
  );
  return true;
}

/** Marks the subscription's usage closed up to `through` (never moving it back). */
export async function closeUsageThrough(tx: EntityManager, subscriptionId: string, through: Date): Promise<void> {
  await sql(tx, 'update subscriptions set usage_closed_through = greatest(coalesce(usage_closed_through, $1), $1) where id = $2', [through, subscriptionId]);
}
