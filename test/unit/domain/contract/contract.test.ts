import { describe, expect, it } from '@jest/globals';
import {
  addMonths,
  commitmentWindows,
  computeInvoice,
  contractsOverlap,
  noticeDate,
  upliftedTerms,
  validateContractTerms,
  type BillingContract,
  type ComputeInvoiceInput,
  type ContractTerms,
  type InvoiceProposal,
} from '../../../../src/domain/index.js';
import { brief, invoiceInput, plan, subscription } from '../fixtures/builders.js';

const terms = (overrides: Partial<ContractTerms> = {}): ContractTerms => ({
  discountPercent: '0',
  committedAmount: 0,
  commitmentPeriod: 'month',
  priceOverrides: [],
  sla: null,
  ...overrides,
});

const contract = (overrides: Partial<BillingContract> = {}): BillingContract => ({
  id: 'ctr_1',
  name: 'Acme MSA',
  organizationId: 'org_parent',
  startDate: '2027-01-01',
  endDate: '2028-01-01',
  versions: [{ version: 1, effectiveFrom: '2027-01-01', terms: terms() }],
  ...overrides,
});

/** A team plan: 100.00 base and 20.00 a seat, 10 seats, from Jan 1 2027. */
const team = plan({ code: 'team', name: 'Team', basePrice: 10_000, seatPrice: 2_000 });
const input = (contracts: BillingContract[], targetDate: string, extra: Partial<ComputeInvoiceInput> = {}): ComputeInvoiceInput =>
  invoiceInput({
    targetDate,
    contracts,
    subscriptions: [subscription({ startDate: '2027-01-01', phases: [{ effectiveAt: '2027-01-01', plan: team, seats: 10 }] })],
    ...extra,
  });

/** Invoices each target in turn, every one seeing the earlier ones, as billing does. */
function billedThen(base: (target: string) => ComputeInvoiceInput, ...targets: string[]): InvoiceProposal[] {
  const invoices: InvoiceProposal[] = [];
  for (const target of targets) invoices.push(computeInvoice({ ...base(target), priorInvoices: invoices.map((invoice) => ({ lines: invoice.lines })) }));
  return invoices;
}

