import { describe, expect, it } from '@jest/globals';
import { MS_PER_DAY, resolveDunningPolicy } from '../../../src/domain/index.js';
import type { CollectionInvoice } from '../../../workflows/messages/payment.js';
import { PaymentCollection } from '../../../workflows/payment-collection-state.js';

const invoice = (overrides: Partial<CollectionInvoice> = {}): CollectionInvoice => ({
  invoiceId: 'inv_1',
  organizationId: 'org_1',
  number: 'INV-1',
  status: 'open',
  collectionMethod: 'charge_automatically',
  currency: 'USD',
  amountOwed: 5_000,
  dueAt: null,
  ...overrides,
});

const started = (dunning = {}) => {
  const collection = new PaymentCollection('inv_1', resolveDunningPolicy(dunning));
  collection.started(invoice());
  return collection;
};

const succeeded = (stripeEventId: string, paymentIntentId: string, amount = 5_000) => ({
  stripeEventId,
  paymentIntentId,
  attempt: 1,
  amount,
  currency: 'USD',
  occurredAt: '2027-01-02T00:00:00.000Z',
});

describe('PaymentCollection: Stripe events', () => {
  it('takes each event once and each PaymentIntent once, in the order reported', () => {
    const collection = started();
    collection.paymentSucceeded(succeeded('evt_1', 'pi_1'));
    collection.paymentSucceeded(succeeded('evt_1', 'pi_1'));
    collection.paymentSucceeded(succeeded('evt_2', 'pi_1', 1));
    collection.paymentSucceeded(succeeded('evt_3', 'pi_2', 700));
    expect(collection.state.stripeEventIds).toEqual(['evt_1', 'evt_2', 'evt_3']);
    expect(collection.needsAttention()).toBe(true);
    const first = collection.nextUnrecordedPayment();
    expect(first).toEqual({ paymentIntentId: 'pi_1', receipt: { amount: 5_000, currency: 'USD', receivedAt: '2027-01-02T00:00:00.000Z' } });
    collection.paymentRecorded('pi_1', first!.receipt, true, invoice({ amountOwed: 0, status: 'paid' }));
    expect(collection.nextUnrecordedPayment()?.paymentIntentId).toBe('pi_2');
    collection.paymentRecorded('pi_2', collection.nextUnrecordedPayment()!.receipt, false, invoice({ amountOwed: 0, status: 'paid' }));
    expect(collection.needsAttention()).toBe(false);
    expect(collection.state.stripePayments).toEqual([
      { paymentIntentId: 'pi_1', amount: 5_000, applied: true },
      { paymentIntentId: 'pi_2', amount: 700, applied: false },
    ]);
    expect(collection.state.invoiceStatus).toBe('paid');
  });

  it('keeps the largest refund total whatever the order, and each dispute once', () => {
    const collection = started();
    const refunded = (stripeEventId: string, amountRefunded: number) => ({ stripeEventId, paymentIntentId: 'pi_1', amountRefunded, occurredAt: '2027-01-03T00:00:00.000Z' });
    collection.chargeRefunded(refunded('evt_r2', 3_000));
    collection.chargeRefunded(refunded('evt_r1', 1_000));
    expect(collection.state.refundedByPaymentIntent).toEqual({ pi_1: 3_000 });
    const dispute = { stripeEventId: 'evt_d1', paymentIntentId: 'pi_1', disputeId: 'dp_1', amount: 5_000, reason: 'fraudulent', occurredAt: '2027-01-04T00:00:00.000Z' };
    collection.disputeOpened(dispute);
    collection.disputeOpened({ ...dispute, stripeEventId: 'evt_d2' });
    expect(collection.state.disputes).toEqual([dispute]);
  });

  it('lets a success outrank a failure of the same PaymentIntent', () => {
    const collection = started();
    collection.paymentFailed({ stripeEventId: 'evt_f', paymentIntentId: 'pi_1', attempt: 1, amount: 5_000, failureCode: 'card_declined', hard: false, occurredAt: '2027-01-02T00:00:00.000Z' });
    expect(collection.failureOf('pi_1')).toEqual({ code: 'card_declined', hard: false });
    collection.paymentSucceeded(succeeded('evt_s', 'pi_1'));
    expect(collection.failureOf('pi_1')).toBeUndefined();
    expect(collection.hasSucceeded('pi_1')).toBe(true);
    expect(collection.state.stripeEventIds).toEqual(['evt_f', 'evt_s']);
  });

  it('reads the invoice again once per request', () => {
    const collection = started();
    expect(collection.takeInvoiceReadRequest()).toBe(false);
    collection.invoiceMayHaveChanged();
    expect(collection.needsAttention()).toBe(true);
    expect(collection.takeInvoiceReadRequest()).toBe(true);
    expect(collection.takeInvoiceReadRequest()).toBe(false);
    collection.invoiceMayHaveChanged();
    collection.invoiceReadUnderLock();
    expect(collection.needsAttention()).toBe(false);
  });
});

