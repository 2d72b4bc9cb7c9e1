import { describe, expect, it } from '@jest/globals';
import {
  decimalToString,
  exceedsHardLimit,
  includedQuantity,
  termsForPeriod,
  thresholdsReached,
  thresholdsToRaise,
  usageBreakdown,
  usageContribution,
  usagePeriods,
  type MetricDefinition,
  type QuotaTerms,
  type SubscriptionCalendar,
} from '../../../../src/domain/index.js';

describe('usagePeriods', () => {
  it.each<[string, SubscriptionCalendar, string, string, string]>([
    ['monthly, anchored on the start', { interval: 'month', startDate: '2027-01-15', billingAnchorDay: null }, '2027-03-02T10:00:00Z', '2027-02-15', '2027-03-15'],
    ['an instant on the period start belongs to it', { interval: 'month', startDate: '2027-01-15', billingAnchorDay: null }, '2027-02-15T00:00:00Z', '2027-02-15', '2027-03-15'],
    ['the last millisecond belongs to the period before', { interval: 'month', startDate: '2027-01-15', billingAnchorDay: null }, '2027-02-14T23:59:59.999Z', '2027-01-15', '2027-02-15'],
    ['anchor day 31 in February', { interval: 'month', startDate: '2027-01-31', billingAnchorDay: null }, '2027-03-01T00:00:00Z', '2027-02-28', '2027-03-31'],
    ['billing anchor day of the organization', { interval: 'month', startDate: '2027-01-15', billingAnchorDay: 1 }, '2027-01-20T00:00:00Z', '2027-01-01', '2027-02-01'],
    ['weekly periods ignore the anchor day', { interval: 'week', startDate: '2027-01-06', billingAnchorDay: 1 }, '2027-01-20T12:00:00Z', '2027-01-20', '2027-01-27'],
    ['yearly', { interval: 'year', startDate: '2027-06-01', billingAnchorDay: null }, '2028-05-31T23:00:00Z', '2027-06-01', '2028-06-01'],
    ['before the start: the period the calendar gives', { interval: 'month', startDate: '2027-01-15', billingAnchorDay: null }, '2027-01-10T00:00:00Z', '2026-12-15', '2027-01-15'],
  ])('%s', (_, calendar, instant, start, end) => {
    expect(usagePeriods(calendar)(Date.parse(instant))).toEqual({ start, end });
  });
});

describe('termsForPeriod', () => {
  const phases = [
    { effectiveAt: '2027-01-01', sequence: 0, seats: 5 },
    { effectiveAt: '2027-01-20', sequence: 1, seats: 8 },
    { effectiveAt: '2027-01-20', sequence: 2, seats: 3 },
    { effectiveAt: '2027-02-01', sequence: 3, seats: 10 },
  ];

  it.each([
    ['a seat change inside the period sets the whole period (the last day’s terms)', '2027-02-01', 3],
    ['a change on the next period’s first day does not reach back', '2027-02-01', 3],
    ['the later of two same-day changes wins', '2027-02-01', 3],
    ['a later period takes the newest terms', '2027-03-01', 10],
    ['a period before any change keeps the first terms', '2027-01-10', 5],
    ['a period before the start falls back to the first terms', '2026-12-15', 5],
  ])('%s', (_, periodEnd, seats) => {
    expect(termsForPeriod(phases, periodEnd).seats).toBe(seats);
  });

  it('does not depend on the order the phases come in', () => {
    expect(termsForPeriod([...phases].reverse(), '2027-02-01').seats).toBe(3);
  });

  it('refuses an empty history', () => {
    expect(() => termsForPeriod([], '2027-02-01')).toThrow(expect.objectContaining({ code: 'INVALID_SUBSCRIPTION' }));
  });
});

describe('includedQuantity', () => {
  it.each<[string, QuotaTerms, number, number]>([
    ['pooled: once per subscription, whatever the seats', { included: 1000, allocation: 'pooled' }, 7, 1000],
    ['pooled is the default', { included: 1000 }, 7, 1000],
    ['per seat: included × seats', { included: 1000, allocation: 'per_seat' }, 7, 7000],
    ['per seat with no seat: nothing included', { included: 1000, allocation: 'per_seat' }, 0, 0],
    ['nothing included', { allocation: 'per_seat' }, 7, 0],
  ])('%s', (_, charge, seats, quota) => {
    expect(includedQuantity(charge, seats)).toBe(quota);
  });

  it.each<[string, QuotaTerms, number, string]>([
    ['negative seats', { included: 1 }, -1, 'INVALID_USAGE'],
    ['fractional included', { included: 1.5 }, 1, 'INVALID_CHARGE'],
    ['an overflowing product', { included: Number.MAX_SAFE_INTEGER, allocation: 'per_seat' }, 2, 'AMOUNT_OVERFLOW'],
  ])('refuses %s', (_, charge, seats, code) => {
    expect(() => includedQuantity(charge, seats)).toThrow(expect.objectContaining({ code }));
  });
});

