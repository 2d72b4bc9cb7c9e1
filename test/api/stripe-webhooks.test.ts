import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, Connection } from '@temporalio/client';
import { pino } from 'pino';
import { createApp } from '../../src/api/app.js';
import { systemClock } from '../../src/clock.js';
import { createStripeClient } from '../../src/integrations/stripe.js';
import type { RecordedSignal, stripeSignalRecorder } from '../support/payment-test-workflows.js';
import { startPaymentTestWorker, type PaymentTestWorker } from '../support/payment-test-worker.js';
import { sharedServer } from '../support/servers.js';
import { startTestStack, testAdminKey, testStripeWebhookSecret, type TestStack } from '../support/stack.js';
import { startStripeFaultProxy, type StripeFaultProxy } from '../support/stripe-fault-proxy.js';
import { deliverStripeEvent, stripeEventBody, stripeSignature, type StripeEventInput } from '../support/stripe-webhook-events.js';
import { insertFinalizedInvoice, journalOf } from './support/collection.js';
import { expectProblem } from './support/problems.js';
import { call, unique } from './support/world.js';

let proxy: StripeFaultProxy;
let stack: TestStack;
let testWorker: PaymentTestWorker;
/** What stripe-mock (stateless) cannot know: the invoice of a PaymentIntent, the method a SetupIntent saved. */
const intentOwners = new Map<string, { invoiceId: string; attempt: string }>();
const savedMethods = new Map<string, { paymentMethodId: string; customerId: string }>();

beforeAll(async () => {
  proxy = await startStripeFaultProxy(sharedServer('stripeApiUrl'));
  proxy.rewrite({ method: 'GET', path: /^\/v1\/payment_intents\/[^/]+$/ }, ({ status, body }, { path }) => {
    const owner = intentOwners.get(path.split('/').pop()!);
    return owner ? { status, body: { ...body, id: path.split('/').pop(), metadata: owner } } : undefined;
  });
  proxy.rewrite({ method: 'GET', path: /^\/v1\/setup_intents\/[^/]+$/ }, ({ status, body }, { path }) => {
    const saved = savedMethods.get(path.split('/').pop()!);
    return saved ? { status, body: { ...body, status: 'succeeded', payment_method: saved.paymentMethodId, customer: saved.customerId } } : undefined;
  });
  stack = await startTestStack({ stripeApiUrl: proxy.url });
  testWorker = await startPaymentTestWorker({ orm: stack.orm, stripe: createStripeClient({ STRIPE_SECRET_KEY: 'sk_test_ledgerflow', STRIPE_API_URL: proxy.url }) });
}, 120_000);
afterAll(async () => {
  await testWorker?.stop();
  await stack?.stop();
  await proxy?.stop();
});

/** A stand-in for `payment:<invoiceId>` that records the Stripe signals it gets. */
async function startRecorder(invoiceId: string) {
  return stack.temporal.workflow.start<typeof stripeSignalRecorder>('stripeSignalRecorder', { taskQueue: testWorker.taskQueue, workflowId: `payment:${invoiceId}` });
}
const recordedSignals = (invoiceId: string) => stack.temporal.workflow.getHandle(`payment:${invoiceId}`).query<RecordedSignal[]>('recordedSignals');

/** An organization with a Stripe customer, made through the setup endpoint as a customer would. */
async function organizationWithCustomer(): Promise<{ organizationId: string; customerId: string }> {
  const organization = await call<{ id: string }>(stack, 'POST', '/v1/organizations', { body: { name: unique('payer'), currency: 'USD' } });
  const session = await call<{ customerId: string }>(stack, 'POST', `/v1/organizations/${organization.id}/payment-methods/setup`, {
    body: { successUrl: 'https://app.example.test/saved', cancelUrl: 'https://app.example.test/billing' },
    expect: 200,
  });
  return { organizationId: organization.id, customerId: session.customerId };
}

interface Scenario {
  tag: string;
  invoiceId: string;
  /** An invoice without a payment workflow. */
  orphanInvoiceId: string;
  organizationId: string;
  customerId: string;
  events: StripeEventInput[];
}

/**
 * One invoice's payment story and one organization's card setup, as Stripe reports them: a
 * failed attempt, a successful retry, a partial refund, a dispute, two saved cards (the later one
 * must end up the default), a payment for an invoice without a workflow, and events to ignore.
 */
