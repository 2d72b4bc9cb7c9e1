import { Context } from '@temporalio/activity';
import type { Clock } from '../src/clock.js';
import type { Orm } from '../src/db/orm.js';
import type { Logger } from '../src/logger.js';
import { dispatchWebhookEvents, recordWebhookEvent } from '../src/webhooks/outbox.js';
import type { SubscriptionPhaseRecord, SubscriptionSnapshot } from '../workflows/messages.js';
import { withDomainFailures } from './domain-failures.js';

export interface SubscriptionActivityDeps {
  orm: Orm;
  clock: Clock;
  logger: Logger;
}

/** The row PostgreSQL keeps for one subscription: what `subscription:<id>` holds today, with plans by id. */
export type SubscriptionMirror = Pick<
  SubscriptionSnapshot,
  | 'id'
  | 'organizationId'
  | 'applicationId'
  | 'departmentId'
  | 'status'
  | 'startDate'
  | 'trialEnd'
  | 'billingAnchorDay'
  | 'currentPeriodStart'
  | 'currentPeriodEnd'
  | 'cancelAt'
  | 'canceledAt'
  | 'pausedAt'
  | 'pastDueSince'
  | 'version'
> & {
  planId: string;
  seats: number;
  phases: (Pick<SubscriptionPhaseRecord, 'sequence' | 'kind' | 'effectiveAt' | 'seats' | 'prorationLines'> & { planId: string })[];
};

export type PersistVerdict =
  | { persisted: true }
  /** Refused: more seats are assigned than the new count; the newest assignments are named. */
  | { persisted: false; assigned: number; seatsToUnassign: { seatId: string; userId: string }[] };

/** The `data` of a `subscription.updated` event: the subscription as of this version. */
function subscriptionUpdatedData(mirror: SubscriptionMirror): Record<string, unknown> {
  return {
    id: mirror.id,
    organizationId: mirror.organizationId,
    applicationId: mirror.applicationId,
    planId: mirror.planId,
    departmentId: mirror.departmentId,
    status: mirror.status,
    seats: mirror.seats,
    startDate: mirror.startDate,
    trialEnd: mirror.trialEnd,
    currentPeriodStart: mirror.currentPeriodStart,
    currentPeriodEnd: mirror.currentPeriodEnd,
    cancelAt: mirror.cancelAt,
    canceledAt: mirror.canceledAt,
    pausedAt: mirror.pausedAt,
    pastDueSince: mirror.pastDueSince,
    version: mirror.version,
  };
}

export function createSubscriptionActivities({ orm, clock, logger }: SubscriptionActivityDeps) {
  return withDomainFailures({
    /**
     * Writes one state of the workflow. Idempotent and order-safe: a row already at this or a
     * later version is left alone, and phases are keyed by their sequence. With
     * `checkAssignedSeats` the subscription row is locked first (assignments lock it too), so a
     * seat reduction below the assigned count is refused rather than raced.
     */
    async persistSubscription(mirror: SubscriptionMirror, options: { checkAssignedSeats: boolean }): Promise<PersistVerdict> {
      let recordedEventId: string | undefined;
      const verdict = await orm.em.fork().transactional(async (em): Promise<PersistVerdict> => {
        if (options.checkAssignedSeats) {
          await em.execute('select id from subscriptions where id = ? for update', [mirror.id]);
          const assigned = await em.execute<{ id: string; user_id: string }[]>(
            'select id, user_id from seat_assignments where subscription_id = ? order by assigned_at desc, id desc',
            [mirror.id],
          );
          if (assigned.length > mirror.seats) {
            return {
              persisted: false,
              assigned: assigned.length,
              seatsToUnassign: assigned.slice(0, assigned.length - mirror.seats).map((row) => ({ seatId: row.id, userId: row.user_id })),
            };
          }
        }
        const now = clock.now();
        const written = await em.execute<{ id: string }[]>(
          `insert into subscriptions (id, organization_id, application_id, plan_id, department_id, status, seats, start_date, trial_end,
             billing_anchor_day, current_period_start, current_period_end, cancel_at, canceled_at, paused_at, past_due_since, version,
             created_at, updated_at)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           on conflict (id) do update set plan_id = excluded.plan_id, department_id = excluded.department_id, status = excluded.status,
             seats = excluded.seats, trial_end = excluded.trial_end, current_period_start = excluded.current_period_start,
             current_period_end = excluded.current_period_end, cancel_at = excluded.cancel_at, canceled_at = excluded.canceled_at,
             paused_at = excluded.paused_at, past_due_since = excluded.past_due_since, version = excluded.version,
             updated_at = excluded.updated_at
           where subscriptions.version < excluded.version
           returning id`,
          [
            mirror.id,
            mirror.organizationId,
            mirror.applicationId,
            mirror.planId,
            mirror.departmentId,
            mirror.status,
            mirror.seats,
            mirror.startDate,
            mirror.trialEnd,
            mirror.billingAnchorDay,
            mirror.currentPeriodStart,
            mirror.currentPeriodEnd,
            mirror.cancelAt,
            mirror.canceledAt,
            mirror.pausedAt,
            mirror.pastDueSince,
            mirror.version,
            now,
            now,
          ],
        );
        if (written.length === 0) return { persisted: true };
        const phases = JSON.stringify(
          mirror.phases.map((phase) => ({
            sequence: phase.sequence,
            kind: phase.kind,
            effective_at: phase.effectiveAt,
            plan_id: phase.planId,
            seats: phase.seats,
            proration_lines: phase.prorationLines,
          })),
        );
        // A scheduled phase that a later change superseded never took effect: it leaves the history.
        await em.execute(
          `delete from subscription_phases where subscription_id = ?
             and sequence not in (select (value ->> 'sequence')::int from jsonb_array_elements(?::jsonb))`,
          [mirror.id, phases],
        );
        await em.execute(
          `insert into subscription_phases (id, subscription_id, sequence, kind, effective_at, plan_id, seats, proration_lines, created_at)
           select gen_random_uuid(), ?, x.sequence, x.kind, x.effective_at, x.plan_id, x.seats, x.proration_lines, ?
           from jsonb_to_recordset(?::jsonb) as x(sequence int, kind text, effective_at timestamptz, plan_id uuid, seats int, proration_lines jsonb)
           on conflict (subscription_id, sequence) do update set effective_at = excluded.effective_at, plan_id = excluded.plan_id,
             seats = excluded.seats, proration_lines = excluded.proration_lines`,
          [mirror.id, now, phases],
        );
        recordedEventId = await recordWebhookEvent(em, {
          organizationId: mirror.organizationId,
          type: 'subscription.updated',
          data: subscriptionUpdatedData(mirror),
          dedupeKey: `subscription.updated:${mirror.id}:${mirror.version}`,
        });
        logger.info({ subscriptionId: mirror.id, version: mirror.version, status: mirror.status }, 'subscription persisted');
        return { persisted: true };
      });
      // After the commit; if this is lost, the dispatch sweep starts the delivery instead.
      if (recordedEventId) {
        const { client, info } = Context.current();
        await dispatchWebhookEvents({ temporal: client, taskQueue: info.taskQueue, orm, logger }, [recordedEventId]);
      }
      return verdict;
    },
  });
}

export type SubscriptionActivities = ReturnType<typeof createSubscriptionActivities>;
