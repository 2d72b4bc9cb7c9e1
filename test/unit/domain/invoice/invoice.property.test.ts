import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  computeInvoice,
  formatDay,
  parseDay,
  usageWindows,
  type BillingInterval,
  type Charge,
  type ComputeInvoiceInput,
  type Coupon,
  type InvoiceProposal,
  type Plan,
  type Subscription,
  type SubscriptionPhase,
  type UsageAggregate,
} from '../../../../src/domain/index.js';

const FIRST_DAY = parseDay('2026-01-01');

const charges: Charge[] = [
  { metricCode: 'calls', model: 'per_unit', unitPrice: '0.0015', included: 100, allocation: 'per_seat' },
  { metricCode: 'calls', model: 'graduated', tiers: [{ upTo: 1000, unitPrice: '0.01', flatFee: 300 }, { upTo: null, unitPrice: '0.004' }] },
  { metricCode: 'calls', model: 'volume', tiers: [{ upTo: 500, unitPrice: '0.02' }, { upTo: null, unitPrice: '0.01', flatFee: 1000 }] },
  { metricCode: 'calls', model: 'package', unitPrice: '2.50', packageSize: 250, included: 50 },
  { metricCode: 'calls', model: 'percentage', rate: '2.9', fixedFee: '0.30' },
];

function planArbitrary(interval: BillingInterval): fc.Arbitrary<Plan> {
  return fc.record({
    code: fc.constantFrom('a', 'b', 'c'),
    currency: fc.constant('USD'),
    interval: fc.constant(interval),
    basePrice: fc.integer({ min: 0, max: 100_000 }),
    seatPrice: fc.integer({ min: 0, max: 10_000 }),
    includedSeats: fc.integer({ min: 0, max: 3 }),
    trialDays: fc.integer({ min: 0, max: 20 }),
    charges: fc.subarray(charges, { maxLength: 1 }),
    minimumCommitment: fc.integer({ min: 0, max: 200_000 }),
    seatVolumeDiscounts: fc.constantFrom([], [{ minSeats: 5, percentOff: '12.5' }]),
  });
}

interface Scenario {
  input: ComputeInvoiceInput;
  /** A day inside the scenario, for changes. */
  changeDay: string;
  otherPlan: Plan;
  otherSeats: number;
}

const scenario: fc.Arbitrary<Scenario> = fc
  .constantFrom<BillingInterval>('week', 'month', 'quarter', 'year')
  .chain((interval) =>
    fc.record({
      subscriptions: fc.array(
        fc.record({
          organizationId: fc.constantFrom('org_parent', 'org_child'),
          departmentId: fc.option(fc.constantFrom('dep_a', 'dep_b'), { nil: undefined }),
          start: fc.integer({ min: 0, max: 1000 }),
          anchorDay: fc.option(fc.integer({ min: 1, max: 31 }), { nil: undefined }),
          changes: fc.array(fc.record({ offset: fc.integer({ min: 0, max: 400 }), plan: planArbitrary(interval), seats: fc.integer({ min: 0, max: 12 }) }), { maxLength: 3 }),
          first: planArbitrary(interval),
          seats: fc.integer({ min: 0, max: 12 }),
          cancelAfter: fc.option(fc.integer({ min: 0, max: 500 }), { nil: undefined }),
          couponPercent: fc.option(fc.constantFrom('10', '33.3', '100'), { nil: undefined }),
        }),
        { minLength: 1, maxLength: 3 },
      ),
      targetOffset: fc.integer({ min: 0, max: 500 }),
      changeOffset: fc.integer({ min: 0, max: 500 }),
      units: fc.array(fc.integer({ min: 0, max: 5_000_000 }), { minLength: 1, maxLength: 20 }),
      taxes: fc.tuple(fc.constantFrom('0', '8.25', '20'), fc.constantFrom('0', '7.5')),
      childExempt: fc.boolean(),
      creditBalance: fc.integer({ min: 0, max: 50_000 }),
      accountCoupon: fc.option(fc.integer({ min: 1, max: 30_000 }), { nil: undefined }),
      otherPlan: planArbitrary(interval),
      otherSeats: fc.integer({ min: 0, max: 12 }),
    }),
  )
  .map((drawn) => {
    const subscriptions: Subscription[] = drawn.subscriptions.map((spec, index) => {
      const startDate = formatDay(FIRST_DAY + spec.start);
      const phases: SubscriptionPhase[] = [
        { effectiveAt: startDate, plan: spec.first, seats: spec.seats },
        ...[...spec.changes]
          .sort((a, b) => a.offset - b.offset)
          .map((change) => ({ effectiveAt: formatDay(FIRST_DAY + spec.start + change.offset), plan: change.plan, seats: change.seats })),
      ];
      return {
        id: `sub_${index}`,
        organizationId: spec.organizationId,
        ...(spec.departmentId === undefined ? {} : { departmentId: spec.departmentId }),
        startDate,
        ...(spec.anchorDay === undefined ? {} : { billingAnchorDay: spec.anchorDay }),
        ...(spec.cancelAfter === undefined ? {} : { cancelAt: formatDay(FIRST_DAY + spec.start + spec.cancelAfter) }),
        phases,
      };
    });
    const earliest = Math.min(...drawn.subscriptions.map((spec) => spec.start));
    const targetDate = formatDay(FIRST_DAY + earliest + drawn.targetOffset);
    let unitIndex = 0;
    const usage: UsageAggregate[] = subscriptions.flatMap((sub) =>
      usageWindows(sub, targetDate).map((window) => {
        unitIndex += 1;
        const units = drawn.units[unitIndex % drawn.units.length] ?? 0;
        return { subscriptionId: sub.id, metricCode: 'calls', ...window, units, events: units % 97 };
      }),
    );
    const coupons: Coupon[] = drawn.subscriptions.flatMap((spec, index) =>
      spec.couponPercent === undefined
        ? []
        : [{ id: `cpn_${index}`, percentOff: spec.couponPercent, duration: 'repeating' as const, durationInPeriods: 3, redeemedAt: formatDay(FIRST_DAY + spec.start + 20), subscriptionId: `sub_${index}` }],
    );
    if (drawn.accountCoupon !== undefined) {
      coupons.push({ id: 'cpn_account', amountOff: drawn.accountCoupon, duration: 'forever', redeemedAt: formatDay(FIRST_DAY + earliest) });
    }
    const input: ComputeInvoiceInput = {
      account: {
        organizationId: 'org_parent',
        currency: 'USD',
        creditBalance: drawn.creditBalance,
        calendar: { interval: 'month', anchor: formatDay(FIRST_DAY + earliest) },
      },
      organizations: [
        { id: 'org_parent', taxRatePercent: drawn.taxes[0] },
        { id: 'org_child', parentId: 'org_parent', taxRatePercent: drawn.taxes[1], taxExempt: drawn.childExempt },
      ],
      subscriptions,
      usage,
      coupons,
      targetDate,
    };
    return { input, changeDay: formatDay(FIRST_DAY + earliest + drawn.changeOffset), otherPlan: drawn.otherPlan, otherSeats: drawn.otherSeats };
  });

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function billAfter(input: ComputeInvoiceInput, invoices: readonly InvoiceProposal[]): ComputeInvoiceInput {
  return { ...input, priorInvoices: invoices.map((invoice) => ({ lines: invoice.lines })) };
}

