import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { CollectionActivities } from '../../activities/collection.js';
import type { ChargeInvoicePaymentInput, ChargeResult, PaymentActivities } from '../../activities/payments.js';
import type { DisputeActivities } from '../../activities/disputes.js';
import type { SubscriptionActivities } from '../../activities/subscriptions.js';
import { MS_PER_DAY, dayOf, formatDay, initialSnapshot, isActiveDispute, stripeIdempotencyKeys, type DunningPolicy } from '../../src/domain/index.js';
import type { disputeToRefund } from '../../workflows/dispute.js';
import { disputeStateQuery, resolveDisputeUpdate, withdrawDisputeUpdate, type DisputeState } from '../../workflows/messages/dispute.js';
import {
  chargeRefundedSignal,
  type CollectionInvoice,
  disputeOpenedSignal,
  invoiceVoidedSignal,
  type PaymentCollectionState,
  paymentFailedSignal,
  paymentRecordedSignal,
  paymentStateQuery,
  paymentSucceededSignal,
} from '../../workflows/messages/payment.js';
import { type PlanTerms, subscriptionStateQuery } from '../../workflows/messages/subscription.js';
import type { paymentCollection } from '../../workflows/payment-collection.js';
import { eventually, recordHistory } from './support/subscriptions.js';
import { startTimeSkippingWorker, type TimeSkippingWorker } from './support/time-skipping.js';

const taskQueue = 'payment-collection';

/**
 * The invoice as the fake activities keep it: what the database would hold, plus a record of
 * every call (with the workflow's time of each, from the activity's schedule time).
 */
interface FakeInvoice {
  invoiceId: string;
  status: CollectionInvoice['status'];
  collectionMethod: CollectionInvoice['collectionMethod'];
  amountDue: number;
  amountPaid: number;
  dueAt: string | null;
  subscriptionIds: string[];
  /** What attempt `attempt` (its `call`-th try, counting Temporal's activity retries) answers. */
  charge: (attempt: number, call: number) => ChargeResult | Error;
  charges: { attempt: number; amount: number; idempotencyKey: string; at: number }[];
  stripePayments: { paymentIntentId: string; amount: number }[];
  failures: { attempt: number; declineCode: string | null; hard: boolean; nextAttemptAt: string | null; at: number }[];
  reminders: { key: string; at: number }[];
  writtenOffAt: number | null;
  /** Settled by a dispute's credit (no longer owed). */
  credited: number;
}

const invoices = new Map<string, FakeInvoice>();
const invoiceOf = (id: string) => {
  const invoice = invoices.get(id);
  if (!invoice) throw ApplicationFailure.nonRetryable(`no invoice ${id}`);
  return invoice;
};
/** The test server's clock: the database steps are local activities, which carry the worker's time, not the server's. */
const workflowTime = () => env.currentTimeMs();
const viewOf = (invoice: FakeInvoice): CollectionInvoice => ({
  invoiceId: invoice.invoiceId,
  organizationId: 'org-acme',
  number: 'INV-ACME-000001',
  status: invoice.status,
  collectionMethod: invoice.collectionMethod,
  currency: 'USD',
  amountOwed: invoice.status === 'open' ? invoice.amountDue - invoice.amountPaid - invoice.credited : 0,
  dueAt: invoice.dueAt,
  activeDisputeIds: [...disputes.values()].filter((dispute) => dispute.invoiceId === invoice.invoiceId && isActiveDispute(dispute.status)).map((dispute) => dispute.id),
});

/** The disputes as the fake dispute activities keep them (the database's `disputes` rows). */
const disputes = new Map<string, DisputeState>();
const disputeOf = (id: string) => {
  const dispute = disputes.get(id);
  if (!dispute) throw ApplicationFailure.nonRetryable(`no dispute ${id}`);
  return dispute;
};
const disputeMoved = (id: string, change: Partial<DisputeState>): DisputeState => {
  const next = { ...disputeOf(id), ...change };
  disputes.set(id, next);
  return next;
};

type FakeActivities = Pick<
  CollectionActivities,
  'loadInvoiceForCollection' | 'recordStripePayment' | 'recordPaymentFailure' | 'markInvoiceUncollectible' | 'sendPaymentReminder' | 'accountSubscriptionIds'
> &
  Pick<PaymentActivities, 'chargeInvoicePayment'> &
  Pick<SubscriptionActivities, 'persistSubscription'> &
  Omit<DisputeActivities, 'commentOnDispute'>;

