import { defineQuery } from '@temporalio/workflow';

/** What `billing:<accountId>` reports about itself. */
export interface BillingCycleState {
  organizationId: string;
  startedAt: string;
}

export const billingStateQuery = defineQuery<BillingCycleState>('state');
