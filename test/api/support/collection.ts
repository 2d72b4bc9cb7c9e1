import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Invoice, InvoiceLine, Payment, type CollectionMethod } from '../../../src/db/entities/index.js';
import { postJournalEntry } from '../../../src/db/repositories/journal.js';
import { journalForFinalizedInvoice, journalForPayment } from '../../../src/domain/index.js';
import type { TestStack } from '../../support/stack.js';

export interface FinalizedInvoiceOptions {
  organizationId: string;
  /** Default: a new id. */
  id?: string;
  /** Charges before tax. */
  subtotal?: number;
  tax?: number;
  /** Of the customer's credit balance (which must hold it). */
  creditApplied?: number;
  collectionMethod?: CollectionMethod;
  dueAt?: Date;
}

let billingDays = 0;

/**
 * An open invoice as the billing cycle finalizes one — lines, a number, totals and the balanced
 * finalization entry — written directly, so payment tests do not depend on a billing run. Each
 * gets a billing day of its own (one invoice per account and day).
 */
export async function insertFinalizedInvoice(stack: TestStack, options: FinalizedInvoiceOptions): Promise<string> {
  const subtotal = options.subtotal ?? 10_000;
  const tax = options.tax ?? 0;
  const creditApplied = options.creditApplied ?? 0;
  const total = subtotal + tax;
  const totals = { subtotal, discount: 0, tax, total, creditApplied, creditCarriedForward: 0, amountDue: total - creditApplied };
  const id = options.id ?? randomUUID();
  billingDays += 1;
  const billingDate = new Date(Date.UTC(2000, 0, 1) + billingDays * 86_400_000);
  const periodEnd = new Date(billingDate.getTime() + 30 * 86_400_000);
  const now = new Date();
  await stack.orm.em.fork().transactional(async (em) => {
    const invoice = em.create(Invoice, {
      id,
      organization: options.organizationId,
      billingDate,
      number: `FIX-${id.slice(0, 8).toUpperCase()}-000001`,
      status: 'open',
      currency: 'USD',
      collectionMethod: options.collectionMethod ?? 'send_invoice',
      periodStart: billingDate,
      periodEnd,
      ...totals,
      amountPaid: 0,
      amountCredited: 0,
      dueAt: options.dueAt ?? now,
      finalizedAt: now,
      createdAt: now,
      updatedAt: now,
    });
    const line = { invoice, organizationId: options.organizationId, periodStart: billingDate, periodEnd, quantity: '1' };
    em.create(InvoiceLine, { ...line, id: randomUUID(), position: 0, key: `fixture:${id}:base`, type: 'subscription', description: 'Plan base fee', unitAmount: subtotal, amount: subtotal });
    if (tax) em.create(InvoiceLine, { ...line, id: randomUUID(), position: 1, key: `fixture:${id}:tax`, type: 'tax', description: 'Tax', amount: tax });
    if (creditApplied) em.create(InvoiceLine, { ...line, id: randomUUID(), position: 2, key: 'credit:applied', type: 'credit', description: 'Credit balance applied', amount: -creditApplied });
    await em.flush();
    await postJournalEntry(em, {
      organizationId: options.organizationId,
      invoiceId: id,
      sourceKey: `invoice:${id}:finalized`,
      description: `Invoice ${invoice.number} finalized`,
      currency: 'USD',
      postedAt: now,
      lines: journalForFinalizedInvoice(totals),
    });
  });
  return id;
}

/** Marks an invoice paid by one payment (a PaymentIntent for `stripe`), with its journal entry. */
export async function payInFull(stack: TestStack, invoiceId: string, payment: { method: 'stripe' | 'wire'; reference: string }): Promise<void> {
  await stack.orm.em.fork().transactional(async (em: EntityManager) => {
    const invoice = await em.findOneOrFail(Invoice, { id: invoiceId });
    const now = new Date();
    const paymentId = randomUUID();
    em.create(Payment, { id: paymentId, invoice, amount: invoice.amountDue, currency: invoice.currency, method: payment.method, reference: payment.reference, receivedAt: now, recordedBy: 'fixture', createdAt: now });
    Object.assign(invoice, { status: 'paid', amountPaid: invoice.amountDue, paidAt: now, updatedAt: now });
    await em.flush();
    await postJournalEntry(em, {
      organizationId: invoice.organization.id,
      invoiceId,
      sourceKey: `payment:${paymentId}`,
      description: `Payment ${payment.reference}`,
      currency: invoice.currency,
      postedAt: now,
      lines: journalForPayment(invoice.amountDue),
    });
  });
}

export interface JournalCheck {
  /** Entries whose debits differ from their credits (must be empty). */
  unbalancedEntries: string[];
  debits: number;
  credits: number;
  /** Debits minus credits per account, over the invoice's entries. */
  byAccount: Record<string, number>;
}

/** The journal of one invoice (or every entry of an organization): per entry and overall, debits must equal credits. */
export async function journalOf(stack: TestStack, filter: { invoiceId: string } | { organizationId: string }): Promise<JournalCheck> {
  const [column, value] = 'invoiceId' in filter ? ['invoice_id', filter.invoiceId] : ['organization_id', filter.organizationId];
  const entries = await stack.sql<{ source_key: string; debits: string; credits: string }>(
    `select e.source_key, sum(l.debit) as debits, sum(l.credit) as credits from journal_entries e join journal_lines l on l.entry_id = e.id
      where e.${column} = $1 group by e.id, e.source_key`,
    [value],
  );
  const accounts = await stack.sql<{ account: string; net: string }>(
    `select l.account, sum(l.debit - l.credit) as net from journal_entries e join journal_lines l on l.entry_id = e.id where e.${column} = $1 group by l.account`,
    [value],
  );
  return {
    unbalancedEntries: entries.filter((entry) => entry.debits !== entry.credits).map((entry) => entry.source_key),
    debits: entries.reduce((sum, entry) => sum + Number(entry.debits), 0),
    credits: entries.reduce((sum, entry) => sum + Number(entry.credits), 0),
    byAccount: Object.fromEntries(accounts.map((row): [string, number] => [row.account, Number(row.net)]).filter(([, net]) => net !== 0)),
  };
}
