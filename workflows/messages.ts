import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ClosedPeriod } from '../activities/invoicing.js';
import type { BillingInterval, DunningPolicy, InvoiceLine } from '../src/domain/index.js';

/**
 * `ApplicationFailure` type of a refusal by the domain's rules (activities/domain-failures.ts):
 * not retryable, with a `DomainFailureDetails` as its first detail. The API answers it with 422
 * and that code.
 */
export const domainFailureType = 'DomainError';

export interface DomainFailureDetails {
  /** The domain error's code as the API shows it, e.g. `amount_overflow`. */
  code: string;
  message: string;
}

/** Where a billing account stands: `needs_attention` from a closing that could not be computed until one succeeds. */
export type BillingStatus = 'ok' | 'needs_attention';

/**
 * The Keyword search attribute `billing:<accountId>` keeps its `BillingStatus` in (set once a
 * closing fails; `ok` again after the next closing succeeds), so operators list the accounts to
 * look at: `BillingStatus = "needs_attention"`. Registered at worker start (src/temporal/search-attributes.ts).
 */
export const billingStatusSearchAttribute = { name: 'BillingStatus', type: 'KEYWORD' } as const;

/** A closing of a billing day that could not be computed: the domain refused the account's data. */
export interface BillingFailure extends DomainFailureDetails {
  billingDay: string;
  /** ISO instant of the (first) failed attempt that day. */
  failedAt: string;
}

/** `ApplicationFailure` type a `runNow` answers with when the closing could not run (a dependency stayed unavailable): the API answers 503. */
export const billingUnavailableFailureType = 'BillingUnavailable';

/** What `billing:<accountId>` reports about itself. */
export interface BillingCycleState {
  organizationId: string;
  startedAt: string;
  /** The last billing day closed ("YYYY-MM-DD"), null before the first invoice. */
  lastBilledDay: string | null;
  /** The next billing day it waits for, null when no subscription will start a period. */
  nextRunDay: string | null;
  status: BillingStatus;
  /** The closing that put the account in `needs_attention`; null while it is `ok`. */
  lastError: BillingFailure | null;
}

export const billingStateQuery = defineQuery<BillingCycleState>('state');
/** When the next cycle runs (ISO instant), or null when nothing is scheduled. */
export const nextRunAtQuery = defineQuery<string | null>('nextRunAt');

/** What one closing produced; `invoice` is null when nothing was due. */
export interface BillingRunResult {
  billingDay: string;
  invoice: ClosedPeriod | null;
}

/**
 * Bills what is due now and answers with the invoice (behind `POST /v1/organizations/{id}/invoices/run`).
 * A closing the domain refuses fails the update with a `domainFailureType` failure (its details a `BillingFailure`).
 */
export const runNowUpdate = defineUpdate<BillingRunResult, []>('runNow');

/** Where a subscription stands; `subscription:<id>` derives it and PostgreSQL mirrors it. */
export type SubscriptionStatus = 'trialing' | 'active' | 'past_due' | 'paused' | 'canceled';

/** The fixed-fee terms of one plan version: what prorating a change needs (usage is rated at billing). */
export interface PlanTerms {
  /** The plan version's id. */
  id: string;
  code: string;
  name: string;
  version: number;
  applicationId: string;
  currency: string;
  interval: BillingInterval;
  basePrice: number;
  seatPrice: number;
  includedSeats: number;
  trialDays: number;
}

/** One entry of the append-only history: these terms from `effectiveAt` (a billing day) on. */
export interface SubscriptionPhaseRecord {
  /** Never reused, also when a scheduled (not yet effective) phase is superseded. */
  sequence: number;
  kind: 'start' | 'plan_change' | 'seat_change';
  effectiveAt: string;
  plan: PlanTerms;
  seats: number;
  /** The domain's credit and debit lines for this change (display only; invoices derive them again). */
  prorationLines: InvoiceLine[];
}

/**
 * Everything `subscription:<id>` knows; it is also the input of each continued run. Days are
 * "YYYY-MM-DD" billing days, instants ISO 8601 strings.
 */
