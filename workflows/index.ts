export { billingCycle, type BillingCycleInput } from './billing-cycle.js';
export { paymentCollection } from './payment-collection.js';
export { subscriptionLifecycle } from './subscription-lifecycle.js';
export { usageDailyProcessing, type UsageDailyInput, type UsageDailyReport } from './usage-daily.js';
export { webhookDispatchSweep, webhookEventDelivery, type WebhookEventDeliveryInput } from './webhook-delivery.js';
