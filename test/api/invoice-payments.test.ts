import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { creditBalanceOf } from '../../src/db/repositories/journal.js';
import { workflowIds } from '../../src/temporal/workflow-ids.js';
import { type PaymentCollectionInput, type PaymentCollectionState, paymentStateQuery } from '../../workflows/messages/payment.js';
import { cancelForNonPaymentSignal, pastDueSignal } from '../../workflows/messages/subscription.js';
import type { paymentCollection } from '../../workflows/payment-collection.js';
import { sharedServer } from '../support/servers.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { paymentIntentCreation, paymentIntentsDecline, paymentIntentsSucceed, startStripeFaultProxy, type StripeFaultProxy } from '../support/stripe-fault-proxy.js';
import { eventually } from '../workflow/support/subscriptions.js';
import { insertFinalizedInvoice, journalOf, payInFull } from './support/collection.js';
import { expectProblem } from './support/problems.js';
import { bearer, call, signJwt, unique } from './support/world.js';

let stack: TestStack;
let proxy: StripeFaultProxy;
let planCode: string;
let applicationSlug: string;
/** Invoices whose PaymentIntents the issuer declines (every other charge succeeds). */
const declinedInvoices = new Set<string>();
const startedWorkflows: string[] = [];

beforeAll(async () => {
  proxy = await startStripeFaultProxy(sharedServer('stripeApiUrl'));
  proxy.rewrite(paymentIntentCreation, paymentIntentsSucceed);
  proxy.rewrite(paymentIntentCreation, (response, request) =>
    declinedInvoices.has(request.params.get('metadata[invoiceId]') ?? '') ? paymentIntentsDecline('insufficient_funds')(response, request) : undefined,
  );
  stack = await startTestStack({ stripeApiUrl: proxy.url });
  applicationSlug = unique('app');
  planCode = unique('plan');
  await call(stack, 'POST', '/v1/applications', { body: { slug: applicationSlug, name: 'Collections' } });
  await call(stack, 'POST', '/v1/plans', { body: { code: planCode, name: 'Team', applicationSlug, currency: 'USD', interval: 'month', basePrice: 10_000 } });
}, 120_000);

afterAll(async () => {
  for (const workflowId of startedWorkflows) await stack.temporal.workflow.getHandle(workflowId).terminate('test over').catch(() => undefined);
  await stack?.stop();
  await proxy?.stop();
});

/**
 * A billing account written directly, so that no `billing:<id>` workflow bills it on its own:
 * here invoices come only from the fixtures, and collection only from the workflows these tests start.
 */
async function createAccount(options: { stripe?: boolean } = {}): Promise<string> {
  const id = randomUUID();
  await stack.sql(
    `insert into organizations (id, name, currency, tax_rate_percent, payment_terms, net_terms_days, stripe_customer_id, stripe_default_payment_method_id, created_at, updated_at)
     values ($1, $2, 'USD', 0, 'charge_automatically', 0, $3, $4, now(), now())`,
    [id, unique('account'), options.stripe ? `cus_${id.slice(0, 8)}` : null, options.stripe ? 'pm_card_visa' : null],
  );
  return id;
}

async function subscribe(organizationId: string): Promise<string> {
  return (await call<{ id: string }>(stack, 'POST', '/v1/subscriptions', { body: { organizationId, planCode } })).id;
}

const subscriptionStatus = async (id: string) => (await call<{ status: string; pastDueSince: string | null }>(stack, 'GET', `/v1/subscriptions/${id}`)).status;

async function invoiceRow(id: string) {
  const [row] = await stack.sql<{ status: string; amount_due: string; amount_paid: string; amount_credited: string; paid_at: Date | null; voided_at: Date | null }>(
    'select status, amount_due, amount_paid, amount_credited, paid_at, voided_at from invoices where id = $1',
    [id],
  );
  return { status: row!.status, amountDue: Number(row!.amount_due), amountPaid: Number(row!.amount_paid), amountCredited: Number(row!.amount_credited), paidAt: row!.paid_at, voidedAt: row!.voided_at };
}

