import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  assertBalanced,
  journalForCreditNote,
  journalForFinalizedInvoice,
  journalForPayment,
  journalForReceipt,
  journalForVoidedInvoice,
  journalForVoidedPayments,
  journalForWriteOff,
  type FinalizedTotals,
  type JournalLineDraft,
} from '../../../../src/domain/index.js';

/** Debits minus credits per account, accounts with a zero net left out. */
function netByAccount(...postings: JournalLineDraft[][]): Record<string, number> {
  const net: Record<string, number> = {};
  for (const line of postings.flat()) net[line.account] = (net[line.account] ?? 0) + line.debit - line.credit;
  return Object.fromEntries(Object.entries(net).filter(([, amount]) => amount !== 0));
}

function expectBalancedOneSided(lines: JournalLineDraft[]): void {
  for (const line of lines) expect((line.debit > 0) !== (line.credit > 0)).toBe(true);
  expect(lines.reduce((sum, line) => sum + line.debit, 0)).toBe(lines.reduce((sum, line) => sum + line.credit, 0));
}

const totals = (overrides: Partial<FinalizedTotals>): FinalizedTotals => {
  const base = { subtotal: 10_000, discount: 0, tax: 0, creditApplied: 0, creditCarriedForward: 0, ...overrides };
  const total = overrides.total ?? base.subtotal - base.discount + base.tax + base.creditCarriedForward;
  return { ...base, total, amountDue: overrides.amountDue ?? total - base.creditApplied };
};

describe('journalForFinalizedInvoice', () => {
  it.each([
    ['a plain invoice', totals({}), { accounts_receivable: 10_000, revenue: -10_000 }],
    ['with discount and tax', totals({ subtotal: 10_000, discount: 1_000, tax: 900 }), { accounts_receivable: 9_900, revenue: -9_000, tax_payable: -900 }],
    ['paid partly from the credit balance', totals({ subtotal: 10_000, tax: 500, creditApplied: 3_000 }), { accounts_receivable: 7_500, customer_credit: 3_000, revenue: -10_000, tax_payable: -500 }],
    ['paid wholly from the credit balance', totals({ subtotal: 2_000, creditApplied: 2_000 }), { customer_credit: 2_000, revenue: -2_000 }],
    ['a net credit carried to the balance', totals({ subtotal: -3_000, tax: -300, creditCarriedForward: 3_300, total: 0 }), { revenue: 3_000, tax_payable: 300, customer_credit: -3_300 }],
  ])('%s: balanced, one line per account', (_, invoice, expected) => {
    const lines = journalForFinalizedInvoice(invoice);
    expectBalancedOneSided(lines);
    expect(netByAccount(lines)).toEqual(expected);
    expect(new Set(lines.map((line) => line.account)).size).toBe(lines.length);
  });
});

describe('journalForVoidedInvoice', () => {
  it.each([
    totals({}),
    totals({ subtotal: 10_000, discount: 1_000, tax: 900 }),
    totals({ subtotal: 10_000, tax: 500, creditApplied: 3_000 }),
    totals({ subtotal: -3_000, tax: -300, creditCarriedForward: 3_300, total: 0 }),
  ])('undoes the finalization exactly (%#)', (invoice) => {
    const voided = journalForVoidedInvoice(invoice);
    expectBalancedOneSided(voided);
    expect(netByAccount(journalForFinalizedInvoice(invoice), voided)).toEqual({});
  });
});

describe('payments, write-offs and voided payments', () => {
  it('a payment moves the receivable to cash', () => {
    expect(journalForPayment(4_200)).toEqual([
      { account: 'cash', debit: 4_200, credit: 0 },
      { account: 'accounts_receivable', debit: 0, credit: 4_200 },
    ]);
  });

  it('a write-off moves the receivable to bad debt', () => {
    expect(journalForWriteOff(7_500)).toEqual([
      { account: 'bad_debt', debit: 7_500, credit: 0 },
      { account: 'accounts_receivable', debit: 0, credit: 7_500 },
    ]);
  });

  it('nothing to pay or write off posts nothing', () => {
    expect(journalForPayment(0)).toEqual([]);
    expect(journalForWriteOff(0)).toEqual([]);
    expect(journalForVoidedPayments(0)).toEqual([]);
  });

  it('voiding a partly paid invoice leaves the receivable at zero and the payment as credit balance', () => {
    const invoice = totals({ subtotal: 10_000 });
    const postings = [journalForFinalizedInvoice(invoice), journalForPayment(4_000), journalForVoidedInvoice(invoice), journalForVoidedPayments(4_000)];
    for (const lines of postings) expectBalancedOneSided(lines);
    expect(netByAccount(...postings)).toEqual({ cash: 4_000, customer_credit: -4_000 });
  });
});

