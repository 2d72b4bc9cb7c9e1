import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type Stripe from 'stripe';
import { createStripeClient, createStripeGateway, isTransientStripeError, StripeRequestRejectedError, type ChargeInvoiceRequest, type ChargeResult, type StripeGateway } from '../../src/integrations/stripe.js';
import type { chargeInvoiceProbe, ensureCustomerProbe } from '../support/payment-test-workflows.js';
import { startPaymentTestWorker, type PaymentTestWorker } from '../support/payment-test-worker.js';
import { sharedServer } from '../support/servers.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import {
  paymentIntentCreation,
  paymentIntentsDecline,
  paymentIntentsSucceed,
  startStripeFaultProxy,
  type Fault,
  type StripeFaultProxy,
} from '../support/stripe-fault-proxy.js';

/** Short, so `timeout_after_success` costs little; stripe-mock answers in a few milliseconds. */
const clientTimeoutMs = 500;

let proxy: StripeFaultProxy;
let stripe: Stripe;
let gateway: StripeGateway;
let stack: TestStack;
let testWorker: PaymentTestWorker;
/** Invoices whose PaymentIntents the issuer declines, with the decline (every other charge succeeds). */
const declines = new Map<string, { declineCode: string; adviceCode?: string }>();

beforeAll(async () => {
  proxy = await startStripeFaultProxy(sharedServer('stripeApiUrl'));
  proxy.rewrite(paymentIntentCreation, paymentIntentsSucceed);
  proxy.rewrite(paymentIntentCreation, (response, request) => {
    const decline = declines.get(request.params.get('metadata[invoiceId]') ?? '');
    return decline ? paymentIntentsDecline(decline.declineCode, decline.adviceCode)(response, request) : undefined;
  });
  stripe = createStripeClient({ STRIPE_SECRET_KEY: 'sk_test_ledgerflow', STRIPE_API_URL: proxy.url }, { timeoutMs: clientTimeoutMs });
  gateway = createStripeGateway(stripe);
  stack = await startTestStack();
  testWorker = await startPaymentTestWorker({ orm: stack.orm, stripe });
}, 120_000);
afterAll(async () => {
  await testWorker?.stop();
  await stack?.stop();
  await proxy?.stop();
});

const chargeOf = (invoiceId: string, attempt = 1, amount = 12_500): ChargeInvoiceRequest => ({
  invoiceId,
  attempt,
  amount,
  currency: 'USD',
  customerId: 'cus_ledgerflow_test',
  paymentMethodId: 'pm_card_visa',
});

/** What a Temporal activity retry does: call again with the same arguments until it does not fail transiently. */
async function chargeWithRetries(request: ChargeInvoiceRequest): Promise<{ result: ChargeResult; transientFailures: number }> {
  for (let transientFailures = 0; transientFailures < 20; transientFailures += 1) {
    try {
      return { result: await gateway.chargeInvoice(request), transientFailures };
    } catch (error) {
      if (!isTransientStripeError(error)) throw error;
    }
  }
  throw new Error(`invoice ${request.invoiceId} kept failing`);
}

/** Upstream PaymentIntent creations whose idempotency key names this invoice. */
const creationsOf = (invoiceId: string) => Object.fromEntries(Object.entries(proxy.paymentIntentCreations()).filter(([key]) => key.includes(invoiceId)));
const requestsOf = (invoiceId: string) => proxy.requests.filter((request) => request.idempotencyKey?.includes(invoiceId));

