import { Context } from '@temporalio/activity';
import type { Clock } from '../src/clock.js';
import type { Orm } from '../src/db/orm.js';
import { lockSubscriptionSeats, seatHoldersNewestFirst, writeSubscriptionState } from '../src/db/repositories/subscriptions.js';
import type { Logger } from '../src/logger.js';
import { dispatchWebhookEvents, recordWebhookEvent } from '../src/webhooks/outbox.js';
import type { PersistVerdict, SubscriptionMirror } from '../workflows/messages/subscription.js';
import { withDomainFailures } from './domain-failures.js';

export interface SubscriptionActivityDeps {
  orm: Orm;
  clock: Clock;
  logger: Logger;
}

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
          await lockSubscriptionSeats(em, mirror.id);
          const assigned = await seatHoldersNewestFirst(em, mirror.id);
          if (assigned.length > mirror.seats) {
            return {
              persisted: false,
              assigned: assigned.length,
              seatsToUnassign: assigned.slice(0, assigned.length - mirror.seats),
            };
          }
        }
        if (!(await writeSubscriptionState(em, mirror, clock.now()))) return { persisted: true };
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