async function scenario(): Promise<Scenario> {
  const tag = randomUUID().slice(0, 8);
  const orphanInvoiceId = randomUUID();
  const { organizationId, customerId } = await organizationWithCustomer();
  // A real invoice: the card dispute is recorded against it.
  const invoiceId = await insertFinalizedInvoice(stack, { organizationId, subtotal: 12_500 });
  await startRecorder(invoiceId);
  // Fixed, so two scenarios compare; only the signature's timestamp has to be recent.
  const base = Date.UTC(2026, 10, 1) / 1000;
  const intent = (suffix: string) => `pi_${tag}_${suffix}`;
  intentOwners.set(intent('a2'), { invoiceId, attempt: '2' });
  savedMethods.set(`seti_${tag}_new`, { paymentMethodId: `pm_${tag}_new`, customerId });
  const paymentIntent = (suffix: string, owner: string | null, attempt: number, extra: Record<string, unknown>) => ({
    id: intent(suffix),
    object: 'payment_intent',
    amount: 12_500,
    currency: 'usd',
    customer: customerId,
    metadata: owner ? { invoiceId: owner, attempt: String(attempt) } : {},
    ...extra,
  });
  const cardDispute = { id: `dp_${tag}`, object: 'dispute', charge: `ch_${tag}_a2`, payment_intent: intent('a2'), amount: 10_000, currency: 'usd', reason: 'fraudulent', status: 'needs_response', metadata: {} };
  const events: StripeEventInput[] = [
    {
      id: `evt_${tag}_1`,
      type: 'payment_intent.payment_failed',
      created: base,
      object: paymentIntent('a1', invoiceId, 1, {
        status: 'requires_payment_method',
        amount_received: 0,
        last_payment_error: { type: 'card_error', code: 'card_declined', decline_code: 'insufficient_funds', message: 'Your card has insufficient funds.' },
      }),
    },
    { id: `evt_${tag}_2`, type: 'payment_intent.succeeded', created: base + 10, object: paymentIntent('a2', invoiceId, 2, { status: 'succeeded', amount_received: 12_500 }) },
    {
      id: `evt_${tag}_3`,
      type: 'charge.refunded',
      created: base + 20,
      // No invoice on the charge: the webhook reads it from the PaymentIntent at Stripe.
      object: { id: `ch_${tag}_a2`, object: 'charge', payment_intent: intent('a2'), amount: 12_500, amount_refunded: 2_500, refunded: false, metadata: {} },
    },
    { id: `evt_${tag}_4`, type: 'charge.dispute.created', created: base + 30, object: cardDispute },
    {
      id: `evt_${tag}_5`,
      type: 'setup_intent.succeeded',
      created: base + 40,
      object: { id: `seti_${tag}_old`, object: 'setup_intent', status: 'succeeded', customer: customerId, payment_method: `pm_${tag}_old`, metadata: {} },
    },
    {
      id: `evt_${tag}_6`,
      type: 'checkout.session.completed',
      created: base + 50,
      object: { id: `cs_${tag}`, object: 'checkout.session', mode: 'setup', status: 'complete', customer: customerId, setup_intent: `seti_${tag}_new`, metadata: { organizationId } },
    },
    { id: `evt_${tag}_7`, type: 'payment_intent.succeeded', created: base + 60, object: paymentIntent('o1', orphanInvoiceId, 1, { status: 'succeeded', amount_received: 12_500 }) },
    { id: `evt_${tag}_8`, type: 'customer.updated', created: base + 70, object: { id: customerId, object: 'customer' } },
    { id: `evt_${tag}_9`, type: 'payment_intent.succeeded', created: base + 80, object: paymentIntent('x1', null, 1, { status: 'succeeded', amount_received: 500 }) },
    // The card dispute goes under review, then Stripe decides it for the cardholder.
    { id: `evt_${tag}_10`, type: 'charge.dispute.updated', created: base + 90, object: { ...cardDispute, status: 'under_review' } },
    { id: `evt_${tag}_11`, type: 'charge.dispute.closed', created: base + 100, object: { ...cardDispute, status: 'lost' } },
  ];
  return { tag, invoiceId, orphanInvoiceId, organizationId, customerId, events };
}

/**
 * Everything the events changed (not the outcome notes, which tell the order they came in), with
 * the scenario's ids replaced by placeholders so two scenarios compare.
 */