describe('contract terms on an invoice, in their order', () => {
  it('override, then discount, then commitment (on the discounted charges), then tax, each line naming its term', () => {
    const negotiated = contract({
      versions: [
        {
          version: 1,
          effectiveFrom: '2027-01-01',
          terms: terms({ discountPercent: '10', committedAmount: 30_000, priceOverrides: [{ planCode: 'team', basePrice: 8_000, seatPrice: 1_500 }] }),
        },
      ],
    });
    const [january, february] = billedThen((target) => input([negotiated], target, { organizations: [{ id: 'org_parent', taxRatePercent: '10' }] }), '2027-01-01', '2027-02-01');
    expect(january!.lines.map((line) => [line.type, line.amount, line.description])).toEqual([
      ['subscription', 8_000, 'Team (contract Acme MSA v1 price) base fee'],
      ['seat', 15_000, expect.stringContaining('Team (contract Acme MSA v1 price)')],
      ['discount', -800, expect.stringMatching(/^Contract Acme MSA v1: 10% off Team/)],
      ['discount', -1_500, expect.stringMatching(/^Contract Acme MSA v1: 10% off Team/)],
      ['tax', 2_070, expect.any(String)],
    ]);
    // January's commitment (30,000) against 20,700 spent after the discount is billed once January has ended.
    expect(brief(february!.lines.filter((line) => line.type === 'commitment'))).toEqual([['commitment', 9_300, '2027-01-01', '2027-02-01']]);
    expect(february!.lines.find((line) => line.type === 'commitment')?.description).toBe('Contract Acme MSA: commitment of 30000 for 2027-01-01 to 2027-02-01 (spent 20700)');
    // The commitment line is not discounted, and is taxed like any charge.
    expect(february!.lines.filter((line) => line.type === 'discount')).toHaveLength(2);
    expect(february!.tax).toBe(Math.round((8_000 + 15_000 - 2_300 + 9_300) * 0.1));
  });

  it.each([
    ['met exactly', 23_000, null],
    ['missed by 1 minor unit', 23_001, 1],
    ['exceeded', 22_000, null],
  ])('a monthly commitment %s', (_, committedAmount, topUp) => {
    const committed = contract({ versions: [{ version: 1, effectiveFrom: '2027-01-01', terms: terms({ committedAmount, priceOverrides: [{ planCode: 'team', basePrice: 8_000, seatPrice: 1_500 }] }) }] });
    const [, february] = billedThen((target) => input([committed], target), '2027-01-01', '2027-02-01');
    expect(february!.lines.filter((line) => line.type === 'commitment').map((line) => line.amount)).toEqual(topUp === null ? [] : [topUp]);
  });

  it('a yearly commitment trues up at each contract year end, the partial first year pro rata', () => {
    // A contract from Jul 1 2027 to Jan 1 2029 (18 months), 1,200,000 a year: its first year runs
    // to Jul 1 2028 in full; its second is cut at Jan 1 2029 (184 of 365 days → 604,932).
    const yearly = contract({
      startDate: '2027-07-01',
      endDate: '2029-01-01',
      versions: [{ version: 1, effectiveFrom: '2027-07-01', terms: terms({ committedAmount: 1_200_000, commitmentPeriod: 'year' }) }],
    });
    expect(commitmentWindows(yearly, 'year').map((window) => [window.end - window.start, window.fullDays])).toEqual([
      [366, 366],
      [184, 365],
    ]);
    const monthlyTargets = Array.from({ length: 19 }, (_, index) => addMonths('2027-07-01', index));
    const invoices = billedThen((target) => input([yearly], target, { subscriptions: [subscription({ startDate: '2027-07-01', phases: [{ effectiveAt: '2027-07-01', plan: team, seats: 10 }] })] }), ...monthlyTargets);
    const commitments = invoices.flatMap((invoice) => invoice.lines.filter((line) => line.type === 'commitment'));
    // 30,000 a month: 360,000 in the first year, 180,000 in the last six months.
    expect(brief(commitments)).toEqual([
      ['commitment', 1_200_000 - 360_000, '2027-07-01', '2028-07-01'],
      ['commitment', 604_932 - 180_000, '2028-07-01', '2029-01-01'],
    ]);
    expect(invoices[12]!.lines.some((line) => line.type === 'commitment')).toBe(true);
  });

  it('an amendment mid-period prorates by the day: a credit at the old price and a debit at the new', () => {
    const amended = contract({
      versions: [
        { version: 1, effectiveFrom: '2027-01-01', terms: terms({ priceOverrides: [{ planCode: 'team', basePrice: 8_000 }] }) },
        { version: 2, effectiveFrom: '2027-01-17', terms: terms({ priceOverrides: [{ planCode: 'team', basePrice: 6_000 }] }) },
      ],
    });
    const [january] = billedThen((target) => input([amended], target, { subscriptions: [subscription({ startDate: '2027-01-01', phases: [{ effectiveAt: '2027-01-01', plan: team, seats: 0 }] })] }), '2027-01-17');
    // 15 of 31 days remain from Jan 17: −8,000 × 15/31 = −3,871 and +6,000 × 15/31 = +2,903.
    expect(january!.lines.map((line) => [line.type, line.amount, line.periodStart, line.periodEnd])).toEqual([
      ['subscription', 8_000, '2027-01-01', '2027-02-01'],
      ['proration', -3_871, '2027-01-17', '2027-02-01'],
      ['proration', 2_903, '2027-01-17', '2027-02-01'],
    ]);
  });

  it('list prices come back the day the contract ends, and nothing of it is billed again', () => {
    const ended = contract({ endDate: '2027-02-01', versions: [{ version: 1, effectiveFrom: '2027-01-01', terms: terms({ discountPercent: '50', priceOverrides: [{ planCode: 'team', basePrice: 5_000, seatPrice: 0 }] }) }] });
    const invoices = billedThen((target) => input([ended], target), '2027-01-01', '2027-02-01', '2027-02-01');
    expect(brief(invoices[1]!.lines)).toEqual([
      ['subscription', 10_000, '2027-02-01', '2027-03-01'],
      ['seat', 20_000, '2027-02-01', '2027-03-01'],
    ]);
    expect(invoices[2]!.lines).toEqual([]);
  });

  it('an SLA breach credits that period’s recurring charges once, after tax; a period within the SLA credits nothing', () => {
    const sla = contract({ versions: [{ version: 1, effectiveFrom: '2027-01-01', terms: terms({ sla: { uptimePercent: '99.9', creditPercent: '10' } }) }] });
    const withBreaches = { ...sla, slaBreaches: [{ periodStart: '2027-01-01', periodEnd: '2027-02-01', measuredUptimePercent: '99.5' }, { periodStart: '2027-02-01', periodEnd: '2027-03-01', measuredUptimePercent: '99.95' }] };
    const invoices = billedThen((target) => input([withBreaches], target, { organizations: [{ id: 'org_parent', taxRatePercent: '10' }] }), '2027-01-01', '2027-02-01', '2027-03-01');
    const credits = invoices.map((invoice) => invoice.lines.filter((line) => line.key.startsWith('contract:')).map((line) => [line.type, line.amount]));
    expect(credits).toEqual([[['credit', -3_000]], [], []]);
    expect(invoices[0]!.total).toBe(30_000 + 3_000 - 3_000);
  });

  it('bills the termination fee once, from the day the termination takes effect', () => {
    const terminated = contract({ endDate: '2027-03-15', terminationFee: { amount: 50_000, on: '2027-03-15' } });
    const invoices = billedThen((target) => input([terminated], target), '2027-03-01', '2027-04-01', '2027-05-01');
    expect(invoices.map((invoice) => invoice.lines.filter((line) => line.type === 'one_off').map((line) => line.amount))).toEqual([[], [50_000], []]);
  });

  it('follows an organization from one contract to the next, and a child to its parent’s when its own has ended', () => {
    const first = contract({ endDate: '2027-03-01', versions: [{ version: 1, effectiveFrom: '2027-01-01', terms: terms({ priceOverrides: [{ planCode: 'team', basePrice: 5_000 }] }) }] });
    const second = contract({ id: 'ctr_2', name: 'Renegotiated', startDate: '2027-03-01', versions: [{ version: 1, effectiveFrom: '2027-03-01', terms: terms({ priceOverrides: [{ planCode: 'team', basePrice: 7_000 }] }) }] });
    const childs = contract({ id: 'ctr_3', name: 'Child', organizationId: 'org_child', endDate: '2027-02-01', versions: [{ version: 1, effectiveFrom: '2027-01-01', terms: terms({ priceOverrides: [{ planCode: 'team', basePrice: 1_000 }] }) }] });
    const base = (target: string) =>
      invoiceInput({
        targetDate: target,
        organizations: [{ id: 'org_parent' }, { id: 'org_child', parentId: 'org_parent' }],
        contracts: [first, second, childs],
        subscriptions: [
          subscription({ startDate: '2027-01-01', phases: [{ effectiveAt: '2027-01-01', plan: team, seats: 0 }] }),
          subscription({ id: 'sub_child', organizationId: 'org_child', startDate: '2027-01-01', phases: [{ effectiveAt: '2027-01-01', plan: team, seats: 0 }] }),
        ],
      });
    const invoices = billedThen(base, '2027-01-01', '2027-02-01', '2027-03-01');
    expect(invoices.map((invoice) => invoice.lines.map((line) => [line.organizationId, line.amount]))).toEqual([
      [
        ['org_parent', 5_000],
        ['org_child', 1_000],
      ],
      [
        ['org_parent', 5_000],
        ['org_child', 5_000],
      ],
      [
        ['org_parent', 7_000],
        ['org_child', 7_000],
      ],
    ]);
  });

  it('covers its organization and the descendants without a contract of their own', () => {
    const parent = contract({ versions: [{ version: 1, effectiveFrom: '2027-01-01', terms: terms({ discountPercent: '10' }) }] });
    const child = contract({ id: 'ctr_2', name: 'Child deal', organizationId: 'org_child', versions: [{ version: 1, effectiveFrom: '2027-01-01', terms: terms({ discountPercent: '20' }) }] });
    const invoice = computeInvoice(
      invoiceInput({
        targetDate: '2027-01-01',
        organizations: [{ id: 'org_parent' }, { id: 'org_child', parentId: 'org_parent' }, { id: 'org_other', parentId: 'org_parent' }],
        contracts: [parent, child],
        subscriptions: [
          subscription({ id: 'sub_child', organizationId: 'org_child', startDate: '2027-01-01' }),
          subscription({ id: 'sub_other', organizationId: 'org_other', startDate: '2027-01-01' }),
        ],
      }),
    );
    expect(invoice.lines.filter((line) => line.type === 'discount').map((line) => [line.organizationId, line.amount])).toEqual([
      ['org_child', -200],
      ['org_other', -100],
    ]);
  });
});