const eventsOf = (invoiceId: string) =>
  stack.sql<{ type: string; dedupe_key: string }>(`select type, dedupe_key from webhook_events where payload ->> 'id' = $1 or payload ->> 'invoiceId' = $1 order by created_at, type`, [invoiceId]);

const creditBalance = (organizationId: string) => creditBalanceOf(stack.orm.em.fork(), organizationId);

/** Every entry balanced, and the whole journal of the account too. */
async function expectBalancedJournal(organizationId: string) {
  const journal = await journalOf(stack, { organizationId });
  expect(journal.unbalancedEntries).toEqual([]);
  expect(journal.debits).toBe(journal.credits);
  return journal;
}

async function startCollection(invoiceId: string, dunning?: PaymentCollectionInput['dunning']) {
  const workflowId = workflowIds.payment(invoiceId);
  startedWorkflows.push(workflowId);
  return stack.temporal.workflow.start<typeof paymentCollection>('paymentCollection', {
    workflowId,
    taskQueue: stack.taskQueue,
    args: [{ invoiceId, ...(dunning ? { dunning } : {}) }],
  });
}

const collectionState = (invoiceId: string, done: (state: PaymentCollectionState) => boolean) =>
  eventually(async () => {
    const state = await stack.temporal.workflow.getHandle<typeof paymentCollection>(workflowIds.payment(invoiceId)).query(paymentStateQuery);
    return done(state) ? state : undefined;
  }, 20_000);

const count = async (table: string) => Number((await stack.sql<{ count: string }>(`select count(*) from ${table}`))[0]!.count);
const writes = async () => ({ payments: await count('payments'), creditNotes: await count('credit_notes'), journal: await count('journal_entries'), events: await count('webhook_events') });

