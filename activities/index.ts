import { createApprovalActivities } from './approvals.js';
import { createBillingActivities, type BillingActivityDeps } from './billing.js';
import { createCollectionActivities, type CollectionActivityDeps } from './collection.js';
import { createContractActivities } from './contracts.js';
import { createDisputeActivities } from './disputes.js';
import { createErpActivities, type ErpActivityDeps } from './erp.js';
import { createInvoicingActivities } from './invoicing.js';
import { createPaymentActivities, type PaymentActivityDeps } from './payments.js';
import { createSubscriptionActivities } from './subscriptions.js';
import { createUsageActivities } from './usage.js';
import { createWebhookActivities, type WebhookActivityDeps } from './webhooks.js';

export type ActivityDeps = BillingActivityDeps & WebhookActivityDeps & PaymentActivityDeps & CollectionActivityDeps & ErpActivityDeps;

/** Every activity the worker registers, built from its dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createBillingActivities(deps),
    ...createInvoicingActivities(deps),
    ...createSubscriptionActivities(deps),
    ...createUsageActivities(deps),
    ...createPaymentActivities(deps),
    ...createCollectionActivities(deps),
    ...createWebhookActivities(deps),
    ...createApprovalActivities(deps),
    ...createDisputeActivities(deps),
    ...createContractActivities(deps),
    ...createErpActivities(deps),
  };
}