export interface SubscriptionSnapshot {
  id: string;
  organizationId: string;
  applicationId: string;
  departmentId: string | null;
  startDate: string;
  /** First paid day; equal to startDate without a trial. */
  trialEnd: string;
  billingAnchorDay: number | null;
  phases: SubscriptionPhaseRecord[];
  nextSequence: number;
  status: SubscriptionStatus;
  currentPeriodStart: string;
  currentPeriodEnd: string;
  /** First day no longer subscribed (access ends then), once a cancellation is requested. */
  cancelAt: string | null;
  canceledAt: string | null;
  pausedAt: string | null;
  pastDueSince: string | null;
  /** Transitions so far; the mirror ignores a write older than what it holds. */
  version: number;
  /** Runs so far: 1 for the first, plus one per continue-as-new. */
  run: number;
}

export interface SubscriptionLifecycleInput {
  snapshot: SubscriptionSnapshot;
}

export interface ChangePlanRequest {
  plan: PlanTerms;
  /** Default: upgrades (a higher full-period fee) now, downgrades at the period end. */
  timing?: 'immediate' | 'period_end';
  /** An explicit first day of the new terms; overrides `timing`. */
  effectiveAt?: string;
}

export interface ChangeSeatsRequest {
  seats: number;
  /** A day from the current period's start up to today; default today. */
  effectiveAt?: string;
}

export interface CancelRequest {
  at: 'now' | 'period_end';
  /** With `now`: credit the unused rest of the paid period and end access today. */
  refund?: boolean;
}

/** The workflow's verdict on an accepted change. */
export interface SubscriptionChangeResult {
  state: SubscriptionSnapshot;
  /** The billing day the change takes effect. */
  effectiveAt: string;
  /** The domain's proration credit and debit lines for it (empty when nothing is prorated). */
  prorationLines: InvoiceLine[];
}

/** `ApplicationFailure` types of a refused subscription change: the API answers 409 and 422. */
export const subscriptionRefusal = {
  conflict: 'SubscriptionConflict',
  invalid: 'SubscriptionInvalid',
} as const;

/** Details of a refusal: a stable code and, for a seat reduction, the seats to unassign first. */
export interface SubscriptionRefusalDetails {
  code: string;
  seatsToUnassign?: { seatId: string; userId: string }[];
}

export const changePlanUpdate = defineUpdate<SubscriptionChangeResult, [ChangePlanRequest]>('changePlan');
export const changeSeatsUpdate = defineUpdate<SubscriptionChangeResult, [ChangeSeatsRequest]>('changeSeats');
export const cancelUpdate = defineUpdate<SubscriptionChangeResult, [CancelRequest]>('cancel');
export const pauseUpdate = defineUpdate<SubscriptionChangeResult, []>('pause');
export const resumeUpdate = defineUpdate<SubscriptionChangeResult, []>('resume');
/** Payment collection reports a failed collection: past_due from `since`, until recovered. */
export const pastDueSignal = defineSignal<[{ since: string }]>('pastDue');
export const paymentRecoveredSignal = defineSignal<[]>('paymentRecovered');
/**
 * Payment collection gave up on an invoice of the account: cancel as "now" without a refund (the
 * unpaid period is not credited), keeping `pastDueSince`, so seat access stays cut.
 */
export const cancelForNonPaymentSignal = defineSignal<[{ invoiceId: string }]>('cancelForNonPayment');
export const subscriptionStateQuery = defineQuery<SubscriptionSnapshot>('state');

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
  /** A hard decline (src/domain/payments.ts isHardDecline): do not retry the same payment method. */
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

/** What `payment:<invoiceId>` is started with (by the billing cycle, for a finalized invoice with something to pay). */
export interface PaymentCollectionInput {
  invoiceId: string;
  /** Defaults: src/domain/dunning.ts `defaultDunningPolicy`. */
  dunning?: Partial<DunningPolicy>;
}

/** Where `payment:<invoiceId>` stands; `settled` once the invoice is paid, void or written off and its consequences are done. */
export type CollectionPhase = 'starting' | 'charging' | 'awaiting_confirmation' | 'awaiting_retry' | 'awaiting_payment' | 'awaiting_cancellation' | 'settled';

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
