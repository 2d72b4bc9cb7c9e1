import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  Decimal,
  DomainError,
  addMinor,
  allocate,
  currencyExponent,
  isDomainError,
  parseDecimal,
  percentOf,
  roundMinor,
} from '../../../../src/domain/index.js';

describe('currencyExponent', () => {
  it.each([
    ['USD', 2],
    ['EUR', 2],
    ['JPY', 0],
    ['KRW', 0],
    ['BHD', 3],
    ['KWD', 3],
    ['CLF', 4],
  ])('%s has %i decimal places (ISO 4217)', (currency, exponent) => {
    expect(currencyExponent(currency)).toBe(exponent);
  });

  it.each(['usd', 'XXX', '', 'US'])('rejects unknown code %j', (currency) => {
    expect(() => currencyExponent(currency)).toThrow(expect.objectContaining({ code: 'INVALID_CURRENCY' }));
  });
});

describe('roundMinor: once per line, half-up on the magnitude', () => {
  it.each([
    ['0.5', 1],
    ['0.4999999999', 0],
    ['1.5', 2],
    ['2.5', 3],
    ['-0.5', -1],
    ['-2.5', -3],
    ['-0.4', 0],
    ['123456789.500000000001', 123456790],
  ])('%s → %i', (exact, rounded) => {
    expect(roundMinor(new Decimal(exact))).toBe(rounded);
  });

  it('throws AMOUNT_OVERFLOW beyond the safe integer range', () => {
    expect(() => roundMinor(new Decimal('9007199254740992'))).toThrow(
      expect.objectContaining({ code: 'AMOUNT_OVERFLOW' }),
    );
  });
});

describe('parseDecimal', () => {
  it.each(['1e3', '', ' 1', '1.', '.5', 'NaN', '0x10'])('rejects %j', (value) => {
    expect(() => parseDecimal(value, { field: 'price' })).toThrow(expect.objectContaining({ code: 'INVALID_DECIMAL' }));
  });

  it('throws a DomainError with a stable code and details', () => {
    let caught: unknown;
    try {
      parseDecimal('1e3', { field: 'unitPrice' });
    } catch (error) {
      caught = error;
    }
    expect(isDomainError(caught)).toBe(true);
    expect(caught).toMatchObject({ name: 'DomainError', code: 'INVALID_DECIMAL', details: { value: '1e3' } });
    expect(isDomainError(new Error('plain'))).toBe(false);
  });

  it('rejects more than 12 decimal places and negatives unless allowed', () => {
    expect(() => parseDecimal('0.0000000000001', { field: 'price' })).toThrow(DomainError);
    expect(() => parseDecimal('-1', { field: 'price' })).toThrow(DomainError);
    expect(parseDecimal('-1', { field: 'delta', allowNegative: true }).toFixed()).toBe('-1');
    expect(parseDecimal('0.000000000001', { field: 'price' }).toFixed()).toBe('0.000000000001');
  });
});

describe('percentOf', () => {
  it.each([
    [10000, '8.25', 825],
    [999, '10', 100],
    [-999, '10', -100],
    [5, '10', 1],
    [4, '10', 0],
    [12345, '0', 0],
  ])('%i × %s%% = %i', (amount, percent, expected) => {
    expect(percentOf(amount, new Decimal(percent))).toBe(expected);
  });
});

describe('addMinor', () => {
  it('throws instead of losing precision', () => {
    expect(() => addMinor(Number.MAX_SAFE_INTEGER, 1)).toThrow(expect.objectContaining({ code: 'AMOUNT_OVERFLOW' }));
    expect(addMinor(Number.MAX_SAFE_INTEGER - 1, 1)).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe('allocate (largest remainder)', () => {
  it.each([
    [100, [1, 1, 1], [34, 33, 33]],
    [-100, [1, 1, 1], [-34, -33, -33]],
    [5, [0, 0], [3, 2]],
    [10, [3, 7], [3, 7]],
    [1, [1, 1, 1], [1, 0, 0]],
    [7, ['0.5', '1.25', 0], [2, 5, 0]],
    [0, [5, 5], [0, 0]],
  ])('%i over %j → %j', (total, weights, parts) => {
    expect(allocate(total, weights)).toEqual(parts);
  });

  it('rejects no parts and negative weights', () => {
    expect(() => allocate(1, [])).toThrow(expect.objectContaining({ code: 'INVALID_ALLOCATION' }));
    expect(() => allocate(1, [-1, 2])).toThrow(DomainError);
  });

  it('property: parts sum exactly to the total and each is within 1 of its exact share', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1_000_000_000_000, max: 1_000_000_000_000 }),
        fc.array(fc.integer({ min: 0, max: 1_000_000_000 }), { minLength: 1, maxLength: 12 }),
        (total, weights) => {
          const parts = allocate(total, weights);
          expect(parts).toHaveLength(weights.length);
          expect(parts.reduce((sum, part) => sum + part, 0)).toBe(total);
          const weightSum = weights.reduce((sum, weight) => sum + weight, 0);
          parts.forEach((part, index) => {
            const share = weightSum === 0 ? total / weights.length : (total * (weights[index] ?? 0)) / weightSum;
            expect(Math.abs(part - share)).toBeLessThan(1 + 1e-6 * Math.abs(share));
          });
        },
      ),
      { numRuns: 1000 },
    );
  });
});