describe('charging an invoice through faults between Ledgerflow and Stripe', () => {
  const faults: [string, Fault[]][] = [
    ['500s before Stripe executes', ['500', '500']],
    ['429s', ['429', '429']],
    ['connection resets (the SDK retries a reset once itself, with the same key)', ['reset', 'reset', 'reset']],
    ['timeouts after Stripe succeeded', ['timeout_after_success', 'timeout_after_success']],
    ['500s after Stripe succeeded', ['500_after_success']],
    ['all of them in a row', ['500', 'reset', 'reset', '429', 'timeout_after_success', '500_after_success']],
  ];

  it.each(faults)('%s: retried with the same key, one PaymentIntent is created and the charge succeeds', async (_, plan) => {
    const invoiceId = randomUUID();
    proxy.injectFaults(plan);
    const { result, transientFailures } = await chargeWithRetries(chargeOf(invoiceId));
    expect(result).toEqual({ outcome: 'succeeded', paymentIntentId: expect.stringMatching(/^pi_/) });
    expect(transientFailures).toBeGreaterThan(0);
    const key = `invoice:${invoiceId}:charge:1`;
    expect(creationsOf(invoiceId)).toEqual({ [key]: 1 });
    const sent = requestsOf(invoiceId);
    expect(sent.map((request) => request.fault)).toEqual([...plan, 'pass']);
    expect(new Set(sent.map((request) => request.idempotencyKey))).toEqual(new Set([key]));
  });

  it('answers every retry after success with the first PaymentIntent', async () => {
    const invoiceId = randomUUID();
    const first = await gateway.chargeInvoice(chargeOf(invoiceId));
    const again = await gateway.chargeInvoice(chargeOf(invoiceId));
    expect(again).toEqual(first);
    expect(requestsOf(invoiceId).map((request) => request.replayed)).toEqual([false, true]);
    expect(creationsOf(invoiceId)).toEqual({ [`invoice:${invoiceId}:charge:1`]: 1 });
  });

  it('creates one PaymentIntent when the same attempt is sent concurrently: overlapping requests get a 409 (retried) or the replay', async () => {
    const invoiceId = randomUUID();
    const results = await Promise.all(Array.from({ length: 5 }, () => chargeWithRetries(chargeOf(invoiceId))));
    const intents = new Set(results.map(({ result }) => (result.outcome === 'succeeded' ? result.paymentIntentId : result.outcome)));
    expect(intents.size).toBe(1);
    expect(creationsOf(invoiceId)).toEqual({ [`invoice:${invoiceId}:charge:1`]: 1 });
    const others = requestsOf(invoiceId).filter((request) => !request.forwarded);
    expect(others.length).toBeGreaterThanOrEqual(4);
    for (const request of others) expect(request.replayed || request.status === 409).toBe(true);
  });

  it('charges a new attempt (a dunning retry) as a new PaymentIntent under its own key', async () => {
    const invoiceId = randomUUID();
    await chargeWithRetries(chargeOf(invoiceId, 1));
    await chargeWithRetries(chargeOf(invoiceId, 2));
    expect(creationsOf(invoiceId)).toEqual({ [`invoice:${invoiceId}:charge:1`]: 1, [`invoice:${invoiceId}:charge:2`]: 1 });
  });

  it('refuses, without retrying or charging, an attempt resent with another amount (Stripe: key reused with other parameters)', async () => {
    const invoiceId = randomUUID();
    await gateway.chargeInvoice(chargeOf(invoiceId, 1, 12_500));
    const error = await gateway.chargeInvoice(chargeOf(invoiceId, 1, 9_900)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StripeRequestRejectedError);
    expect(isTransientStripeError(error)).toBe(false);
    expect(creationsOf(invoiceId)).toEqual({ [`invoice:${invoiceId}:charge:1`]: 1 });
  });
});

describe('refunds', () => {
  it('refund: a retry after a lost response with the caller’s key is the same refund, executed once', async () => {
    const idempotencyKey = `dispute:${randomUUID()}:refund`;
    proxy.injectFaults(['500_after_success'], { method: 'POST', path: '/v1/refunds' });
    const lost = await gateway.refund({ paymentIntentId: 'pi_refunded', amount: 2_500, idempotencyKey }).catch((error: unknown) => error);
    expect(isTransientStripeError(lost)).toBe(true);
    const refundId = await gateway.refund({ paymentIntentId: 'pi_refunded', amount: 2_500, idempotencyKey });
    expect(refundId).toMatch(/^re_/);
    const sent = proxy.requests.filter((request) => request.idempotencyKey === idempotencyKey);
    expect(sent.map((request) => [request.forwarded, request.replayed])).toEqual([
      [true, false],
      [false, true],
    ]);
    expect(Object.fromEntries(sent[0]!.params)).toEqual({ payment_intent: 'pi_refunded', amount: '2500' });
  });
});

