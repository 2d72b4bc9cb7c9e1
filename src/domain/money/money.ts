import { Decimal, parseDecimal } from './decimal.js';
import { DomainError } from '../errors.js';

/** ISO 4217 codes whose minor unit is not 2 (the default for every other listed code). */
const NON_DEFAULT_EXPONENTS: Readonly<Record<string, number>> = {
  BIF: 0, CLP: 0, DJF: 0, GNF: 0, ISK: 0, JPY: 0, KMF: 0, KRW: 0, PYG: 0, RWF: 0, UGX: 0,
  UYI: 0, VND: 0, VUV: 0, XAF: 0, XOF: 0, XPF: 0,
  BHD: 3, IQD: 3, JOD: 3, KWD: 3, LYD: 3, OMR: 3, TND: 3,
  CLF: 4, UYW: 4,
};

/** Active ISO 4217 codes with a 2-digit minor unit. Unknown codes are rejected, not guessed. */
const TWO_DIGIT_CODES = (
  'AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN ' +
  'BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP ' +
  'GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP ' +
  'LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR ' +
  'NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN ' +
  'SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ' +
  'ZMW ZWG'
).split(' ');

const EXPONENTS: ReadonlyMap<string, number> = new Map([
  ...TWO_DIGIT_CODES.map((code): [string, number] => [code, 2]),
  ...Object.entries(NON_DEFAULT_EXPONENTS),
]);

/** Number of decimal places of the currency's minor unit (USD 2, JPY 0, BHD 3). */
export function currencyExponent(currency: string): number {
  const exponent = EXPONENTS.get(currency);
  if (exponent === undefined) {
    throw new DomainError('INVALID_CURRENCY', `unknown ISO 4217 currency ${JSON.stringify(currency)}`, {
      currency,
    });
  }
  return exponent;
}

/** Throws unless `amount` is a safe integer: every amount crossing the domain boundary is one. */
export function assertMinorUnits(amount: number, field: string): number {
  if (!Number.isInteger(amount)) {
    throw new DomainError('INVALID_AMOUNT', `${field} must be an integer amount of minor units`, {
      field,
      amount,
    });
  }
  if (!Number.isSafeInteger(amount)) {
    throw new DomainError('AMOUNT_OVERFLOW', `${field} exceeds the safe integer range`, { field, amount });
  }
  return amount;
}

export function assertNonNegativeMinorUnits(amount: number, field: string): number {
  assertMinorUnits(amount, field);
  if (amount < 0) {
    throw new DomainError('INVALID_AMOUNT', `${field} must not be negative`, { field, amount });
  }
  return amount;
}

/** Adds minor-unit amounts, throwing instead of silently losing precision. */
export function addMinor(a: number, b: number): number {
  const sum = a + b;
  if (!Number.isSafeInteger(sum)) {
    throw new DomainError('AMOUNT_OVERFLOW', 'amount sum exceeds the safe integer range', { a, b });
  }
  return sum;
}

export function sumMinor(amounts: Iterable<number>): number {
  let total = 0;
  for (const amount of amounts) total = addMinor(total, amount);
  return total;
}

/**
 * The single rounding step of a line: half-up on the magnitude (half away from zero), so a
 * credit is always the exact negation of the matching debit.
 */
export function roundMinor(exactMinor: Decimal, field = 'amount'): number {
  const rounded = exactMinor.toDecimalPlaces(0, Decimal.ROUND_HALF_UP);
  const amount = rounded.toNumber();
  if (!Number.isSafeInteger(amount)) {
    throw new DomainError('AMOUNT_OVERFLOW', `${field} exceeds the safe integer range`, {
      field,
      amount: rounded.toFixed(),
    });
  }
  return amount === 0 ? 0 : amount;
}

/** Percentage of an amount, rounded once: `percent` is a decimal like "8.25". */
export function percentOf(amount: number, percent: Decimal): number {
  const magnitude = roundMinor(new Decimal(Math.abs(amount)).times(percent).dividedBy(100));
  return amount < 0 ? -magnitude : magnitude;
}

/**
 * Splits `total` into parts proportional to `weights` that sum exactly to `total`
 * (largest-remainder method). Weights are non-negative integers or decimal strings; ties in
 * the remainder go to the earlier part, so the result is deterministic. All-zero weights
 * split evenly.
 */
export function allocate(total: number, weights: readonly (number | string)[]): number[] {
  assertMinorUnits(total, 'total');
  if (weights.length === 0) {
    throw new DomainError('INVALID_ALLOCATION', 'cannot allocate over zero parts');
  }
  const decimals = weights.map((weight) => parseDecimal(weight, { field: 'allocation weight' }));
  const places = Math.max(...decimals.map((weight) => weight.decimalPlaces()));
  const scale = new Decimal(10).pow(places);
  const scaled = decimals.map((weight) => BigInt(weight.times(scale).toFixed(0)));
  const weightSum = scaled.reduce((sum, weight) => sum + weight, 0n);
  const effective = weightSum === 0n ? scaled.map(() => 1n) : scaled;
  const denominator = weightSum === 0n ? BigInt(scaled.length) : weightSum;
  const magnitude = BigInt(Math.abs(total));
  const sign = total < 0 ? -1 : 1;
  const parts = effective.map((weight) => (magnitude * weight) / denominator);
  const byRemainder = effective
    .map((weight, index) => ({ index, remainder: (magnitude * weight) % denominator }))
    .sort((a, b) => (a.remainder === b.remainder ? a.index - b.index : a.remainder > b.remainder ? -1 : 1));
  let leftover = magnitude - parts.reduce((sum, part) => sum + part, 0n);
  for (const { index } of byRemainder) {
    if (leftover === 0n) break;
    parts[index] = (parts[index] ?? 0n) + 1n;
    leftover -= 1n;
  }
  return parts.map((part) => (part === 0n ? 0 : sign * Number(part)));
}
