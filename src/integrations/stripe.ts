import Stripe from 'stripe';
import type { Config } from '../config.js';

/**
 * The Stripe client. STRIPE_API_URL points it at stripe-mock in development and tests; unset,
 * it talks to Stripe itself. Retries are left to Temporal, which retries the whole activity with
 * the same idempotency key.
 */
export function createStripeClient(config: Pick<Config, 'STRIPE_SECRET_KEY' | 'STRIPE_API_URL'>): Stripe {
  const endpoint = config.STRIPE_API_URL ? new URL(config.STRIPE_API_URL) : undefined;
  return new Stripe(config.STRIPE_SECRET_KEY, {
    maxNetworkRetries: 0,
    telemetry: false,
    timeout: 20_000,
    ...(endpoint
      ? {
          host: endpoint.hostname,
          port: Number(endpoint.port || (endpoint.protocol === 'https:' ? 443 : 80)),
          protocol: endpoint.protocol === 'https:' ? 'https' : 'http',
        }
      : {}),
  });
}
