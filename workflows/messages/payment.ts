import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { CollectionMethod, DunningPolicy, InvoiceStatus } from '../../src/domain/index.js';

/**
 * Stripe webhook events for `payment:<invoiceId>`. The API signals each Stripe event once per
 * event id, but a signal may still repeat (a redelivery after a lost acknowledgement) and events
 * arrive in any order: handlers dedupe by `stripeEventId` and must not depend on order.
 * Amounts are minor units; `occurredAt` is the Stripe event's creation time (ISO 8601).
 */
export interface PaymentSucceededEvent {
  stripeEventId: string;
  paymentIntentId: string;
  /** The collection attempt the PaymentIntent was created for (null if its metadata lacks one). */
  attempt: number | null;
  /** What Stripe received. */
  amount: number;
  /** ISO 4217, upper case. */
  currency: string;
  occurredAt: string;
}

export interface PaymentFailedEvent {
  stripeEventId: string;
  paymentIntentId: string;
  attempt: number | null;
  /** The PaymentIntent's amount. */
  amount: number;
  /** Stripe's decline code, else its error code; null when Stripe gave none. */
  failureCode: string | null;
  /** A hard decline (src/domain/payments/charges.ts isHardDecline): do not retry the same payment method. */
  hard: boolean;
  occurredAt: string;
}

export interface ChargeRefundedEvent {
  stripeEventId: string;
  paymentIntentId: string;
  /** Total refunded on the charge so far (Stripe's `amount_refunded`), not this refund alone. */
  amountRefunded: number;
  occurredAt: string;
}

export interface DisputeOpenedEvent {
  stripeEventId: string;
  paymentIntentId: string;
  disputeId: string;
  /** The disputed amount. */
  amount: number;
  /** Stripe's dispute reason, e.g. "fraudulent", "product_not_received". */
  reason: string;
  occurredAt: string;
}

export const paymentSucceededSignal = defineSignal<[PaymentSucceededEvent]>('paymentSucceeded');
export const paymentFailedSignal = defineSignal<[PaymentFailedEvent]>('paymentFailed');
export const chargeRefundedSignal = defineSignal<[ChargeRefundedEvent]>('chargeRefunded');
export const disputeOpenedSignal = defineSignal<[DisputeOpenedEvent]>('disputeOpened');
/**
 * A dispute of the invoice (a customer's, or a card dispute Stripe reported) opened or ended and is
 * committed: the workflow reads which are open, and pauses collection or resumes it.
 */
export const disputeChangedSignal = defineSignal<[{ disputeId: string }]>('disputeChanged');

/** What `payment:<invoiceId>` is started with (by the billing cycle, for a finalized invoice with something to pay). */
export interface PaymentCollectionInput {
  invoiceId: string;
  /** Defaults: src/domain/payments/dunning.ts `defaultDunningPolicy`. */
  dunning?: Partial<DunningPolicy>;
}

/** Where `payment:<invoiceId>` stands; `settled` once the invoice is paid, void or written off and its consequences are done. */
export type CollectionPhase = 'starting' | 'charging' | 'awaiting_confirmation' | 'awaiting_retry' | 'awaiting_payment' | 'awaiting_cancellation' | 'paused_for_dispute' | 'settled';

/** One charge of an invoice: attempt n is the PaymentIntent with idempotency key `invoice:<id>:charge:<n>`. */
export interface CollectionAttempt {
  attempt: number;
  startedAt: string;
  paymentIntentId: string | null;
  /** `timed_out`: Stripe asked for action (or kept processing) and no webhook settled it before the next step. */
  outcome: 'succeeded' | 'requires_action' | 'processing' | 'declined' | 'timed_out';
  declineCode: string | null;
  hard: boolean;
}

export interface PaymentCollectionState {
  invoiceId: string;
  organizationId: string | null;
  collectionMethod: 'charge_automatically' | 'send_invoice' | null;
  /** The invoice's status as this workflow last read or wrote it. */
  invoiceStatus: 'draft' | 'open' | 'paid' | 'void' | 'uncollectible' | null;
  phase: CollectionPhase;
  /** Minor units still owed. */
  amountOwed: number;
  attempts: CollectionAttempt[];
  nextAttemptAt: string | null;
  /** `send_invoice`: when payment is due. */
  dueAt: string | null;
  /** Keys of the reminders sent (`before_due:3`, `after_due:1`). */
  remindersSent: string[];
  /** When the account's subscriptions were told they are past due; null if never. */
  pastDueSince: string | null;
  recoveredAt: string | null;
  subscriptionsCanceledAt: string | null;
  /** Stripe payments recorded by this workflow; `applied: false` when the PaymentIntent was already recorded. */
  stripePayments: { paymentIntentId: string; amount: number; applied: boolean }[];
  /** Total refunded per PaymentIntent, as Stripe last reported it. */
  refundedByPaymentIntent: Record<string, number>;
  disputes: DisputeOpenedEvent[];
  /** The invoice's active disputes as last read: while there is one, no charge attempt and no dunning step. */
  pausedForDisputes: string[];
  /** Since when collection has been paused (null while it is not). */
  pausedSince: string | null;
  /** How long collection has been paused in all: the dunning schedule resumes shifted by it. */
  pausedMs: number;
  /** Stripe events taken into account, in arrival order (a redelivered event is not counted again). */
  stripeEventIds: string[];
  /** Once settled: until when late Stripe events are still taken (then the workflow completes). */
  listensUntil: string | null;
}

export const paymentStateQuery = defineQuery<PaymentCollectionState>('state');
/** The API recorded a payment (a wire, a check) and committed it: the workflow reads the invoice again. */
export const paymentRecordedSignal = defineSignal<[{ paymentId: string }]>('paymentRecorded');
/** The API voided the invoice and committed it: collection stops. */
export const invoiceVoidedSignal = defineSignal<[{ voidedAt: string }]>('invoiceVoided');

/** What `payment:<invoiceId>` needs to know of its invoice. */
export interface CollectionInvoice {
  invoiceId: string;
  organizationId: string;
  number: string | null;
  status: InvoiceStatus;
  collectionMethod: CollectionMethod;
  currency: string;
  /** Minor units the customer still owes (0 unless open). */
  amountOwed: number;
  dueAt: string | null;
  /** The invoice's active disputes: collection pauses while there is one (absent from results recorded before disputes existed). */
  activeDisputeIds?: string[];
}

export interface StripePaymentReceipt {
  invoiceId: string;
  paymentIntentId: string;
  amount: number;
  currency: string;
  receivedAt: string;
}

export interface PaymentFailure {
  invoiceId: string;
  attempt: number;
  paymentIntentId: string | null;
  declineCode: string | null;
  hard: boolean;
  /** null: no retry follows. */
  nextAttemptAt: string | null;
}

export interface ReminderRequest {
  invoiceId: string;
  /** `before_due:3`, `after_due:7`: one reminder per key and invoice. */
  key: string;
  relation: 'before_due' | 'after_due';
  days: number;
}