async function endState(s: Scenario) {
  const rows = await stack.sql<{ id: string; type: string; processed: boolean }>(
    `select id, type, processed_at is not null as processed from stripe_events where id like $1 order by id`,
    [`evt_${s.tag}_%`],
  );
  const [organization] = await stack.sql<{ stripe_default_payment_method_id: string | null }>(
    'select stripe_default_payment_method_id from organizations where id = $1',
    [s.organizationId],
  );
  const signals = (await recordedSignals(s.invoiceId)).sort((a, b) => a.stripeEventId.localeCompare(b.stripeEventId));
  const disputes = await stack.sql('select source, stripe_dispute_id, status, amount, resolution_outcome, resolution_amount from disputes where invoice_id = $1', [s.invoiceId]);
  const journal = await stack.sql('select e.source_key, l.account, l.debit, l.credit from journal_entries e join journal_lines l on l.entry_id = e.id where e.invoice_id = $1 order by e.source_key, l.account', [s.invoiceId]);
  // Once each, whatever the order; an intermediate `dispute.updated` is sent only if its report arrives before the closing one.
  const disputeEvents = await stack.sql("select type from webhook_events where organization_id = $1 and type in ('dispute.opened', 'dispute.resolved', 'dispute.rejected') order by type", [s.organizationId]);
  const state = JSON.stringify({ rows, defaultPaymentMethod: organization?.stripe_default_payment_method_id, signals, disputes, journal, disputeEvents });
  return JSON.parse(
    state
      .replaceAll(s.tag, 'TAG')
      .replaceAll(s.invoiceId, 'INVOICE')
      .replaceAll(s.orphanInvoiceId, 'ORPHAN_INVOICE')
      .replaceAll(s.organizationId, 'ORGANIZATION')
      .replaceAll(s.customerId, 'CUSTOMER'),
  ) as unknown;
}

async function deliver(event: StripeEventInput): Promise<{ received: boolean; duplicate: boolean; outcome: string | null }> {
  const response = await deliverStripeEvent(stack, stripeEventBody(event));
  expect(response.status).toBe(200);
  return (await response.json()) as { received: boolean; duplicate: boolean; outcome: string | null };
}

/** A deterministic shuffle (a fixed seed), so a failure replays the same order. */
function shuffled<T>(items: T[], seed: number): T[] {
  const result = [...items];
  let state = seed;
  for (let index = result.length - 1; index > 0; index -= 1) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    const other = state % (index + 1);
    [result[index], result[other]] = [result[other]!, result[index]!];
  }
  return result;
}

