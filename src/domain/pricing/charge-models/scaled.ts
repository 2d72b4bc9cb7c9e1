import { Decimal, parseDecimal } from '../../money/decimal.js';
import { DomainError } from '../../errors.js';
import type { Charge, ChargeTier } from './types.js';

/**
 * Exact fast-path arithmetic: every price becomes an integer numerator over one common
 * denominator 10^scale (in minor units), so rating a whole-number quantity is integer
 * multiplication and one rounding division. Any step that could leave the safe-integer range
 * returns null and the caller falls back to decimal.js.
 */
export interface ScaledPrices {
  /** Price numerators in minor units over `denominator`; null when one does not fit. */
  numerators: readonly number[] | null;
  denominator: number;
}

const MAX_FAST_SCALE = 15;

/** Powers of ten that are exact safe integers, 10^0 … 10^15. */
export const POW10: readonly number[] = Array.from({ length: MAX_FAST_SCALE + 1 }, (_, power) => 10 ** power);

export function scalePrices(prices: readonly Decimal[], exponent: number): ScaledPrices {
  const scale = Math.max(0, ...prices.map((price) => price.decimalPlaces() - exponent));
  if (scale > MAX_FAST_SCALE) return { numerators: null, denominator: 1 };
  const factor = new Decimal(10).pow(exponent + scale);
  const numerators: number[] = [];
  for (const price of prices) {
    const numerator = price.times(factor).toNumber();
    if (!Number.isSafeInteger(numerator)) return { numerators: null, denominator: 1 };
    numerators.push(numerator);
  }
  return { numerators, denominator: POW10[scale] as number };
}

/** Largest number of unit decimal places the fast path handles. */
export const MAX_UNIT_SCALE = 12;

/**
 * Tier bounds in scaled units for every unit scale: bounds[unitScale][tier] is
 * upTo × 10^unitScale, Infinity for the open tier, or null when it is not a safe integer.
 */
export function scaleBounds(tiers: readonly ParsedTier[]): (number | null)[][] {
  return POW10.slice(0, MAX_UNIT_SCALE + 1).map((factor) =>
    tiers.map((tier) => (tier.upTo === null ? Number.POSITIVE_INFINITY : multiplySafe(tier.upTo, factor))),
  );
}

/** The denominator for units scaled by 10^unitScale, or null when it is not a safe integer. */
export function unitDenominator(denominator: number, unitScale: number): number | null {
  return multiplySafe(denominator, POW10[unitScale] ?? Number.POSITIVE_INFINITY);
}

/** a × b for non-negative safe integers, or null if the product is not safe. */
export function multiplySafe(a: number, b: number): number | null {
  if (a !== 0 && b > Math.floor(Number.MAX_SAFE_INTEGER / a)) return null;
  return a * b;
}

/** a + b for non-negative safe integers, or null if the sum is not safe. */
export function addSafe(a: number | null, b: number | null): number | null {
  if (a === null || b === null) return null;
  const sum = a + b;
  return Number.isSafeInteger(sum) ? sum : null;
}

/** numerator ÷ denominator rounded half-up, for a non-negative safe-integer numerator. */
export function roundScaled(numerator: number | null, denominator: number | null): number | null {
  if (numerator === null || denominator === null) return null;
  const quotient = Math.floor(numerator / denominator);
  const remainder = numerator - quotient * denominator;
  return 2 * remainder >= denominator ? quotient + 1 : quotient;
}

export function invalidCharge(charge: Charge, message: string): DomainError {
  return new DomainError('INVALID_CHARGE', `charge ${JSON.stringify(charge.metricCode)}: ${message}`, {
    metricCode: charge.metricCode,
    model: charge.model,
  });
}

export function requirePrice(charge: Charge, value: string | undefined, field: string): Decimal {
  if (value === undefined) throw invalidCharge(charge, `${field} is required for ${charge.model}`);
  return parseDecimal(value, { field });
}

export interface ParsedTier {
  upTo: number | null;
  unitPrice: Decimal;
  flatFee: number;
}

/** Tiers must be non-empty, strictly increasing whole-unit bounds, open-ended last. */
export function parseTiers(charge: Charge, tiers: readonly ChargeTier[] | undefined): ParsedTier[] {
  if (tiers === undefined || tiers.length === 0) throw invalidCharge(charge, `tiers are required for ${charge.model}`);
  let previous = 0;
  return tiers.map((tier, index) => {
    const last = index === tiers.length - 1;
    if (last !== (tier.upTo === null)) {
      throw invalidCharge(charge, 'only the last tier is open-ended (upTo: null), and it must be');
    }
    if (tier.upTo !== null && (!Number.isSafeInteger(tier.upTo) || tier.upTo <= previous)) {
      throw invalidCharge(charge, 'tier bounds must be whole numbers, increasing, above 0');
    }
    const flatFee = tier.flatFee ?? 0;
    if (!Number.isSafeInteger(flatFee) || flatFee < 0) {
      throw invalidCharge(charge, 'tier flatFee must be a non-negative integer of minor units');
    }
    previous = tier.upTo ?? previous;
    return { upTo: tier.upTo, unitPrice: parseDecimal(tier.unitPrice, { field: `tiers[${index}].unitPrice` }), flatFee };
  });
}

/** What the tiered models (graduated, volume) prepare once per charge: parsed tiers, scaled prices and bounds. */
export function compileTiers(charge: Charge, exponent: number) {
  const tiers = parseTiers(charge, charge.tiers);
  const { numerators, denominator } = scalePrices(
    tiers.map((tier) => tier.unitPrice),
    exponent,
  );
  return { tiers, minorFactor: new Decimal(10).pow(exponent), numerators, denominator, boundsByScale: scaleBounds(tiers) };
}
