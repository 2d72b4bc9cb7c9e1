import { calendarCursor, type BillingInterval } from '../time/calendar.js';
import type { IncludedAllocation } from '../pricing/charge-models/types.js';
import { Decimal, decimalToString, parseDecimal } from '../money/decimal.js';
import { dayOf, formatDay, parseDay } from '../time/dates.js';
import { DomainError } from '../errors.js';

/**
 * Rules of live usage metering: which billing period an event belongs to, the included quota of
 * a period, its overage, quota alerts and hard limits. Rating stays with `pricing/rating.ts`; these
 * functions decide what the API tells a caller while the period is still running.
 */

/** Percentages of an included quota at which an alert is raised, once per period each. */
export const USAGE_THRESHOLDS: readonly number[] = [50, 80, 100];

/** A subscription's billing calendar: its plan's interval, anchored on its start date. */
export interface SubscriptionCalendar {
  interval: BillingInterval;
  /** "YYYY-MM-DD". */
  startDate: string;
  billingAnchorDay: number | null;
}

export interface UsagePeriod {
  /** "YYYY-MM-DD", inclusive. */
  start: string;
  /** "YYYY-MM-DD", exclusive. */
  end: string;
}

/**
 * Finds the billing period of instants on one subscription's calendar. Build it once per
 * subscription and ask it for every event: the cursor does the calendar work once.
 */
export function usagePeriods(calendar: SubscriptionCalendar): (epochMs: number) => UsagePeriod {
  const cursor = calendarCursor({
    interval: calendar.interval,
    anchor: calendar.startDate,
    // Weekly periods follow the start's weekday; an anchor day only applies to month-based intervals.
    ...(calendar.billingAnchorDay === null || calendar.interval === 'week' ? {} : { anchorDay: calendar.billingAnchorDay }),
  });
  return (epochMs) => {
    if (!Number.isFinite(epochMs)) throw new DomainError('INVALID_DATE', 'usage instant must be a finite time', { epochMs });
    const period = cursor.at(dayOf(epochMs));
    return { start: formatDay(period.start), end: formatDay(period.end) };
  };
}

/** One entry of a subscription's append-only history, as far as quotas care. */
export interface TermsPhase {
  /** "YYYY-MM-DD": the first day these terms apply. */
  effectiveAt: string;
  /** Order of entries on the same day (later wins). */
  sequence: number;
}

/**
 * The terms a period's usage is measured against: those in effect on the period's last day, as
 * invoicing rates it (docs/billing-rules.md, "Usage"). A seat change inside the period therefore
 * moves the whole period's per-seat quota, in the alerts exactly as on the invoice.
 */
export function termsForPeriod<P extends TermsPhase>(phases: readonly P[], periodEnd: string): P {
  const lastDay = parseDay(periodEnd) - 1;
  const ordered = [...phases].sort((a, b) => parseDay(a.effectiveAt) - parseDay(b.effectiveAt) || a.sequence - b.sequence);
  let current = ordered[0];
  if (current === undefined) throw new DomainError('INVALID_SUBSCRIPTION', 'a subscription needs at least one phase', {});
  for (const phase of ordered) {
    if (parseDay(phase.effectiveAt) <= lastDay) current = phase;
  }
  return current;
}

/** The quota parts of a plan charge. */
export interface QuotaTerms {
  included?: number;
  allocation?: IncludedAllocation;
}

/** Units free in a period: `included` once (pooled) or once per seat (per_seat). */
export function includedQuantity(charge: QuotaTerms, seats: number): number {
  const included = charge.included ?? 0;
  if (!Number.isSafeInteger(included) || included < 0) {
    throw new DomainError('INVALID_CHARGE', 'included must be a non-negative whole number of units', { included });
  }
  if (!Number.isSafeInteger(seats) || seats < 0) throw new DomainError('INVALID_USAGE', 'seats must be a non-negative integer', { seats });
  if ((charge.allocation ?? 'pooled') === 'pooled') return included;
  const quota = included * seats;
  if (!Number.isSafeInteger(quota)) throw new DomainError('AMOUNT_OVERFLOW', 'included units × seats exceed the safe integer range', { included, seats });
  return quota;
}

export interface UsageBreakdown {
  /** The period's aggregated value, a decimal string. */
  quantity: string;
  /** The included quota of the period. */
  included: number;
  /** What the quota leaves to rate: max(0, quantity − included), a decimal string. */
  overage: string;
}

export function usageBreakdown(quantity: string, included: number): UsageBreakdown {
  const value = parseDecimal(quantity, { field: 'quantity', allowNegative: true });
  const overage = Decimal.max(value.minus(included), 0);
  return { quantity: decimalToString(value), included, overage: decimalToString(overage) };
}

/** The thresholds (percent of `quota`) that `value` has reached; none without a quota. */
export function thresholdsReached(value: string, quota: number, thresholds: readonly number[] = USAGE_THRESHOLDS): number[] {
  if (quota <= 0) return [];
  const scaled = parseDecimal(value, { field: 'value', allowNegative: true }).times(100);
  return thresholds.filter((percent) => scaled.gte(new Decimal(percent).times(quota)));
}

/**
 * The alerts to raise now: thresholds reached and not raised yet in this period. Only going up
 * raises one; usage that falls back (a `latest` gauge) and rises again raises nothing twice.
 */
export function thresholdsToRaise(value: string, quota: number, alreadyRaised: readonly number[], thresholds: readonly number[] = USAGE_THRESHOLDS): number[] {
  return thresholdsReached(value, quota, thresholds).filter((percent) => !alreadyRaised.includes(percent));
}

/** Whether a period's value is beyond the charge's hard limit (exactly at the limit is allowed). */
export function exceedsHardLimit(value: string, hardLimit: number | undefined): boolean {
  if (hardLimit === undefined) return false;
  return parseDecimal(value, { field: 'value', allowNegative: true }).gt(hardLimit);
}
