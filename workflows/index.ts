export { billingCycle } from './billing-cycle.js';
export { paymentCollection } from './payment-collection.js';
export { subscriptionLifecycle } from './subscription-lifecycle.js';
export { usageDailyProcessing } from './usage-daily.js';
export { webhookDispatchSweep, webhookEventDelivery } from './webhook-delivery.js';
export { approvalRequest } from './approval.js';
export { disputeToRefund } from './dispute.js';
export { contractLifecycle } from './contract.js';
export { erpSync } from './erp-sync.js';
