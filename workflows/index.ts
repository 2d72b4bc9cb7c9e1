export { billingCycle, type BillingCycleInput } from './billing-cycle.js';
export { subscriptionLifecycle } from './subscription-lifecycle.js';
