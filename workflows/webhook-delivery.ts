import { ActivityFailure, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { WebhookActivities } from '../activities/webhooks.js';
import type { WebhookEventDeliveryInput } from './messages/webhook-delivery.js';

// Short database steps run as local activities: no round trip through the server per event.
const { resolveWebhookDeliveries, markWebhookDeliveryFailed } = proxyLocalActivities<WebhookActivities>({
  startToCloseTimeout: '1 minute',
  // A workflow started right after its event's transaction may run before that commit is
  // visible; these retries bridge the gap, and a run that still finds no event fails, so a
  // later start (the sweep's) is allowed again by the workflow id reuse policy.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
});

const { dispatchUndispatchedWebhookEvents } = proxyActivities<WebhookActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5 },
});

/**
 * `webhook-event:<eventId>`: delivers one outbox event to every endpoint it matches, each
 * delivery retried by Temporal with exponential backoff until it succeeds or the retry policy is
 * exhausted, then marked failed. The endpoints are fixed when the event is first resolved.
 */
export async function webhookEventDelivery(input: WebhookEventDeliveryInput): Promise<void> {
  const plan = await resolveWebhookDeliveries(input.eventId);
  const { deliverWebhook } = proxyActivities<WebhookActivities>({
    // The HTTP request itself times out after 10 s; the rest is the delivery log's write.
    startToCloseTimeout: '30 seconds',
    retry: {
      initialInterval: plan.retry.initialIntervalMs,
      backoffCoefficient: plan.retry.backoffCoefficient,
      maximumInterval: plan.retry.maximumIntervalMs,
      maximumAttempts: plan.retry.maximumAttempts,
    },
  });
  await Promise.all(
    plan.deliveryIds.map(async (deliveryId) => {
      try {
        await deliverWebhook(deliveryId);
      } catch (error) {
        if (!(error instanceof ActivityFailure)) throw error;
        await markWebhookDeliveryFailed(deliveryId, error.cause?.message ?? error.message);
      }
    }),
  );
}

/** Run every minute by the `webhook-dispatch-sweep` schedule: starts what a crash or an outage left undispatched. */
export async function webhookDispatchSweep(): Promise<number> {
  return dispatchUndispatchedWebhookEvents();
}
