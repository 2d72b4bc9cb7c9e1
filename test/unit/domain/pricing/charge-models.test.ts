import { describe, expect, it } from '@jest/globals';
import {
  chargeModel,
  chargeModels,
  compileCharge,
  rateAmount,
  rateExact,
  rateUsage,
  type Charge,
  type ChargeTier,
} from '../../../../src/domain/index.js';

const stripeTiers: ChargeTier[] = [
  { upTo: 5, unitPrice: '7.00' },
  { upTo: 10, unitPrice: '6.50' },
  { upTo: null, unitPrice: '6.00' },
];

/** Rates through both the fast path and the decimal.js path and insists they agree. */
function rate(charge: Omit<Charge, 'metricCode'>, units: number | string, events = 0, seats = 1, currency = 'USD'): number {
  const compiled = compileCharge({ metricCode: 'metric', ...charge }, currency);
  const amount = rateAmount(compiled, units, events, seats);
  expect(rateExact(compiled, { units, events, seats }).amount).toBe(amount);
  return amount;
}

describe('public examples', () => {
  it.each([
    [6, 3900],
    [25, 15000],
  ])('Stripe volume tiers docs (1–5 $7.00, 6–10 $6.50, 11+ $6.00): %i units → %i cents', (units, cents) => {
    expect(rate({ model: 'volume', tiers: stripeTiers }, units)).toBe(cents);
  });

  it.each([
    [5, 3500],
    [6, 4150],
  ])('Stripe graduated tiers docs (1–5 $7.00, 6–10 $6.50, 11+ $6.00): %i units → %i cents', (units, cents) => {
    expect(rate({ model: 'graduated', tiers: stripeTiers }, units)).toBe(cents);
  });
});

describe('per_unit', () => {
  it.each([
    [0, '0.01', 0],
    [1, '0.01', 1],
    [1234, '0.001', 123],
    [1235, '0.001', 124],
    ['2.5', '0.01', 3],
    [3, '0.333333333333', 100],
    [1_000_000_000_000, '0.000000000001', 100],
    [9_000_000_000, '1000', 900_000_000_000_000],
  ])('%s units at $%s → %i cents', (units, unitPrice, cents) => {
    expect(rate({ model: 'per_unit', unitPrice }, units)).toBe(cents);
  });

  it('huge usage that overflows a safe integer amount throws AMOUNT_OVERFLOW', () => {
    expect(() => rate({ model: 'per_unit', unitPrice: '1000' }, Number.MAX_SAFE_INTEGER)).toThrow(
      expect.objectContaining({ code: 'AMOUNT_OVERFLOW' }),
    );
  });

  it.each([
    ['JPY', '1.5', 3, 5],
    ['BHD', '0.0015', 3, 5],
    ['USD', '0.015', 3, 5],
  ])('rounds once in the currency minor unit: %s at %s × %i → %i', (currency, unitPrice, units, minor) => {
    expect(rate({ model: 'per_unit', unitPrice }, units, 0, 1, currency)).toBe(minor);
  });
});

describe('graduated (each tier prices its own units; flat fee once when entered)', () => {
  const tiers: ChargeTier[] = [
    { upTo: 100, unitPrice: '0.10', flatFee: 500 },
    { upTo: 1000, unitPrice: '0.05', flatFee: 1000 },
    { upTo: null, unitPrice: '0.01' },
  ];
  it.each([
    [0, 0],
    [1, 510],
    [100, 1500],
    [101, 2505],
    [1000, 7000],
    [1001, 7001],
    ['100.5', 2503],
    [10_000_000_000, 10_000_006_000],
  ])('%s units → %i cents', (units, cents) => {
    expect(rate({ model: 'graduated', tiers }, units)).toBe(cents);
  });
});

describe('volume (all units at the tier the total lands in, plus its flat fee)', () => {
  const tiers: ChargeTier[] = [
    { upTo: 100, unitPrice: '0.10', flatFee: 500 },
    { upTo: 1000, unitPrice: '0.05', flatFee: 1000 },
    { upTo: null, unitPrice: '0.01' },
  ];
  it.each([
    [0, 0],
    [1, 510],
    [100, 1500],
    [101, 1505],
    [1000, 6000],
    [1001, 1001],
    ['1000.5', 1001],
    [10_000_000_000, 10_000_000_000],
  ])('%s units → %i cents', (units, cents) => {
    expect(rate({ model: 'volume', tiers }, units)).toBe(cents);
  });
});

describe('package (blocks of N, a started block billed in full)', () => {
  it.each([
    [0, 0],
    [1, 500],
    [100, 500],
    [101, 1000],
    [200, 1000],
    ['100.01', 1000],
    [1_000_000_000_000, 5_000_000_000_000],
  ])('%s units in packs of 100 at $5 → %i cents', (units, cents) => {
    expect(rate({ model: 'package', unitPrice: '5', packageSize: 100 }, units)).toBe(cents);
  });
});

