import { DomainError } from '../errors.js';
import { allocate, assertNonNegativeMinorUnits, sumMinor } from '../money/money.js';

export type LedgerAccount = 'accounts_receivable' | 'revenue' | 'tax_payable' | 'cash' | 'customer_credit' | 'bad_debt' | 'dispute_losses';

export interface JournalLineDraft {
  account: LedgerAccount;
  debit: number;
  credit: number;
}

/** A signed amount as a one-sided line: positive debits, negative credits; zero is no line. */
function signed(account: LedgerAccount, debitMinusCredit: number): JournalLineDraft[] {
  if (debitMinusCredit === 0) return [];
  return [debitMinusCredit > 0 ? { account, debit: debitMinusCredit, credit: 0 } : { account, debit: 0, credit: -debitMinusCredit }];
}

/** Throws unless debits equal credits and every line is one-sided and non-negative. */
export function assertBalanced(lines: readonly JournalLineDraft[]): void {
  for (const line of lines) {
    assertNonNegativeMinorUnits(line.debit, 'debit');
    assertNonNegativeMinorUnits(line.credit, 'credit');
    if ((line.debit === 0) === (line.credit === 0)) {
      throw new DomainError('UNBALANCED_JOURNAL', `a ${line.account} line must be a debit or a credit, not both or neither`, { account: line.account });
    }
  }
  const debits = sumMinor(lines.map((line) => line.debit));
  const credits = sumMinor(lines.map((line) => line.credit));
  if (debits !== credits) throw new DomainError('UNBALANCED_JOURNAL', `debits ${debits} differ from credits ${credits}`, { debits, credits });
}

/** What finalizing needs of an invoice's totals (the domain's InvoiceProposal has them all). */
export interface FinalizedTotals {
  subtotal: number;
  discount: number;
  tax: number;
  total: number;
  creditApplied: number;
  creditCarriedForward: number;
  amountDue: number;
}

/**
 * Finalizing an invoice: the customer owes `amountDue` (receivable) and used `creditApplied` of
 * their credit; revenue is the discounted subtotal and tax is owed to the authority. When credits
 * exceed charges the surplus goes back to the customer's credit balance.
 */
export function journalForFinalizedInvoice(totals: FinalizedTotals): JournalLineDraft[] {
  const lines = [
    ...signed('accounts_receivable', totals.amountDue),
    ...signed('customer_credit', totals.creditApplied - totals.creditCarriedForward),
    ...signed('revenue', -(totals.subtotal - totals.discount)),
    ...signed('tax_payable', -totals.tax),
  ];
  assertBalanced(lines);
  return lines;
}

/** Voiding an open invoice undoes its finalization exactly. */
export function journalForVoidedInvoice(totals: FinalizedTotals): JournalLineDraft[] {
  return journalForFinalizedInvoice(totals).map((line) => ({ account: line.account, debit: line.credit, credit: line.debit }));
}

/** Money received settles the receivable. */
export function journalForPayment(amount: number): JournalLineDraft[] {
  const lines = [...signed('cash', amount), ...signed('accounts_receivable', -amount)];
  assertBalanced(lines);
  return lines;
}

/** Writing off what is still owed on an uncollectible invoice. */
export function journalForWriteOff(amount: number): JournalLineDraft[] {
  const lines = [...signed('bad_debt', amount), ...signed('accounts_receivable', -amount)];
  assertBalanced(lines);
  return lines;
}

/**
 * A credit note on a finalized invoice takes back revenue and tax in the invoice's proportion
 * (largest remainder, so the parts sum exactly) and either pays the money back (a refund) or
 * credits the customer: `toReceivable` of it settles what the invoice still owes, the rest goes to
 * their credit balance.
 */
export function journalForCreditNote(amount: number, invoice: { total: number; tax: number }, disposition: 'credit_balance' | 'refund', toReceivable = 0): JournalLineDraft[] {
  assertNonNegativeMinorUnits(invoice.tax, 'invoice tax');
  assertNonNegativeMinorUnits(toReceivable, 'credit to the receivable');
  if (invoice.total <= 0 || amount > invoice.total) {
    throw new DomainError('INVALID_CREDIT_NOTE', `credit ${amount} exceeds the invoice total ${invoice.total}`, { amount, total: invoice.total });
  }
  if (toReceivable > amount || (disposition === 'refund' && toReceivable > 0)) {
    throw new DomainError('INVALID_CREDIT_NOTE', `${toReceivable} of a ${disposition} of ${amount} cannot settle the receivable`, { amount, toReceivable });
  }
  const [revenue, tax] = allocate(amount, [invoice.total - invoice.tax, invoice.tax]) as [number, number];
  const lines = [
    ...signed('revenue', revenue),
    ...signed('tax_payable', tax),
    ...signed('accounts_receivable', -toReceivable),
    ...signed(disposition === 'refund' ? 'cash' : 'customer_credit', -(amount - toReceivable)),
  ];
  assertBalanced(lines);
  return lines;
}

/** A card dispute Stripe decided for the cardholder: the money it took back is a loss. */
export function journalForLostDispute(amount: number): JournalLineDraft[] {
  const lines = [...signed('dispute_losses', amount), ...signed('cash', -amount)];
  assertBalanced(lines);
  return lines;
}

/**
 * Money received for an invoice (a Stripe charge, a wire): it settles the receivable first, then
 * recovers what was written off (an uncollectible invoice paid late), and anything left over — a
 * second charge that succeeded after the invoice was settled — is the customer's credit balance.
 */
export function journalForReceipt(amount: number, owed: { receivable: number; writtenOff: number }): JournalLineDraft[] {
  assertNonNegativeMinorUnits(amount, 'amount');
  assertNonNegativeMinorUnits(owed.receivable, 'receivable');
  assertNonNegativeMinorUnits(owed.writtenOff, 'written off');
  const settled = Math.min(amount, owed.receivable);
  const recovered = Math.min(amount - settled, owed.writtenOff);
  const lines = [
    ...signed('cash', amount),
    ...signed('accounts_receivable', -settled),
    ...signed('bad_debt', -recovered),
    ...signed('customer_credit', -(amount - settled - recovered)),
  ];
  assertBalanced(lines);
  return lines;
}

/** Voiding a partly paid invoice: what was received is no longer owed to the invoice but to the customer, as credit balance. */
export function journalForVoidedPayments(amountPaid: number): JournalLineDraft[] {
  const lines = [...signed('accounts_receivable', amountPaid), ...signed('customer_credit', -amountPaid)];
  assertBalanced(lines);
  return lines;
}
