import { DomainError } from '../errors.js';
import type { InvoiceLine } from '../invoice/lines.js';
import { fixedFees } from '../pricing/plans.js';
import { formatDay, instantOfDay, parseDay, type EpochDay } from '../time/dates.js';
import type { CancelRequest, ChangePlanRequest, ChangeSeatsRequest, SubscriptionPhaseRecord, SubscriptionSnapshot } from './snapshot.js';
import { resolveSubscription } from './subscription.js';
import { calendarOf, changeLines, domainSubscription, periodOn, phaseInEffect, statusAt } from './terms.js';

/**
 * The decisions of `subscription:<id>` on each requested change: pure functions of the snapshot
 * and today's billing day (`today`, an epoch day; `nowIso`, the workflow's instant). The workflow
 * commits what they decide and turns a `SubscriptionRefusedError` into its update's failure.
 */

/** A change the rules refuse: `conflict` with the subscription's state (409) or `invalid` in itself (422). */
export class SubscriptionRefusedError extends Error {
  constructor(
    readonly kind: 'conflict' | 'invalid',
    message: string,
    readonly details: { code: string; seatsToUnassign?: { seatId: string; userId: string }[] },
  ) {
    super(message);
    this.name = 'SubscriptionRefusedError';
  }
}

function refuse(kind: SubscriptionRefusedError['kind'], message: string, details: SubscriptionRefusedError['details']): never {
  throw new SubscriptionRefusedError(kind, message, details);
}

/** A proposed next state, checked by the domain the way invoicing will read it. */
export interface SubscriptionDecision {
  next: SubscriptionSnapshot;
  effectiveAt: string;
  prorationLines: InvoiceLine[];
  checkAssignedSeats: boolean;
}

function validated(next: SubscriptionSnapshot, cancelAt: string | null = next.cancelAt): void {
  try {
    resolveSubscription(domainSubscription(next, cancelAt));
  } catch (error) {
    if (error instanceof DomainError) refuse('invalid', error.message, { code: error.code.toLowerCase() });
    throw error;
  }
}

function refuseIfCanceled(state: SubscriptionSnapshot): void {
  if (state.canceledAt !== null) refuse('conflict', `subscription ${state.id} is canceled`, { code: 'subscription_canceled' });
}

/** Adds a phase in date order (a later entry wins a same-day tie) and returns its index. */
function withPhase(phases: readonly SubscriptionPhaseRecord[], phase: SubscriptionPhaseRecord): { phases: SubscriptionPhaseRecord[]; index: number } {
  const day = parseDay(phase.effectiveAt);
  const index = phases.filter((existing) => parseDay(existing.effectiveAt) <= day).length;
  return { phases: [...phases.slice(0, index), phase, ...phases.slice(index)], index };
}

function earliestChangeDay(state: SubscriptionSnapshot, today: EpochDay): EpochDay {
  const applied = state.phases.filter((phase) => parseDay(phase.effectiveAt) <= today).map((phase) => parseDay(phase.effectiveAt));
  return Math.max(parseDay(state.currentPeriodStart), ...applied);
}

function totalFee(plan: SubscriptionPhaseRecord['plan'], seats: number): number {
  const fees = fixedFees({ ...plan, charges: [] }, seats);
  return fees.base + fees.seat;
}

export function decidePlanChange(state: SubscriptionSnapshot, request: ChangePlanRequest, today: EpochDay): SubscriptionDecision {
  refuseIfCanceled(state);
  if (request.plan.applicationId !== state.applicationId) {
    refuse('invalid', `plan ${request.plan.code} belongs to another application`, { code: 'plan_application_mismatch' });
  }
  const current = phaseInEffect(state, today);
  let day: EpochDay;
  if (request.effectiveAt !== undefined) {
    day = parseDay(request.effectiveAt);
    if (day < earliestChangeDay(state, today)) {
      refuse('invalid', `a plan change cannot take effect before ${formatDay(earliestChangeDay(state, today))}`, { code: 'effective_date_too_early' });
    }
  } else {
    const timing =
      request.timing ??
      (totalFee(request.plan, current.seats) > totalFee(current.plan, current.seats) ? 'immediate' : 'period_end');
    day = timing === 'immediate' ? today : parseDay(state.currentPeriodEnd);
  }
  if (state.cancelAt !== null && day >= parseDay(state.cancelAt)) {
    refuse('conflict', `subscription ${state.id} ends on ${state.cancelAt}`, { code: 'subscription_ending' });
  }
  // Scheduled terms that have not begun are superseded by the newer request.
  const kept = { ...state, phases: state.phases.filter((phase) => parseDay(phase.effectiveAt) <= today) };
  const replaced = phaseInEffect(kept, day);
  if (replaced.plan.id === request.plan.id) {
    refuse('conflict', `plan ${request.plan.code} v${request.plan.version} is already in effect then`, { code: 'plan_unchanged' });
  }
  const effectiveAt = formatDay(day);
  const { phases, index } = withPhase(kept.phases, {
    sequence: state.nextSequence,
    kind: 'plan_change',
    effectiveAt,
    plan: request.plan,
    seats: replaced.seats,
    prorationLines: [],
  });
  return finishChange(state, phases, index, effectiveAt, false);
}

