import { chargeModel } from './charge-models/registry.js';
import { MAX_UNIT_SCALE, POW10, multiplySafe } from './charge-models/scaled.js';
import type { Charge, ChargeRater } from './charge-models/types.js';
import { Decimal, parseDecimal } from '../money/decimal.js';
import { DomainError } from '../errors.js';
import { currencyExponent, roundMinor } from '../money/money.js';

/** A charge validated and prepared for one currency; compile once, rate many aggregates. */
export interface CompiledCharge {
  charge: Charge;
  currency: string;
  rater: ChargeRater;
  included: Decimal;
  /** `included` as a safe integer, or null when it is fractional (decimal path only). */
  includedWhole: number | null;
  perSeat: boolean;
}

export function compileCharge(charge: Charge, currency: string): CompiledCharge {
  if (typeof charge.metricCode !== 'string' || charge.metricCode === '') {
    throw new DomainError('INVALID_CHARGE', 'charge metricCode is required', { charge });
  }
  const rater = chargeModel(charge.model).compile(charge, currencyExponent(currency));
  const included = parseDecimal(charge.included ?? 0, { field: 'included' });
  const allocation = charge.allocation ?? 'pooled';
  if (allocation !== 'pooled' && allocation !== 'per_seat') {
    throw new DomainError('INVALID_CHARGE', `allocation must be pooled or per_seat`, { allocation });
  }
  if (charge.hardLimit !== undefined && (!Number.isSafeInteger(charge.hardLimit) || charge.hardLimit < 1)) {
    throw new DomainError('INVALID_CHARGE', 'hardLimit must be a positive whole number of units', { hardLimit: charge.hardLimit });
  }
  const includedNumber = included.toNumber();
  return {
    charge,
    currency,
    rater,
    included,
    includedWhole: Number.isSafeInteger(includedNumber) && included.isInteger() ? includedNumber : null,
    perSeat: allocation === 'per_seat',
  };
}

/** What one aggregate contributes to rating: the metric's value and, for fees per event, the event count. */
export interface RatingInput {
  /** Aggregated units: a non-negative decimal string or finite number. */
  units: string | number;
  /** Number of events behind the aggregate (percentage fixed fees). */
  events?: number;
  /** Seats, for per_seat included units; defaults to 1. */
  seats?: number;
}

export interface RatingResult {
  /** Integer minor units, rounded once. */
  amount: number;
  units: string;
  includedUnits: string;
  billableUnits: string;
}

function checkCounts(events: number, seats: number): void {
  if (!Number.isSafeInteger(events) || events < 0) {
    throw new DomainError('INVALID_USAGE', 'event count must be a non-negative integer', { events });
  }
  if (!Number.isSafeInteger(seats) || seats < 0) {
    throw new DomainError('INVALID_USAGE', 'seats must be a non-negative integer', { seats });
  }
}

function includedFor(compiled: CompiledCharge, seats: number): Decimal {
  return compiled.perSeat ? compiled.included.times(seats) : compiled.included;
}

/** Reference path: decimal.js all the way, then the line's one rounding. */
export function rateExact(compiled: CompiledCharge, input: RatingInput): RatingResult {
  const events = input.events ?? 0;
  const seats = input.seats ?? 1;
  checkCounts(events, seats);
  const units = parseDecimal(input.units, { field: 'units' });
  const includedUnits = Decimal.min(units, includedFor(compiled, seats));
  const billable = units.minus(includedUnits);
  return {
    amount: roundMinor(compiled.rater.exact(billable, events)),
    units: units.toFixed(),
    includedUnits: includedUnits.toFixed(),
    billableUnits: billable.toFixed(),
  };
}

const FAST_UNITS_PATTERN = /^\d+(\.\d+)?$/;
const MAX_FAST_DIGITS = 15;

/**
 * Units as an integer over 10^scale, e.g. "12.34" → [1234, 2], or null when they do not fit
 * the fast path. A number is read through its shortest round-trip string, as decimal.js does.
 */
function scaleUnits(units: string | number): [number, number] | null {
  let text: string;
  if (typeof units === 'number') {
    if (Number.isSafeInteger(units)) return units >= 0 ? [units, 0] : null;
    text = String(units);
  } else {
    text = units;
  }
  if (!FAST_UNITS_PATTERN.test(text)) return null;
  const dot = text.indexOf('.');
  const digits = dot < 0 ? text : text.slice(0, dot) + text.slice(dot + 1);
  const scale = dot < 0 ? 0 : text.length - dot - 1;
  if (digits.length > MAX_FAST_DIGITS || scale > MAX_UNIT_SCALE) return null;
  return [Number(digits), scale];
}

/**
 * Hot path: units with at most 15 digits go through exact integer arithmetic when every
 * intermediate value fits a safe integer; anything else takes the decimal.js path. Both give
 * the same amount (a property test holds them equal).
 */
export function rateAmount(compiled: CompiledCharge, units: string | number, events = 0, seats = 1): number {
  const scaled = compiled.includedWhole === null ? null : scaleUnits(units);
  if (
    scaled !== null &&
    compiled.includedWhole !== null &&
    Number.isSafeInteger(events) &&
    events >= 0 &&
    Number.isSafeInteger(seats) &&
    seats >= 0
  ) {
    const [scaledUnits, unitScale] = scaled;
    const included = compiled.perSeat ? multiplySafe(compiled.includedWhole, seats) : compiled.includedWhole;
    const scaledIncluded = included === null ? null : multiplySafe(included, POW10[unitScale] as number);
    if (scaledIncluded !== null) {
      const billable = scaledUnits > scaledIncluded ? scaledUnits - scaledIncluded : 0;
      const amount = compiled.rater.fast(billable, unitScale, events);
      if (amount !== null) return amount;
    }
  }
  return rateExact(compiled, { units, events, seats }).amount;
}

/** Rates one aggregate with details for an invoice line. */
export function rateUsage(compiled: CompiledCharge, input: RatingInput): RatingResult {
  if (input.events === undefined && compiled.charge.model === 'percentage' && compiled.charge.fixedFee !== undefined) {
    // A missing event count would silently waive every per-event fee.
    throw new DomainError('INVALID_USAGE', `usage for ${compiled.charge.metricCode} needs an event count for its per-event fee`, {
      metricCode: compiled.charge.metricCode,
    });
  }
  const events = input.events ?? 0;
  const seats = input.seats ?? 1;
  const amount = rateAmount(compiled, input.units, events, seats);
  const units = parseDecimal(input.units, { field: 'units' });
  const includedUnits = Decimal.min(units, includedFor(compiled, seats));
  return {
    amount,
    units: units.toFixed(),
    includedUnits: includedUnits.toFixed(),
    billableUnits: units.minus(includedUnits).toFixed(),
  };
}