/** The activities, faked over `invoices`; the subscription workflows persist nowhere. */
const activities: FakeActivities = {
  loadInvoiceForCollection: async (invoiceId) => viewOf(invoiceOf(invoiceId)),
  chargeInvoicePayment: async (input: ChargeInvoicePaymentInput) => {
    const invoice = invoiceOf(input.invoiceId);
    invoice.charges.push({ attempt: input.attempt, amount: input.amount, idempotencyKey: stripeIdempotencyKeys.charge(input.invoiceId, input.attempt), at: await workflowTime() });
    const result = invoice.charge(input.attempt, invoice.charges.filter((charge) => charge.attempt === input.attempt).length);
    if (result instanceof Error) throw result;
    return result;
  },
  recordStripePayment: async (receipt) => {
    const invoice = invoiceOf(receipt.invoiceId);
    if (invoice.stripePayments.some((payment) => payment.paymentIntentId === receipt.paymentIntentId)) return { recorded: false, invoice: viewOf(invoice) };
    invoice.stripePayments.push({ paymentIntentId: receipt.paymentIntentId, amount: receipt.amount });
    if (invoice.status === 'open' || invoice.status === 'uncollectible') {
      invoice.amountPaid = Math.min(invoice.amountDue, invoice.amountPaid + receipt.amount);
      if (invoice.amountPaid === invoice.amountDue) invoice.status = 'paid';
    }
    return { recorded: true, invoice: viewOf(invoice) };
  },
  recordPaymentFailure: async (failure) => {
    invoiceOf(failure.invoiceId).failures.push({ ...failure, at: await workflowTime() });
  },
  markInvoiceUncollectible: async (invoiceId) => {
    const invoice = invoiceOf(invoiceId);
    if (invoice.status === 'open') Object.assign(invoice, { status: 'uncollectible', writtenOffAt: await workflowTime() });
    return viewOf(invoice);
  },
  sendPaymentReminder: async (reminder) => {
    const invoice = invoiceOf(reminder.invoiceId);
    if (invoice.status !== 'open') return false;
    invoice.reminders.push({ key: reminder.key, at: await workflowTime() });
    return true;
  },
  accountSubscriptionIds: async (invoiceId) => invoiceOf(invoiceId).subscriptionIds,
  persistSubscription: async () => ({ persisted: true }),
  loadDispute: async (id) => disputeOf(id),
  withdrawDispute: async ({ disputeId }) => disputeMoved(disputeId, { status: 'withdrawn', resolvedAt: new Date(await workflowTime()).toISOString() }),
  planDisputeResolution: async (input) => {
    const amount = input.outcome === 'reject' ? 0 : (input.amount ?? disputeOf(input.disputeId).amount);
    const resolution = { outcome: input.outcome, amount, comment: input.comment, decidedBy: input.decidedBy };
    if (input.outcome === 'reject') return { state: disputeMoved(input.disputeId, { status: 'rejected', resolution }), approval: null };
    return { state: disputeMoved(input.disputeId, { resolution }), approval: null };
  },
  returnDisputeToReview: async ({ disputeId }) => disputeMoved(disputeId, { status: 'under_review', resolution: null }),
  creditDispute: async (disputeId) => {
    const dispute = disputeOf(disputeId);
    const amount = dispute.resolution?.amount ?? 0;
    if (dispute.resolution?.outcome === 'refund') return { kind: 'refund', creditNoteId: `cn-${disputeId}`, paymentIntentId: 'pi_paid', amount };
    const invoice = invoiceOf(dispute.invoiceId);
    invoice.credited += Math.min(amount, invoice.amountDue - invoice.amountPaid - invoice.credited);
    if (invoice.status === 'open' && invoice.amountPaid + invoice.credited >= invoice.amountDue) invoice.status = 'paid';
    return { kind: 'credited', state: disputeMoved(disputeId, { status: 'resolved', creditNoteId: `cn-${disputeId}` }) };
  },
  refundDispute: async ({ disputeId }) => ({ stripeRefundId: `re_${disputeId}` }),
  recordDisputeRefund: async ({ disputeId, creditNoteId, stripeRefundId }) => disputeMoved(disputeId, { status: 'resolved', creditNoteId, stripeRefundId }),
  voidDisputeRefund: async ({ disputeId, failure }) => disputeMoved(disputeId, { status: 'under_review', resolution: null, lastFailure: { ...failure, at: new Date(await workflowTime()).toISOString() } }),
  failDisputeResolution: async ({ disputeId, failure }) => disputeMoved(disputeId, { status: 'under_review', resolution: null, lastFailure: { ...failure, at: new Date(await workflowTime()).toISOString() } }),
  syncDisputeToErp: async () => undefined,
};

const plan: PlanTerms = {
  id: randomUUID(),
  code: 'team',
  name: 'Team',
  version: 1,
  applicationId: randomUUID(),
  currency: 'USD',
  interval: 'month',
  basePrice: 10_000,
  seatPrice: 0,
  includedSeats: 0,
  trialDays: 0,
};

const succeeds = (paymentIntentId: string): ChargeResult => ({ outcome: 'succeeded', paymentIntentId });
const softDecline = (paymentIntentId: string): ChargeResult => ({ outcome: 'declined', hard: false, code: 'insufficient_funds', message: 'Insufficient funds.', paymentIntentId });
const hardDecline = (paymentIntentId: string): ChargeResult => ({ outcome: 'declined', hard: true, code: 'stolen_card', message: 'The card was reported stolen.', paymentIntentId });

let env: TestWorkflowEnvironment;
let temporal: TimeSkippingWorker;

beforeAll(async () => {
  temporal = await startTimeSkippingWorker(taskQueue, activities);
  env = temporal.env;
}, 120_000);
afterAll(async () => {
  await temporal?.stop();
});

/** Sleeps the test server's clock until `targetMs`. */
async function sleepUntil(targetMs: number) {
  const now = await env.currentTimeMs();
  if (targetMs > now) await env.sleep(targetMs - now);
}