describe('computeInvoice properties', () => {
  it('property: totals are never negative and the lines add up to the amount due', () => {
    fc.assert(
      fc.property(scenario, ({ input }) => {
        const invoice = computeInvoice(input);
        expect(invoice.total).toBeGreaterThanOrEqual(0);
        expect(invoice.amountDue).toBeGreaterThanOrEqual(0);
        expect(invoice.creditBalanceAfter).toBeGreaterThanOrEqual(0);
        expect(sum(invoice.lines.map((line) => line.amount))).toBe(invoice.amountDue);
        expect(invoice.subtotal - invoice.discount + invoice.tax + invoice.creditCarriedForward).toBe(invoice.total);
        expect(invoice.lines.every((line) => Number.isSafeInteger(line.amount) && line.amount !== 0)).toBe(true);
        expect(JSON.parse(JSON.stringify(invoice))).toEqual(invoice);
      }),
      { numRuns: 1000 },
    );
  });

  it('property: once its own result is billed, computeInvoice proposes nothing new', () => {
    fc.assert(
      fc.property(scenario, ({ input }) => {
        const first = computeInvoice(input);
        expect(computeInvoice(billAfter(input, [first])).lines).toEqual([]);
      }),
      { numRuns: 1000 },
    );
  });

  it('property: billing in two steps bills exactly what billing once would, and nothing twice', () => {
    fc.assert(
      fc.property(scenario, fc.integer({ min: 0, max: 400 }), ({ input }, back) => {
        const earlier = formatDay(parseDay(input.targetDate) - back);
        const stepInput = { ...input, usage: (input.usage ?? []).filter((aggregate) => parseDay(aggregate.periodEnd) <= parseDay(earlier)) };
        const step1 = computeInvoice({ ...stepInput, targetDate: earlier });
        const step2 = computeInvoice(billAfter(input, [step1]));
        const once = computeInvoice(input);
        const net = (invoice: InvoiceProposal): number => invoice.subtotal - invoice.discount;
        expect(net(step1) + net(step2)).toBe(net(once));
        expect(computeInvoice(billAfter(input, [step1, step2])).lines).toEqual([]);
      }),
      { numRuns: 1000 },
    );
  });

  it('property: a change and its reverse on the same day net to zero', () => {
    fc.assert(
      fc.property(scenario, ({ input, changeDay, otherPlan, otherSeats }) => {
        const [target, ...others] = input.subscriptions;
        if (target === undefined) return;
        const day = parseDay(changeDay);
        const before = target.phases.filter((phase) => parseDay(phase.effectiveAt) <= day);
        if (before.length === 0) return;
        const current = before.at(-1) as SubscriptionPhase;
        const flipped: Subscription = {
          ...target,
          phases: [
            ...before,
            { effectiveAt: changeDay, plan: { ...otherPlan, interval: current.plan.interval }, seats: otherSeats },
            { effectiveAt: changeDay, plan: current.plan, seats: current.seats },
            ...target.phases.filter((phase) => parseDay(phase.effectiveAt) > day),
          ],
        };
        const plain = computeInvoice(input);
        const withFlip = computeInvoice({ ...input, subscriptions: [flipped, ...others] });
        expect([withFlip.subtotal, withFlip.discount, withFlip.tax, withFlip.total]).toEqual([
          plain.subtotal,
          plain.discount,
          plain.tax,
          plain.total,
        ]);
      }),
      { numRuns: 1000 },
    );
  });
});
