import { BILLING_INTERVALS, type BillingInterval } from '../time/calendar.js';
import type { Charge } from './charge-models/types.js';
import { parseDecimal, type Decimal } from '../money/decimal.js';
import { DomainError } from '../errors.js';
import { assertNonNegativeMinorUnits, currencyExponent } from '../money/money.js';
import { compileCharge, type CompiledCharge } from './rating.js';

/** A seat-count discount: at `minSeats` seats or more, seat fees are `percentOff` percent cheaper. */
export interface SeatVolumeDiscount {
  minSeats: number;
  percentOff: string;
}

/** A plan with the field names of the public API; amounts are integer minor units. */
export interface Plan {
  code: string;
  name?: string;
  currency: string;
  interval: BillingInterval;
  basePrice: number;
  seatPrice: number;
  includedSeats: number;
  trialDays: number;
  charges: Charge[];
  /** Minimum spend per full period in minor units, topped up in arrears with a commitment line. */
  minimumCommitment?: number;
  seatVolumeDiscounts?: SeatVolumeDiscount[];
}

export interface CompiledPlan {
  plan: Plan;
  charges: ReadonlyMap<string, CompiledCharge>;
  /** Sorted by minSeats descending, so the first match is the best tier. */
  seatVolumeDiscounts: readonly { minSeats: number; percentOff: Decimal }[];
}

function invalidPlan(plan: Plan, message: string): DomainError {
  return new DomainError('INVALID_PLAN', `plan ${JSON.stringify(plan.code)}: ${message}`, { planCode: plan.code });
}

export function compilePlan(plan: Plan): CompiledPlan {
  if (typeof plan.code !== 'string' || plan.code === '') {
    throw new DomainError('INVALID_PLAN', 'plan code is required', {});
  }
  currencyExponent(plan.currency);
  if (!BILLING_INTERVALS.includes(plan.interval)) throw invalidPlan(plan, 'unknown interval');
  assertNonNegativeMinorUnits(plan.basePrice, 'basePrice');
  assertNonNegativeMinorUnits(plan.seatPrice, 'seatPrice');
  assertNonNegativeMinorUnits(plan.minimumCommitment ?? 0, 'minimumCommitment');
  for (const [field, value] of [
    ['includedSeats', plan.includedSeats],
    ['trialDays', plan.trialDays],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw invalidPlan(plan, `${field} must be a non-negative integer`);
  }
  const charges = new Map<string, CompiledCharge>();
  for (const charge of plan.charges) {
    if (charges.has(charge.metricCode)) throw invalidPlan(plan, `two charges for metric ${charge.metricCode}`);
    charges.set(charge.metricCode, compileCharge(charge, plan.currency));
  }
  const seatVolumeDiscounts = (plan.seatVolumeDiscounts ?? []).map((discount) => {
    if (!Number.isSafeInteger(discount.minSeats) || discount.minSeats < 1) {
      throw invalidPlan(plan, 'seat volume discount minSeats must be a positive integer');
    }
    const percentOff = parseDecimal(discount.percentOff, { field: 'percentOff' });
    if (percentOff.gt(100)) throw invalidPlan(plan, 'seat volume discount percentOff must be at most 100');
    return { minSeats: discount.minSeats, percentOff };
  });
  seatVolumeDiscounts.sort((a, b) => b.minSeats - a.minSeats);
  if (new Set(seatVolumeDiscounts.map((discount) => discount.minSeats)).size !== seatVolumeDiscounts.length) {
    throw invalidPlan(plan, 'seat volume discounts need distinct minSeats');
  }
  return { plan, charges, seatVolumeDiscounts };
}

/** Seats that pay: seats beyond the plan's included seats. */
export function billableSeats(plan: Plan, seats: number): number {
  return Math.max(0, seats - plan.includedSeats);
}

/** The full-period fixed fees of a plan at a seat count, in minor units. */
export interface FixedFees {
  base: number;
  seat: number;
  billableSeats: number;
}

export function fixedFees(plan: Plan, seats: number): FixedFees {
  const paying = billableSeats(plan, seats);
  const seat = plan.seatPrice * paying;
  if (!Number.isSafeInteger(seat)) {
    throw new DomainError('AMOUNT_OVERFLOW', 'seat fee exceeds the safe integer range', { planCode: plan.code, seats });
  }
  return { base: plan.basePrice, seat, billableSeats: paying };
}

/** Percent off seat fees for a seat count, or null when no volume tier applies. */
export function seatVolumeDiscountFor(plan: CompiledPlan, seats: number): Decimal | null {
  return plan.seatVolumeDiscounts.find((discount) => seats >= discount.minSeats)?.percentOff ?? null;
}