describe('POST /v1/invoices/{id}/payments', () => {
  it('records a wire and then a check: paid once nothing is owed, with balanced journal entries and one invoice.paid event', async () => {
    const account = await createAccount();
    const invoiceId = await insertFinalizedInvoice(stack, { organizationId: account, subtotal: 10_000, tax: 800 });
    const wire = await call<{ id: string; amount: number; method: string }>(stack, 'POST', `/v1/invoices/${invoiceId}/payments`, {
      body: { amount: 6_000, method: 'wire', reference: unique('WIRE'), receivedAt: '2026-11-20T10:00:00Z' },
    });
    expect(wire).toMatchObject({ amount: 6_000, method: 'wire', currency: 'USD', invoiceId, receivedAt: '2026-11-20T10:00:00.000Z', recordedBy: 'bootstrap' });
    expect(await invoiceRow(invoiceId)).toMatchObject({ status: 'open', amountPaid: 6_000, paidAt: null });

    const finance = bearer(await signJwt(unique('finance'), 'finance'));
    await call(stack, 'POST', `/v1/invoices/${invoiceId}/payments`, { body: { amount: 4_800, method: 'check', reference: unique('CHK') }, authorization: finance });
    expect(await invoiceRow(invoiceId)).toMatchObject({ status: 'paid', amountDue: 10_800, amountPaid: 10_800, paidAt: expect.any(Date) });

    const page = await call<{ data: { amount: number; method: string }[]; nextCursor: string | null }>(stack, 'GET', `/v1/invoices/${invoiceId}/payments?limit=1`);
    expect(page.data.map((payment) => payment.method)).toEqual(['wire']);
    const rest = await call<{ data: { amount: number; method: string }[] }>(stack, 'GET', `/v1/invoices/${invoiceId}/payments?cursor=${page.nextCursor}`);
    expect(rest.data.map((payment) => [payment.method, payment.amount])).toEqual([['check', 4_800]]);

    const journal = await expectBalancedJournal(account);
    expect(journal.byAccount).toEqual({ cash: 10_800, revenue: -10_000, tax_payable: -800 });
    expect((await eventsOf(invoiceId)).filter((event) => event.type === 'invoice.paid')).toEqual([{ type: 'invoice.paid', dedupe_key: `invoice.paid:${invoiceId}` }]);
    const audit = await stack.sql<{ action: string; target_id: string }>(`select action, target_id from audit_events where action = 'payment.recorded' and organization_id = $1`, [account]);
    expect(audit).toHaveLength(2);
  });

  it('refuses more than is owed, a payment on an invoice that is not open, and a receipt in the future, writing nothing', async () => {
    const account = await createAccount();
    const invoiceId = await insertFinalizedInvoice(stack, { organizationId: account, subtotal: 5_000 });
    const before = await writes();
    const tooMuch = await expectProblem(
      await stack.request('POST', `/v1/invoices/${invoiceId}/payments`, { body: { amount: 5_001, method: 'wire', reference: unique('WIRE') } }),
      409,
      'payment_exceeds_amount_due',
    );
    expect(tooMuch.details).toEqual({ amountOwed: 5_000 });
    await expectProblem(
      await stack.request('POST', `/v1/invoices/${invoiceId}/payments`, { body: { amount: 10, method: 'wire', reference: unique('WIRE'), receivedAt: new Date(Date.now() + 86_400_000).toISOString() } }),
      422,
      'received_at_in_future',
    );
    expect(await writes()).toEqual(before);

    await call(stack, 'POST', `/v1/invoices/${invoiceId}/void`, { expect: 200 });
    const voided = await expectProblem(
      await stack.request('POST', `/v1/invoices/${invoiceId}/payments`, { body: { amount: 10, method: 'wire', reference: unique('WIRE') } }),
      409,
      'invoice_not_open',
    );
    expect(voided.details).toEqual({ status: 'void' });
  });

  it('records a reference once: a retry answers the first payment, the same reference elsewhere is refused', async () => {
    const account = await createAccount();
    const invoiceId = await insertFinalizedInvoice(stack, { organizationId: account, subtotal: 5_000 });
    const other = await insertFinalizedInvoice(stack, { organizationId: account, subtotal: 5_000 });
    const body = { amount: 5_000, method: 'wire', reference: unique('WIRE') };
    const first = await call<{ id: string }>(stack, 'POST', `/v1/invoices/${invoiceId}/payments`, { body });
    const before = await writes();
    // The invoice is paid by now: the retry still answers, with nothing recorded again.
    const retry = await call<{ id: string }>(stack, 'POST', `/v1/invoices/${invoiceId}/payments`, { body, expect: 200 });
    expect(retry.id).toBe(first.id);
    await expectProblem(await stack.request('POST', `/v1/invoices/${other}/payments`, { body }), 409, 'payment_reference_used');
    await expectProblem(await stack.request('POST', `/v1/invoices/${invoiceId}/payments`, { body: { ...body, amount: 4_000 } }), 409, 'payment_reference_used');
    expect(await writes()).toEqual(before);
    expect(await invoiceRow(invoiceId)).toMatchObject({ status: 'paid', amountPaid: 5_000 });
    await expectBalancedJournal(account);
  });

  it('replays a request with the same Idempotency-Key without recording it again', async () => {
    const account = await createAccount();
    const invoiceId = await insertFinalizedInvoice(stack, { organizationId: account, subtotal: 5_000 });
    const headers = { 'idempotency-key': unique('pay') };
    const body = { amount: 1_000, method: 'other', reference: unique('CASH') };
    const first = await stack.request('POST', `/v1/invoices/${invoiceId}/payments`, { body, headers });
    const second = await stack.request('POST', `/v1/invoices/${invoiceId}/payments`, { body, headers });
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(await second.json()).toEqual(await first.json());
    expect(await invoiceRow(invoiceId)).toMatchObject({ amountPaid: 1_000 });
  });

  it('tells the running payment workflow, which settles the invoice and stops its reminders', async () => {
    const account = await createAccount();
    const invoiceId = await insertFinalizedInvoice(stack, { organizationId: account, subtotal: 7_000, dueAt: new Date(Date.now() + 30 * 86_400_000) });
    await startCollection(invoiceId);
    expect(await collectionState(invoiceId, (state) => state.phase === 'awaiting_payment')).toMatchObject({ collectionMethod: 'send_invoice', amountOwed: 7_000 });
    await call(stack, 'POST', `/v1/invoices/${invoiceId}/payments`, { body: { amount: 7_000, method: 'wire', reference: unique('WIRE') } });
    expect(await collectionState(invoiceId, (state) => state.phase === 'settled')).toMatchObject({ invoiceStatus: 'paid', amountOwed: 0, remindersSent: [], pastDueSince: null });
  });
});

