import { Context } from '@temporalio/activity';
import type { Clock } from '../src/clock.js';
import { MS_PER_DAY, formatDayOf, includedQuantity, termsForPeriod, thresholdsToRaise } from '../src/domain/index.js';
import { evaluateBudgets } from '../src/budgets/tracking.js';
import { budgetsOf, organizationsWithBudgets } from '../src/db/repositories/budgets.js';
import type { Orm } from '../src/db/orm.js';
import { raiseThresholdAlerts } from '../src/db/repositories/usage-alerts.js';
import { currentPeriodTotals, ensureUsagePartitions, periodsEndedBetween, verifyPeriodAggregates } from '../src/db/repositories/usage-maintenance.js';
import { chargesOfPlans, meteredSubscriptions, metricsById, periodKey, recordedThresholds, type ThresholdCrossing } from '../src/db/repositories/usage.js';
import type { Logger } from '../src/logger.js';
import { dispatchWebhookEvents } from '../src/webhooks/outbox.js';
import { withDomainFailures } from './domain-failures.js';

export interface UsageActivityDeps {
  orm: Orm;
  clock: Clock;
  logger: Logger;
}

/** The daily usage processing (workflows/usage-daily.ts): each step is idempotent, so a retry redoes nothing twice. */
export function createUsageActivities({ orm, clock, logger }: UsageActivityDeps) {
  return withDomainFailures({
    /** Partitions for this month and the next `monthsAhead`, and for any month stranded in the default partition. */
    async ensureUsagePartitions(monthsAhead: number): Promise<string[]> {
      const created = await ensureUsagePartitions(orm.em.fork(), clock.now(), monthsAhead);
      if (created.length) logger.info({ created }, 'usage event partitions created');
      return created;
    },

    /** Re-derives from the raw events the aggregates of every period that ended in the last `lookbackDays`. */
    async verifyUsageAggregates(lookbackDays: number): Promise<{ periods: number; checked: number; repaired: number }> {
      const now = clock.now();
      const periods = await periodsEndedBetween(orm.em.fork(), new Date(now.getTime() - lookbackDays * MS_PER_DAY), now);
      let checked = 0;
      let repaired = 0;
      for (const key of periods) {
        const result = await verifyPeriodAggregates(orm.em.fork(), key, clock.now());
        checked += result.checked;
        repaired += result.repaired;
        if (result.repaired) logger.warn({ ...key, repaired: result.repaired }, 'usage aggregates repaired from the raw events');
        Context.current().heartbeat(key);
      }
      return { periods: periods.length, checked, repaired };
    },

    /**
     * Raises the quota alerts of running periods that no event raised: usage reached while the API
     * was down or before a crossing could be recorded, or a per-seat quota cut by fewer seats.
     */
    async raiseMissedUsageAlerts(): Promise<number> {
      const now = clock.now();
      const raised = await orm.em.fork().transactional(async (em) => {
        const totals = await currentPeriodTotals(em, now);
        const subscriptionIds = [...new Set(totals.map((total) => total.subscriptionId))];
        const subscriptions = new Map((await meteredSubscriptions(em, { subscriptionIds }, { lock: false })).map((subscription) => [subscription.id, subscription]));
        const charges = await chargesOfPlans(em, [...new Set([...subscriptions.values()].flatMap((subscription) => subscription.phases.map((phase) => phase.planId)))]);
        const recorded = await recordedThresholds(em, subscriptionIds);
        const crossings: ThresholdCrossing[] = totals.flatMap((total) => {
          const subscription = subscriptions.get(total.subscriptionId)!;
          const terms = termsForPeriod(subscription.phases, total.periodEnd.slice(0, 10));
          const charge = charges.get(terms.planId)?.find((candidate) => candidate.metricId === total.metricId);
          if (!charge) return [];
          const quota = includedQuantity(charge, terms.seats);
          const already = recorded.get(periodKey(total.subscriptionId, total.metricId, total.periodStart)) ?? [];
          return thresholdsToRaise(total.quantity, quota, already).map((threshold) => ({ ...total, organizationId: subscription.organizationId, threshold, quota }));
        });
        const metrics = await metricsById(em, [...new Set(crossings.map((crossing) => crossing.metricId))]);
        return (await raiseThresholdAlerts(em, crossings, new Map(metrics.map((metric) => [metric.id, metric.code])), now)).raised;
      });
      const { client, info } = Context.current();
      await dispatchWebhookEvents(
        { temporal: client, taskQueue: info.taskQueue, orm, logger },
        raised.map((crossing) => crossing.webhookEventId),
      );
      if (raised.length) logger.info({ alerts: raised.length }, 'missed usage alerts raised');
      return raised.length;
    },

    /** Checks every budget (the prompt checks after usage can be lost to a restart): each threshold still fires once per period. */
    async raiseMissedBudgetAlerts(): Promise<number> {
      const now = clock.now();
      const today = formatDayOf(now.getTime());
      const eventIds: string[] = [];
      for (const organizationId of await organizationsWithBudgets(orm.em.fork())) {
        Context.current().heartbeat(organizationId);
        const em = orm.em.fork();
        const budgets = await budgetsOf(em, organizationId);
        eventIds.push(...(await em.transactional((tx) => evaluateBudgets(tx, budgets, today, now))));
      }
      const { client, info } = Context.current();
      await dispatchWebhookEvents({ temporal: client, taskQueue: info.taskQueue, orm, logger }, eventIds);
      if (eventIds.length) logger.info({ alerts: eventIds.length }, 'missed budget alerts raised');
      return eventIds.length;
    },
  });
}

export type UsageActivities = ReturnType<typeof createUsageActivities>;
