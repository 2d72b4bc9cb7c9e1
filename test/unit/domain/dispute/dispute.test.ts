import { describe, expect, it } from '@jest/globals';
import {
  assertBalanced,
  commentRefusal,
  creditSplit,
  disputableAmount,
  journalForCreditNote,
  journalForLostDispute,
  laterStripeReport,
  openingRefusal,
  resolutionRefusal,
  statusAfterComment,
  statusOfStripeDispute,
  withdrawalRefusal,
  type DisputeStatus,
  type ResolutionLimits,
} from '../../../../src/domain/index.js';

const invoice = (status: string, total = 10_000, amountCredited = 0) => ({ status, total, amountCredited });

describe('openingRefusal', () => {
  it.each([
    ['an open invoice, the whole total', invoice('open'), 10_000, false, 0, null],
    ['a paid invoice, part of it', invoice('paid'), 2_500, false, 0, null],
    ['a draft', invoice('draft'), 1, false, 0, 'invoice_not_disputable'],
    ['a void invoice', invoice('void'), 1, false, 0, 'invoice_not_disputable'],
    ['an uncollectible invoice', invoice('uncollectible'), 1, false, 0, 'invoice_not_disputable'],
    ['a second customer dispute', invoice('open'), 1, true, 1, 'dispute_already_open'],
    ['one minor unit over the total', invoice('open'), 10_001, false, 0, 'dispute_exceeds_invoice'],
    ['over what is left once credited', invoice('paid', 10_000, 4_000), 6_001, false, 0, 'dispute_exceeds_invoice'],
    ['exactly what is left once credited', invoice('paid', 10_000, 4_000), 6_000, false, 0, null],
    ['over what a card dispute leaves', invoice('paid'), 3_001, false, 7_000, 'dispute_exceeds_invoice'],
  ] as const)('%s', (_, disputed, amount, customerDisputeActive, activelyDisputed, code) => {
    expect(openingRefusal(disputed, { amount, customerDisputeActive, activelyDisputed })?.code ?? null).toBe(code);
  });

  it('says what is left to dispute', () => {
    expect(disputableAmount(invoice('open', 10_000, 1_000), 2_000)).toBe(7_000);
    expect(disputableAmount(invoice('open', 10_000, 9_000), 2_000)).toBe(0);
    expect(openingRefusal(invoice('open'), { amount: 20_000, customerDisputeActive: false, activelyDisputed: 0 })).toMatchObject({ status: 422, details: { disputable: 10_000 } });
  });
});

describe('resolutionRefusal', () => {
  const limits: ResolutionLimits = { creditable: 10_000, refundable: 6_000 };
  it.each([
    ['reject an open dispute', 'open', 'reject', 0, null],
    ['credit under review, the disputed amount', 'under_review', 'credit', 5_000, null],
    ['refund within the captured payment', 'open', 'refund', 5_000, null],
    ['refund beyond the captured payment', 'open', 'refund', 5_000, 'refund_exceeds_captured', { creditable: 10_000, refundable: 4_999 }],
    ['credit beyond the invoice', 'open', 'credit', 5_000, 'credit_exceeds_creditable', { creditable: 4_999, refundable: 0 }],
    ['more than the dispute', 'open', 'credit', 5_001, 'resolution_exceeds_dispute'],
    ['a dispute pending approval', 'pending_approval', 'credit', 1, 'dispute_not_resolvable'],
    ['a resolved dispute', 'resolved', 'reject', 0, 'dispute_not_resolvable'],
    ['a withdrawn dispute', 'withdrawn', 'refund', 1, 'dispute_not_resolvable'],
  ] as const)('%s', (_, status, outcome, amount, code, given: ResolutionLimits = limits) => {
    expect(resolutionRefusal({ status, amount: 5_000 }, { outcome, amount }, given)?.code ?? null).toBe(code);
  });
});