describe('POST /v1/webhooks/stripe: deliveries', () => {
  let inOrder: unknown;

  it('delivered once, in order: each event is recorded once, signals its payment workflow once, and the later card becomes the default', async () => {
    const s = await scenario();
    const receipts = [];
    for (const event of s.events) receipts.push(await deliver(event));
    expect(receipts.map((receipt) => receipt.duplicate)).toEqual(s.events.map(() => false));
    inOrder = await endState(s);

    const signals = await recordedSignals(s.invoiceId);
    expect(signals.map((signal) => [signal.signal, signal.stripeEventId])).toEqual([
      ['paymentFailed', `evt_${s.tag}_1`],
      ['paymentSucceeded', `evt_${s.tag}_2`],
      ['chargeRefunded', `evt_${s.tag}_3`],
      ['disputeOpened', `evt_${s.tag}_4`],
    ]);
    const occurredAt = (index: number) => new Date(s.events[index]!.created * 1000).toISOString();
    expect(signals.map((signal) => signal.payload)).toEqual([
      { stripeEventId: `evt_${s.tag}_1`, paymentIntentId: `pi_${s.tag}_a1`, attempt: 1, amount: 12_500, failureCode: 'insufficient_funds', hard: false, occurredAt: occurredAt(0) },
      { stripeEventId: `evt_${s.tag}_2`, paymentIntentId: `pi_${s.tag}_a2`, attempt: 2, amount: 12_500, currency: 'USD', occurredAt: occurredAt(1) },
      { stripeEventId: `evt_${s.tag}_3`, paymentIntentId: `pi_${s.tag}_a2`, amountRefunded: 2_500, occurredAt: occurredAt(2) },
      { stripeEventId: `evt_${s.tag}_4`, paymentIntentId: `pi_${s.tag}_a2`, disputeId: `dp_${s.tag}`, amount: 10_000, reason: 'fraudulent', occurredAt: occurredAt(3) },
    ]);

    const rows = await stack.sql<{ id: string; processed: boolean; outcome: string }>(
      `select id, processed_at is not null as processed, outcome from stripe_events where id like $1 order by id`,
      [`evt_${s.tag}_%`],
    );
    expect(rows).toHaveLength(11);
    // The card dispute is on record as Stripe last reported it: lost, its loss posted once.
    expect(await stack.sql('select source, status, resolution_outcome, resolution_amount from disputes where invoice_id = $1', [s.invoiceId])).toEqual([
      { source: 'stripe', status: 'resolved', resolution_outcome: 'lost', resolution_amount: '10000' },
    ]);
    const journal = await journalOf(stack, { invoiceId: s.invoiceId });
    expect(journal.unbalancedEntries).toEqual([]);
    expect(journal.byAccount.dispute_losses).toBe(10_000);
    expect(rows.filter((row) => !row.processed)).toEqual([
      { id: `evt_${s.tag}_7`, processed: false, outcome: `workflow payment:${s.orphanInvoiceId} not found` },
    ]);
    expect(rows.find((row) => row.id === `evt_${s.tag}_8`)?.outcome).toBe('ignored: event type customer.updated is not handled');
    expect(rows.find((row) => row.id === `evt_${s.tag}_9`)?.outcome).toMatch(/^ignored: PaymentIntent pi_\w+ was not created by Ledgerflow/);

    const [organization] = await stack.sql<{ stripe_default_payment_method_id: string }>('select stripe_default_payment_method_id from organizations where id = $1', [s.organizationId]);
    expect(organization?.stripe_default_payment_method_id).toBe(`pm_${s.tag}_new`);
    // Stripe was told too, once per event that set a default.
    const defaults = proxy.requests.filter((request) => request.method === 'POST' && request.path === `/v1/customers/${s.customerId}`);
    expect(defaults.map((request) => request.params.get('invoice_settings[default_payment_method]'))).toEqual([`pm_${s.tag}_old`, `pm_${s.tag}_new`]);
    expect(defaults.map((request) => request.idempotencyKey)).toEqual([`stripe-event:evt_${s.tag}_5:default-payment-method`, `stripe-event:evt_${s.tag}_6:default-payment-method`]);
  });

  it('duplicated, shuffled and sent concurrently, the same events end in the same state as one in-order delivery', async () => {
    expect(inOrder).toBeDefined();
    const s = await scenario();
    const deliveries = shuffled([...s.events, ...s.events, ...s.events], 7);
    const receipts = await Promise.all(deliveries.map(deliver));
    expect(receipts.every((receipt) => receipt.received)).toBe(true);
    expect(await endState(s)).toEqual(inOrder);
    // Every event but the orphan was processed by exactly one delivery; the others were duplicates.
    const processedOnce = s.events.filter((event) => event.id !== `evt_${s.tag}_7`);
    for (const event of processedOnce) {
      const forEvent = receipts.filter((_, index) => deliveries[index]!.id === event.id);
      expect({ event: event.id, firsts: forEvent.filter((receipt) => !receipt.duplicate).length }).toEqual({ event: event.id, firsts: 1 });
    }
  });

  it('a later delivery of an event whose workflow did not exist yet signals it once the workflow runs', async () => {
    const s = await scenario();
    const orphan = s.events.find((event) => event.id === `evt_${s.tag}_7`)!;
    expect(await deliver(orphan)).toEqual({ received: true, duplicate: false, outcome: `workflow payment:${s.orphanInvoiceId} not found` });
    await startRecorder(s.orphanInvoiceId);
    expect(await deliver(orphan)).toEqual({ received: true, duplicate: false, outcome: `signaled paymentSucceeded to payment:${s.orphanInvoiceId}` });
    expect(await deliver(orphan)).toEqual({ received: true, duplicate: true, outcome: `signaled paymentSucceeded to payment:${s.orphanInvoiceId}` });
    expect((await recordedSignals(s.orphanInvoiceId)).map((signal) => signal.stripeEventId)).toEqual([orphan.id]);
  });

  it('an event a card setup reports earlier than the current default does not replace it', async () => {
    const s = await scenario();
    const [older, newer] = [s.events[4]!, s.events[5]!];
    await deliver(newer);
    expect((await deliver(older)).outcome).toBe(`ignored: organization ${s.organizationId} already has a payment method reported later than pm_${s.tag}_old`);
    const [organization] = await stack.sql<{ stripe_default_payment_method_id: string }>('select stripe_default_payment_method_id from organizations where id = $1', [s.organizationId]);
    expect(organization?.stripe_default_payment_method_id).toBe(`pm_${s.tag}_new`);
  });
});