export function decideSeatChange(state: SubscriptionSnapshot, request: ChangeSeatsRequest, today: EpochDay): SubscriptionDecision {
  refuseIfCanceled(state);
  if (!Number.isSafeInteger(request.seats) || request.seats < 1) refuse('invalid', 'seats must be a positive integer', { code: 'seats_invalid' });
  const day = request.effectiveAt === undefined ? today : parseDay(request.effectiveAt);
  if (day > today) refuse('invalid', 'a seat change takes effect today or earlier in the current period', { code: 'effective_date_in_future' });
  if (day < earliestChangeDay(state, today)) {
    refuse('invalid', `a seat change cannot take effect before ${formatDay(earliestChangeDay(state, today))}`, { code: 'effective_date_too_early' });
  }
  const current = phaseInEffect(state, today);
  if (current.seats === request.seats) refuse('conflict', `subscription ${state.id} already has ${request.seats} seats`, { code: 'seats_unchanged' });
  const effectiveAt = formatDay(day);
  // Scheduled terms keep their plan and take the new seat count.
  const carried = state.phases.map((phase) => (parseDay(phase.effectiveAt) > today ? { ...phase, seats: request.seats } : phase));
  const { phases, index } = withPhase(carried, {
    sequence: state.nextSequence,
    kind: 'seat_change',
    effectiveAt,
    plan: phaseInEffect(state, day).plan,
    seats: request.seats,
    prorationLines: [],
  });
  return finishChange(state, phases, index, effectiveAt, request.seats < current.seats);
}

function finishChange(state: SubscriptionSnapshot, phases: SubscriptionPhaseRecord[], index: number, effectiveAt: string, checkAssignedSeats: boolean): SubscriptionDecision {
  const candidate: SubscriptionSnapshot = { ...state, phases, nextSequence: state.nextSequence + 1 };
  validated(candidate);
  const prorationLines = changeLines(domainSubscription(candidate), effectiveAt, `:change${index}:`);
  const withLines = phases.map((phase, position) => (position === index ? { ...phase, prorationLines } : phase));
  return { next: { ...candidate, phases: withLines }, effectiveAt, prorationLines, checkAssignedSeats };
}

/** null: the cancellation is already scheduled so (a retry changes nothing). */
export function decideCancel(state: SubscriptionSnapshot, request: CancelRequest, today: EpochDay, nowIso: string): SubscriptionDecision | null {
  refuseIfCanceled(state);
  const trialing = today < parseDay(state.trialEnd);
  if (request.at === 'period_end') {
    if (request.refund === true) refuse('invalid', 'a refund is given only when canceling now', { code: 'refund_needs_cancel_now' });
    // A trial ends unpaid: canceling "at period end" during it ends at the trial's end.
    const cancelAt = trialing ? state.trialEnd : state.currentPeriodEnd;
    if (state.cancelAt === cancelAt) return null;
    validated(state, cancelAt);
    return { next: { ...state, cancelAt }, effectiveAt: cancelAt, prorationLines: [], checkAssignedSeats: false };
  }
  // Without a refund the paid period is used up: access ends at its end, and nothing is credited.
  const cancelAt = request.refund === true || trialing ? formatDay(today) : state.currentPeriodEnd;
  validated(state, cancelAt);
  const prorationLines = cancelAt === formatDay(today) ? changeLines(domainSubscription(state, cancelAt), cancelAt, ':cancel:') : [];
  return { next: { ...state, cancelAt, canceledAt: nowIso }, effectiveAt: formatDay(today), prorationLines, checkAssignedSeats: false };
}

// Pausing a paused subscription (or resuming a running one) is a retry: it changes nothing (null).
export function decidePause(state: SubscriptionSnapshot, today: EpochDay, nowIso: string): SubscriptionDecision | null {
  refuseIfCanceled(state);
  if (state.pausedAt !== null) return null;
  return { next: { ...state, pausedAt: nowIso }, effectiveAt: formatDay(today), prorationLines: [], checkAssignedSeats: false };
}

export function decideResume(state: SubscriptionSnapshot, today: EpochDay): SubscriptionDecision | null {
  refuseIfCanceled(state);
  if (state.pausedAt === null) return null;
  return { next: { ...state, pausedAt: null }, effectiveAt: formatDay(today), prorationLines: [], checkAssignedSeats: false };
}

/**
 * Payment collection gave up: like canceling now without a refund, no credit for a period that
 * was never paid (a trial ends today). null when already canceled.
 */
export function decideCancelForNonPayment(state: SubscriptionSnapshot, today: EpochDay, nowIso: string): SubscriptionSnapshot | null {
  if (state.canceledAt !== null) return null;
  const cancelAt = today < parseDay(state.trialEnd) ? formatDay(today) : state.currentPeriodEnd;
  const earlier = state.cancelAt !== null && parseDay(state.cancelAt) < parseDay(cancelAt) ? state.cancelAt : cancelAt;
  return { ...state, cancelAt: earlier, canceledAt: nowIso };
}

/** The state as of `today`: a due cancellation takes effect, a finished period rolls over, status follows. */
export function settledOn(state: SubscriptionSnapshot, today: EpochDay): { next: SubscriptionSnapshot; rolled: boolean } {
  let next = state;
  if (next.canceledAt === null && next.cancelAt !== null && today >= parseDay(next.cancelAt)) {
    next = { ...next, canceledAt: instantOfDay(next.cancelAt) };
  }
  let rolled = false;
  if (next.canceledAt === null && today >= parseDay(next.currentPeriodEnd)) {
    const period = periodOn(calendarOf(next), today);
    next = { ...next, currentPeriodStart: period.start, currentPeriodEnd: period.end };
    rolled = true;
  }
  return { next: { ...next, status: statusAt(next, today) }, rolled };
}

/** The next billing day something happens by itself: trial end, a scheduled phase, cancellation, period end. */
export function nextWakeDay(state: SubscriptionSnapshot, today: EpochDay): EpochDay {
  const days = [parseDay(state.currentPeriodEnd), parseDay(state.trialEnd), ...state.phases.map((phase) => parseDay(phase.effectiveAt))];
  if (state.cancelAt !== null) days.push(parseDay(state.cancelAt));
  return Math.min(...days.filter((day) => day > today));
}
