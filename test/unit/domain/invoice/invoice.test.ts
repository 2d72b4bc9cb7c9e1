import { describe, expect, it } from '@jest/globals';
import {
  computeInvoice,
  usageForInvoice,
  usageWindows,
  type ComputeInvoiceInput,
  type Coupon,
  type InvoiceProposal,
  type Plan,
  type Subscription,
} from '../../../../src/domain/index.js';
import { brief, invoiceInput, plan, subscription } from '../fixtures/builders.js';

function billedThen(input: ComputeInvoiceInput, ...targets: string[]): InvoiceProposal[] {
  const invoices: InvoiceProposal[] = [];
  for (const targetDate of targets) {
    invoices.push(computeInvoice({ ...input, targetDate, priorInvoices: invoices.map((invoice) => ({ lines: invoice.lines })) }));
  }
  return invoices;
}

describe('computeInvoice: subscription fees', () => {
  it('bills base and paying seats in advance for the period containing the target date', () => {
    const seats = plan({ basePrice: 1000, seatPrice: 500, includedSeats: 1 });
    const invoice = computeInvoice(
      invoiceInput({
        targetDate: '2027-01-01',
        subscriptions: [subscription({ startDate: '2027-01-01', phases: [{ effectiveAt: '2027-01-01', plan: seats, seats: 3 }] })],
      }),
    );
    expect(brief(invoice.lines)).toEqual([
      ['subscription', 1000, '2027-01-01', '2027-02-01'],
      ['seat', 1000, '2027-01-01', '2027-02-01'],
    ]);
    expect(invoice.lines[1]).toMatchObject({ quantity: '2', unitAmount: 500, subscriptionId: 'sub_1', organizationId: 'org_parent' });
    expect([invoice.subtotal, invoice.total, invoice.amountDue]).toEqual([2000, 2000, 2000]);
  });

  it.each([
    ['before the trial ends nothing is due', '2027-01-14', []],
    [
      'the first charge is prorated from the trial end (17 of 31 days)',
      '2027-01-15',
      [['proration', 548, '2027-01-15', '2027-02-01']],
    ],
    [
      'the next period is billed in full',
      '2027-02-01',
      [
        ['proration', 548, '2027-01-15', '2027-02-01'],
        ['subscription', 1000, '2027-02-01', '2027-03-01'],
      ],
    ],
  ])('trial of 14 days from Jan 1: %s', (_name, targetDate, lines) => {
    const invoice = computeInvoice(
      invoiceInput({
        targetDate,
        subscriptions: [
          subscription({ startDate: '2027-01-01', phases: [{ effectiveAt: '2027-01-01', plan: plan({ trialDays: 14 }), seats: 1 }] }),
        ],
      }),
    );
    expect(brief(invoice.lines)).toEqual(lines);
  });

  it('a backdated start bills every period since, prorating the first to the billing anchor day', () => {
    const invoice = computeInvoice(
      invoiceInput({
        targetDate: '2027-01-20',
        subscriptions: [subscription({ startDate: '2026-11-10', billingAnchorDay: 1 })],
      }),
    );
    expect(brief(invoice.lines)).toEqual([
      ['proration', 700, '2026-11-10', '2026-12-01'],
      ['subscription', 1000, '2026-12-01', '2027-01-01'],
      ['subscription', 1000, '2027-01-01', '2027-02-01'],
    ]);
  });

  it('Stripe prorations docs: $10/month → $20/month halfway through a 30-day period → −$5.00 and +$10.00', () => {
    const input = invoiceInput({
      targetDate: '2027-04-01',
      subscriptions: [
        subscription({
          startDate: '2027-04-01',
          phases: [
            { effectiveAt: '2027-04-01', plan: plan({ code: 'basic', basePrice: 1000 }), seats: 1 },
            { effectiveAt: '2027-04-16', plan: plan({ code: 'premium', basePrice: 2000 }), seats: 1 },
          ],
        }),
      ],
    });
    const [first, second] = billedThen(input, '2027-04-01', '2027-04-16');
    expect(brief(first?.lines ?? [])).toEqual([['subscription', 1000, '2027-04-01', '2027-05-01']]);
    expect(brief(second?.lines ?? [])).toEqual([
      ['proration', -500, '2027-04-16', '2027-05-01'],
      ['proration', 1000, '2027-04-16', '2027-05-01'],
    ]);
  });

  it('a seat change credits the old seats and debits the new ones; the base fee is untouched', () => {
    const seatPlan = plan({ basePrice: 1000, seatPrice: 300 });
    const invoice = computeInvoice(
      invoiceInput({
        targetDate: '2027-04-11',
        subscriptions: [
          subscription({
            startDate: '2027-04-01',
            phases: [
              { effectiveAt: '2027-04-01', plan: seatPlan, seats: 2 },
              { effectiveAt: '2027-04-11', plan: seatPlan, seats: 5 },
            ],
          }),
        ],
      }),
    );
    expect(brief(invoice.lines)).toEqual([
      ['subscription', 1000, '2027-04-01', '2027-05-01'],
      ['seat', 600, '2027-04-01', '2027-05-01'],
      ['proration', -400, '2027-04-11', '2027-05-01'],
      ['proration', 1000, '2027-04-11', '2027-05-01'],
    ]);
  });

  it('a cancellation inside a paid period credits the unused days and stops later periods', () => {
    const input = invoiceInput({
      targetDate: '2027-04-01',
      subscriptions: [subscription({ startDate: '2027-04-01', cancelAt: '2027-04-21' })],
    });
    const [, atCancel, later] = billedThen(input, '2027-04-01', '2027-04-21', '2027-06-01');
    expect(brief(atCancel?.lines ?? [])).toEqual([
      ['proration', -333, '2027-04-21', '2027-05-01'],
      ['credit', 333, '2027-04-21', '2027-05-01'],
    ]);
    expect(atCancel?.total).toBe(0);
    expect(atCancel?.creditCarriedForward).toBe(333);
    expect(later?.lines).toEqual([]);
  });

  it('a net credit gets negative tax, and the whole credit is carried to the balance', () => {
    const input = invoiceInput({
      targetDate: '2027-04-01',
      organizations: [{ id: 'org_parent', taxRatePercent: '10' }],
      subscriptions: [subscription({ startDate: '2027-04-01', cancelAt: '2027-04-21' })],
    });
    const [first, atCancel] = billedThen(input, '2027-04-01', '2027-04-21');
    expect([first?.tax, first?.total]).toEqual([100, 1100]);
    expect(atCancel?.lines.map((line) => [line.type, line.amount])).toEqual([
      ['proration', -333],
      ['tax', -33],
      ['credit', 366],
    ]);
    expect([atCancel?.total, atCancel?.amountDue, atCancel?.creditBalanceAfter]).toEqual([0, 0, 366]);
  });

  it('a plan change and its reverse on the same day net to zero', () => {
    const base = plan({ basePrice: 1000 });
    const other = plan({ code: 'max', basePrice: 4999, seatPrice: 700 });
    const invoice = computeInvoice(
      invoiceInput({
        targetDate: '2027-04-20',
        subscriptions: [
          subscription({
            startDate: '2027-04-01',
            phases: [
              { effectiveAt: '2027-04-01', plan: base, seats: 3 },
              { effectiveAt: '2027-04-13', plan: other, seats: 7 },
              { effectiveAt: '2027-04-13', plan: base, seats: 3 },
            ],
          }),
        ],
      }),
    );
    expect(invoice.lines.filter((line) => line.type === 'proration').reduce((sum, line) => sum + line.amount, 0)).toBe(0);
    expect(invoice.total).toBe(1000);
  });

  it('rejects a plan change that changes the interval', () => {
    expect(() =>
      computeInvoice(
        invoiceInput({
          targetDate: '2027-04-20',
          subscriptions: [
            subscription({
              startDate: '2027-04-01',
              phases: [
                { effectiveAt: '2027-04-01', plan: plan(), seats: 1 },
                { effectiveAt: '2027-04-13', plan: plan({ interval: 'year' }), seats: 1 },
              ],
            }),
          ],
        }),
      ),
    ).toThrow(expect.objectContaining({ code: 'INVALID_SUBSCRIPTION' }));
  });
});

