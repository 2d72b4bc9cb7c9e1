import { condition, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { BillingActivities } from '../activities/billing.js';
import { billingStateQuery, type BillingCycleState } from './messages.js';

export interface BillingCycleInput {
  organizationId: string;
}

const { recordBillingCycleStarted } = proxyActivities<BillingActivities>({
  startToCloseTimeout: '30 seconds',
  // The API starts this workflow just before its transaction commits, so the first attempt
  // may not see the organization yet; retries bridge that gap and stop if it never appears.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 15 },
});

/**
 * One per billing account (`billing:<accountId>`). It records that billing has started and
 * then waits; the cycle itself (close period, rate, invoice, collect) is built on this loop.
 */
export async function billingCycle(input: BillingCycleInput): Promise<void> {
  const state: BillingCycleState = {
    organizationId: input.organizationId,
    startedAt: workflowInfo().startTime.toISOString(),
  };
  setHandler(billingStateQuery, () => state);
  await recordBillingCycleStarted(input.organizationId);
  await condition(() => false);
}