describe('payment:<invoiceId> through Stripe (stripe-mock behind a fault proxy)', () => {
  it('charges off-session with the key invoice:<id>:charge:1 and records the PaymentIntent: paid, journal balanced', async () => {
    const account = await createAccount({ stripe: true });
    const invoiceId = await insertFinalizedInvoice(stack, { organizationId: account, subtotal: 12_000, tax: 1_200, collectionMethod: 'charge_automatically' });
    await startCollection(invoiceId);
    const settled = await collectionState(invoiceId, (state) => state.phase === 'settled');
    expect(settled).toMatchObject({ invoiceStatus: 'paid', attempts: [{ attempt: 1, outcome: 'succeeded' }] });
    const paymentIntentId = settled.attempts[0]!.paymentIntentId!;
    const creation = proxy.requests.find((request) => request.idempotencyKey === `invoice:${invoiceId}:charge:1`);
    expect(creation?.params.get('amount')).toBe('13200');
    expect(creation?.params.get('off_session')).toBe('true');
    const [payment] = await stack.sql<{ method: string; reference: string; amount: string }>('select method, reference, amount from payments where invoice_id = $1', [invoiceId]);
    expect(payment).toEqual({ method: 'stripe', reference: paymentIntentId, amount: '13200' });
    expect(await invoiceRow(invoiceId)).toMatchObject({ status: 'paid', amountPaid: 13_200 });
    const journal = await expectBalancedJournal(account);
    expect(journal.byAccount).toEqual({ cash: 13_200, revenue: -12_000, tax_payable: -1_200 });
    expect((await eventsOf(invoiceId)).map((event) => event.type)).toContain('invoice.paid');
  });

  it('on a decline marks the subscriptions past due and reports invoice.payment_failed; voiding the invoice recovers them', async () => {
    const account = await createAccount({ stripe: true });
    const subscriptionId = await subscribe(account);
    await eventually(async () => ((await subscriptionStatus(subscriptionId)) === 'active' ? true : undefined));
    const invoiceId = await insertFinalizedInvoice(stack, { organizationId: account, subtotal: 10_000, collectionMethod: 'charge_automatically' });
    declinedInvoices.add(invoiceId);
    await startCollection(invoiceId);
    const waiting = await collectionState(invoiceId, (state) => state.phase === 'awaiting_retry');
    expect(waiting.attempts).toEqual([expect.objectContaining({ attempt: 1, outcome: 'declined', declineCode: 'insufficient_funds', hard: false })]);
    expect(Date.parse(waiting.nextAttemptAt!) - Date.parse(waiting.attempts[0]!.startedAt)).toBe(3 * 86_400_000);
    await eventually(async () => ((await subscriptionStatus(subscriptionId)) === 'past_due' ? true : undefined));
    expect((await eventsOf(invoiceId)).map((event) => event.dedupe_key)).toContain(`invoice.payment_failed:${invoiceId}:1`);

    const voided = await call<{ status: string; amountCredited: number }>(stack, 'POST', `/v1/invoices/${invoiceId}/void`, { expect: 200 });
    expect(voided).toMatchObject({ status: 'void', amountCredited: 10_000 });
    expect(await collectionState(invoiceId, (state) => state.phase === 'settled')).toMatchObject({ invoiceStatus: 'void', recoveredAt: expect.any(String) });
    await eventually(async () => ((await subscriptionStatus(subscriptionId)) === 'active' ? true : undefined));
    expect(await payments(invoiceId)).toEqual([]);
  });
});