interface Started {
  invoiceId: string;
  invoice: FakeInvoice;
  startedAt: number;
  handle: Awaited<ReturnType<typeof env.client.workflow.start<typeof paymentCollection>>>;
  state(): Promise<PaymentCollectionState>;
  subscriptionStatuses(): Promise<string[]>;
}

/** An open invoice of 100.00 with two live subscriptions on its account, and `payment:<invoiceId>` collecting it. */
async function startCollection(options: {
  charge?: FakeInvoice['charge'];
  collectionMethod?: FakeInvoice['collectionMethod'];
  dueInDays?: number;
  dunning?: Partial<DunningPolicy>;
}): Promise<Started> {
  const startedAt = await env.currentTimeMs();
  const subscriptionIds = [randomUUID(), randomUUID()];
  for (const id of subscriptionIds) {
    const snapshot = initialSnapshot(
      { id, organizationId: 'org-acme', departmentId: null, plan, seats: 1, startDate: formatDay(dayOf(startedAt)), trialDays: 0, billingAnchorDay: null },
      dayOf(startedAt),
    );
    await env.client.workflow.start('subscriptionLifecycle', { workflowId: `subscription:${id}`, taskQueue, args: [{ snapshot }] });
  }
  const invoiceId = randomUUID();
  const invoice: FakeInvoice = {
    invoiceId,
    status: 'open',
    collectionMethod: options.collectionMethod ?? 'charge_automatically',
    amountDue: 10_000,
    amountPaid: 0,
    dueAt: new Date(startedAt + (options.dueInDays ?? 0) * MS_PER_DAY).toISOString(),
    subscriptionIds,
    charge: options.charge ?? (() => new Error('this invoice is not charged')),
    charges: [],
    stripePayments: [],
    failures: [],
    reminders: [],
    writtenOffAt: null,
    credited: 0,
  };
  invoices.set(invoiceId, invoice);
  const handle = await env.client.workflow.start<typeof paymentCollection>('paymentCollection', {
    workflowId: `payment:${invoiceId}`,
    taskQueue,
    args: [{ invoiceId, ...(options.dunning ? { dunning: options.dunning } : {}) }],
  });
  return {
    invoiceId,
    invoice,
    startedAt,
    handle,
    state: () => handle.query(paymentStateQuery),
    subscriptionStatuses: async () =>
      Promise.all(subscriptionIds.map(async (id) => (await env.client.workflow.getHandle(`subscription:${id}`).query(subscriptionStateQuery)).status)),
  };
}

/** Waits (in real time; the server's clock stands still meanwhile) until the collection's state satisfies `done`. */
const stateWhen = (started: Started, done: (state: PaymentCollectionState) => boolean) =>
  eventually(async () => {
    const state = await started.state();
    return done(state) ? state : undefined;
  });

const statusesWhen = (started: Started, expected: string) =>
  eventually(async () => {
    const statuses = await started.subscriptionStatuses();
    return statuses.every((status) => status === expected) ? statuses : undefined;
  });

const daysAfter = (started: Started, at: number | string) => ((typeof at === 'string' ? Date.parse(at) : at) - started.startedAt) / MS_PER_DAY;