describe('percentage (rate on the summed amount plus a fixed fee per event)', () => {
  it.each([
    ['0', 0, 0],
    ['100', 1, 280],
    ['1000.00', 10, 2800],
    ['19.99', 1, 80],
    ['0.01', 0, 0],
    ['0.02', 0, 0],
    ['0.20', 0, 1],
    ['1000000000', 1000, 2_500_030_000],
  ])('2.5%% of $%s over %i events + $0.30/event → %i cents', (units, events, cents) => {
    expect(rate({ model: 'percentage', rate: '2.5', fixedFee: '0.30' }, units, events)).toBe(cents);
  });

  it('rejects an aggregate without an event count when a per-event fee applies', () => {
    const compiled = compileCharge({ metricCode: 'payments', model: 'percentage', rate: '2.5', fixedFee: '0.30' }, 'USD');
    expect(() => rateUsage(compiled, { units: '100' })).toThrow(expect.objectContaining({ code: 'INVALID_USAGE' }));
    expect(rateUsage(compiled, { units: '100', events: 0 }).amount).toBe(250);
  });

  it('has no fixed fee when none is set', () => {
    expect(rate({ model: 'percentage', rate: '1' }, 500, 10)).toBe(500);
  });
});

describe('included units come off before rating', () => {
  it.each<[Charge['allocation'], number, number, number]>([
    ['pooled', 150, 3, 50],
    ['pooled', 100, 3, 0],
    ['per_seat', 350, 3, 50],
    ['per_seat', 300, 3, 0],
    ['per_seat', 300, 0, 300],
    [undefined, 101, 9, 1],
  ])('%s: %i units with 100 included and %i seats bill %i units', (allocation, units, seats, billable) => {
    const compiled = compileCharge(
      { metricCode: 'api', model: 'per_unit', unitPrice: '1', included: 100, ...(allocation ? { allocation } : {}) },
      'USD',
    );
    const rated = rateUsage(compiled, { units, seats });
    expect(rated.billableUnits).toBe(String(billable));
    expect(rated.amount).toBe(billable * 100);
  });

  it('included units shift graduated tiers: the first billable unit is priced in tier 1', () => {
    expect(rate({ model: 'graduated', tiers: stripeTiers, included: 5 }, 6)).toBe(700);
  });

  it('fractional included units take the decimal path and agree', () => {
    expect(rate({ model: 'per_unit', unitPrice: '1', included: 0.5 }, 2)).toBe(150);
  });
});

describe('validation', () => {
  it.each<[string, Omit<Charge, 'metricCode'>]>([
    ['per_unit without unitPrice', { model: 'per_unit' }],
    ['package without packageSize', { model: 'package', unitPrice: '1' }],
    ['package with packageSize 0', { model: 'package', unitPrice: '1', packageSize: 0 }],
    ['graduated without tiers', { model: 'graduated' }],
    ['tiers not increasing', { model: 'volume', tiers: [{ upTo: 10, unitPrice: '1' }, { upTo: 5, unitPrice: '1' }, { upTo: null, unitPrice: '1' }] }],
    ['last tier bounded', { model: 'volume', tiers: [{ upTo: 10, unitPrice: '1' }] }],
    ['open tier before the last', { model: 'volume', tiers: [{ upTo: null, unitPrice: '1' }, { upTo: 10, unitPrice: '1' }] }],
    ['negative flat fee', { model: 'graduated', tiers: [{ upTo: null, unitPrice: '1', flatFee: -1 }] }],
    ['fractional flat fee', { model: 'graduated', tiers: [{ upTo: null, unitPrice: '1', flatFee: 1.5 }] }],
    ['percentage without rate', { model: 'percentage' }],
  ])('%s → INVALID_CHARGE', (_name, charge) => {
    expect(() => compileCharge({ metricCode: 'm', ...charge }, 'USD')).toThrow(expect.objectContaining({ code: 'INVALID_CHARGE' }));
  });

  it.each<[string, Omit<Charge, 'metricCode'>, string]>([
    ['price with 13 places', { model: 'per_unit', unitPrice: '0.0000000000001' }, 'INVALID_DECIMAL'],
    ['negative price', { model: 'per_unit', unitPrice: '-1' }, 'INVALID_DECIMAL'],
    ['unknown model', { model: 'tiered' as Charge['model'] }, 'UNKNOWN_CHARGE_MODEL'],
    ['unknown allocation', { model: 'per_unit', unitPrice: '1', allocation: 'shared' as Charge['allocation'] }, 'INVALID_CHARGE'],
  ])('%s → %s', (_name, charge, code) => {
    expect(() => compileCharge({ metricCode: 'm', ...charge }, 'USD')).toThrow(expect.objectContaining({ code }));
  });

  it.each<[string | number, number, number, string]>([
    ['-1', 0, 1, 'INVALID_DECIMAL'],
    [1, -1, 1, 'INVALID_USAGE'],
    [1, 0, 1.5, 'INVALID_USAGE'],
    ['abc', 0, 1, 'INVALID_DECIMAL'],
  ])('rating units %j, events %i, seats %i → %s', (units, events, seats, code) => {
    const compiled = compileCharge({ metricCode: 'm', model: 'per_unit', unitPrice: '1' }, 'USD');
    expect(() => rateAmount(compiled, units, events, seats)).toThrow(expect.objectContaining({ code }));
  });

  it('the registry has one module per model and rejects others', () => {
    expect(Object.keys(chargeModels).sort()).toEqual(['graduated', 'package', 'per_unit', 'percentage', 'volume']);
    expect(chargeModel('volume').model).toBe('volume');
    expect(() => chargeModel('toString')).toThrow(expect.objectContaining({ code: 'UNKNOWN_CHARGE_MODEL' }));
  });
});
