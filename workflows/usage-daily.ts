import { patched, proxyActivities } from '@temporalio/workflow';
import type { UsageActivities } from '../activities/usage.js';
import type { UsageDailyInput, UsageDailyReport } from './messages/usage.js';

const { ensureUsagePartitions, verifyUsageAggregates, raiseMissedUsageAlerts, raiseMissedBudgetAlerts } = proxyActivities<UsageActivities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '5 minutes',
  retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes', maximumAttempts: 10 },
});

/** Since this patch the daily run also fires the budget thresholds no prompt check fired (the API was down, a check failed). */
const budgetAlertsDaily = 'budget-alerts-daily';

/**
 * The daily usage processing, started by the `usage-daily` Schedule: partitions for the coming
 * months, the running aggregates of the periods that just closed checked against (and repaired
 * from) the raw events, then the quota and budget alerts no ingestion raised. Events never pass through here.
 */
export async function usageDailyProcessing(input: UsageDailyInput = {}): Promise<UsageDailyReport> {
  const partitionsCreated = await ensureUsagePartitions(input.monthsAhead ?? 2);
  const verified = await verifyUsageAggregates(input.lookbackDays ?? 2);
  const alertsRaised = await raiseMissedUsageAlerts();
  const budgetAlertsRaised = patched(budgetAlertsDaily) ? await raiseMissedBudgetAlerts() : undefined;
  return {
    partitionsCreated,
    periodsVerified: verified.periods,
    aggregatesChecked: verified.checked,
    aggregatesRepaired: verified.repaired,
    alertsRaised,
    ...(budgetAlertsRaised === undefined ? {} : { budgetAlertsRaised }),
  };
}
