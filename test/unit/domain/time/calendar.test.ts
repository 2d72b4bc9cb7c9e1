import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  dayOfInstant,
  epochDayFromCivil,
  formatDay,
  parseDay,
  parseInstant,
  periodAtIndex,
  periodContaining,
  periodsBetween,
  type BillingCalendar,
} from '../../../../src/domain/index.js';

describe('billing dates', () => {
  it.each([
    ['1970-01-01', 0],
    ['2000-02-29', 11_016],
    ['2027-01-31', 20_849],
    ['1969-12-31', -1],
  ])('%s is epoch day %i', (date, day) => {
    expect(parseDay(date)).toBe(day);
    expect(formatDay(day)).toBe(date);
  });

  it.each(['2027-02-29', '2027-13-01', '2027-1-01', '2027-01-32', '20270101', 'tomorrow'])('rejects %j', (date) => {
    expect(() => parseDay(date)).toThrow(expect.objectContaining({ code: 'INVALID_DATE' }));
  });

  it.each([
    ['2027-01-31T23:59:59.999Z', '2027-01-31'],
    ['2027-01-31T23:30:00-01:00', '2027-02-01'],
    ['2027-02-01T00:30:00+01:00', '2027-01-31'],
    ['2027-03-01', '2027-03-01'],
  ])('instant %s falls on UTC day %s', (instant, day) => {
    expect(formatDay(dayOfInstant(instant))).toBe(day);
  });

  it('parses instants exactly like Date.parse', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('1900-01-01T00:00:00Z'), max: new Date('2200-01-01T00:00:00Z'), noInvalidDate: true }), (date) => {
        const iso = date.toISOString();
        expect(parseInstant(iso)).toBe(date.getTime());
      }),
      { numRuns: 1000 },
    );
  });

  it('epoch days round-trip through civil dates', () => {
    fc.assert(
      fc.property(fc.integer({ min: -200_000, max: 200_000 }), (day) => {
        expect(parseDay(formatDay(day))).toBe(day);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('billing calendar', () => {
  it('Stripe/issue example: anchor Jan 31 2027 → Feb 28, Mar 31, Apr 30', () => {
    const starts = periodsBetween({ interval: 'month', anchor: '2027-01-31' }, '2027-01-31', '2027-05-01').map(
      (period) => period.start,
    );
    expect(starts).toEqual(['2027-01-31', '2027-02-28', '2027-03-31', '2027-04-30']);
  });

  it('Stripe/issue example: anchor Jan 31 2028 (leap year) → Feb 29', () => {
    expect(periodAtIndex({ interval: 'month', anchor: '2028-01-31' }, 1)).toEqual({
      index: 1,
      start: '2028-02-29',
      end: '2028-03-31',
    });
  });

  it.each<[BillingCalendar, string, string, string]>([
    [{ interval: 'week', anchor: '2027-01-04' }, '2027-01-13', '2027-01-11', '2027-01-18'],
    [{ interval: 'week', anchor: '2027-01-04' }, '2027-01-03', '2026-12-28', '2027-01-04'],
    [{ interval: 'month', anchor: '2027-01-15' }, '2027-03-14', '2027-02-15', '2027-03-15'],
    [{ interval: 'month', anchor: '2027-01-15' }, '2027-03-15', '2027-03-15', '2027-04-15'],
    [{ interval: 'month', anchor: '2027-01-01', anchorDay: 30 }, '2027-03-01', '2027-02-28', '2027-03-30'],
    [{ interval: 'quarter', anchor: '2027-01-31' }, '2027-05-15', '2027-04-30', '2027-07-31'],
    [{ interval: 'year', anchor: '2028-02-29' }, '2029-06-01', '2029-02-28', '2030-02-28'],
    [{ interval: 'year', anchor: '2028-02-29' }, '2032-03-01', '2032-02-29', '2033-02-28'],
  ])('%j: %s is in [%s, %s)', (calendar, date, start, end) => {
    const period = periodContaining(calendar, date);
    expect([period.start, period.end]).toEqual([start, end]);
  });

  it.each([
    [{ interval: 'fortnight', anchor: '2027-01-01' }],
    [{ interval: 'month', anchor: '2027-01-01', anchorDay: 0 }],
    [{ interval: 'month', anchor: '2027-01-01', anchorDay: 32 }],
  ])('rejects %j', (calendar) => {
    expect(() => periodContaining(calendar as BillingCalendar, '2027-01-01')).toThrow(
      expect.objectContaining({ code: 'INVALID_CALENDAR' }),
    );
  });

  it.each(Array.from({ length: 31 }, (_, index) => index + 1))(
    'anchor day %i: monthly periods from Jan 2027 tile 36 months through the 2028 leap year',
    (anchorDay) => {
      const day = String(anchorDay).padStart(2, '0');
      const periods = periodsBetween({ interval: 'month', anchor: `2027-01-${day}` }, `2027-01-${day}`, `2030-01-${day}`);
      const expected = Array.from({ length: 36 }, (_, month) => {
        const year = 2027 + Math.floor(month / 12);
        const monthOfYear = (month % 12) + 1;
        const lastDay = new Date(Date.UTC(year, monthOfYear, 0)).getUTCDate();
        return `${year}-${String(monthOfYear).padStart(2, '0')}-${String(Math.min(anchorDay, lastDay)).padStart(2, '0')}`;
      });
      expect(periods.map((period) => period.start)).toEqual(expected);
      expect(periods.every((period, index) => index === 0 || periods[index - 1]?.end === period.start)).toBe(true);
    },
  );

  it('periodsBetween is empty for an empty range and rejects a reversed one', () => {
    const calendar: BillingCalendar = { interval: 'month', anchor: '2027-01-31' };
    expect(periodsBetween(calendar, '2027-03-01', '2027-03-01')).toEqual([]);
    expect(() => periodsBetween(calendar, '2027-03-02', '2027-03-01')).toThrow(expect.objectContaining({ code: 'INVALID_PERIOD' }));
    expect(() => periodAtIndex(calendar, 1.5)).toThrow(expect.objectContaining({ code: 'INVALID_CALENDAR' }));
  });

  it('property: periods tile for every anchor day 1–31 over 36 months, and return to the anchor day', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 31 }),
        fc.integer({ min: 2020, max: 2040 }),
        fc.integer({ min: 1, max: 12 }),
        fc.constantFrom('month' as const, 'quarter' as const, 'year' as const),
        (anchorDay, year, month, interval) => {
          const calendar: BillingCalendar = { interval, anchor: formatDay(epochDayFromCivil(year, month, 1)), anchorDay };
          const from = formatDay(epochDayFromCivil(year, month, 1));
          const to = formatDay(epochDayFromCivil(year + 3, month, 1));
          const periods = periodsBetween(calendar, from, to);
          const problems: string[] = [];
          if (parseDay(periods[0]?.start ?? '') > parseDay(from)) problems.push('starts late');
          if (parseDay(periods.at(-1)?.end ?? '') < parseDay(to)) problems.push('ends early');
          periods.forEach((period, index) => {
            if (parseDay(period.end) <= parseDay(period.start)) problems.push(`empty ${period.start}`);
            const next = periods[index + 1];
            if (next !== undefined && next.start !== period.end) problems.push(`gap or overlap at ${period.end}`);
            const [y, m, d] = period.start.split('-').map(Number) as [number, number, number];
            const lastDay = new Date(Date.UTC(y, m, 0)).getUTCDate();
            if (d !== Math.min(anchorDay, lastDay)) problems.push(`${period.start} is off the anchor`);
            for (const day of [period.start, formatDay(parseDay(period.end) - 1)]) {
              if (periodContaining(calendar, day).start !== period.start) problems.push(`${day} misplaced`);
            }
          });
          expect(problems).toEqual([]);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
