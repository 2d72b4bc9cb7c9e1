import { MS_PER_DAY, retryDelayMs, type ChargeResult, type DunningPolicy } from '../src/domain/index.js';
import type {
  ChargeRefundedEvent,
  CollectionAttempt,
  CollectionPhase,
  CollectionInvoice,
  DisputeOpenedEvent,
  PaymentCollectionState,
  PaymentFailedEvent,
  PaymentSucceededEvent,
} from './messages/payment.js';

/**
 * After the invoice is settled the workflow keeps listening this long (Stripe's window for
 * disputes), so a late webhook — a refund, a dispute, a PaymentIntent that succeeded after its
 * attempt timed out — still finds it. Then it completes.
 */
const lateEventWindowDays = 120;

/** When Stripe asks for action off-session or keeps processing, and the policy has no retry delay to wait for. */
const defaultConfirmationWaitMs = 3 * MS_PER_DAY;

export interface Decline {
  code: string | null;
  hard: boolean;
}

export interface StripeReceipt {
  amount: number;
  currency: string;
  receivedAt: string;
}

/**
 * What `payment:<invoiceId>` knows and decides, without Temporal: the Stripe events taken in
 * (each once, in any order), the invoice as last read, the attempts and their outcomes. The
 * workflow (workflows/payment-collection.ts) feeds it signals and activity results and asks it
 * what to do next; `state` is what its query answers. Times are epoch milliseconds of workflow time.
 */
export class PaymentCollection {
  readonly state: PaymentCollectionState;
  /** The invoice's currency, once read. */
  currency = '';
  /** Successful PaymentIntents as reported (by a charge's answer or a webhook), and those already recorded. */
  private readonly succeeded = new Map<string, StripeReceipt>();
  private readonly recorded = new Set<string>();
  private readonly failed = new Map<string, Decline>();
  /** The API committed a payment or a void: read the invoice again. */
  private invoiceChanged = false;

  constructor(
    invoiceId: string,
    readonly policy: Required<DunningPolicy>,
  ) {
    this.state = {
      invoiceId,
      organizationId: null,
      collectionMethod: null,
      invoiceStatus: null,
      phase: 'starting',
      amountOwed: 0,
      attempts: [],
      nextAttemptAt: null,
      dueAt: null,
      remindersSent: [],
      pastDueSince: null,
      recoveredAt: null,
      subscriptionsCanceledAt: null,
      stripePayments: [],
      refundedByPaymentIntent: {},
      disputes: [],
      pausedForDisputes: [],
      pausedSince: null,
      pausedMs: 0,
      stripeEventIds: [],
      listensUntil: null,
    };
  }

  private firstDelivery(stripeEventId: string): boolean {
    if (this.state.stripeEventIds.includes(stripeEventId)) return false;
    this.state.stripeEventIds.push(stripeEventId);
    return true;
  }

  paymentSucceeded(event: PaymentSucceededEvent): void {
    if (!this.firstDelivery(event.stripeEventId) || this.succeeded.has(event.paymentIntentId)) return;
    this.succeeded.set(event.paymentIntentId, { amount: event.amount, currency: event.currency, receivedAt: event.occurredAt });
  }

  paymentFailed(event: PaymentFailedEvent): void {
    if (!this.firstDelivery(event.stripeEventId) || this.failed.has(event.paymentIntentId)) return;
    this.failed.set(event.paymentIntentId, { code: event.failureCode, hard: event.hard });
  }

  chargeRefunded(event: ChargeRefundedEvent): void {
    if (!this.firstDelivery(event.stripeEventId)) return;
    // Stripe reports the running total: the largest report is the latest, whatever the order.
    const refunded = this.state.refundedByPaymentIntent;
    refunded[event.paymentIntentId] = Math.max(refunded[event.paymentIntentId] ?? 0, event.amountRefunded);
  }

  disputeOpened(event: DisputeOpenedEvent): void {
    if (!this.firstDelivery(event.stripeEventId) || this.state.disputes.some((dispute) => dispute.disputeId === event.disputeId)) return;
    this.state.disputes.push(event);
  }

  /** The API changed the invoice (a recorded payment, a void), or the workflow wants it read again anyway. */
  invoiceMayHaveChanged(): void {
    this.invoiceChanged = true;
  }

  /** Whether the invoice is to be read again; asking clears the request. */
  takeInvoiceReadRequest(): boolean {
    const requested = this.invoiceChanged;
    this.invoiceChanged = false;
    return requested;
  }

  /** A step that reads the invoice under its lock is starting: changes before it are seen by it; a signal during it asks again. */
  invoiceReadUnderLock(): void {
    this.invoiceChanged = false;
  }

  /** The first reported payment not recorded yet, in the order they were reported. */
  nextUnrecordedPayment(): { paymentIntentId: string; receipt: StripeReceipt } | undefined {
    for (const [paymentIntentId, receipt] of this.succeeded) {
      if (!this.recorded.has(paymentIntentId)) return { paymentIntentId, receipt };
    }
    return undefined;
  }

  paymentRecorded(paymentIntentId: string, receipt: StripeReceipt, applied: boolean, invoice: CollectionInvoice): void {
    this.recorded.add(paymentIntentId);
    this.state.stripePayments.push({ paymentIntentId, amount: receipt.amount, applied });
    this.take(invoice);
  }

