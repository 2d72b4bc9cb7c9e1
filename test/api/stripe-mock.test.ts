import { describe, expect, it } from '@jest/globals';
import { createStripeClient } from '../../src/integrations/stripe.js';
import { sharedServer } from '../support/servers.js';

describe('the Stripe client against stripe-mock', () => {
  it('sends requests to STRIPE_API_URL and parses Stripe objects', async () => {
    const stripe = createStripeClient({ STRIPE_SECRET_KEY: 'sk_test_ledgerflow', STRIPE_API_URL: sharedServer('stripeApiUrl') });
    const customer = await stripe.customers.create(
      { email: 'ap@acme.test', metadata: { organizationId: 'org-1' } },
      { idempotencyKey: 'organization:org-1:customer' },
    );
    expect(customer.object).toBe('customer');
    expect(customer.email).toBe('ap@acme.test');
  });
});