describe('POST /v1/webhooks/stripe: refusals', () => {
  const event = (): StripeEventInput => ({
    id: `evt_${unique('refused')}`,
    type: 'payment_intent.succeeded',
    created: Math.floor(Date.now() / 1000),
    object: { id: 'pi_refused', object: 'payment_intent', amount: 100, amount_received: 100, currency: 'usd', metadata: { invoiceId: randomUUID(), attempt: '1' } },
  });
  const rowsOf = (id: string) => stack.sql('select id from stripe_events where id = $1', [id]);

  it.each([
    ['signed with another secret', (body: string) => ({ body, signature: stripeSignature(body, { secret: 'whsec_not_the_endpoint_secret' }) })],
    ['with a timestamp older than the tolerance (a replay)', (body: string) => ({ body, signature: stripeSignature(body, { timestamp: Math.floor(Date.now() / 1000) - 301 }) })],
    ['with a body changed after signing', (body: string) => ({ body: body.replace('"amount":100', '"amount":1'), signature: stripeSignature(body) })],
    ['without a signature', (body: string) => ({ body, signature: '' })],
    ['with a garbled signature header', (body: string) => ({ body, signature: 't=abc,v1=zz' })],
  ])('answers 400 stripe_signature_invalid to an event %s, and records nothing', async (_, tamper) => {
    const input = event();
    const { body, signature } = tamper(stripeEventBody(input));
    const response = await fetch(`${stack.baseUrl}/v1/webhooks/stripe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(signature ? { 'stripe-signature': signature } : {}) },
      body,
    });
    await expectProblem(response, 400, 'stripe_signature_invalid');
    expect(await rowsOf(input.id)).toEqual([]);
  });

  it('needs no bearer token, and ignores one', async () => {
    const input = event();
    const body = stripeEventBody({ ...input, type: 'customer.created' });
    const response = await fetch(`${stack.baseUrl}/v1/webhooks/stripe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body), authorization: 'Bearer lf_sk_not_a_key' },
      body,
    });
    expect(response.status).toBe(200);
    expect(await rowsOf(input.id)).toHaveLength(1);
  });

  it('answers 503 stripe_webhooks_not_configured when STRIPE_WEBHOOK_SECRET is not set', async () => {
    const app = createApp({
      config: { TEMPORAL_TASK_QUEUE: stack.taskQueue, LEDGERFLOW_ADMIN_KEY: testAdminKey, RATE_LIMIT_PER_MINUTE: 1_000 },
      orm: stack.orm,
      temporal: stack.temporal,
      stripe: createStripeClient({ STRIPE_SECRET_KEY: 'sk_test_ledgerflow', STRIPE_API_URL: proxy.url }),
      clock: systemClock,
      logger: pino({ level: 'silent' }),
      readiness: {},
    });
    const input = event();
    const body = stripeEventBody(input);
    const response = await app.request('/v1/webhooks/stripe', { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body) }, body });
    await expectProblem(response, 503, 'stripe_webhooks_not_configured');
    expect(await rowsOf(input.id)).toEqual([]);
  });

  it('answers 503 while Temporal is unreachable, keeps the event unprocessed, and processes it on the next delivery', async () => {
    const invoiceId = randomUUID();
    await startRecorder(invoiceId);
    const unreachable = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: '500ms' }), namespace: 'default' });
    const app = createApp({
      config: { TEMPORAL_TASK_QUEUE: stack.taskQueue, RATE_LIMIT_PER_MINUTE: 1_000, STRIPE_WEBHOOK_SECRET: testStripeWebhookSecret },
      orm: stack.orm,
      temporal: unreachable,
      stripe: createStripeClient({ STRIPE_SECRET_KEY: 'sk_test_ledgerflow', STRIPE_API_URL: proxy.url }),
      clock: systemClock,
      logger: pino({ level: 'silent' }),
      readiness: {},
    });
    const base = event();
    const input = { ...base, object: { ...base.object, metadata: { invoiceId, attempt: '1' } } };
    const body = stripeEventBody(input);
    const response = await app.request('/v1/webhooks/stripe', { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body) }, body });
    await expectProblem(response, 503, 'temporal_unavailable');
    expect(await stack.sql('select processed_at from stripe_events where id = $1', [input.id])).toEqual([{ processed_at: null }]);
    expect(await recordedSignals(invoiceId)).toEqual([]);

    expect(await deliver(input)).toMatchObject({ duplicate: false, outcome: `signaled paymentSucceeded to payment:${invoiceId}` });
    expect((await recordedSignals(invoiceId)).map((signal) => signal.stripeEventId)).toEqual([input.id]);
  });
});

