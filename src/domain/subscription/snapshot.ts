import type { InvoiceLine } from '../invoice/lines.js';
import type { BillingInterval } from '../time/calendar.js';

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