describe('payment:<invoiceId> giving up and reminding, against PostgreSQL', () => {
  it('without retries, a decline writes the invoice off at once and cancels the account’s subscriptions', async () => {
    const account = await createAccount({ stripe: true });
    const subscriptionId = await subscribe(account);
    const invoiceId = await insertFinalizedInvoice(stack, { organizationId: account, subtotal: 10_000, tax: 500, collectionMethod: 'charge_automatically' });
    declinedInvoices.add(invoiceId);
    await startCollection(invoiceId, { retryDelaysDays: [] });
    const settled = await collectionState(invoiceId, (state) => state.phase === 'settled');
    expect(settled).toMatchObject({ invoiceStatus: 'uncollectible', subscriptionsCanceledAt: expect.any(String), nextAttemptAt: null });
    expect(await invoiceRow(invoiceId)).toMatchObject({ status: 'uncollectible', amountPaid: 0 });
    const journal = await expectBalancedJournal(account);
    expect(journal.byAccount).toEqual({ bad_debt: 10_500, revenue: -10_000, tax_payable: -500 });
    expect((await eventsOf(invoiceId)).map((event) => event.dedupe_key)).toEqual(
      expect.arrayContaining([`invoice.payment_failed:${invoiceId}:1`, `invoice.marked_uncollectible:${invoiceId}`]),
    );
    await eventually(async () => ((await subscriptionStatus(subscriptionId)) === 'canceled' ? true : undefined));
  });

  it('reminds about a send_invoice invoice past its due date, once, and marks the account past due', async () => {
    const account = await createAccount();
    const subscriptionId = await subscribe(account);
    await eventually(async () => ((await subscriptionStatus(subscriptionId)) === 'active' ? true : undefined));
    const invoiceId = await insertFinalizedInvoice(stack, { organizationId: account, subtotal: 4_000, dueAt: new Date(Date.now() - 86_400_000) });
    await startCollection(invoiceId, { reminderDaysAfterDue: [0, 1] });
    const waiting = await collectionState(invoiceId, (state) => state.remindersSent.length === 2 && state.pastDueSince !== null);
    expect(waiting).toMatchObject({ phase: 'awaiting_payment', remindersSent: ['after_due:0', 'after_due:1'], invoiceStatus: 'open' });
    await eventually(async () => ((await subscriptionStatus(subscriptionId)) === 'past_due' ? true : undefined));
    const reminders = (await eventsOf(invoiceId)).filter((event) => event.type === 'invoice.payment_reminder');
    expect(reminders.map((event) => event.dedupe_key).sort()).toEqual([`invoice.payment_reminder:${invoiceId}:after_due:0`, `invoice.payment_reminder:${invoiceId}:after_due:1`]);
    await call(stack, 'POST', `/v1/invoices/${invoiceId}/payments`, { body: { amount: 4_000, method: 'check', reference: unique('CHK') } });
    await eventually(async () => ((await subscriptionStatus(subscriptionId)) === 'active' ? true : undefined));
  });
});

describe('a subscription canceled for non-payment', () => {
  it('stays canceled with its past-due date, so seat access stays cut although the paid period has not ended', async () => {
    const account = await createAccount();
    const subscriptionId = await subscribe(account);
    const externalOrgId = unique('ext');
    await call(stack, 'POST', `/v1/organizations/${account}/external-ids`, { body: { applicationSlug, externalId: externalOrgId } });
    await call(stack, 'POST', `/v1/subscriptions/${subscriptionId}/seat-assignments`, { body: { userId: 'ann' } });
    const verify = () => call<{ hasAccess: boolean; reason?: string; subscriptionStatus?: string }>(stack, 'POST', '/v1/seats/verify', { body: { userId: 'ann', applicationSlug, externalOrgId }, expect: 200 });
    expect(await verify()).toMatchObject({ hasAccess: true });

    const handle = stack.temporal.workflow.getHandle(workflowIds.subscription(subscriptionId));
    await handle.signal(pastDueSignal, { since: new Date(Date.now() - 8 * 86_400_000).toISOString() });
    await eventually(async () => ((await subscriptionStatus(subscriptionId)) === 'past_due' ? true : undefined));
    expect(await verify()).toMatchObject({ hasAccess: false, reason: 'past_due_grace_over' });

    await handle.signal(cancelForNonPaymentSignal, { invoiceId: randomUUID() });
    await eventually(async () => ((await subscriptionStatus(subscriptionId)) === 'canceled' ? true : undefined));
    const subscription = await call<{ cancelAt: string; currentPeriodEnd: string; pastDueSince: string | null }>(stack, 'GET', `/v1/subscriptions/${subscriptionId}`);
    // No credit for the unpaid period: it ends with the period, as a cancellation "now" without a refund.
    expect(subscription.cancelAt).toBe(subscription.currentPeriodEnd);
    expect(subscription.pastDueSince).not.toBeNull();
    expect(await verify()).toMatchObject({ hasAccess: false, reason: 'past_due_grace_over', subscriptionStatus: 'canceled' });
  });
});