describe('computeInvoice: usage, departments and consolidation', () => {
  const usagePlan = plan({
    basePrice: 0,
    charges: [{ metricCode: 'api_calls', model: 'per_unit', unitPrice: '0.01', included: 1000 }],
  });
  const organizations = [
    { id: 'org_parent', taxRatePercent: '10' },
    { id: 'org_child', parentId: 'org_parent', taxRatePercent: '20' },
    { id: 'org_exempt', parentId: 'org_parent', taxRatePercent: '20', taxExempt: true },
  ];
  const subscriptions: Subscription[] = [
    subscription({ id: 'sub_parent', organizationId: 'org_parent', startDate: '2027-03-01', phases: [{ effectiveAt: '2027-03-01', plan: usagePlan, seats: 1 }] }),
    subscription({ id: 'sub_child', organizationId: 'org_child', departmentId: 'dep_ops', startDate: '2027-03-01', phases: [{ effectiveAt: '2027-03-01', plan: usagePlan, seats: 1 }] }),
    subscription({ id: 'sub_exempt', organizationId: 'org_exempt', startDate: '2027-03-01', phases: [{ effectiveAt: '2027-03-01', plan: usagePlan, seats: 1 }] }),
  ];
  const march = { periodStart: '2027-03-01', periodEnd: '2027-04-01' };

  it('rates usage in arrears and consolidates children, each line keeping its organization and department', () => {
    const invoice = computeInvoice(
      invoiceInput({
        targetDate: '2027-04-01',
        organizations,
        subscriptions,
        usage: [
          { subscriptionId: 'sub_parent', metricCode: 'api_calls', ...march, units: 2000 },
          {
            subscriptionId: 'sub_child',
            metricCode: 'api_calls',
            ...march,
            units: 4000,
            departments: [
              { departmentId: 'dep_ops', units: 1000 },
              { departmentId: 'dep_rnd', units: 2000 },
            ],
          },
          { subscriptionId: 'sub_exempt', metricCode: 'api_calls', ...march, units: 1500 },
        ],
      }),
    );
    expect(invoice.lines.map((line) => [line.type, line.organizationId, line.departmentId ?? null, line.amount])).toEqual([
      ['usage', 'org_parent', null, 1000],
      ['usage', 'org_child', 'dep_ops', 1000],
      ['usage', 'org_child', 'dep_rnd', 2000],
      ['usage', 'org_exempt', null, 500],
      ['tax', 'org_parent', null, 100],
      ['tax', 'org_child', null, 600],
    ]);
    expect([invoice.subtotal, invoice.tax, invoice.total]).toEqual([4500, 700, 5200]);
  });

  it('does not bill a usage window before it closes, and bills it once after', () => {
    const input = invoiceInput({
      targetDate: '2027-03-31',
      organizations,
      subscriptions: subscriptions.slice(0, 1),
      usage: [{ subscriptionId: 'sub_parent', metricCode: 'api_calls', ...march, units: 2000 }],
    });
    const [early, closed, again] = billedThen(input, '2027-03-31', '2027-04-01', '2027-04-01');
    expect(early?.lines).toEqual([]);
    expect(brief(closed?.lines ?? []).filter(([type]) => type === 'usage')).toEqual([['usage', 1000, '2027-03-01', '2027-04-01']]);
    expect(again?.lines).toEqual([]);
  });

  it('bills late usage of an invoiced window as an adjustment of the difference', () => {
    const input = invoiceInput({ targetDate: '2027-04-01', organizations, subscriptions: subscriptions.slice(0, 1) });
    const first = computeInvoice({ ...input, usage: [{ subscriptionId: 'sub_parent', metricCode: 'api_calls', ...march, units: 2000 }] });
    const second = computeInvoice({
      ...input,
      targetDate: '2027-04-02',
      usage: [{ subscriptionId: 'sub_parent', metricCode: 'api_calls', ...march, units: 2500 }],
      priorInvoices: [{ lines: first.lines }],
    });
    expect(second.lines.map((line) => [line.type, line.amount, line.description])).toEqual([
      ['usage', 500, 'Adjustment: api_calls: 1500 billable of 2500 units (per_unit)'],
      ['tax', 50, 'Tax 10% on 500'],
    ]);
  });

  it('usageForInvoice aggregates each closed window from raw events and splits it by department', () => {
    const perUser = plan({
      basePrice: 0,
      charges: [
        { metricCode: 'users', model: 'per_unit', unitPrice: '10' },
        { metricCode: 'calls', model: 'per_unit', unitPrice: '0.01' },
      ],
    });
    const sub = subscription({ departmentId: 'dep_main', startDate: '2027-03-01', phases: [{ effectiveAt: '2027-03-01', plan: perUser, seats: 1 }] });
    const event = (eventId: string, metricCode: string, day: string, departmentId?: string, user?: string) => ({
      eventId,
      metricCode,
      timestamp: `2027-03-${day}T12:00:00Z`,
      subscriptionId: 'sub_1',
      ...(departmentId === undefined ? {} : { departmentId }),
      ...(user === undefined ? {} : { properties: { user } }),
    });
    const events = [
      event('e1', 'users', '02', 'dep_a', 'u1'),
      event('e2', 'users', '03', 'dep_a', 'u2'),
      event('e3', 'users', '04', 'dep_b', 'u1'),
      event('e4', 'users', '05', undefined, 'u3'),
      event('e5', 'calls', '06'),
      event('e6', 'calls', '07'),
      event('e7', 'calls', '08'),
    ];
    const metrics = [
      { code: 'users', aggregation: 'unique_count' as const, field: 'user' },
      { code: 'calls', aggregation: 'count' as const },
    ];
    const usage = usageForInvoice(sub, events, metrics, '2027-04-01');
    expect(usage).toEqual([
      { subscriptionId: 'sub_1', metricCode: 'calls', ...march, units: '3', events: 3 },
      {
        subscriptionId: 'sub_1',
        metricCode: 'users',
        ...march,
        units: '3',
        events: 4,
        departments: [
          { departmentId: 'dep_a', units: '2' },
          { departmentId: 'dep_b', units: '1' },
          { departmentId: 'dep_main', units: '1' },
        ],
      },
    ]);
    const invoice = computeInvoice(invoiceInput({ targetDate: '2027-04-01', subscriptions: [sub], usage }));
    expect(invoice.lines.map((line) => [line.metricCode, line.departmentId, line.amount])).toEqual([
      ['users', 'dep_a', 1500],
      ['users', 'dep_b', 750],
      ['calls', 'dep_main', 3],
      ['users', 'dep_main', 750],
    ]);
    expect(() => usageForInvoice(sub, [{ ...event('x', 'calls', '09'), subscriptionId: 'sub_2' }], metrics, '2027-04-01')).toThrow(
      expect.objectContaining({ code: 'INVALID_USAGE' }),
    );
  });

  it('usageWindows names exactly the windows to aggregate, cut by trial and cancellation', () => {
    const sub = subscription({ startDate: '2027-01-01', trialEndDate: '2027-01-10', cancelAt: '2027-03-15' });
    expect(usageWindows(sub, '2027-12-31')).toEqual([
      { periodStart: '2027-01-10', periodEnd: '2027-02-01' },
      { periodStart: '2027-02-01', periodEnd: '2027-03-01' },
      { periodStart: '2027-03-01', periodEnd: '2027-03-15' },
    ]);
  });

  it.each<[string, Partial<ComputeInvoiceInput>, string]>([
    ['usage over a window that is not the subscription\'s', { usage: [{ subscriptionId: 'sub_parent', metricCode: 'api_calls', periodStart: '2027-03-02', periodEnd: '2027-04-01', units: 1 }] }, 'USAGE_PERIOD_MISMATCH'],
    ['two aggregates for one window', { usage: [{ subscriptionId: 'sub_parent', metricCode: 'api_calls', ...march, units: 1 }, { subscriptionId: 'sub_parent', metricCode: 'api_calls', ...march, units: 2 }] }, 'INVALID_USAGE'],
    ['a department listed twice in a split', { usage: [{ subscriptionId: 'sub_parent', metricCode: 'api_calls', ...march, units: 2, departments: [{ departmentId: 'd', units: 1 }, { departmentId: 'd', units: 1 }] }] }, 'INVALID_USAGE'],
    ['usage of an unknown subscription', { usage: [{ subscriptionId: 'sub_x', metricCode: 'api_calls', ...march, units: 1 }] }, 'INVALID_USAGE'],
    ['a subscription outside the account', { subscriptions: [subscription({ organizationId: 'org_other', startDate: '2027-03-01' })] }, 'INVALID_ACCOUNT'],
    ['an organization not under the account', { organizations: [...organizations, { id: 'org_orphan', parentId: 'org_nowhere' }] }, 'INVALID_ACCOUNT'],
    ['a subscription in another currency', { subscriptions: [subscription({ organizationId: 'org_parent', startDate: '2027-03-01', phases: [{ effectiveAt: '2027-03-01', plan: plan({ currency: 'EUR' }), seats: 1 }] })] }, 'CURRENCY_MISMATCH'],
    ['a subscription listed twice', { subscriptions: [subscriptions[0] as Subscription, subscriptions[0] as Subscription] }, 'INVALID_SUBSCRIPTION'],
    ['a tax rate above 100', { organizations: [{ id: 'org_parent', taxRatePercent: '101' }] }, 'INVALID_TAX'],
    ['an invalid target date', { targetDate: '2027-02-30' }, 'INVALID_DATE'],
  ])('rejects %s', (_name, overrides, code) => {
    expect(() => computeInvoice(invoiceInput({ targetDate: '2027-04-01', organizations, subscriptions: subscriptions.slice(0, 1), ...overrides }))).toThrow(
      expect.objectContaining({ code }),
    );
  });
});