describe('POST /v1/organizations/{id}/payment-methods/setup', () => {
  it('creates the Stripe customer once and returns a Checkout Session URL in setup mode from Stripe', async () => {
    const organization = await call<{ id: string }>(stack, 'POST', '/v1/organizations', { body: { name: unique('setup'), currency: 'USD', billingEmail: 'ap@setup.test' } });
    const body = { successUrl: 'https://app.example.test/saved?session={CHECKOUT_SESSION_ID}', cancelUrl: 'https://app.example.test/billing' };
    const first = await call<{ sessionId: string; url: string; organizationId: string; customerId: string }>(stack, 'POST', `/v1/organizations/${organization.id}/payment-methods/setup`, { body, expect: 200 });
    expect(first).toEqual({ sessionId: expect.stringMatching(/^cs_/), url: expect.stringMatching(/^https:\/\/checkout\.stripe\.com\//), organizationId: organization.id, customerId: expect.stringMatching(/^cus_/) });
    const second = await call<{ customerId: string }>(stack, 'POST', `/v1/organizations/${organization.id}/payment-methods/setup`, { body, expect: 200 });
    expect(second.customerId).toBe(first.customerId);

    const [row] = await stack.sql<{ stripe_customer_id: string }>('select stripe_customer_id from organizations where id = $1', [organization.id]);
    expect(row?.stripe_customer_id).toBe(first.customerId);
    const customers = proxy.requests.filter((request) => request.path === '/v1/customers' && request.idempotencyKey === `organization:${organization.id}:customer`);
    expect(customers).toHaveLength(1);
    expect(Object.fromEntries(customers[0]!.params)).toMatchObject({ email: 'ap@setup.test', 'metadata[organizationId]': organization.id });
    const sessions = proxy.requests.filter((request) => request.path === '/v1/checkout/sessions' && request.params.get('metadata[organizationId]') === organization.id);
    expect(sessions).toHaveLength(2);
    expect(Object.fromEntries(sessions[0]!.params)).toMatchObject({
      mode: 'setup',
      customer: first.customerId,
      currency: 'usd',
      success_url: body.successUrl,
      cancel_url: body.cancelUrl,
      'setup_intent_data[metadata][organizationId]': organization.id,
    });
  });

  it('with the same Idempotency-Key, replays the first session without asking Stripe again', async () => {
    const organization = await call<{ id: string }>(stack, 'POST', `/v1/organizations`, { body: { name: unique('setup'), currency: 'USD' } });
    const send = () =>
      stack.request('POST', `/v1/organizations/${organization.id}/payment-methods/setup`, {
        body: { successUrl: 'https://app.example.test/saved', cancelUrl: 'https://app.example.test/billing' },
        headers: { 'idempotency-key': 'setup-once' },
      });
    const first = await send();
    const replay = await send();
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await replay.json()).toEqual(await first.json());
    const sessions = proxy.requests.filter((request) => request.path === '/v1/checkout/sessions' && request.params.get('metadata[organizationId]') === organization.id);
    expect(sessions.map((request) => request.idempotencyKey)).toEqual([expect.stringMatching(new RegExp(`^organization:${organization.id}:setup-session:key:[0-9a-f]{40}$`))]);
  });

  it('answers 503 stripe_unavailable when Stripe fails, and stores and audits nothing', async () => {
    const organization = await call<{ id: string }>(stack, 'POST', `/v1/organizations`, { body: { name: unique('setup'), currency: 'USD' } });
    proxy.injectFaults(['500'], { method: 'POST', path: '/v1/checkout/sessions' });
    const response = await stack.request('POST', `/v1/organizations/${organization.id}/payment-methods/setup`, {
      body: { successUrl: 'https://app.example.test/saved', cancelUrl: 'https://app.example.test/billing' },
    });
    await expectProblem(response, 503, 'stripe_unavailable');
    expect(await stack.sql('select stripe_customer_id from organizations where id = $1', [organization.id])).toEqual([{ stripe_customer_id: null }]);
    expect(await stack.sql("select id from audit_events where action = 'payment_method.setup_started' and organization_id = $1", [organization.id])).toEqual([]);
  });
});