const payments = (invoiceId: string) => stack.sql('select id from payments where invoice_id = $1', [invoiceId]);

describe('POST /v1/invoices/{id}/void', () => {
  it('reverses the finalization exactly: the receivable is gone and the applied credit is back on the balance', async () => {
    const account = await createAccount();
    const paid = await insertFinalizedInvoice(stack, { organizationId: account, subtotal: 5_000 });
    await payInFull(stack, paid, { method: 'wire', reference: unique('WIRE') });
    await call(stack, 'POST', `/v1/invoices/${paid}/credit-notes`, { body: { amount: 3_000, reason: 'Service credit' } });
    expect(await creditBalance(account)).toBe(3_000);
    const invoiceId = await insertFinalizedInvoice(stack, { organizationId: account, subtotal: 10_000, tax: 1_000, creditApplied: 3_000 });
    expect(await creditBalance(account)).toBe(0);
    const beforeVoid = await journalOf(stack, { invoiceId });

    const voided = await call(stack, 'POST', `/v1/invoices/${invoiceId}/void`, { expect: 200 });
    expect(voided).toMatchObject({ id: invoiceId, status: 'void', total: 11_000, amountDue: 8_000, amountPaid: 0, amountCredited: 11_000, voidedAt: expect.any(String) });
    expect(await creditBalance(account)).toBe(3_000);
    expect(beforeVoid.byAccount).toEqual({ accounts_receivable: 8_000, customer_credit: 3_000, revenue: -10_000, tax_payable: -1_000 });
    const afterVoid = await journalOf(stack, { invoiceId });
    expect(afterVoid).toMatchObject({ unbalancedEntries: [], byAccount: {} });
    await expectBalancedJournal(account);
    expect((await eventsOf(invoiceId)).map((event) => event.type)).toContain('invoice.voided');
  });

  it('keeps what a partly paid invoice received as the customer’s credit balance', async () => {
    const account = await createAccount();
    const invoiceId = await insertFinalizedInvoice(stack, { organizationId: account, subtotal: 10_000 });
    await call(stack, 'POST', `/v1/invoices/${invoiceId}/payments`, { body: { amount: 2_500, method: 'wire', reference: unique('WIRE') } });
    await call(stack, 'POST', `/v1/invoices/${invoiceId}/void`, { expect: 200 });
    expect(await creditBalance(account)).toBe(2_500);
    const journal = await expectBalancedJournal(account);
    expect(journal.byAccount).toEqual({ cash: 2_500, customer_credit: -2_500 });
  });

  it('voids open invoices only, once', async () => {
    const account = await createAccount();
    const paid = await insertFinalizedInvoice(stack, { organizationId: account, subtotal: 1_000 });
    await payInFull(stack, paid, { method: 'wire', reference: unique('WIRE') });
    const before = await writes();
    expect((await expectProblem(await stack.request('POST', `/v1/invoices/${paid}/void`), 409, 'invoice_not_open')).details).toEqual({ status: 'paid' });
    const open = await insertFinalizedInvoice(stack, { organizationId: account, subtotal: 1_000 });
    await call(stack, 'POST', `/v1/invoices/${open}/void`, { expect: 200 });
    const afterFirst = await writes();
    await expectProblem(await stack.request('POST', `/v1/invoices/${open}/void`), 409, 'invoice_not_open');
    expect(await writes()).toEqual(afterFirst);
    expect(afterFirst.journal).toBe(before.journal + 2);
  });
});