describe('paymentCollection: charge_automatically with dunning', () => {
  it('succeeds on the first retry, 3 days after a soft decline: past due in between, recovered after, and a retried activity reuses its attempt', async () => {
    const started = await startCollection({
      // Attempt 2 meets a Stripe outage once: Temporal retries the activity with the same attempt number.
      charge: (attempt, call) =>
        attempt === 1 ? softDecline('pi_first') : call === 1 ? ApplicationFailure.retryable('Stripe did not answer', 'StripeConnectionError') : succeeds('pi_second'),
    });
    const pastDue = await stateWhen(started, (state) => state.phase === 'awaiting_retry');
    expect(pastDue).toMatchObject({ invoiceStatus: 'open', amountOwed: 10_000, attempts: [{ attempt: 1, outcome: 'declined', declineCode: 'insufficient_funds', hard: false }] });
    expect(daysAfter(started, pastDue.nextAttemptAt!)).toBeCloseTo(3, 3);
    expect(started.invoice.failures).toEqual([{ invoiceId: started.invoiceId, attempt: 1, paymentIntentId: 'pi_first', declineCode: 'insufficient_funds', hard: false, nextAttemptAt: pastDue.nextAttemptAt, at: expect.any(Number) }]);
    expect(await statusesWhen(started, 'past_due')).toHaveLength(2);

    await sleepUntil(started.startedAt + 3 * MS_PER_DAY + 3_600_000);
    const paid = await stateWhen(started, (state) => state.phase === 'settled');
    expect(paid).toMatchObject({ invoiceStatus: 'paid', amountOwed: 0, stripePayments: [{ paymentIntentId: 'pi_second', amount: 10_000, applied: true }] });
    expect(paid.attempts.map((attempt) => [attempt.attempt, attempt.outcome])).toEqual([
      [1, 'declined'],
      [2, 'succeeded'],
    ]);
    expect(started.invoice.charges.map((charge) => [charge.idempotencyKey, charge.amount, Math.round(daysAfter(started, charge.at))])).toEqual([
      [`invoice:${started.invoiceId}:charge:1`, 10_000, 0],
      [`invoice:${started.invoiceId}:charge:2`, 10_000, 3],
      [`invoice:${started.invoiceId}:charge:2`, 10_000, 3],
    ]);
    expect(started.invoice).toMatchObject({ status: 'paid', amountPaid: 10_000, writtenOffAt: null });
    expect(paid.recoveredAt).not.toBeNull();
    expect(await statusesWhen(started, 'active')).toHaveLength(2);

    // It keeps listening for late Stripe events for 120 days, then completes.
    await sleepUntil(started.startedAt + 125 * MS_PER_DAY);
    expect(await started.handle.result()).toMatchObject({ invoiceStatus: 'paid', phase: 'settled' });
    await recordHistory('collection-declined-then-paid', started.handle);
  });

  it('retries 3, 5 and 7 days apart, then writes the invoice off and cancels the account’s subscriptions', async () => {
    const started = await startCollection({ charge: (attempt) => softDecline(`pi_${attempt}`) });
    await stateWhen(started, (state) => state.phase === 'awaiting_retry');
    await sleepUntil(started.startedAt + 14 * MS_PER_DAY);
    expect(await started.subscriptionStatuses()).toEqual(['past_due', 'past_due']);
    expect(started.invoice.status).toBe('open');

    await sleepUntil(started.startedAt + 15 * MS_PER_DAY + 3_600_000);
    const settled = await stateWhen(started, (state) => state.phase === 'settled');
    expect(started.invoice.charges.map((charge) => [charge.attempt, Math.round(daysAfter(started, charge.at))])).toEqual([
      [1, 0],
      [2, 3],
      [3, 8],
      [4, 15],
    ]);
    expect(started.invoice.failures.map((failure) => [failure.attempt, failure.nextAttemptAt === null ? null : Math.round(daysAfter(started, failure.nextAttemptAt))])).toEqual([
      [1, 3],
      [2, 8],
      [3, 15],
      [4, null],
    ]);
    expect(Math.round(daysAfter(started, started.invoice.writtenOffAt!))).toBe(15);
    expect(settled).toMatchObject({ invoiceStatus: 'uncollectible', recoveredAt: null, subscriptionsCanceledAt: expect.any(String) });
    expect(await statusesWhen(started, 'canceled')).toHaveLength(2);
    // Nothing more is charged, however long it waits.
    await sleepUntil(started.startedAt + 60 * MS_PER_DAY);
    expect(started.invoice.charges).toHaveLength(4);
  });

  it('cancels the subscriptions the configured number of days after the write-off', async () => {
    const started = await startCollection({ charge: (attempt) => softDecline(`pi_${attempt}`), dunning: { retryDelaysDays: [1], cancelSubscriptionsAfterDays: 10 } });
    await sleepUntil(started.startedAt + 1 * MS_PER_DAY + 3_600_000);
    const waiting = await stateWhen(started, (state) => state.phase === 'awaiting_cancellation');
    expect(waiting).toMatchObject({ invoiceStatus: 'uncollectible', subscriptionsCanceledAt: null });
    await sleepUntil(started.startedAt + 10 * MS_PER_DAY);
    expect(await started.subscriptionStatuses()).toEqual(['past_due', 'past_due']);
    await sleepUntil(started.startedAt + 11 * MS_PER_DAY + 3_600_000);
    expect(await statusesWhen(started, 'canceled')).toHaveLength(2);
    expect(Math.round(daysAfter(started, (await started.state()).subscriptionsCanceledAt!))).toBe(11);
  });

  it('does not retry a hard decline: written off and canceled at once', async () => {
    const started = await startCollection({ charge: (attempt) => hardDecline(`pi_${attempt}`) });
    const settled = await stateWhen(started, (state) => state.phase === 'settled');
    expect(settled).toMatchObject({ invoiceStatus: 'uncollectible', nextAttemptAt: null, attempts: [{ attempt: 1, outcome: 'declined', declineCode: 'stolen_card', hard: true }] });
    expect(started.invoice.failures).toEqual([expect.objectContaining({ attempt: 1, hard: true, nextAttemptAt: null })]);
    expect(await statusesWhen(started, 'canceled')).toHaveLength(2);
    await sleepUntil(started.startedAt + 30 * MS_PER_DAY);
    expect(started.invoice.charges).toHaveLength(1);
  });

  it('waits for the webhook when Stripe asks for action, and counts the attempt failed when none comes by the next step', async () => {
    const started = await startCollection({ charge: (attempt) => (attempt === 1 ? { outcome: 'requires_action', paymentIntentId: 'pi_3ds' } : succeeds('pi_retry')) });
    const waiting = await stateWhen(started, (state) => state.phase === 'awaiting_confirmation');
    expect(waiting.pastDueSince).toBeNull();
    await sleepUntil(started.startedAt + 3 * MS_PER_DAY + 3_600_000);
    const settled = await stateWhen(started, (state) => state.phase === 'settled');
    expect(settled.attempts.map((attempt) => [attempt.attempt, attempt.outcome, attempt.declineCode])).toEqual([
      [1, 'timed_out', 'confirmation_timeout'],
      [2, 'succeeded', null],
    ]);
    expect(started.invoice.charges.map((charge) => Math.round(daysAfter(started, charge.at)))).toEqual([0, 3]);
    expect(started.invoice.stripePayments).toEqual([{ paymentIntentId: 'pi_retry', amount: 10_000 }]);
  });

  it('stops when the invoice is voided, and no longer holds the subscriptions past due', async () => {
    const started = await startCollection({ charge: (attempt) => softDecline(`pi_${attempt}`) });
    await stateWhen(started, (state) => state.phase === 'awaiting_retry');
    await statusesWhen(started, 'past_due');
    started.invoice.status = 'void';
    await started.handle.signal(invoiceVoidedSignal, { voidedAt: new Date(await env.currentTimeMs()).toISOString() });
    const settled = await stateWhen(started, (state) => state.phase === 'settled');
    expect(settled).toMatchObject({ invoiceStatus: 'void', recoveredAt: expect.any(String) });
    expect(await statusesWhen(started, 'active')).toHaveLength(2);
    await sleepUntil(started.startedAt + 30 * MS_PER_DAY);
    expect(started.invoice.charges).toHaveLength(1);
    expect(started.invoice.writtenOffAt).toBeNull();
  });
});

