export { billingCycle, type BillingCycleInput } from './billing-cycle.js';