  needsAttention(): boolean {
    return this.invoiceChanged || this.nextUnrecordedPayment() !== undefined;
  }

  isOpen(): boolean {
    return this.state.invoiceStatus === 'open';
  }

  hasSucceeded(paymentIntentId: string): boolean {
    return this.succeeded.has(paymentIntentId);
  }

  /** A success outranks a failure of the same PaymentIntent, whichever was reported first. */
  failureOf(paymentIntentId: string): Decline | undefined {
    return this.succeeded.has(paymentIntentId) ? undefined : this.failed.get(paymentIntentId);
  }

  /** The invoice as a step read or left it. */
  take(invoice: CollectionInvoice): void {
    this.state.invoiceStatus = invoice.status;
    this.state.amountOwed = invoice.amountOwed;
    this.state.pausedForDisputes = invoice.activeDisputeIds ?? [];
  }

  /** An open invoice with an active dispute is not collected: no charge attempt, no dunning step. */
  isDisputed(): boolean {
    return this.isOpen() && this.state.pausedForDisputes.length > 0;
  }

  /** Collection pauses; returns the phase to go back to. */
  pause(nowMs: number): CollectionPhase {
    const { phase } = this.state;
    this.state.phase = 'paused_for_dispute';
    this.state.pausedSince = new Date(nowMs).toISOString();
    return phase;
  }

  /** Collection resumes after `heldMs`: the dunning schedule, the next attempt included, moves on by as much. */
  resume(phase: CollectionPhase, heldMs: number): void {
    const { state } = this;
    state.phase = phase;
    state.pausedSince = null;
    state.pausedMs += heldMs;
    if (state.nextAttemptAt !== null) state.nextAttemptAt = new Date(Date.parse(state.nextAttemptAt) + heldMs).toISOString();
  }

  /** The first read of the invoice. */
  started(invoice: CollectionInvoice): void {
    this.take(invoice);
    this.state.organizationId = invoice.organizationId;
    this.state.collectionMethod = invoice.collectionMethod;
    this.currency = invoice.currency;
  }

  /** The `since` to tell the subscriptions, or null when they were told already. */
  markPastDue(nowIso: string): string | null {
    if (this.state.pastDueSince !== null) return null;
    this.state.pastDueSince = nowIso;
    return nowIso;
  }

  /** Records attempt `attempt`'s answer from Stripe; a success counts as a reported payment of what is owed. */
  attemptAnswered(attempt: number, startedMs: number, result: ChargeResult, nowIso: string): CollectionAttempt {
    const record: CollectionAttempt = {
      attempt,
      startedAt: new Date(startedMs).toISOString(),
      paymentIntentId: result.paymentIntentId ?? null,
      outcome: result.outcome,
      declineCode: result.outcome === 'declined' ? result.code : null,
      hard: result.outcome === 'declined' && result.hard,
    };
    this.state.attempts.push(record);
    if (result.outcome === 'succeeded' && !this.succeeded.has(result.paymentIntentId)) {
      this.succeeded.set(result.paymentIntentId, { amount: this.state.amountOwed, currency: this.currency, receivedAt: nowIso });
    }
    return record;
  }

  /** Until when an attempt Stripe has not finished waits for its webhook: the next dunning step. */
  confirmationDeadlineMs(attempt: number, startedMs: number): number {
    const lastDelayDays = this.policy.retryDelaysDays.at(-1);
    const waitMs = retryDelayMs(this.policy, attempt) ?? (lastDelayDays === undefined ? defaultConfirmationWaitMs : lastDelayDays * MS_PER_DAY);
    return startedMs + waitMs;
  }

  /** No webhook settled the pending attempt in time (or one reported its failure): it counts as declined. */
  confirmationMissed(record: CollectionAttempt, pendingPaymentIntentId: string): Decline {
    const reported = this.failureOf(pendingPaymentIntentId);
    const decline = reported ?? { code: 'confirmation_timeout', hard: false };
    record.outcome = reported ? 'declined' : 'timed_out';
    record.declineCode = decline.code;
    record.hard = decline.hard;
    return decline;
  }

  /** After a failed attempt: when the next one is due (null: none, the invoice is written off). */
  attemptFailed(attempt: number, startedMs: number, decline: Decline): number | null {
    const delay = retryDelayMs(this.policy, attempt);
    const nextAttemptMs = decline.hard || delay === null ? null : startedMs + delay;
    this.state.nextAttemptAt = nextAttemptMs === null ? null : new Date(nextAttemptMs).toISOString();
    return nextAttemptMs;
  }

  /** Whether a paid or voided invoice should release the account from past due now (then it is marked recovered). */
  recover(nowIso: string): boolean {
    const { state } = this;
    if (state.pastDueSince === null || state.recoveredAt !== null || (state.invoiceStatus !== 'paid' && state.invoiceStatus !== 'void')) return false;
    state.recoveredAt = nowIso;
    return true;
  }

  /** Collection is over: late Stripe events are still taken until the returned instant. */
  settle(nowMs: number): number {
    this.state.phase = 'settled';
    const listensUntilMs = nowMs + lateEventWindowDays * MS_PER_DAY;
    this.state.listensUntil = new Date(listensUntilMs).toISOString();
    return listensUntilMs;
  }
}