describe('PaymentCollection: dunning decisions', () => {
  const startedMs = Date.UTC(2027, 0, 1);

  it('counts a charge that succeeded as a payment of what is owed', () => {
    const collection = started();
    const record = collection.attemptAnswered(1, startedMs, { outcome: 'succeeded', paymentIntentId: 'pi_1' }, '2027-01-01T00:00:01.000Z');
    expect(record).toEqual({ attempt: 1, startedAt: '2027-01-01T00:00:00.000Z', paymentIntentId: 'pi_1', outcome: 'succeeded', declineCode: null, hard: false });
    expect(collection.nextUnrecordedPayment()).toEqual({ paymentIntentId: 'pi_1', receipt: { amount: 5_000, currency: 'USD', receivedAt: '2027-01-01T00:00:01.000Z' } });
  });

  it.each([
    // [attempt, decline, next attempt (days after the start) or null]
    [1, { code: 'card_declined', hard: false }, 3],
    [2, { code: 'card_declined', hard: false }, 5],
    [3, { code: 'card_declined', hard: false }, 7],
    [4, { code: 'card_declined', hard: false }, null],
    [1, { code: 'expired_card', hard: true }, null],
  ])('after failed attempt %i (%j) the next is due %p days later', (attempt, decline, days) => {
    const collection = started();
    const next = collection.attemptFailed(attempt, startedMs, decline);
    expect(next).toBe(days === null ? null : startedMs + days * MS_PER_DAY);
    expect(collection.state.nextAttemptAt).toBe(days === null ? null : new Date(startedMs + days * MS_PER_DAY).toISOString());
  });

  it('waits for a confirmation until the next dunning step, the last delay after the last attempt, or 3 days without retries', () => {
    expect(started().confirmationDeadlineMs(1, startedMs)).toBe(startedMs + 3 * MS_PER_DAY);
    expect(started().confirmationDeadlineMs(4, startedMs)).toBe(startedMs + 7 * MS_PER_DAY);
    expect(started({ retryDelaysDays: [] }).confirmationDeadlineMs(1, startedMs)).toBe(startedMs + 3 * MS_PER_DAY);
  });

  it('turns a missed confirmation into a timeout, or into the failure a webhook reported', () => {
    const collection = started();
    const pending = collection.attemptAnswered(1, startedMs, { outcome: 'requires_action', paymentIntentId: 'pi_1' }, '2027-01-01T00:00:01.000Z');
    expect(collection.confirmationMissed(pending, 'pi_1')).toEqual({ code: 'confirmation_timeout', hard: false });
    expect(pending).toMatchObject({ outcome: 'timed_out', declineCode: 'confirmation_timeout', hard: false });
    const reported = collection.attemptAnswered(2, startedMs, { outcome: 'processing', paymentIntentId: 'pi_2' }, '2027-01-01T00:00:01.000Z');
    collection.paymentFailed({ stripeEventId: 'evt_f', paymentIntentId: 'pi_2', attempt: 2, amount: 5_000, failureCode: 'lost_card', hard: true, occurredAt: '2027-01-02T00:00:00.000Z' });
    expect(collection.confirmationMissed(reported, 'pi_2')).toEqual({ code: 'lost_card', hard: true });
    expect(reported).toMatchObject({ outcome: 'declined', declineCode: 'lost_card', hard: true });
  });

  it('tells the subscriptions past due once, and recovered once the invoice is paid or void', () => {
    const collection = started();
    expect(collection.recover('2027-01-05T00:00:00.000Z')).toBe(false);
    expect(collection.markPastDue('2027-01-04T00:00:00.000Z')).toBe('2027-01-04T00:00:00.000Z');
    expect(collection.markPastDue('2027-01-05T00:00:00.000Z')).toBeNull();
    expect(collection.recover('2027-01-05T00:00:00.000Z')).toBe(false);
    collection.take(invoice({ status: 'void', amountOwed: 0 }));
    expect(collection.recover('2027-01-06T00:00:00.000Z')).toBe(true);
    expect(collection.recover('2027-01-07T00:00:00.000Z')).toBe(false);
    expect(collection.state).toMatchObject({ pastDueSince: '2027-01-04T00:00:00.000Z', recoveredAt: '2027-01-06T00:00:00.000Z' });
  });

  it('listens for late events for 120 days once settled', () => {
    const collection = started();
    expect(collection.settle(startedMs)).toBe(startedMs + 120 * MS_PER_DAY);
    expect(collection.state).toMatchObject({ phase: 'settled', listensUntil: new Date(startedMs + 120 * MS_PER_DAY).toISOString() });
  });
});
