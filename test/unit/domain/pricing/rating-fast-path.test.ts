import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { compileCharge, rateAmount, rateExact, type Charge, type ChargeTier } from '../../../../src/domain/index.js';

function decimalString(maxDigits: bigint, maxPlaces: number): fc.Arbitrary<string> {
  return fc.tuple(fc.bigInt({ min: 0n, max: maxDigits }), fc.integer({ min: 0, max: maxPlaces })).map(([digits, places]) => {
    const text = digits.toString().padStart(places + 1, '0');
    return places === 0 ? text : `${text.slice(0, -places)}.${text.slice(-places)}`;
  });
}

/** Everyday prices most of the time, extreme ones (15 digits, 12 places) the rest. */
const price = fc.oneof(decimalString(100_000n, 4), decimalString(10n ** 15n, 12));

const tiers: fc.Arbitrary<ChargeTier[]> = fc
  .uniqueArray(fc.integer({ min: 1, max: 1_000_000_000 }), { minLength: 0, maxLength: 4 })
  .chain((bounds) => {
    const sorted = [...bounds].sort((a, b) => a - b);
    return fc.tuple(
      ...[...sorted, null].map((upTo) =>
        fc.record({ upTo: fc.constant(upTo), unitPrice: price, flatFee: fc.integer({ min: 0, max: 10_000_000 }) }),
      ),
    );
  });

const charge: fc.Arbitrary<Omit<Charge, 'metricCode'>> = fc.oneof(
  fc.record({ model: fc.constant('per_unit' as const), unitPrice: price }),
  fc.record({ model: fc.constant('graduated' as const), tiers }),
  fc.record({ model: fc.constant('volume' as const), tiers }),
  fc.record({ model: fc.constant('package' as const), unitPrice: price, packageSize: fc.integer({ min: 1, max: 10_000 }) }),
  fc.record({ model: fc.constant('percentage' as const), rate: price, fixedFee: price }),
);

const decimalUnits = fc
  .tuple(fc.bigInt({ min: 0n, max: 10n ** 16n }), fc.integer({ min: 1, max: 13 }))
  .map(([digits, places]) => {
    const text = digits.toString().padStart(places + 1, '0');
    return `${text.slice(0, -places)}.${text.slice(-places)}`;
  });

const units = fc.oneof(
  fc.integer({ min: 0, max: 1000 }),
  fc.integer({ min: 0, max: 10_000_000_000 }),
  fc.maxSafeNat(),
  decimalUnits,
  fc.double({ min: 0, max: 1e12, noNaN: true }),
);

describe('rating fast path (scaled integers) is exactly the decimal.js path', () => {
  it('property: for every model, price, currency, included units and quantity both paths agree', () => {
    let fastHits = 0;
    fc.assert(
      fc.property(
        charge,
        fc.constantFrom('USD', 'JPY', 'BHD'),
        fc.integer({ min: 0, max: 1000 }),
        fc.constantFrom('pooled' as const, 'per_seat' as const),
        units,
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.integer({ min: 0, max: 500 }),
        (model, currency, includedUnits, allocation, quantity, events, seats) => {
          const compiled = compileCharge({ metricCode: 'm', ...model, included: includedUnits, allocation }, currency);
          let exact: number | string;
          try {
            exact = rateExact(compiled, { units: quantity, events, seats }).amount;
          } catch (error) {
            exact = (error as { code: string }).code;
          }
          let fast: number | string;
          try {
            fast = rateAmount(compiled, quantity, events, seats);
          } catch (error) {
            fast = (error as { code: string }).code;
          }
          expect(fast).toBe(exact);
          const [digits = '', places = ''] = String(quantity).split('.');
          const scaled = Number(digits + places);
          if (typeof exact === 'number' && /^\d+$/.test(digits + places) && Number.isSafeInteger(scaled) && places.length <= 12) {
            const included = (allocation === 'per_seat' ? includedUnits * seats : includedUnits) * 10 ** places.length;
            const direct = compiled.rater.fast(Math.max(0, scaled - included), places.length, events);
            if (direct !== null) {
              expect(direct).toBe(exact);
              fastHits += 1;
            }
          }
        },
      ),
      { numRuns: 5000 },
    );
    expect(fastHits).toBeGreaterThan(1000);
  });

  it('property: the fast path answers (no fallback) for typical prices and quantities', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Omit<Charge, 'metricCode'>>(
          { model: 'per_unit', unitPrice: '0.0015' },
          { model: 'graduated', tiers: [{ upTo: 1000, unitPrice: '0.01' }, { upTo: null, unitPrice: '0.005', flatFee: 100 }] },
          { model: 'volume', tiers: [{ upTo: 1000, unitPrice: '0.01' }, { upTo: null, unitPrice: '0.005', flatFee: 100 }] },
          { model: 'package', unitPrice: '5', packageSize: 100 },
          { model: 'percentage', rate: '2.9', fixedFee: '0.30' },
        ),
        fc.integer({ min: 0, max: 100_000_000 }),
        fc.integer({ min: 0, max: 4 }),
        (model, scaledQuantity, unitScale) => {
          const compiled = compileCharge({ metricCode: 'm', ...model }, 'USD');
          const units = (scaledQuantity / 10 ** unitScale).toFixed(unitScale);
          expect(compiled.rater.fast(scaledQuantity, unitScale, 10)).toBe(rateExact(compiled, { units, events: 10 }).amount);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
