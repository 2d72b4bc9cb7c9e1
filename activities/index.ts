import { createBillingActivities, type BillingActivityDeps } from './billing.js';
import { createSubscriptionActivities } from './subscriptions.js';

export type ActivityDeps = BillingActivityDeps;

/** Every activity the worker registers, built from its dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createBillingActivities(deps),
    ...createSubscriptionActivities(deps),
  };
}