describe('usageBreakdown', () => {
  it.each([
    ['under the quota', '400', 1000, '0'],
    ['exactly the quota', '1000', 1000, '0'],
    ['over the quota', '1250.5', 1000, '250.5'],
    ['no quota', '12', 0, '12'],
  ])('%s', (_, quantity, included, overage) => {
    expect(usageBreakdown(quantity, included)).toEqual({ quantity, included, overage });
  });
});

describe('threshold alerts', () => {
  it.each<[string, string, number, number[]]>([
    ['nothing below half', '499', 1000, []],
    ['half exactly', '500', 1000, [50]],
    ['just under 80 %', '799.999', 1000, [50]],
    ['80 %', '800', 1000, [50, 80]],
    ['the whole quota', '1000', 1000, [50, 80, 100]],
    ['far beyond', '5000', 1000, [50, 80, 100]],
    ['one jump past every threshold', '1000', 3, [50, 80, 100]],
    ['a quota of 3: 1.5 is half', '1.5', 3, [50]],
    ['no quota, no alert', '5000', 0, []],
  ])('%s: %s of %i reaches %j', (_, value, quota, reached) => {
    expect(thresholdsReached(value, quota)).toEqual(reached);
  });

  it.each<[string, string, number, number[], number[]]>([
    ['first crossing of 50 %', '600', 1000, [], [50]],
    ['50 % raised already: nothing new at 60 %', '600', 1000, [50], []],
    ['one event jumping 50 → 100 % raises 80 and 100', '1000', 1000, [50], [80, 100]],
    ['usage falling back raises nothing', '100', 1000, [50, 80], []],
    ['a per-seat quota cut by a seat reduction raises what is now reached', '600', 500, [50], [80, 100]],
    ['a per-seat quota raised by more seats raises nothing more', '600', 5000, [50], []],
  ])('%s', (_, value, quota, raised, toRaise) => {
    expect(thresholdsToRaise(value, quota, raised)).toEqual(toRaise);
  });
});

describe('exceedsHardLimit', () => {
  it.each<[string, string, number | undefined, boolean]>([
    ['no limit', '1000000', undefined, false],
    ['under', '999', 1000, false],
    ['exactly at the limit is allowed', '1000', 1000, false],
    ['a fraction beyond', '1000.001', 1000, true],
  ])('%s', (_, value, limit, exceeds) => {
    expect(exceedsHardLimit(value, limit)).toBe(exceeds);
  });
});

describe('usageContribution', () => {
  const metric = (aggregation: MetricDefinition['aggregation'], field?: string): MetricDefinition => ({ code: 'm', aggregation, ...(field ? { field } : {}) });
  const event = { eventId: 'e', metricCode: 'm', timestamp: '2027-01-01T00:00:00Z' };
  const shown = (contribution: ReturnType<typeof usageContribution>) =>
    contribution.kind === 'number' ? decimalToString(contribution.value) : contribution.kind === 'distinct' ? contribution.key : null;

  it.each<[string, MetricDefinition, object, string | null]>([
    ['count: one per event, whatever the quantity', metric('count'), { quantity: 40 }, '1'],
    ['sum without a field: the quantity', metric('sum'), { quantity: '2.5' }, '2.5'],
    ['sum without a field: quantity defaults to 1', metric('sum'), {}, '1'],
    ['sum of a field', metric('sum', 'bytes'), { properties: { bytes: 300 } }, '300'],
    ['a missing field takes no part', metric('sum', 'bytes'), { properties: {} }, null],
    ['max of a field', metric('max', 'cpus'), { properties: { cpus: '16' } }, '16'],
    ['latest of a field', metric('latest', 'gb'), { properties: { gb: 0.5 } }, '0.5'],
    ['unique_count of a string', metric('unique_count', 'user'), { properties: { user: 'ann' } }, 's:ann'],
    ['unique_count of a number', metric('unique_count', 'user'), { properties: { user: 7 } }, 'n:7'],
  ])('%s', (_, definition, fields, expected) => {
    expect(shown(usageContribution({ ...event, ...fields }, definition))).toBe(expected);
  });

  it.each<[string, MetricDefinition, object, string]>([
    ['a non-numeric sum field', metric('sum', 'bytes'), { properties: { bytes: 'many' } }, 'INVALID_DECIMAL'],
    ['an object counted distinct', metric('unique_count', 'user'), { properties: { user: {} } }, 'INVALID_USAGE'],
  ])('refuses %s', (_, definition, fields, code) => {
    expect(() => usageContribution({ ...event, ...fields }, definition)).toThrow(expect.objectContaining({ code }));
  });
});
