import { describe, expect, it } from '@jest/globals';
import {
  allocateLine,
  budgetPeriodOf,
  budgetVerdict,
  computeInvoice,
  linesInBudget,
  thresholdsToFire,
  trackBudget,
  validateCostAllocations,
  type InvoiceLine,
} from '../../../../src/domain/index.js';
import { invoiceInput, plan, subscription } from '../fixtures/builders.js';

const line = (amount: number, overrides: Partial<InvoiceLine> = {}): InvoiceLine => ({
  key: 'sub:s1:2027-01-01:base',
  type: 'subscription',
  description: 'Team base fee',
  organizationId: 'org_parent',
  subscriptionId: 's1',
  quantity: '1',
  amount,
  periodStart: '2027-01-01',
  periodEnd: '2027-02-01',
  ...overrides,
});

const thirds = [
  { departmentId: 'eng', percent: '33.33' },
  { departmentId: 'sales', percent: '33.33' },
  { departmentId: 'ops', percent: '33.34' },
];

describe('cost allocation', () => {
  it.each([
    [10_001, [3_333, 3_333, 3_335]],
    [1, [0, 0, 1]],
    [99_999, [33_330, 33_330, 33_339]],
    [-10_001, [-3_333, -3_333, -3_335]],
    [7, [2, 2, 3]],
  ])('splits %i across 33.33/33.33/33.34 exactly: %j', (amount, parts) => {
    const split = allocateLine(line(amount), thirds);
    expect(split.map((part) => part.amount)).toEqual(parts.filter((part) => part !== 0));
    expect(split.reduce((sum, part) => sum + part.amount, 0)).toBe(amount);
    expect(new Set(split.map((part) => part.key)).size).toBe(split.length);
  });

  it('keys each department’s part apart and names its department', () => {
    expect(allocateLine(line(100), thirds.slice(0, 1).map((allocation) => ({ ...allocation, percent: '100' })))).toEqual([
      { ...line(100), key: 'sub:s1:2027-01-01:base:dept:eng', departmentId: 'eng', description: 'Team base fee (100% to department)' },
    ]);
  });

  it.each([
    [[{ departmentId: 'a', percent: '60' }, { departmentId: 'b', percent: '30' }], 'sum to 90'],
    [[{ departmentId: 'a', percent: '60' }, { departmentId: 'a', percent: '40' }], 'allocated twice'],
    [[{ departmentId: 'a', percent: '0' }, { departmentId: 'b', percent: '100' }], 'above 0'],
  ])('refuses %j', (allocations, message) => {
    expect(() => validateCostAllocations(allocations)).toThrow(expect.objectContaining({ code: 'INVALID_ALLOCATION', message: expect.stringContaining(message) }));
  });

  it('splits a subscription’s recurring and usage lines on the invoice, from the allocation’s first day, and the consolidated lines sum to the unsplit ones', () => {
    const team = plan({ basePrice: 10_001 });
    const allocated = subscription({ startDate: '2027-01-01', phases: [{ effectiveAt: '2027-01-01', plan: team, seats: 1 }], costAllocations: [{ effectiveFrom: '2027-02-01', allocations: thirds }] });
    const invoice = computeInvoice(invoiceInput({ targetDate: '2027-02-01', subscriptions: [allocated] }));
    expect(invoice.lines.map((each) => [each.departmentId ?? null, each.amount, each.periodStart])).toEqual([
      [null, 10_001, '2027-01-01'],
      ['eng', 3_333, '2027-02-01'],
      ['ops', 3_335, '2027-02-01'],
      ['sales', 3_333, '2027-02-01'],
    ]);
    expect(invoice.total).toBe(2 * 10_001);
  });
});

describe('budget tracking', () => {
  const month = budgetPeriodOf('month', '2027-04-15');
  it('finds the calendar month, quarter and year of a day', () => {
    expect(month).toEqual({ start: '2027-04-01', end: '2027-05-01' });
    expect(budgetPeriodOf('quarter', '2027-05-31')).toEqual({ start: '2027-04-01', end: '2027-07-01' });
    expect(budgetPeriodOf('year', '2027-12-31')).toEqual({ start: '2027-01-01', end: '2028-01-01' });
  });

  it.each([
    // day, spent, recurring pending, usage so far → forecast: spent + recurring + usage × 30 ÷ days elapsed
    ['the first day', '2027-04-01', 0, 20_000, 1_000, 20_000 + 30_000, 'ok', '21.00'],
    ['the middle', '2027-04-15', 20_000, 0, 15_000, 20_000 + 30_000, 'ok', '35.00'],
    ['the last day', '2027-04-30', 20_000, 0, 50_000, 70_000, 'warning', '70.00'],
  ] as const)('on %s of a 100,000 month', (_, today, spent, recurring, usage, forecast, status, percentUsed) => {
    const tracking = trackBudget({ amount: 100_000, period: month, today, spent, pending: { recurring, usage }, thresholds: [50, 80, 100] });
    expect(tracking).toEqual({
      periodStart: '2027-04-01',
      periodEnd: '2027-05-01',
      amount: 100_000,
      spent,
      pending: recurring + usage,
      remaining: 100_000 - spent - recurring - usage,
      percentUsed,
      forecast,
      status,
    });
  });

  it('is exceeded at 100 % used', () => {
    expect(trackBudget({ amount: 1_000, period: month, today: '2027-04-10', spent: 1_000, pending: { recurring: 0, usage: 0 }, thresholds: [50, 80, 100] }).status).toBe('exceeded');
    expect(trackBudget({ amount: 1_000, period: month, today: '2027-04-10', spent: 999, pending: { recurring: 0, usage: 0 }, thresholds: [50, 80, 100] }).status).toBe('warning');
  });

  it.each([
    [[50, 80, 100], 79_999, [], [50]],
    [[50, 80, 100], 80_000, [], [50, 80]],
    [[50, 80, 100], 80_000, [50], [80]],
    [[50, 80, 100], 120_000, [50, 80, 100], []],
    [[100, 50], 100_000, [], [50, 100]],
  ])('thresholds %j at %i used, %j fired already → %j', (thresholds, used, fired, expected) => {
    expect(thresholdsToFire(thresholds, used, 100_000, fired)).toEqual(expected);
  });

  it('counts the lines of its organization, department and period, without tax or the balance credits', () => {
    const lines = [
      line(1_000),
      line(500, { departmentId: 'eng', key: 'k2' }),
      line(300, { type: 'tax', key: 'tax:org_parent' }),
      line(-200, { type: 'credit', key: 'credit:applied' }),
      line(700, { key: 'k3', periodStart: '2027-02-01' }),
      line(900, { key: 'k4', organizationId: 'org_child' }),
    ];
    const january = { start: '2027-01-01', end: '2027-02-01' };
    expect(linesInBudget(lines, { organizationId: 'org_parent', departmentId: null, period: january }).map((each) => each.amount)).toEqual([1_000, 500]);
    expect(linesInBudget(lines, { organizationId: 'org_parent', departmentId: 'eng', period: january }).map((each) => each.amount)).toEqual([500]);
  });
});

describe('budget enforcement', () => {
  it.each([
    ['none', 90_000, 20_000, 'allow'],
    ['block', 90_000, 10_000, 'allow'],
    ['block', 90_000, 10_001, 'block'],
    ['approval', 90_000, 10_001, 'approval'],
    ['approval', 120_000, 0, 'allow'],
  ] as const)('%s with a forecast of %i and %i added', (enforcement, forecast, addedCost, decision) => {
    expect(budgetVerdict(enforcement, { forecast, amount: 100_000 }, addedCost).decision).toBe(decision);
  });
});
