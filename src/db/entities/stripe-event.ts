import { defineEntity, p } from '@mikro-orm/core';

/**
 * One Stripe event, by Stripe's event id: the row marks receipt (inserted once, however often the
 * event is delivered), `processedAt` marks that its effect was delivered (a workflow signaled, a
 * payment method stored). A row left with `processedAt` null is retried by the next delivery and
 * can be reconciled; `outcome` says what happened last.
 */
const StripeEventSchema = defineEntity({
  name: 'StripeEvent',
  tableName: 'stripe_events',
  properties: {
    id: p.string().length(255).primary(),
    type: p.string().length(100),
    payload: p.json<Record<string, unknown>>(),
    receivedAt: p.datetime(),
    processedAt: p.datetime().nullable(),
    outcome: p.string().length(500).nullable(),
  },
});

export class StripeEvent extends StripeEventSchema.class {}
StripeEventSchema.setClass(StripeEvent);
