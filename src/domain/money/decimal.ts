import { Decimal as DecimalJs } from 'decimal.js';
import { DomainError } from '../errors.js';

/**
 * The one decimal.js configuration the domain uses. 100 significant digits is far beyond what
 * a safe-integer amount times a 12-place price needs, so multiplication and addition are exact;
 * ROUND_HALF_UP is decimal.js's "half away from zero", which is our half-up on magnitudes.
 */
export const Decimal = DecimalJs.clone({
  precision: 100,
  rounding: DecimalJs.ROUND_HALF_UP,
  toExpNeg: -100,
  toExpPos: 100,
});
export type Decimal = InstanceType<typeof Decimal>;

/** Decimal places allowed in unit prices, rates and usage quantities. */
export const MAX_DECIMAL_PLACES = 12;

const DECIMAL_PATTERN = /^-?\d+(\.\d+)?$/;

export interface DecimalOptions {
  /** Name of the input field, for the error message. */
  field: string;
  allowNegative?: boolean;
  maxPlaces?: number;
}

/** Parses a decimal string (or a finite JS number) strictly: no exponent, no blanks, no NaN. */
export function parseDecimal(value: string | number, options: DecimalOptions): Decimal {
  const maxPlaces = options.maxPlaces ?? MAX_DECIMAL_PLACES;
  let parsed: Decimal;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new DomainError('INVALID_DECIMAL', `${options.field} must be a finite number`, { value });
    }
    parsed = new Decimal(value);
  } else if (typeof value === 'string' && DECIMAL_PATTERN.test(value)) {
    parsed = new Decimal(value);
  } else {
    throw new DomainError('INVALID_DECIMAL', `${options.field} must be a decimal string like "12.50"`, {
      value,
    });
  }
  if (parsed.isNegative() && !parsed.isZero() && options.allowNegative !== true) {
    throw new DomainError('INVALID_DECIMAL', `${options.field} must not be negative`, { value });
  }
  if (parsed.decimalPlaces() > maxPlaces) {
    throw new DomainError('INVALID_DECIMAL', `${options.field} has more than ${maxPlaces} decimal places`, {
      value,
    });
  }
  return parsed;
}

/** Canonical decimal string: no exponent, no trailing zeros, "-0" normalised to "0". */
export function decimalToString(value: Decimal): string {
  return value.isZero() ? '0' : value.toFixed();
}
