import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { prorate, prorateChange, prorationFraction } from '../../../../src/domain/index.js';

describe('proration by the day', () => {
  it('Stripe prorations docs: $10/month → $20/month halfway through a 30-day period → −$5.00 and +$10.00', () => {
    expect(
      prorateChange({
        periodStart: '2027-04-01',
        periodEnd: '2027-05-01',
        effectiveDate: '2027-04-16',
        oldAmount: 1000,
        newAmount: 2000,
      }),
    ).toEqual({ credit: -500, debit: 1000, daysRemaining: 15, daysInPeriod: 30 });
  });

  it.each([
    [1000, 15, 30, 500],
    [1000, 1, 3, 333],
    [1000, 2, 3, 667],
    [1, 1, 2, 1],
    [-1, 1, 2, -1],
    [3, 1, 2, 2],
    [999, 0, 31, 0],
    [999, 31, 31, 999],
    [Number.MAX_SAFE_INTEGER, 1, 1, Number.MAX_SAFE_INTEGER],
  ])('%i × %i/%i = %i (half-up, once)', (amount, days, periodDays, expected) => {
    expect(prorate(amount, days, periodDays)).toBe(expected);
  });

  it.each([
    [100, 2, 1],
    [100, -1, 30],
    [100, 1, 0],
    [100, 1.5, 30],
  ])('rejects prorate(%i, %i, %i)', (amount, days, periodDays) => {
    expect(() => prorate(amount, days, periodDays)).toThrow(expect.objectContaining({ code: 'INVALID_PERIOD' }));
  });

  it.each([
    ['2027-01-31', '2027-02-28', '2027-02-14', 14, 28],
    ['2028-01-31', '2028-02-29', '2028-02-14', 15, 29],
    ['2027-01-01', '2027-02-01', '2027-01-01', 31, 31],
    ['2027-01-01', '2027-02-01', '2027-02-01', 0, 31],
  ])('[%s, %s) on %s leaves %i of %i days', (start, end, effective, remaining, days) => {
    expect(prorationFraction(start, end, effective)).toEqual({ daysRemaining: remaining, daysInPeriod: days });
  });

  it('rejects an effective date outside the period and negative terms', () => {
    expect(() => prorationFraction('2027-01-01', '2027-02-01', '2027-02-02')).toThrow(
      expect.objectContaining({ code: 'INVALID_PERIOD' }),
    );
    expect(() =>
      prorateChange({ periodStart: '2027-01-01', periodEnd: '2027-02-01', effectiveDate: '2027-01-10', oldAmount: -1, newAmount: 0 }),
    ).toThrow(expect.objectContaining({ code: 'INVALID_AMOUNT' }));
  });

  it('property: a change and its reverse on the same day net to zero', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000_000_000 }),
        fc.integer({ min: 0, max: 10_000_000_000 }),
        fc.integer({ min: 1, max: 366 }),
        fc.nat(),
        (oldAmount, newAmount, periodDays, offset) => {
          const day = offset % (periodDays + 1);
          const start = '2027-01-01';
          const end = new Date(Date.UTC(2027, 0, 1 + periodDays)).toISOString().slice(0, 10);
          const effectiveDate = new Date(Date.UTC(2027, 0, 1 + day)).toISOString().slice(0, 10);
          const there = prorateChange({ periodStart: start, periodEnd: end, effectiveDate, oldAmount, newAmount });
          const back = prorateChange({ periodStart: start, periodEnd: end, effectiveDate, oldAmount: newAmount, newAmount: oldAmount });
          expect(there.credit + there.debit + back.credit + back.debit).toBe(0);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
