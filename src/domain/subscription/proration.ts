import { parseDay } from '../time/dates.js';
import { DomainError } from '../errors.js';
import { assertMinorUnits } from '../money/money.js';

/**
 * `amount × days ÷ periodDays`, rounded once (half-up on the magnitude). Integer arithmetic
 * on BigInt keeps it exact for every safe-integer amount.
 */
export function prorate(amount: number, days: number, periodDays: number): number {
  assertMinorUnits(amount, 'amount');
  if (!Number.isInteger(periodDays) || periodDays <= 0 || !Number.isInteger(days) || days < 0 || days > periodDays) {
    throw new DomainError('INVALID_PERIOD', 'proration needs 0 <= days <= periodDays and periodDays > 0', {
      days,
      periodDays,
    });
  }
  const magnitude = BigInt(Math.abs(amount));
  const denominator = 2n * BigInt(periodDays);
  const rounded = Number((2n * magnitude * BigInt(days) + BigInt(periodDays)) / denominator);
  return amount < 0 && rounded !== 0 ? -rounded : rounded;
}

export interface ProrationFraction {
  /** Days from the effective date (inclusive) to the period end (exclusive). */
  daysRemaining: number;
  daysInPeriod: number;
}

/** Fraction of [periodStart, periodEnd) left on `effectiveDate`, by the day. */
export function prorationFraction(periodStart: string, periodEnd: string, effectiveDate: string): ProrationFraction {
  const start = parseDay(periodStart);
  const end = parseDay(periodEnd);
  const effective = parseDay(effectiveDate);
  if (end <= start) {
    throw new DomainError('INVALID_PERIOD', 'period end must be after its start', { periodStart, periodEnd });
  }
  if (effective < start || effective > end) {
    throw new DomainError('INVALID_PERIOD', 'effective date must lie inside the period', {
      periodStart,
      periodEnd,
      effectiveDate,
    });
  }
  return { daysRemaining: end - effective, daysInPeriod: end - start };
}

export interface TermsChange {
  periodStart: string;
  periodEnd: string;
  effectiveDate: string;
  /** Full-period amount of the old terms (0 when there were none, e.g. a trial). */
  oldAmount: number;
  /** Full-period amount of the new terms (0 when there are none, e.g. a cancellation). */
  newAmount: number;
}

export interface ProrationLines {
  /** Credit for the unused old terms: zero or negative. */
  credit: number;
  /** Debit for the remaining new terms: zero or positive. */
  debit: number;
  daysRemaining: number;
  daysInPeriod: number;
}

/**
 * A change inside a paid period: credit the old terms and debit the new ones for the days
 * left. Both lines round independently, so a change and its reverse on the same day cancel.
 */
export function prorateChange(change: TermsChange): ProrationLines {
  if (change.oldAmount < 0 || change.newAmount < 0) {
    throw new DomainError('INVALID_AMOUNT', 'terms amounts must not be negative', { ...change });
  }
  const { daysRemaining, daysInPeriod } = prorationFraction(
    change.periodStart,
    change.periodEnd,
    change.effectiveDate,
  );
  const credit = -prorate(change.oldAmount, daysRemaining, daysInPeriod);
  return {
    credit: credit === 0 ? 0 : credit,
    debit: prorate(change.newAmount, daysRemaining, daysInPeriod),
    daysRemaining,
    daysInPeriod,
  };
}