describe('paymentCollection: Stripe webhooks as signals', () => {
  const succeededEvent = (stripeEventId: string, paymentIntentId: string) => ({
    stripeEventId,
    paymentIntentId,
    attempt: 1,
    amount: 10_000,
    currency: 'USD',
    occurredAt: new Date().toISOString(),
  });
  const failedEvent = (stripeEventId: string, paymentIntentId: string) => ({
    stripeEventId,
    paymentIntentId,
    attempt: 1,
    amount: 10_000,
    failureCode: 'card_declined',
    hard: false,
    occurredAt: new Date().toISOString(),
  });

  it('records a success once however often it is delivered, and a late failure of the same PaymentIntent changes nothing', async () => {
    const started = await startCollection({ charge: () => ({ outcome: 'requires_action', paymentIntentId: 'pi_action' }) });
    await stateWhen(started, (state) => state.phase === 'awaiting_confirmation');
    await started.handle.signal(paymentSucceededSignal, succeededEvent('evt_success', 'pi_action'));
    await started.handle.signal(paymentSucceededSignal, succeededEvent('evt_success', 'pi_action'));
    const settled = await stateWhen(started, (state) => state.phase === 'settled');
    await started.handle.signal(paymentFailedSignal, failedEvent('evt_late_failure', 'pi_action'));
    await started.handle.signal(paymentSucceededSignal, succeededEvent('evt_success_again', 'pi_action'));
    const final = await stateWhen(started, (state) => state.stripeEventIds.length === 3);
    expect(final.stripeEventIds).toEqual(['evt_success', 'evt_late_failure', 'evt_success_again']);
    expect(settled).toMatchObject({ invoiceStatus: 'paid', pastDueSince: null, attempts: [{ attempt: 1, outcome: 'succeeded' }] });
    expect(final.stripePayments).toEqual([{ paymentIntentId: 'pi_action', amount: 10_000, applied: true }]);
    expect(started.invoice).toMatchObject({ status: 'paid', stripePayments: [{ paymentIntentId: 'pi_action', amount: 10_000 }], failures: [] });
    await sleepUntil(started.startedAt + 20 * MS_PER_DAY);
    expect(started.invoice.charges).toHaveLength(1);
    expect(await started.subscriptionStatuses()).toEqual(['active', 'active']);
  });

  it('ignores the webhooks of a charge that succeeded at once: its PaymentIntent is recorded once, its failure report is stale', async () => {
    const started = await startCollection({ charge: () => succeeds('pi_instant') });
    await stateWhen(started, (state) => state.phase === 'settled');
    await started.handle.signal(paymentFailedSignal, failedEvent('evt_stale_failure', 'pi_instant'));
    await started.handle.signal(paymentSucceededSignal, succeededEvent('evt_instant', 'pi_instant'));
    const final = await stateWhen(started, (state) => state.stripeEventIds.length === 2);
    expect(final).toMatchObject({ invoiceStatus: 'paid', pastDueSince: null, stripePayments: [{ paymentIntentId: 'pi_instant', applied: true }] });
    expect(started.invoice.stripePayments).toHaveLength(1);
    expect(started.invoice.failures).toEqual([]);
  });

  it('takes a success that arrives while it waits to retry, and charges nothing more', async () => {
    const started = await startCollection({ charge: (attempt) => softDecline(`pi_${attempt}`) });
    await stateWhen(started, (state) => state.phase === 'awaiting_retry');
    // The customer paid the failed PaymentIntent on-session (Stripe's hosted page), a day later.
    await env.sleep(MS_PER_DAY);
    await started.handle.signal(paymentSucceededSignal, succeededEvent('evt_recovered', 'pi_1'));
    const settled = await stateWhen(started, (state) => state.phase === 'settled');
    expect(settled).toMatchObject({ invoiceStatus: 'paid', recoveredAt: expect.any(String), nextAttemptAt: null });
    expect(await statusesWhen(started, 'active')).toHaveLength(2);
    await sleepUntil(started.startedAt + 20 * MS_PER_DAY);
    expect(started.invoice.charges).toHaveLength(1);
  });

  it('keeps the largest refund total and each dispute once, in any order', async () => {
    const started = await startCollection({ charge: () => succeeds('pi_paid') });
    await stateWhen(started, (state) => state.phase === 'settled');
    const refund = (stripeEventId: string, amountRefunded: number) => ({ stripeEventId, paymentIntentId: 'pi_paid', amountRefunded, occurredAt: new Date().toISOString() });
    const dispute = { stripeEventId: 'evt_dispute', paymentIntentId: 'pi_paid', disputeId: 'dp_1', amount: 10_000, reason: 'fraudulent', occurredAt: new Date().toISOString() };
    await started.handle.signal(chargeRefundedSignal, refund('evt_refund_2', 7_000));
    await started.handle.signal(chargeRefundedSignal, refund('evt_refund_1', 3_000));
    await started.handle.signal(disputeOpenedSignal, dispute);
    await started.handle.signal(disputeOpenedSignal, { ...dispute, stripeEventId: 'evt_dispute_redelivered' });
    const final = await stateWhen(started, (state) => state.stripeEventIds.length === 4);
    expect(final.refundedByPaymentIntent).toEqual({ pi_paid: 7_000 });
    expect(final.disputes.map((entry) => entry.disputeId)).toEqual(['dp_1']);
    await recordHistory('collection-paid-then-refunded', started.handle);
  });
});

