import { Decimal, decimalToString } from '../money/decimal.js';
import { DomainError } from '../errors.js';
import type { UsageAggregate } from '../subscription/subscription-lines.js';
import { usageWindows, type Subscription } from '../subscription/subscription.js';
import { aggregateUsage, type MetricDefinition, type UsageEvent } from './aggregation.js';

/**
 * The usage aggregates `computeInvoice` needs for one subscription on `targetDate`: every
 * closed usage window and metric, with the total (the value rated) and, when the usage spans
 * departments, the per-department values (the allocation weights). The total is aggregated
 * on its own because a unique_count split does not add up to it. Events without a department
 * count toward the subscription's department.
 */
export function usageForInvoice(
  subscription: Subscription,
  events: readonly UsageEvent[],
  metrics: readonly MetricDefinition[],
  targetDate: string,
): UsageAggregate[] {
  if (events.some((event) => event.subscriptionId !== subscription.id)) {
    throw new DomainError('INVALID_USAGE', `events must all belong to subscription ${subscription.id}`, {
      subscriptionId: subscription.id,
    });
  }
  const ownDepartment = subscription.departmentId ?? null;
  return usageWindows(subscription, targetDate).flatMap((window) => {
    const byDepartment = aggregateUsage(events, { metrics, ...window, groupBy: ['departmentId'] });
    return aggregateUsage(events, { metrics, ...window }).map((total): UsageAggregate => {
      const weights = new Map<string | null, Decimal>();
      for (const group of byDepartment) {
        if (group.metricCode !== total.metricCode) continue;
        const departmentId = group.group.departmentId ?? ownDepartment;
        weights.set(departmentId, (weights.get(departmentId) ?? new Decimal(0)).plus(group.value));
      }
      const departments = [...weights].map(([departmentId, units]) => ({ departmentId, units: decimalToString(units) }));
      const spansDepartments = departments.length > 1 || departments[0]?.departmentId !== ownDepartment;
      return {
        subscriptionId: subscription.id,
        metricCode: total.metricCode,
        periodStart: window.periodStart,
        periodEnd: window.periodEnd,
        units: total.value,
        events: total.eventCount,
        ...(spansDepartments ? { departments } : {}),
      };
    });
  });
}
