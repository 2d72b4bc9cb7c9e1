import { calendarCursor, type BillingCalendar, type CalendarCursor } from '../time/calendar.js';
import { formatDay, parseDay, type EpochDay } from '../time/dates.js';
import { DomainError } from '../errors.js';
import { compilePlan, type CompiledPlan, type Plan } from '../pricing/plans.js';
import type { CostAllocation } from '../budget/budget.js';

/** Terms from `effectiveAt` (a billing day) until the next phase. */
export interface SubscriptionPhase {
  effectiveAt: string;
  plan: Plan;
  seats: number;
}

/**
 * A subscription's whole history. Phases are append-only: a plan or seat change adds a phase,
 * never edits one, which is what makes invoicing from history repeatable.
 */
export interface Subscription {
  id: string;
  organizationId: string;
  departmentId?: string;
  /** First day of the subscription; may be in the past (backdating). */
  startDate: string;
  /** First paid day; days before it are trial. Defaults to startDate + the first plan's trialDays. */
  trialEndDate?: string;
  /** First day no longer subscribed (exclusive end), when canceled. */
  cancelAt?: string;
  /** Day of month periods start on (month-based intervals); defaults to startDate's day. */
  billingAnchorDay?: number;
  phases: SubscriptionPhase[];
  /** How its charges split across departments, from each `effectiveFrom` on (a line goes by its periodStart). */
  costAllocations?: { effectiveFrom: string; allocations: CostAllocation[] }[];
}

export interface ResolvedPhase {
  effectiveAt: EpochDay;
  compiled: CompiledPlan;
  seats: number;
}

/** A subscription validated and turned into epoch days, ready for line proposals. */
export interface ResolvedSubscription {
  subscription: Subscription;
  start: EpochDay;
  /** First billable day: after the trial. */
  billableStart: EpochDay;
  /** Exclusive end, or null while the subscription runs. */
  end: EpochDay | null;
  phases: readonly ResolvedPhase[];
  calendar: BillingCalendar;
  cursor: CalendarCursor;
}

function invalid(subscription: Subscription, message: string): DomainError {
  return new DomainError('INVALID_SUBSCRIPTION', `subscription ${JSON.stringify(subscription.id)}: ${message}`, {
    subscriptionId: subscription.id,
  });
}

export function trialEndDate(startDate: string, trialDays: number): string {
  if (!Number.isSafeInteger(trialDays) || trialDays < 0) {
    throw new DomainError('INVALID_SUBSCRIPTION', 'trialDays must be a non-negative integer', { trialDays });
  }
  return formatDay(parseDay(startDate) + trialDays);
}

export function resolveSubscription(subscription: Subscription): ResolvedSubscription {
  if (typeof subscription.id !== 'string' || subscription.id === '') {
    throw new DomainError('INVALID_SUBSCRIPTION', 'subscription id is required', {});
  }
  const first = subscription.phases[0];
  if (first === undefined) throw invalid(subscription, 'needs at least one phase');
  const start = parseDay(subscription.startDate);
  const phases = subscription.phases.map((phase): ResolvedPhase => {
    if (!Number.isSafeInteger(phase.seats) || phase.seats < 0) throw invalid(subscription, 'seats must be a non-negative integer');
    return { effectiveAt: parseDay(phase.effectiveAt), compiled: compilePlan(phase.plan), seats: phase.seats };
  });
  if (phases[0]?.effectiveAt !== start) throw invalid(subscription, 'the first phase must start on startDate');
  phases.forEach((phase, index) => {
    const previous = phases[index - 1];
    if (previous === undefined) return;
    if (phase.effectiveAt < previous.effectiveAt) throw invalid(subscription, 'phases must be in date order');
    if (phase.compiled.plan.interval !== first.plan.interval) {
      throw invalid(subscription, 'a plan change cannot change the billing interval; cancel and resubscribe');
    }
    if (phase.compiled.plan.currency !== first.plan.currency) throw invalid(subscription, 'a plan change cannot change currency');
  });
  const billableStart = parseDay(subscription.trialEndDate ?? trialEndDate(subscription.startDate, first.plan.trialDays));
  if (billableStart < start) throw invalid(subscription, 'trialEndDate must not be before startDate');
  const end = subscription.cancelAt === undefined ? null : parseDay(subscription.cancelAt);
  if (end !== null && end < start) throw invalid(subscription, 'cancelAt must not be before startDate');
  const calendar: BillingCalendar = {
    interval: first.plan.interval,
    anchor: subscription.startDate,
    ...(subscription.billingAnchorDay === undefined ? {} : { anchorDay: subscription.billingAnchorDay }),
  };
  return { subscription, start, billableStart, end, phases, calendar, cursor: calendarCursor(calendar) };
}

/** The phase in effect on `day`: the last one that started on or before it (later entries win ties). */
export function phaseOn(resolved: ResolvedSubscription, day: EpochDay): ResolvedPhase {
  let current = resolved.phases[0] as ResolvedPhase;
  for (const phase of resolved.phases) {
    if (phase.effectiveAt <= day) current = phase;
  }
  return current;
}

/** One billing period of a subscription and its billed part [from, to) (after trial, before cancellation). */
export interface ServicePeriod {
  index: number;
  periodStart: EpochDay;
  periodEnd: EpochDay;
  from: EpochDay;
  to: EpochDay;
}

/** Service periods whose billed part has begun on or before `untilDay`, in order. */
export function servicePeriods(resolved: ResolvedSubscription, untilDay: EpochDay): ServicePeriod[] {
  const periods: ServicePeriod[] = [];
  const end = resolved.end ?? Number.POSITIVE_INFINITY;
  if (resolved.billableStart >= end) return periods;
  for (let period = resolved.cursor.at(resolved.billableStart); period.start < end; ) {
    const from = Math.max(period.start, resolved.billableStart);
    if (from > untilDay) break;
    periods.push({ index: period.index, periodStart: period.start, periodEnd: period.end, from, to: Math.min(period.end, end) });
    period = resolved.cursor.byIndex(period.index + 1);
  }
  return periods;
}

/** The usage windows closed by `targetDate`: aggregate usage over exactly these before invoicing. */
export function usageWindows(subscription: Subscription, targetDate: string): { periodStart: string; periodEnd: string }[] {
  const resolved = resolveSubscription(subscription);
  const target = parseDay(targetDate);
  return servicePeriods(resolved, target)
    .filter((period) => period.to <= target)
    .map((period) => ({ periodStart: formatDay(period.from), periodEnd: formatDay(period.to) }));
}