describe('the customer and the operator', () => {
  it.each([
    ['open', null],
    ['under_review', null],
    ['pending_approval', 'dispute_not_withdrawable'],
    ['resolved', 'dispute_not_withdrawable'],
    ['withdrawn', 'dispute_not_withdrawable'],
  ] as const)('withdrawing a dispute %s → %s', (status, code) => {
    expect(withdrawalRefusal(status)?.code ?? null).toBe(code);
  });

  it.each([
    ['open', null],
    ['pending_approval', null],
    ['rejected', 'dispute_closed'],
    ['resolved', 'dispute_closed'],
  ] as const)('commenting on a dispute %s → %s', (status, code) => {
    expect(commentRefusal(status)?.code ?? null).toBe(code);
  });

  it("puts an open dispute under review at the operator's first comment, not the customer's", () => {
    expect(statusAfterComment('open', false)).toBe('open');
    expect(statusAfterComment('open', true)).toBe('under_review');
    expect(statusAfterComment('under_review', true)).toBe('under_review');
    expect(statusAfterComment('pending_approval', true)).toBe('pending_approval');
  });
});

describe('creditSplit', () => {
  it.each([
    [3_000, 10_000, 3_000, 0],
    [3_000, 1_000, 1_000, 2_000],
    [3_000, 0, 0, 3_000],
    [3_000, 3_000, 3_000, 0],
  ])('a credit of %i with %i owed settles %i and credits %i to the balance', (amount, receivable, toReceivable, toBalance) => {
    expect(creditSplit(amount, receivable)).toEqual({ toReceivable, toBalance });
  });
});

describe('card disputes as Stripe reports them', () => {
  it.each([
    ['needs_response', 'open', null],
    ['warning_needs_response', 'open', null],
    ['under_review', 'under_review', null],
    ['warning_under_review', 'under_review', null],
    ['won', 'rejected', 'won'],
    ['warning_closed', 'rejected', 'won'],
    ['lost', 'resolved', 'lost'],
  ] as const)('%s → %s', (stripeStatus, status, outcome) => {
    expect(statusOfStripeDispute(stripeStatus)).toEqual({ status, outcome });
  });

  const report = (status: DisputeStatus, seconds: number) => ({ status, reportedAt: new Date(Date.UTC(2026, 11, 1, 0, 0, seconds)).toISOString() });
  it.each([
    ['a later report replaces an earlier one', report('open', 1), report('under_review', 2), 'under_review'],
    ['an earlier report arriving late changes nothing', report('under_review', 2), report('open', 1), 'under_review'],
    ['a closed dispute never reopens, even for a later report', report('resolved', 1), report('under_review', 2), 'resolved'],
    ['a closing report stands over an open one reported later', report('open', 3), report('rejected', 2), 'rejected'],
  ] as const)('%s', (_, current, incoming, standing) => {
    expect(laterStripeReport(current, incoming).status).toBe(standing);
  });
});

describe('journal entries of disputes', () => {
  it('a credit on an open invoice settles the receivable first, the rest to the balance, balanced', () => {
    const lines = journalForCreditNote(3_000, { total: 11_000, tax: 1_000 }, 'credit_balance', 1_000);
    assertBalanced(lines);
    expect(lines).toEqual([
      { account: 'revenue', debit: 2_727, credit: 0 },
      { account: 'tax_payable', debit: 273, credit: 0 },
      { account: 'accounts_receivable', debit: 0, credit: 1_000 },
      { account: 'customer_credit', debit: 0, credit: 2_000 },
    ]);
  });

  it('a refund pays cash back and never settles the receivable', () => {
    expect(journalForCreditNote(500, { total: 1_000, tax: 0 }, 'refund')).toEqual([
      { account: 'revenue', debit: 500, credit: 0 },
      { account: 'cash', debit: 0, credit: 500 },
    ]);
    expect(() => journalForCreditNote(500, { total: 1_000, tax: 0 }, 'refund', 100)).toThrow(expect.objectContaining({ code: 'INVALID_CREDIT_NOTE' }));
    expect(() => journalForCreditNote(500, { total: 1_000, tax: 0 }, 'credit_balance', 501)).toThrow(expect.objectContaining({ code: 'INVALID_CREDIT_NOTE' }));
  });

  it('a card dispute lost is a loss paid in cash', () => {
    expect(journalForLostDispute(10_000)).toEqual([
      { account: 'dispute_losses', debit: 10_000, credit: 0 },
      { account: 'cash', debit: 0, credit: 10_000 },
    ]);
  });
});
