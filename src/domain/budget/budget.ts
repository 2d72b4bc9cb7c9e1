import { DomainError } from '../errors.js';
import type { InvoiceLine } from '../invoice/lines.js';
import { Decimal, parseDecimal } from '../money/decimal.js';
import { allocate, assertNonNegativeMinorUnits, roundMinor, sumMinor } from '../money/money.js';
import { periodContaining } from '../time/calendar.js';
import { parseDay } from '../time/dates.js';

/**
 * Budgets and cost allocation: how a subscription's charges split across departments, what a
 * budget has spent, what is pending, where it is heading, which thresholds it has crossed, and
 * whether a purchase may go ahead. Pure: the API, the usage path and the billing cycle ask.
 */

export const budgetPeriods = ['month', 'quarter', 'year'] as const;
export type BudgetPeriod = (typeof budgetPeriods)[number];
export const budgetEnforcements = ['none', 'approval', 'block'] as const;
export type BudgetEnforcement = (typeof budgetEnforcements)[number];
export const defaultAlertThresholds = [50, 80, 100] as const;

export interface CostAllocation {
  departmentId: string;
  /** A decimal percent; a subscription's allocations sum to 100. */
  percent: string;
}

/** Refuses allocations that do not split a charge exactly once: each department once, percents summing to 100. */
export function validateCostAllocations(allocations: readonly CostAllocation[]): void {
  if (allocations.length === 0) return;
  const seen = new Set<string>();
  let sum = new Decimal(0);
  for (const allocation of allocations) {
    if (seen.has(allocation.departmentId)) throw new DomainError('INVALID_ALLOCATION', `department ${allocation.departmentId} is allocated twice`, { departmentId: allocation.departmentId });
    seen.add(allocation.departmentId);
    const percent = parseDecimal(allocation.percent, { field: 'percent', maxPlaces: 4 });
    if (percent.lte(0)) throw new DomainError('INVALID_ALLOCATION', 'each percent must be above 0', { departmentId: allocation.departmentId });
    sum = sum.plus(percent);
  }
  if (!sum.eq(100)) throw new DomainError('INVALID_ALLOCATION', `allocation percents sum to ${sum.toFixed()}, not 100`, { sum: sum.toFixed() });
}

/**
 * Splits a line across departments by the allocation's percents: exact minor units (largest
 * remainder, ties to the earlier department), one line per department with an amount, the key
 * suffixed by the department so each part is billed once.
 */
export function allocateLine(line: InvoiceLine, allocations: readonly CostAllocation[]): InvoiceLine[] {
  if (allocations.length === 0) return [line];
  const amounts = allocate(line.amount, allocations.map((allocation) => allocation.percent));
  return allocations.flatMap((allocation, index) => {
    const amount = amounts[index] ?? 0;
    if (amount === 0) return [];
    return [{ ...line, key: `${line.key}:dept:${allocation.departmentId}`, departmentId: allocation.departmentId, amount, description: `${line.description} (${allocation.percent}% to department)` }];
  });
}

/** The budget period containing `day`: calendar months, quarters or years (UTC). */
export function budgetPeriodOf(period: BudgetPeriod, day: string): { start: string; end: string } {
  const { start, end } = periodContaining({ interval: period, anchor: '2000-01-01' }, day);
  return { start, end };
}

export type BudgetStatus = 'ok' | 'warning' | 'exceeded';

export interface BudgetTracking {
  periodStart: string;
  periodEnd: string;
  amount: number;
  spent: number;
  pending: number;
  remaining: number;
  /** `(spent + pending) ÷ amount × 100`, two decimals. */
  percentUsed: string;
  forecast: number;
  status: BudgetStatus;
}

export interface TrackingInput {
  amount: number;
  period: { start: string; end: string };
  /** The day it is. */
  today: string;
  /** Billed by finalized invoices to the budget's scope in the period. */
  spent: number;
  /** What the period's charges so far would add: its recurring part is known for the period, its usage part still grows. */
  pending: { recurring: number; usage: number };
  thresholds: readonly number[];
}