describe('journalForReceipt', () => {
  it.each([
    ['settles an open receivable', 3_000, { receivable: 5_000, writtenOff: 0 }, { cash: 3_000, accounts_receivable: -3_000 }],
    ['is a plain payment when it settles exactly', 5_000, { receivable: 5_000, writtenOff: 0 }, { cash: 5_000, accounts_receivable: -5_000 }],
    ['credits a surplus to the customer', 6_000, { receivable: 5_000, writtenOff: 0 }, { cash: 6_000, accounts_receivable: -5_000, customer_credit: -1_000 }],
    ['recovers a write-off', 5_000, { receivable: 0, writtenOff: 5_000 }, { cash: 5_000, bad_debt: -5_000 }],
    ['credits money for a settled invoice entirely', 2_500, { receivable: 0, writtenOff: 0 }, { cash: 2_500, customer_credit: -2_500 }],
    ['settles, recovers and credits in that order', 9_000, { receivable: 2_000, writtenOff: 3_000 }, { cash: 9_000, accounts_receivable: -2_000, bad_debt: -3_000, customer_credit: -4_000 }],
  ])('%s', (_, amount, owed, expected) => {
    const lines = journalForReceipt(amount, owed);
    expectBalancedOneSided(lines);
    expect(netByAccount(lines)).toEqual(expected);
  });

  it('equals journalForPayment whenever the amount is owed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e12 }), fc.integer({ min: 0, max: 1e12 }), (amount, extra) => {
        expect(journalForReceipt(amount, { receivable: amount + extra, writtenOff: 0 })).toEqual(journalForPayment(amount));
      }),
    );
  });

  it.each([-1, 1.5])('refuses the amount %p', (amount) => {
    expect(() => journalForReceipt(amount, { receivable: 10, writtenOff: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_AMOUNT' }));
  });
});

describe('journalForCreditNote', () => {
  it.each([
    ['all revenue without tax', 2_500, { total: 10_000, tax: 0 }, 2_500, 0],
    ['revenue and tax in the invoice proportion', 5_500, { total: 11_000, tax: 1_000 }, 5_000, 500],
    ['the whole invoice', 11_000, { total: 11_000, tax: 1_000 }, 10_000, 1_000],
    // 3,333 × 9,000 / 10,001 = 2,999.40 and 3,333 × 1,001 / 10,001 = 333.60: the leftover cent goes to the larger remainder.
    ['a split that does not divide evenly, by largest remainder', 3_333, { total: 10_001, tax: 1_001 }, 2_999, 334],
  ])('%s', (_, amount, invoice, revenue, tax) => {
    for (const disposition of ['credit_balance', 'refund'] as const) {
      const lines = journalForCreditNote(amount, invoice, disposition);
      expectBalancedOneSided(lines);
      expect(netByAccount(lines)).toEqual({
        revenue,
        ...(tax === 0 ? {} : { tax_payable: tax }),
        [disposition === 'refund' ? 'cash' : 'customer_credit']: -amount,
      });
    }
  });

  it('always splits into parts that sum to the amount, each at most its share rounded up', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e7 }), fc.integer({ min: 0, max: 1e7 }), fc.double({ min: 0, max: 1, noNaN: true }), (total, taxSeed, fraction) => {
        const tax = taxSeed % (total + 1);
        const amount = Math.max(1, Math.floor(total * fraction));
        const lines = journalForCreditNote(amount, { total, tax }, 'refund');
        expectBalancedOneSided(lines);
        const net = netByAccount(lines);
        expect((net.revenue ?? 0) + (net.tax_payable ?? 0)).toBe(amount);
        expect(net.tax_payable ?? 0).toBeLessThanOrEqual(Math.ceil((amount * tax) / total));
      }),
    );
  });

  it.each([
    ['more than the invoice total', 10_001, { total: 10_000, tax: 0 }],
    ['anything against a zero invoice', 1, { total: 0, tax: 0 }],
  ])('refuses to credit %s', (_, amount, invoice) => {
    expect(() => journalForCreditNote(amount, invoice, 'credit_balance')).toThrow(expect.objectContaining({ code: 'INVALID_CREDIT_NOTE' }));
  });
});

describe('assertBalanced', () => {
  it.each([
    ['debits that differ from credits', [{ account: 'cash', debit: 100, credit: 0 }, { account: 'revenue', debit: 0, credit: 99 }]],
    ['a line with both sides', [{ account: 'cash', debit: 100, credit: 100 }]],
    ['a line with neither side', [{ account: 'cash', debit: 0, credit: 0 }]],
  ] as [string, JournalLineDraft[]][])('refuses %s', (_, lines) => {
    expect(() => assertBalanced(lines)).toThrow(expect.objectContaining({ code: 'UNBALANCED_JOURNAL' }));
  });

  it('refuses a negative amount', () => {
    expect(() => assertBalanced([{ account: 'cash', debit: -5, credit: 0 }, { account: 'revenue', debit: -5, credit: 0 }])).toThrow(
      expect.objectContaining({ code: 'INVALID_AMOUNT' }),
    );
  });
});