describe('card declines', () => {
  it.each([
    ['stolen_card', undefined, true],
    ['lost_card', undefined, true],
    ['insufficient_funds', undefined, false],
    ['card_velocity_exceeded', undefined, false],
    ['do_not_honor', undefined, false],
    ['do_not_honor', 'do_not_try_again', true],
    ['generic_decline', 'try_again_later', false],
  ])('%s (advice %s) is a declined result, hard = %s, and a retry replays it without a new PaymentIntent', async (declineCode, adviceCode, hard) => {
    const invoiceId = randomUUID();
    declines.set(invoiceId, { declineCode, ...(adviceCode ? { adviceCode } : {}) });
    const result = await gateway.chargeInvoice(chargeOf(invoiceId));
    expect(result).toEqual({ outcome: 'declined', hard, code: declineCode, message: 'Your card was declined.', paymentIntentId: expect.stringMatching(/^pi_/) });
    expect(await gateway.chargeInvoice(chargeOf(invoiceId))).toEqual(result);
    expect(creationsOf(invoiceId)).toEqual({ [`invoice:${invoiceId}:charge:1`]: 1 });
  });
});

describe('the payment activities on a real worker', () => {
  async function organization(payment: { customerId?: string; paymentMethodId?: string } = {}): Promise<string> {
    const id = randomUUID();
    await stack.sql(
      `insert into organizations (id, name, currency, tax_rate_percent, payment_terms, net_terms_days, stripe_customer_id, stripe_default_payment_method_id, created_at, updated_at)
       values ($1, 'Acme', 'USD', 0, 'charge_automatically', 0, $2, $3, now(), now())`,
      [id, payment.customerId ?? null, payment.paymentMethodId ?? null],
    );
    return id;
  }

  const options = () => ({ taskQueue: testWorker.taskQueue, workflowId: `probe-${randomUUID()}` });

  it('chargeInvoicePayment: Temporal retries the activity through every fault with the same key, and one PaymentIntent is created', async () => {
    const organizationId = await organization({ customerId: `cus_${randomUUID().slice(0, 8)}`, paymentMethodId: 'pm_card_visa' });
    const invoiceId = randomUUID();
    const plan: Fault[] = ['timeout_after_success', '500', 'reset', 'reset', '429', '500_after_success'];
    proxy.injectFaults(plan);
    const result = await stack.temporal.workflow.execute<typeof chargeInvoiceProbe>('chargeInvoiceProbe', {
      ...options(),
      args: [{ invoiceId, attempt: 3, amount: 4_200, currency: 'USD', organizationId }],
    });
    expect(result).toEqual({ outcome: 'succeeded', paymentIntentId: expect.stringMatching(/^pi_/) });
    const key = `invoice:${invoiceId}:charge:3`;
    expect(creationsOf(invoiceId)).toEqual({ [key]: 1 });
    const sent = requestsOf(invoiceId);
    expect(sent.map((request) => request.fault)).toEqual([...plan, 'pass']);
    expect(new Set(sent.map((request) => request.idempotencyKey))).toEqual(new Set([key]));
  });

  it('chargeInvoicePayment: without a payment method on file it is a soft decline and Stripe is not called', async () => {
    const organizationId = await organization({ customerId: `cus_${randomUUID().slice(0, 8)}` });
    const invoiceId = randomUUID();
    const result = await stack.temporal.workflow.execute<typeof chargeInvoiceProbe>('chargeInvoiceProbe', {
      ...options(),
      args: [{ invoiceId, attempt: 1, amount: 4_200, currency: 'USD', organizationId }],
    });
    expect(result).toEqual({ outcome: 'declined', hard: false, code: 'no_payment_method', message: expect.any(String) });
    expect(requestsOf(invoiceId)).toEqual([]);
  });

  it('ensureStripeCustomer: run three times at once (the first attempt timing out after Stripe created the customer), one customer is created and stored', async () => {
    const organizationId = await organization();
    const key = `organization:${organizationId}:customer`;
    proxy.injectFaults(['timeout_after_success'], { method: 'POST', path: '/v1/customers' });
    const ids = await stack.temporal.workflow.execute<typeof ensureCustomerProbe>('ensureCustomerProbe', { ...options(), args: [organizationId, 3] });
    const [stored] = await stack.sql<{ stripe_customer_id: string }>('select stripe_customer_id from organizations where id = $1', [organizationId]);
    expect(ids).toEqual([stored!.stripe_customer_id, stored!.stripe_customer_id, stored!.stripe_customer_id]);
    const sent = proxy.requests.filter((request) => request.idempotencyKey === key);
    expect(sent.filter((request) => request.forwarded)).toHaveLength(1);
    expect(sent[0]?.fault).toBe('timeout_after_success');
  });
});