/**
 * Tracking: what is used (`spent + pending`), and the forecast — what is known for the period
 * (spent and pending recurring charges) plus the usage so far projected linearly over the whole
 * period: `usage × periodDays ÷ daysElapsed`, today counted as elapsed; rounded once.
 */
export function trackBudget(input: TrackingInput): BudgetTracking {
  assertNonNegativeMinorUnits(input.amount, 'amount');
  const start = parseDay(input.period.start);
  const end = parseDay(input.period.end);
  const periodDays = end - start;
  const elapsed = Math.min(periodDays, Math.max(1, parseDay(input.today) - start + 1));
  const pending = input.pending.recurring + input.pending.usage;
  const used = input.spent + pending;
  const projectedUsage = roundMinor(new Decimal(input.pending.usage).times(periodDays).dividedBy(elapsed), 'forecast');
  const forecast = input.spent + input.pending.recurring + projectedUsage;
  const percentUsed = input.amount === 0 ? (used > 0 ? '100.00' : '0.00') : new Decimal(used).times(100).dividedBy(input.amount).toFixed(2, Decimal.ROUND_DOWN);
  const first = Math.min(...input.thresholds);
  const status: BudgetStatus = new Decimal(percentUsed).gte(100) ? 'exceeded' : input.thresholds.length > 0 && new Decimal(percentUsed).gte(first) ? 'warning' : 'ok';
  return {
    periodStart: input.period.start,
    periodEnd: input.period.end,
    amount: input.amount,
    spent: input.spent,
    pending,
    remaining: input.amount - used,
    percentUsed,
    forecast,
    status,
  };
}

/** The thresholds (percent of the amount) that `used` has reached and that have not fired this period yet, lowest first. */
export function thresholdsToFire(thresholds: readonly number[], used: number, amount: number, fired: readonly number[]): number[] {
  return [...thresholds]
    .sort((a, b) => a - b)
    .filter((threshold) => !fired.includes(threshold) && new Decimal(used).times(100).gte(new Decimal(amount).times(threshold)));
}

export type BudgetVerdict = { decision: 'allow' } | { decision: 'approval' | 'block'; forecast: number; addedCost: number; amount: number };

/** Whether a purchase whose added cost takes the forecast past the amount may go ahead, waits for approval, or is refused. */
export function budgetVerdict(enforcement: BudgetEnforcement, tracking: Pick<BudgetTracking, 'forecast' | 'amount'>, addedCost: number): BudgetVerdict {
  if (enforcement === 'none' || addedCost <= 0 || tracking.forecast + addedCost <= tracking.amount) return { decision: 'allow' };
  return { decision: enforcement, forecast: tracking.forecast + addedCost, addedCost, amount: tracking.amount };
}

/** Lines of an invoice or a preview that fall to a budget: its organization, its department if it has one, their period starting in the budget's. */
export function linesInBudget(lines: readonly InvoiceLine[], scope: { organizationId: string; departmentId: string | null; period: { start: string; end: string } }): InvoiceLine[] {
  return lines.filter(
    (line) =>
      line.type !== 'tax' &&
      !line.key.startsWith('credit:') &&
      line.organizationId === scope.organizationId &&
      (scope.departmentId === null || line.departmentId === scope.departmentId) &&
      line.periodStart >= scope.period.start &&
      line.periodStart < scope.period.end,
  );
}

/** Splits what lines add into what recurs (fees, prorations, terms) and what is usage. */
export function recurringAndUsage(lines: readonly InvoiceLine[]): { recurring: number; usage: number } {
  const usage = sumMinor(lines.filter((line) => line.type === 'usage').map((line) => line.amount));
  return { recurring: sumMinor(lines.map((line) => line.amount)) - usage, usage };
}