describe('POST /v1/invoices/{id}/credit-notes', () => {
  it('credits a paid invoice up to what remains creditable, taking back revenue and tax in proportion', async () => {
    const account = await createAccount();
    const invoiceId = await insertFinalizedInvoice(stack, { organizationId: account, subtotal: 10_000, tax: 1_000 });
    await expectProblem(await stack.request('POST', `/v1/invoices/${invoiceId}/credit-notes`, { body: { amount: 100, reason: 'Too early' } }), 409, 'invoice_not_paid');
    await payInFull(stack, invoiceId, { method: 'wire', reference: unique('WIRE') });

    const first = await call<{ number: string; disposition: string; amount: number; paymentId: string | null; stripeRefundId: string | null }>(stack, 'POST', `/v1/invoices/${invoiceId}/credit-notes`, {
      body: { amount: 5_500, reason: 'Outage in March' },
    });
    expect(first).toMatchObject({ number: expect.stringMatching(/-CN1$/), disposition: 'credit_balance', amount: 5_500, paymentId: null, stripeRefundId: null });
    const before = await writes();
    const over = await expectProblem(await stack.request('POST', `/v1/invoices/${invoiceId}/credit-notes`, { body: { amount: 5_501, reason: 'Too much' } }), 409, 'credit_exceeds_creditable');
    expect(over.details).toEqual({ creditable: 5_500 });
    expect(await writes()).toEqual(before);
    const second = await call<{ number: string }>(stack, 'POST', `/v1/invoices/${invoiceId}/credit-notes`, { body: { amount: 5_500, reason: 'The rest' } });
    expect(second.number).toMatch(/-CN2$/);
    await expectProblem(await stack.request('POST', `/v1/invoices/${invoiceId}/credit-notes`, { body: { amount: 1, reason: 'Nothing left' } }), 409, 'credit_exceeds_creditable');

    expect(await invoiceRow(invoiceId)).toMatchObject({ status: 'paid', amountCredited: 11_000 });
    expect(await creditBalance(account)).toBe(11_000);
    const journal = await expectBalancedJournal(account);
    // Fully credited: revenue and tax are taken back entirely, the cash received is owed back as credit.
    expect(journal.byAccount).toEqual({ cash: 11_000, customer_credit: -11_000 });
    const entries = await stack.sql<{ account: string; debit: string }>(
      `select l.account, l.debit from journal_lines l join journal_entries e on e.id = l.entry_id join credit_notes n on e.source_key = 'credit-note:' || n.id
        where n.number = $1 and l.debit > 0 order by l.account`,
      [first.number],
    );
    expect(entries).toEqual([
      { account: 'revenue', debit: '5000' },
      { account: 'tax_payable', debit: '500' },
    ]);
    const listed = await call<{ data: { number: string }[] }>(stack, 'GET', `/v1/invoices/${invoiceId}/credit-notes`);
    expect(listed.data.map((note) => note.number)).toEqual([first.number, second.number]);
    expect((await eventsOf(invoiceId)).filter((event) => event.type === 'credit_note.created')).toHaveLength(2);
  });

  it('applies a credit-balance note to the next invoice', async () => {
    const account = await createAccount();
    const subscriptionId = await subscribe(account);
    const paid = await insertFinalizedInvoice(stack, { organizationId: account, subtotal: 10_000 });
    await payInFull(stack, paid, { method: 'wire', reference: unique('WIRE') });
    await call(stack, 'POST', `/v1/invoices/${paid}/credit-notes`, { body: { amount: 2_500, reason: 'Goodwill' } });
    expect(await creditBalance(account)).toBe(2_500);
    const next = await call<{ total: number; creditApplied: number; amountDue: number; lines: { type: string; amount: number }[] }>(stack, 'GET', `/v1/subscriptions/${subscriptionId}/upcoming-invoice`);
    expect(next.total).toBeGreaterThanOrEqual(2_500);
    expect(next).toMatchObject({ creditApplied: 2_500, amountDue: next.total - 2_500 });
    expect(next.lines).toContainEqual(expect.objectContaining({ type: 'credit', amount: -2_500 }));
  });

  it('refunds through Stripe against the invoice’s PaymentIntent, with the key credit-note:<id>:refund, once under retries', async () => {
    const account = await createAccount();
    const invoiceId = await insertFinalizedInvoice(stack, { organizationId: account, subtotal: 10_000, tax: 1_000 });
    const paymentIntentId = `pi_${randomUUID().replaceAll('-', '').slice(0, 24)}`;
    await payInFull(stack, invoiceId, { method: 'stripe', reference: paymentIntentId });
    const headers = { 'idempotency-key': unique('refund') };
    const body = { amount: 4_000, reason: 'Refund for downtime', refund: true };
    const first = await stack.request('POST', `/v1/invoices/${invoiceId}/credit-notes`, { body, headers });
    expect(first.status).toBe(201);
    const note = (await first.json()) as { id: string; disposition: string; stripeRefundId: string; paymentId: string };
    expect(note).toMatchObject({ disposition: 'refund', stripeRefundId: expect.stringMatching(/^re_/), paymentId: expect.any(String) });
    // The idempotency record gone (expired), the same key still names the same credit note and the same refund.
    await stack.sql('delete from idempotency_records where key = $1', [headers['idempotency-key']]);
    const retry = await stack.request('POST', `/v1/invoices/${invoiceId}/credit-notes`, { body, headers });
    expect(retry.status).toBe(201);
    expect(((await retry.json()) as { id: string }).id).toBe(note.id);
    const refunds = proxy.requests.filter((request) => request.path === '/v1/refunds' && request.params.get('payment_intent') === paymentIntentId);
    expect(refunds.map((request) => [request.idempotencyKey, request.params.get('amount')])).toEqual([[`credit-note:${note.id}:refund`, '4000']]);

    const journal = await expectBalancedJournal(account);
    expect(journal.byAccount).toEqual({ cash: 7_000, revenue: -(10_000 - 3_636), tax_payable: -(1_000 - 364) });
    expect(await creditBalance(account)).toBe(0);

    const before = await writes();
    const tooMuch = await expectProblem(
      await stack.request('POST', `/v1/invoices/${invoiceId}/credit-notes`, { body: { amount: 7_001, reason: 'More than was paid', refund: true } }),
      409,
      'credit_exceeds_creditable',
    );
    expect(tooMuch.details).toEqual({ creditable: 7_000 });
    expect(await writes()).toEqual(before);
  });

  it('refuses to refund more than the Stripe payment received, and any refund of an invoice paid by wire', async () => {
    const account = await createAccount();
    // 3,000 of the 10,000 came from the credit balance: Stripe received 7,000.
    const invoiceId = await insertFinalizedInvoice(stack, { organizationId: account, subtotal: 10_000, creditApplied: 3_000 });
    await payInFull(stack, invoiceId, { method: 'stripe', reference: `pi_${randomUUID().replaceAll('-', '').slice(0, 24)}` });
    const refundsBefore = proxy.requests.filter((request) => request.path === '/v1/refunds').length;
    const before = await writes();
    const overRefund = await expectProblem(
      await stack.request('POST', `/v1/invoices/${invoiceId}/credit-notes`, { body: { amount: 8_000, reason: 'More than Stripe took', refund: true } }),
      409,
      'refund_exceeds_stripe_payment',
    );
    expect(overRefund.details).toEqual({ refundable: 7_000 });
    expect(await writes()).toEqual(before);

    await call(stack, 'POST', `/v1/invoices/${invoiceId}/credit-notes`, { body: { amount: 7_000, reason: 'Refund what was paid', refund: true } });
    await call(stack, 'POST', `/v1/invoices/${invoiceId}/credit-notes`, { body: { amount: 3_000, reason: 'Return the applied credit' } });
    await expectProblem(
      await stack.request('POST', `/v1/invoices/${invoiceId}/credit-notes`, { body: { amount: 1, reason: 'One cent more', refund: true } }),
      409,
      'credit_exceeds_creditable',
    );
    expect(proxy.requests.filter((request) => request.path === '/v1/refunds').length).toBe(refundsBefore + 1);

    const wired = await insertFinalizedInvoice(stack, { organizationId: account, subtotal: 3_000 });
    await payInFull(stack, wired, { method: 'wire', reference: unique('WIRE') });
    const byWire = await expectProblem(
      await stack.request('POST', `/v1/invoices/${wired}/credit-notes`, { body: { amount: 1_000, reason: 'Refund a wire', refund: true } }),
      409,
      'refund_exceeds_stripe_payment',
    );
    expect(byWire.details).toEqual({ refundable: 0 });
    const journal = await expectBalancedJournal(account);
    // The first invoice is fully credited: 7,000 went back to the card and the 3,000 of credit back to the balance.
    expect(journal.byAccount).toEqual({ cash: 3_000, revenue: -3_000 });
  });
});