describe('paymentCollection: send_invoice', () => {
  it('reminds 3 days before the due date, marks the account past due on it, reminds 1 and 7 days after, and is paid when a payment is recorded', async () => {
    const started = await startCollection({ collectionMethod: 'send_invoice', dueInDays: 30 });
    const waiting = await stateWhen(started, (state) => state.phase === 'awaiting_payment');
    expect(daysAfter(started, waiting.dueAt!)).toBe(30);
    await sleepUntil(started.startedAt + 26 * MS_PER_DAY);
    expect(started.invoice.reminders).toEqual([]);
    await sleepUntil(started.startedAt + 29 * MS_PER_DAY);
    expect(await started.subscriptionStatuses()).toEqual(['active', 'active']);
    await sleepUntil(started.startedAt + 30 * MS_PER_DAY + 3_600_000);
    expect(await statusesWhen(started, 'past_due')).toHaveLength(2);
    await sleepUntil(started.startedAt + 40 * MS_PER_DAY);
    expect(started.invoice.reminders.map((reminder) => [reminder.key, Math.round(daysAfter(started, reminder.at))])).toEqual([
      ['before_due:3', 27],
      ['after_due:1', 31],
      ['after_due:7', 37],
    ]);
    expect((await started.state()).remindersSent).toEqual(['before_due:3', 'after_due:1', 'after_due:7']);

    // The wire arrives: the API records it (here, the fake ledger) and signals after its commit.
    Object.assign(started.invoice, { status: 'paid', amountPaid: 10_000 });
    await started.handle.signal(paymentRecordedSignal, { paymentId: randomUUID() });
    const settled = await stateWhen(started, (state) => state.phase === 'settled');
    expect(settled).toMatchObject({ invoiceStatus: 'paid', amountOwed: 0, recoveredAt: expect.any(String), attempts: [] });
    expect(await statusesWhen(started, 'active')).toHaveLength(2);
    expect(started.invoice.charges).toEqual([]);
  });

  it('sends nothing and marks nothing past due when paid before the due date', async () => {
    const started = await startCollection({ collectionMethod: 'send_invoice', dueInDays: 30 });
    await stateWhen(started, (state) => state.phase === 'awaiting_payment');
    await sleepUntil(started.startedAt + 10 * MS_PER_DAY);
    Object.assign(started.invoice, { status: 'paid', amountPaid: 10_000 });
    await started.handle.signal(paymentRecordedSignal, { paymentId: randomUUID() });
    await stateWhen(started, (state) => state.phase === 'settled');
    await sleepUntil(started.startedAt + 45 * MS_PER_DAY);
    expect(started.invoice.reminders).toEqual([]);
    expect(await started.state()).toMatchObject({ pastDueSince: null, recoveredAt: null });
    expect(await started.subscriptionStatuses()).toEqual(['active', 'active']);
  });

  it('reads the invoice again before the due date even when the API’s signal was lost', async () => {
    const started = await startCollection({ collectionMethod: 'send_invoice', dueInDays: 5 });
    await stateWhen(started, (state) => state.phase === 'awaiting_payment');
    Object.assign(started.invoice, { status: 'paid', amountPaid: 10_000 });
    await sleepUntil(started.startedAt + 10 * MS_PER_DAY);
    expect(await started.state()).toMatchObject({ phase: 'settled', invoiceStatus: 'paid', pastDueSince: null });
    expect(started.invoice.reminders).toEqual([]);
  });
});

describe('paymentCollection input', () => {
  it('fails at once on an invalid dunning policy', async () => {
    const started = await startCollection({ dunning: { retryDelaysDays: [0] } });
    await expect(started.handle.result()).rejects.toThrow();
    const description = await started.handle.describe();
    expect(description.status.name).toBe('FAILED');
  });
});

