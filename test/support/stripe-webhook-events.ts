import Stripe from 'stripe';
import { testStripeWebhookSecret, type TestStack } from './stack.js';

const signer = new Stripe('sk_test_ledgerflow');

export interface StripeEventInput {
  id: string;
  type: string;
  /** Seconds since the epoch, as Stripe sends `created`. */
  created: number;
  object: Record<string, unknown>;
}

/** The JSON body Stripe would POST for the event. */
export function stripeEventBody(event: StripeEventInput): string {
  return JSON.stringify({
    id: event.id,
    object: 'event',
    api_version: '2026-10-28.endive',
    created: event.created,
    data: { object: event.object },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type: event.type,
  });
}

/** A `Stripe-Signature` header for the body, signed as Stripe signs (optionally with another secret or time). */
export function stripeSignature(body: string, options: { secret?: string; timestamp?: number } = {}): string {
  return signer.webhooks.generateTestHeaderString({
    payload: body,
    secret: options.secret ?? testStripeWebhookSecret,
    ...(options.timestamp === undefined ? {} : { timestamp: options.timestamp }),
  });
}

/** Delivers a signed event to the stack's webhook endpoint, as Stripe does (no bearer token). */
export function deliverStripeEvent(stack: TestStack, body: string, signature = stripeSignature(body)): Promise<Response> {
  return fetch(`${stack.baseUrl}/v1/webhooks/stripe`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': signature }, body });
}