describe('contract terms themselves', () => {
  it('renews with an uplift on overrides and the commitment, each rounded once', () => {
    expect(upliftedTerms(terms({ committedAmount: 30_001, priceOverrides: [{ planCode: 'team', basePrice: 8_000, seatPrice: 1_499 }] }), '5')).toEqual(
      terms({ committedAmount: 31_501, priceOverrides: [{ planCode: 'team', basePrice: 8_400, seatPrice: 1_574 }] }),
    );
  });

  it.each([
    [{ discountPercent: '101' }, 'discountPercent'],
    [{ discountPercent: '-1' }, 'discountPercent'],
    [{ committedAmount: -1 }, 'committedAmount'],
    [{ commitmentPeriod: 'week' }, 'commitmentPeriod'],
    [{ priceOverrides: [{ planCode: 'team' }, { planCode: 'team' }] }, 'priceOverrides'],
    [{ sla: { uptimePercent: '100.1', creditPercent: '10' } }, 'sla.uptimePercent'],
  ])('refuses %j', (overrides, field) => {
    expect(() => validateContractTerms(terms(overrides as Partial<ContractTerms>))).toThrow(expect.objectContaining({ message: expect.stringContaining(field) }));
  });

  it.each([
    ['2027-01-01', 12, '2028-01-01'],
    ['2027-01-31', 1, '2027-02-28'],
    ['2027-01-31', 2, '2027-03-31'],
  ])('%s plus %i months is %s', (day, months, expected) => {
    expect(addMonths(day, months)).toBe(expected);
  });

  it('notices 30 days before the end of a 12-month term: day 335', () => {
    expect(noticeDate('2028-01-01', 30)).toBe('2027-12-02');
    expect(Date.parse('2027-12-02') / 86_400_000 - Date.parse('2027-01-01') / 86_400_000).toBe(335);
  });

  it('tells overlapping terms apart from adjacent ones', () => {
    expect(contractsOverlap({ startDate: '2027-01-01', endDate: '2028-01-01' }, { startDate: '2027-12-31', endDate: '2028-06-01' })).toBe(true);
    expect(contractsOverlap({ startDate: '2027-01-01', endDate: '2028-01-01' }, { startDate: '2028-01-01', endDate: '2028-06-01' })).toBe(false);
  });
});