describe('payment: and dispute: together', () => {
  const origin = { actorType: 'user', actorId: 'user:finance', requestId: 'test' };

  /** A customer dispute of the invoice, committed as the API would, and its `dispute:<id>` workflow. */
  async function openDispute(invoiceId: string, amount = 10_000) {
    const id = randomUUID();
    disputes.set(id, {
      id,
      invoiceId,
      organizationId: 'org-acme',
      source: 'customer',
      amount,
      currency: 'USD',
      status: 'open',
      resolution: null,
      approvalRequestId: null,
      creditNoteId: null,
      stripeRefundId: null,
      lastFailure: null,
      resolvedAt: null,
    });
    return env.client.workflow.start<typeof disputeToRefund>('disputeToRefund', { workflowId: `dispute:${id}`, taskQueue, args: [{ disputeId: id }] });
  }

  const attemptDays = (started: Started) => started.invoice.charges.map((charge) => [charge.attempt, Math.round(daysAfter(started, charge.at) * 10) / 10]);

  it('holds every retry while a dispute opened before the first retry is open; withdrawn, the remaining schedule resumes', async () => {
    const started = await startCollection({ charge: (attempt) => (attempt === 1 ? softDecline('pi_first') : succeeds('pi_second')) });
    await stateWhen(started, (state) => state.phase === 'awaiting_retry');
    await sleepUntil(started.startedAt + 1 * MS_PER_DAY);
    const dispute = await openDispute(started.invoiceId);
    const paused = await stateWhen(started, (state) => state.phase === 'paused_for_dispute');
    expect(paused.pausedForDisputes).toEqual([dispute.workflowId.slice('dispute:'.length)]);

    // Ten days later nothing was charged: the retry due on day 3 waits.
    await sleepUntil(started.startedAt + 11 * MS_PER_DAY);
    expect(attemptDays(started)).toEqual([[1, 0]]);
    expect((await started.state()).phase).toBe('paused_for_dispute');

    expect(await dispute.executeUpdate(withdrawDisputeUpdate, { args: [{ userId: 'owner', origin }] })).toMatchObject({ status: 'withdrawn' });
    // Two of the three days were left when the dispute opened on day 1; it was withdrawn on day 11.
    const resumed = await stateWhen(started, (state) => state.phase === 'awaiting_retry' && state.pausedSince === null);
    expect(daysAfter(started, resumed.nextAttemptAt!)).toBeCloseTo(13, 1);
    expect(resumed.pausedMs / MS_PER_DAY).toBeCloseTo(10, 1);
    await sleepUntil(started.startedAt + 13 * MS_PER_DAY + 3_600_000);
    const paid = await stateWhen(started, (state) => state.phase === 'settled');
    expect(paid).toMatchObject({ invoiceStatus: 'paid', amountOwed: 0 });
    expect(attemptDays(started)).toEqual([
      [1, 0],
      [2, 13],
    ]);
    await recordHistory('collection-paused-by-dispute', started.handle);
    await recordHistory('dispute-withdrawn', dispute);
  });

  it('a dispute opened while a charge is in flight: its decline is recorded, the account is not made past due, and no attempt starts until the dispute is rejected', async () => {
    let dispute: Awaited<ReturnType<typeof openDispute>> | undefined;
    const started = await startCollection({
      charge: (attempt, call) => {
        if (attempt === 1 && call === 1) {
          // The customer disputes while Stripe is still answering this charge.
          void openDispute([...invoices.values()].at(-1)!.invoiceId).then((handle) => (dispute = handle));
          return softDecline('pi_first');
        }
        return succeeds('pi_second');
      },
    });
    const paused = await stateWhen(started, (state) => state.phase === 'paused_for_dispute');
    expect(paused.attempts).toMatchObject([{ attempt: 1, outcome: 'declined' }]);
    expect(paused.pastDueSince).toBeNull();
    expect(started.invoice.failures.map((failure) => failure.attempt)).toEqual([1]);
    expect(await started.subscriptionStatuses()).toEqual(['active', 'active']);

    await sleepUntil(started.startedAt + 20 * MS_PER_DAY);
    expect(attemptDays(started)).toEqual([[1, 0]]);
    const handle = await eventually(async () => dispute);
    await handle.executeUpdate(resolveDisputeUpdate, { args: [{ outcome: 'reject', amount: null, comment: 'Service was delivered.', decidedBy: 'finance', origin }] });
    expect(await handle.query(disputeStateQuery)).toMatchObject({ status: 'rejected' });
    // The whole schedule moved on by the pause (the dispute opened at once): the retry is 3 days after the rejection.
    await sleepUntil(started.startedAt + 23 * MS_PER_DAY + 3_600_000);
    const paid = await stateWhen(started, (state) => state.phase === 'settled');
    expect(paid).toMatchObject({ invoiceStatus: 'paid', amountOwed: 0, pastDueSince: null });
    expect(attemptDays(started)).toEqual([
      [1, 0],
      [2, 23],
    ]);
  });

  it('the write-off after the last attempt waits for the dispute: credited in full, nothing is written off and nobody is past due', async () => {
    let dispute: Awaited<ReturnType<typeof openDispute>> | undefined;
    const started = await startCollection({
      dunning: { retryDelaysDays: [] },
      charge: () => {
        void openDispute([...invoices.values()].at(-1)!.invoiceId).then((handle) => (dispute = handle));
        return softDecline('pi_only');
      },
    });
    await stateWhen(started, (state) => state.phase === 'paused_for_dispute');
    await sleepUntil(started.startedAt + 15 * MS_PER_DAY);
    expect(started.invoice.writtenOffAt).toBeNull();
    const handle = await eventually(async () => dispute);
    await handle.executeUpdate(resolveDisputeUpdate, { args: [{ outcome: 'credit', amount: null, comment: null, decidedBy: 'finance', origin }] });
    const settled = await stateWhen(started, (state) => state.phase === 'settled');
    expect(settled).toMatchObject({ invoiceStatus: 'paid', pastDueSince: null });
    expect(started.invoice.writtenOffAt).toBeNull();
    expect(await started.subscriptionStatuses()).toEqual(['active', 'active']);
  });

  it('credited in full: nothing is left to collect, and the collection settles without another attempt', async () => {
    const started = await startCollection({ charge: (attempt) => (attempt === 1 ? softDecline('pi_first') : succeeds('pi_second')) });
    await stateWhen(started, (state) => state.phase === 'awaiting_retry');
    const dispute = await openDispute(started.invoiceId);
    await stateWhen(started, (state) => state.phase === 'paused_for_dispute');
    const resolved = await dispute.executeUpdate(resolveDisputeUpdate, { args: [{ outcome: 'credit', amount: null, comment: null, decidedBy: 'finance', origin }] });
    expect(resolved).toMatchObject({ status: 'resolved', creditNoteId: `cn-${resolved.id}` });
    const settled = await stateWhen(started, (state) => state.phase === 'settled');
    expect(settled).toMatchObject({ invoiceStatus: 'paid', amountOwed: 0 });
    await sleepUntil(started.startedAt + 30 * MS_PER_DAY);
    expect(attemptDays(started)).toEqual([[1, 0]]);
    expect(started.invoice.writtenOffAt).toBeNull();
  });

  it('credited in part: only what is still owed is collected, on the remaining schedule', async () => {
    const started = await startCollection({ charge: (attempt) => (attempt === 1 ? softDecline('pi_first') : succeeds('pi_second')) });
    await stateWhen(started, (state) => state.phase === 'awaiting_retry');
    const dispute = await openDispute(started.invoiceId, 4_000);
    await stateWhen(started, (state) => state.phase === 'paused_for_dispute');
    await sleepUntil(started.startedAt + 5 * MS_PER_DAY);
    await dispute.executeUpdate(resolveDisputeUpdate, { args: [{ outcome: 'credit', amount: 4_000, comment: null, decidedBy: 'finance', origin }] });
    await sleepUntil(started.startedAt + 8 * MS_PER_DAY + 3_600_000);
    await stateWhen(started, (state) => state.phase === 'settled');
    expect(started.invoice.charges.map((charge) => [charge.attempt, charge.amount])).toEqual([
      [1, 10_000],
      [2, 6_000],
    ]);
  });

  it('refunded on a paid invoice: nothing is left to collect and no attempt is made', async () => {
    const started = await startCollection({ charge: () => succeeds('pi_paid') });
    await stateWhen(started, (state) => state.phase === 'settled');
    const dispute = await openDispute(started.invoiceId, 2_500);
    const resolved = await dispute.executeUpdate(resolveDisputeUpdate, { args: [{ outcome: 'refund', amount: 2_500, comment: null, decidedBy: 'finance', origin }] });
    expect(resolved).toMatchObject({ status: 'resolved', stripeRefundId: `re_${resolved.id}` });
    expect(await dispute.result()).toMatchObject({ status: 'resolved' });
    await recordHistory('dispute-refunded', dispute);
    expect(await stateWhen(started, (state) => state.phase === 'settled')).toMatchObject({ invoiceStatus: 'paid', amountOwed: 0 });
    expect(attemptDays(started)).toEqual([[1, 0]]);
  });

  it('send_invoice: reminders and the past-due notice wait while disputed, moved on by the pause', async () => {
    const started = await startCollection({ collectionMethod: 'send_invoice', dueInDays: 10 });
    const dispute = await openDispute(started.invoiceId);
    await stateWhen(started, (state) => state.phase === 'paused_for_dispute');
    await sleepUntil(started.startedAt + 30 * MS_PER_DAY);
    expect(started.invoice.reminders).toEqual([]);
    expect((await started.state()).pastDueSince).toBeNull();
    await dispute.executeUpdate(resolveDisputeUpdate, { args: [{ outcome: 'reject', amount: null, comment: null, decidedBy: 'finance', origin }] });
    await stateWhen(started, (state) => state.phase === 'awaiting_payment' && state.pausedSince === null);
    // Due on day 10, disputed from day 0 to day 30: the reminder 3 days before is sent on day 37, past due on day 40.
    await sleepUntil(started.startedAt + 41 * MS_PER_DAY);
    const pastDue = await stateWhen(started, (state) => state.pastDueSince !== null);
    expect(started.invoice.reminders.map((reminder) => [reminder.key, Math.round(daysAfter(started, reminder.at))])).toEqual([['before_due:3', 37]]);
    expect(Math.round(daysAfter(started, pastDue.pastDueSince!))).toBe(40);
  });
});
