import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  CancelRequest,
  ChangePlanRequest,
  ChangeSeatsRequest,
  InvoiceLine,
  SubscriptionPhaseRecord,
  SubscriptionSnapshot,
} from '../../src/domain/index.js';

// The snapshot and the change requests are the domain's (src/domain/subscription/snapshot.ts).
export type {
  CancelRequest,
  ChangePlanRequest,
  ChangeSeatsRequest,
  PlanTerms,
  SubscriptionPhaseRecord,
  SubscriptionSnapshot,
  SubscriptionStatus,
} from '../../src/domain/index.js';

export interface SubscriptionLifecycleInput {
  snapshot: SubscriptionSnapshot;
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

/** The row PostgreSQL keeps for one subscription: what `subscription:<id>` holds today, with plans by id. */
export type SubscriptionMirror = Pick<
  SubscriptionSnapshot,
  | 'id'
  | 'organizationId'
  | 'applicationId'
  | 'departmentId'
  | 'status'
  | 'startDate'
  | 'trialEnd'
  | 'billingAnchorDay'
  | 'currentPeriodStart'
  | 'currentPeriodEnd'
  | 'cancelAt'
  | 'canceledAt'
  | 'pausedAt'
  | 'pastDueSince'
  | 'version'
> & {
  planId: string;
  seats: number;
  phases: (Pick<SubscriptionPhaseRecord, 'sequence' | 'kind' | 'effectiveAt' | 'seats' | 'prorationLines'> & { planId: string })[];
};

export type PersistVerdict =
  | { persisted: true }
  /** Refused: more seats are assigned than the new count; the newest assignments are named. */
  | { persisted: false; assigned: number; seatsToUnassign: { seatId: string; userId: string }[] };
