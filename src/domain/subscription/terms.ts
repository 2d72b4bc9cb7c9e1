import { formatDay, parseDay, type EpochDay } from '../time/dates.js';
import { calendarCursor } from '../time/calendar.js';
import type { InvoiceLine } from '../invoice/lines.js';
import type { Plan } from '../pricing/plans.js';
import type { PlanTerms, SubscriptionPhaseRecord, SubscriptionSnapshot, SubscriptionStatus } from './snapshot.js';
import { resolveSubscription, type Subscription } from './subscription.js';
import { proposeSubscriptionLines } from './subscription-lines.js';

/**
 * Rules of a subscription snapshot, shared by the `subscription:<id>` workflow and the API that starts it:
 * billing periods, status, and the domain's proration lines for a change. No I/O, no clock.
 */

/** The domain plan for the fixed-fee terms; usage charges are rated by billing, not here. */
export function domainPlan(terms: PlanTerms): Plan {
  return {
    code: terms.code,
    name: terms.name,
    currency: terms.currency,
    interval: terms.interval,
    basePrice: terms.basePrice,
    seatPrice: terms.seatPrice,
    includedSeats: terms.includedSeats,
    trialDays: terms.trialDays,
    charges: [],
  };
}

export function domainSubscription(snapshot: SubscriptionSnapshot, cancelAt: string | null = snapshot.cancelAt): Subscription {
  return {
    id: snapshot.id,
    organizationId: snapshot.organizationId,
    ...(snapshot.departmentId === null ? {} : { departmentId: snapshot.departmentId }),
    startDate: snapshot.startDate,
    trialEndDate: snapshot.trialEnd,
    ...(cancelAt === null ? {} : { cancelAt }),
    ...(snapshot.billingAnchorDay === null ? {} : { billingAnchorDay: snapshot.billingAnchorDay }),
    phases: snapshot.phases.map((phase) => ({ effectiveAt: phase.effectiveAt, plan: domainPlan(phase.plan), seats: phase.seats })),
  };
}

interface CalendarTerms {
  startDate: string;
  billingAnchorDay: number | null;
  interval: PlanTerms['interval'];
}

/** The billing period containing `day`, on the subscription's calendar (anchored on its start). */
export function periodOn(terms: CalendarTerms, day: EpochDay): { start: string; end: string } {
  const cursor = calendarCursor({
    interval: terms.interval,
    anchor: terms.startDate,
    ...(terms.billingAnchorDay === null || terms.interval === 'week' ? {} : { anchorDay: terms.billingAnchorDay }),
  });
  const period = cursor.at(day);
  return { start: formatDay(period.start), end: formatDay(period.end) };
}

export function calendarOf(snapshot: SubscriptionSnapshot): CalendarTerms {
  return { startDate: snapshot.startDate, billingAnchorDay: snapshot.billingAnchorDay, interval: firstPhase(snapshot).plan.interval };
}

export function firstPhase(snapshot: SubscriptionSnapshot): SubscriptionPhaseRecord {
  const first = snapshot.phases[0];
  if (first === undefined) throw new Error(`subscription ${snapshot.id} has no phase`);
  return first;
}

/** The phase in effect on `day`: the last one started on or before it (later entries win ties). */
export function phaseInEffect(snapshot: SubscriptionSnapshot, day: EpochDay): SubscriptionPhaseRecord {
  let current = firstPhase(snapshot);
  for (const phase of snapshot.phases) {
    if (parseDay(phase.effectiveAt) <= day) current = phase;
  }
  return current;
}

/** Status follows from the facts, strongest first. */
export function statusAt(snapshot: SubscriptionSnapshot, today: EpochDay): SubscriptionStatus {
  if (snapshot.canceledAt !== null) return 'canceled';
  if (snapshot.pausedAt !== null) return 'paused';
  if (snapshot.pastDueSince !== null) return 'past_due';
  if (today < parseDay(snapshot.trialEnd)) return 'trialing';
  return 'active';
}

export interface NewSubscription {
  id: string;
  organizationId: string;
  departmentId: string | null;
  plan: PlanTerms;
  seats: number;
  startDate: string;
  trialDays: number;
  billingAnchorDay: number | null;
}

/** A new subscription's first snapshot as of `today`; a past start date behaves as if it had started then. */
export function initialSnapshot(input: NewSubscription, today: EpochDay): SubscriptionSnapshot {
  const start = parseDay(input.startDate);
  const snapshot: SubscriptionSnapshot = {
    id: input.id,
    organizationId: input.organizationId,
    applicationId: input.plan.applicationId,
    departmentId: input.departmentId,
    startDate: input.startDate,
    trialEnd: formatDay(start + input.trialDays),
    billingAnchorDay: input.billingAnchorDay,
    phases: [{ sequence: 0, kind: 'start', effectiveAt: input.startDate, plan: input.plan, seats: input.seats, prorationLines: [] }],
    nextSequence: 1,
    status: 'active',
    currentPeriodStart: input.startDate,
    currentPeriodEnd: input.startDate,
    cancelAt: null,
    canceledAt: null,
    pausedAt: null,
    pastDueSince: null,
    version: 0,
    run: 1,
  };
  // Validates the whole history the way invoicing will read it (dates, plan terms, calendar).
  resolveSubscription(domainSubscription(snapshot));
  const period = periodOn(calendarOf(snapshot), Math.max(today, start));
  return { ...snapshot, currentPeriodStart: period.start, currentPeriodEnd: period.end, status: statusAt(snapshot, today) };
}

/**
 * The domain's lines for one change: what `computeInvoice` will derive from the history once
 * billing reaches `day`. `marker` picks the change (`:change<index>:`) or the cancellation (`:cancel:`).
 */
export function changeLines(subscription: Subscription, day: string, marker: string): InvoiceLine[] {
  return proposeSubscriptionLines(resolveSubscription(subscription), [], parseDay(day)).filter((line) => line.key.includes(marker));
}
