export interface WebhookEventDeliveryInput {
  eventId: string;
}

/** `webhook-event:<eventId>` (workflows/webhook-delivery.ts), as the outbox starts it by name. */
export type WebhookEventDeliveryWorkflow = (input: WebhookEventDeliveryInput) => Promise<void>;

/** What a delivery workflow's first activity decided: where the event goes and how hard to retry. */
export interface WebhookDeliveryPlan {
  deliveryIds: string[];
  retry: { initialIntervalMs: number; backoffCoefficient: number; maximumIntervalMs: number; maximumAttempts: number };
}