describe('computeInvoice: commitments, discounts, tax and credits', () => {
  const committed: Plan = plan({
    basePrice: 1000,
    minimumCommitment: 5000,
    charges: [{ metricCode: 'gb', model: 'per_unit', unitPrice: '1' }],
  });

  it.each([
    ['tops a short month up to the minimum commitment', 20, 2000],
    ['adds nothing when spend meets the commitment', 40, 0],
  ])('%s', (_name, units, topUp) => {
    const invoice = computeInvoice(
      invoiceInput({
        targetDate: '2027-05-01',
        subscriptions: [subscription({ startDate: '2027-04-01', phases: [{ effectiveAt: '2027-04-01', plan: committed, seats: 1 }] })],
        usage: [{ subscriptionId: 'sub_1', metricCode: 'gb', periodStart: '2027-04-01', periodEnd: '2027-05-01', units }],
      }),
    );
    expect(invoice.lines.filter((line) => line.type === 'commitment').map((line) => line.amount)).toEqual(topUp === 0 ? [] : [topUp]);
  });

  it('prorates the commitment of a partial first period', () => {
    const invoice = computeInvoice(
      invoiceInput({
        targetDate: '2027-05-01',
        subscriptions: [subscription({ startDate: '2027-04-16', billingAnchorDay: 1, phases: [{ effectiveAt: '2027-04-16', plan: committed, seats: 1 }] })],
      }),
    );
    expect(brief(invoice.lines.filter((line) => line.type !== 'subscription'))).toEqual([
      ['proration', 500, '2027-04-16', '2027-05-01'],
      ['commitment', 2000, '2027-04-16', '2027-05-01'],
    ]);
  });

  it('gives seat volume discounts by seat count on seat fees', () => {
    const volume = plan({ basePrice: 0, seatPrice: 1000, seatVolumeDiscounts: [{ minSeats: 10, percentOff: '10' }, { minSeats: 50, percentOff: '20' }] });
    const discountFor = (seats: number): number =>
      computeInvoice(
        invoiceInput({
          targetDate: '2027-04-01',
          subscriptions: [subscription({ startDate: '2027-04-01', phases: [{ effectiveAt: '2027-04-01', plan: volume, seats }] })],
        }),
      ).discount;
    expect([discountFor(9), discountFor(10), discountFor(49), discountFor(50)]).toEqual([0, 1000, 4900, 10000]);
  });

  it.each<[string, Partial<Coupon>, number[]]>([
    ['percent, once: only the redemption period', { percentOff: '25', duration: 'once' }, [250, 0, 0]],
    ['percent, repeating 2 periods', { percentOff: '25', duration: 'repeating', durationInPeriods: 2 }, [250, 250, 0]],
    ['amount, forever, capped at the period subtotal', { amountOff: 1500, duration: 'forever' }, [1000, 1000, 1000]],
  ])('coupon %s', (_name, coupon, discounts) => {
    const input = invoiceInput({
      targetDate: '2027-01-01',
      subscriptions: [subscription({ startDate: '2027-01-01' })],
      coupons: [{ id: 'cpn', redeemedAt: '2027-01-01', subscriptionId: 'sub_1', duration: 'once', ...coupon }],
    });
    expect(billedThen(input, '2027-01-01', '2027-02-01', '2027-03-01').map((invoice) => invoice.discount)).toEqual(discounts);
  });

  it('an account coupon is split across organizations by their share, and tax follows the discounted subtotal', () => {
    const invoice = computeInvoice(
      invoiceInput({
        targetDate: '2027-01-01',
        account: { organizationId: 'org_parent', currency: 'USD', calendar: { interval: 'month', anchor: '2027-01-01' } },
        organizations: [
          { id: 'org_parent', taxRatePercent: '10' },
          { id: 'org_child', parentId: 'org_parent', taxRatePercent: '20' },
        ],
        subscriptions: [
          subscription({ id: 'sub_a', startDate: '2027-01-01' }),
          subscription({ id: 'sub_b', organizationId: 'org_child', startDate: '2027-01-01', phases: [{ effectiveAt: '2027-01-01', plan: plan({ basePrice: 2000 }), seats: 1 }] }),
        ],
        coupons: [{ id: 'welcome', amountOff: 1000, duration: 'once', redeemedAt: '2027-01-01' }],
      }),
    );
    expect(invoice.lines.map((line) => [line.type, line.organizationId, line.amount])).toEqual([
      ['subscription', 'org_parent', 1000],
      ['subscription', 'org_child', 2000],
      ['discount', 'org_parent', -333],
      ['discount', 'org_child', -667],
      ['tax', 'org_parent', 67],
      ['tax', 'org_child', 267],
    ]);
    expect([invoice.subtotal, invoice.discount, invoice.tax, invoice.total]).toEqual([3000, 1000, 334, 2334]);
  });

  it('applies the credit balance last and never takes the amount due below zero', () => {
    const invoice = computeInvoice(
      invoiceInput({
        targetDate: '2027-01-01',
        account: { organizationId: 'org_parent', currency: 'USD', creditBalance: 600 },
        organizations: [{ id: 'org_parent', taxRatePercent: '10' }],
        subscriptions: [subscription({ startDate: '2027-01-01', phases: [{ effectiveAt: '2027-01-01', plan: plan({ basePrice: 500 }), seats: 1 }] })],
      }),
    );
    expect(brief(invoice.lines).map(([type, amount]) => [type, amount])).toEqual([
      ['subscription', 500],
      ['tax', 50],
      ['credit', -550],
    ]);
    expect([invoice.total, invoice.creditApplied, invoice.amountDue, invoice.creditBalanceAfter]).toEqual([550, 550, 0, 50]);
  });

  it('bills pending items once, from their effective date', () => {
    const input = invoiceInput({
      targetDate: '2027-01-01',
      pendingItems: [
        { id: 'setup', type: 'one_off', description: 'Onboarding', organizationId: 'org_parent', amount: 25000, periodStart: '2027-01-05', periodEnd: '2027-01-05' },
      ],
    });
    const [before, due, again] = billedThen(input, '2027-01-04', '2027-01-05', '2027-01-06');
    expect(before?.lines).toEqual([]);
    expect(brief(due?.lines ?? [])).toEqual([['one_off', 25000, '2027-01-05', '2027-01-05']]);
    expect(again?.lines).toEqual([]);
    const consumed = computeInvoice({ ...input, targetDate: '2027-01-06', pendingItems: [], priorInvoices: [{ lines: due?.lines ?? [] }] });
    expect(consumed.lines).toEqual([]);
  });

  it('reverses a billed period when a backdated cancellation removes it', () => {
    const active = subscription({ startDate: '2027-01-01' });
    const billed = computeInvoice(invoiceInput({ targetDate: '2027-02-01', subscriptions: [active] }));
    const corrected = computeInvoice(
      invoiceInput({
        targetDate: '2027-02-02',
        subscriptions: [{ ...active, cancelAt: '2027-02-01' }],
        priorInvoices: [{ lines: billed.lines }],
      }),
    );
    expect(corrected.lines.map((line) => [line.type, line.amount, line.description])).toEqual([
      ['subscription', -1000, 'Reversal: pro base fee'],
      ['credit', 1000, 'Net credit carried to the account balance'],
    ]);
    expect([corrected.total, corrected.creditCarriedForward]).toEqual([0, 1000]);
  });

  it.each<[string, Partial<ComputeInvoiceInput>, string]>([
    ['a coupon with both percent and amount', { coupons: [{ id: 'c', percentOff: '5', amountOff: 5, duration: 'once', redeemedAt: '2027-01-01', subscriptionId: 'sub_1' }] }, 'INVALID_COUPON'],
    ['an account coupon without an account calendar', { coupons: [{ id: 'c', percentOff: '5', duration: 'once', redeemedAt: '2027-01-01' }] }, 'INVALID_COUPON'],
    ['a repeating coupon without a duration', { coupons: [{ id: 'c', percentOff: '5', duration: 'repeating', redeemedAt: '2027-01-01', subscriptionId: 'sub_1' }] }, 'INVALID_COUPON'],
    ['the same coupon twice', { coupons: [{ id: 'c', percentOff: '5', duration: 'once', redeemedAt: '2027-01-01', subscriptionId: 'sub_1' }, { id: 'c', percentOff: '5', duration: 'once', redeemedAt: '2027-01-01', subscriptionId: 'sub_1' }] }, 'INVALID_COUPON'],
    ['a future pending item with an invalid period', { pendingItems: [{ id: 'p', type: 'one_off', description: 'x', organizationId: 'org_parent', amount: 100, periodStart: '2027-06-02', periodEnd: '2027-06-01' }] }, 'INVALID_PENDING_ITEM'],
    ['a pending item with a fractional amount', { pendingItems: [{ id: 'p', type: 'one_off', description: 'x', organizationId: 'org_parent', amount: 1.5, periodStart: '2027-01-01', periodEnd: '2027-01-01' }] }, 'INVALID_AMOUNT'],
    ['a negative credit balance', { account: { organizationId: 'org_parent', currency: 'USD', creditBalance: -1 } }, 'INVALID_AMOUNT'],
  ])('rejects %s', (_name, overrides, code) => {
    expect(() => computeInvoice(invoiceInput({ targetDate: '2027-01-01', subscriptions: [subscription({ startDate: '2027-01-01' })], ...overrides }))).toThrow(
      expect.objectContaining({ code }),
    );
  });
});
