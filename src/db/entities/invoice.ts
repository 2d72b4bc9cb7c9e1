import { defineEntity, p } from '@mikro-orm/core';
import { collectionMethodValues, invoiceStatusValues, type InvoiceLineType } from '../../domain/index.js';
import { Organization } from './organization.js';

export { collectionMethodValues, invoiceStatusValues, type CollectionMethod, type InvoiceStatus } from '../../domain/index.js';

/**
 * One invoice of a billing account (a root organization; its children's lines are consolidated
 * onto it). `billingDate` is the billing day the invoice closes: the unique (organization,
 * billingDate) pair is what makes "one invoice per account and period" hold even when a workflow
 * is reset or an activity runs twice. Billing days are stored as UTC midnights.
 */
const InvoiceSchema = defineEntity({
  name: 'Invoice',
  tableName: 'invoices',
  properties: {
    id: p.uuid().primary(),
    organization: () => p.manyToOne(Organization).deleteRule('restrict'),
    billingDate: p.datetime(),
    /** Gapless per prefix, assigned when the invoice is finalized (drafts have none). */
    number: p.string().length(64).nullable().unique(),
    status: p.enum(invoiceStatusValues),
    currency: p.string().length(3),
    collectionMethod: p.enum(collectionMethodValues),
    periodStart: p.datetime(),
    periodEnd: p.datetime(),
    subtotal: p.bigint('number'),
    discount: p.bigint('number'),
    tax: p.bigint('number'),
    total: p.bigint('number'),
    /** The customer's credit balance applied to this invoice. */
    creditApplied: p.bigint('number'),
    amountDue: p.bigint('number'),
    amountPaid: p.bigint('number'),
    /** Credited by credit notes or written off by voiding. */
    amountCredited: p.bigint('number'),
    /** The part of `amountCredited` that settled what the invoice owed (a dispute credited before payment): no longer owed. */
    creditedToReceivable: p.bigint('number').default(0),
    dueAt: p.datetime().nullable(),
    finalizedAt: p.datetime().nullable(),
    paidAt: p.datetime().nullable(),
    voidedAt: p.datetime().nullable(),
    markedUncollectibleAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()),
  },
  uniques: [{ name: 'invoices_organization_billing_date_unique', properties: ['organization', 'billingDate'] }],
  checks: [
    { name: 'invoices_amounts_non_negative', expression: '"total" >= 0 and "amount_due" >= 0 and "amount_paid" >= 0 and "amount_credited" >= 0 and "credit_applied" >= 0' },
    { name: 'invoices_credited_to_receivable_within_credit', expression: '"credited_to_receivable" >= 0 and "credited_to_receivable" <= "amount_credited"' },
    { name: 'invoices_numbered_when_final', expression: '("status" = \'draft\') = ("number" is null)' },
  ],
});

export class Invoice extends InvoiceSchema.class {}
InvoiceSchema.setClass(Invoice);

/** One line, in the domain's order; `key` identifies the billed item across invoices. */
const InvoiceLineSchema = defineEntity({
  name: 'InvoiceLine',
  tableName: 'invoice_lines',
  properties: {
    id: p.uuid().primary(),
    invoice: () => p.manyToOne(Invoice).deleteRule('cascade'),
    position: p.integer(),
    key: p.string().length(300),
    type: p.string().length(20).$type<InvoiceLineType>(),
    description: p.string().length(500),
    organizationId: p.uuid(),
    subscriptionId: p.uuid().nullable(),
    departmentId: p.uuid().nullable(),
    metricCode: p.string().length(100).nullable(),
    couponId: p.string().length(100).nullable(),
    quantity: p.string().length(60),
    unitAmount: p.bigint('number').nullable(),
    amount: p.bigint('number'),
    periodStart: p.datetime(),
    periodEnd: p.datetime(),
  },
  uniques: [{ name: 'invoice_lines_invoice_position_unique', properties: ['invoice', 'position'] }],
});

export class InvoiceLine extends InvoiceLineSchema.class {}
InvoiceLineSchema.setClass(InvoiceLine);

/** The next number per prefix; taken under a row lock in the finalizing transaction, so numbers have no gaps. */
const InvoiceNumberSequenceSchema = defineEntity({
  name: 'InvoiceNumberSequence',
  tableName: 'invoice_number_sequences',
  properties: {
    prefix: p.string().length(40).primary(),
    nextNumber: p.bigint('number'),
  },
});

export class InvoiceNumberSequence extends InvoiceNumberSequenceSchema.class {}
InvoiceNumberSequenceSchema.setClass(InvoiceNumberSequence);

export const paymentMethodValues = ['stripe', 'wire', 'check', 'other'] as const;
export type PaymentMethod = (typeof paymentMethodValues)[number];

/** Money received against an invoice; `reference` (a PaymentIntent id, a wire reference) is unique per method, so a replay records nothing. */
const PaymentSchema = defineEntity({
  name: 'Payment',
  tableName: 'payments',
  properties: {
    id: p.uuid().primary(),
    invoice: () => p.manyToOne(Invoice).deleteRule('restrict'),
    amount: p.bigint('number'),
    currency: p.string().length(3),
    method: p.enum(paymentMethodValues),
    reference: p.string().length(200),
    receivedAt: p.datetime(),
    recordedBy: p.string().length(200),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  uniques: [{ name: 'payments_method_reference_unique', properties: ['method', 'reference'] }],
  indexes: [{ name: 'payments_invoice_id_index', properties: ['invoice'] }],
  checks: [{ name: 'payments_amount_positive', expression: '"amount" > 0' }],
});

export class Payment extends PaymentSchema.class {}
PaymentSchema.setClass(Payment);

export const creditNoteDispositionValues = ['credit_balance', 'refund'] as const;
export type CreditNoteDisposition = (typeof creditNoteDispositionValues)[number];

/** Credit against a finalized invoice: kept as the customer's credit balance or refunded through Stripe. */
const CreditNoteSchema = defineEntity({
  name: 'CreditNote',
  tableName: 'credit_notes',
  properties: {
    id: p.uuid().primary(),
    invoice: () => p.manyToOne(Invoice).deleteRule('restrict'),
    number: p.string().length(64).unique(),
    amount: p.bigint('number'),
    reason: p.string().length(500),
    disposition: p.enum(creditNoteDispositionValues),
    /** A refund's Stripe payment (what it refunded): no payment is refunded beyond its amount. */
    payment: () => p.manyToOne(Payment).deleteRule('restrict').nullable(),
    stripeRefundId: p.string().length(100).nullable(),
    /** A refund Stripe refused for good: the note is void, nothing was credited or refunded. */
    voidedAt: p.datetime().nullable(),
    createdBy: p.string().length(200),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  indexes: [{ name: 'credit_notes_invoice_id_index', properties: ['invoice'] }],
  checks: [{ name: 'credit_notes_amount_positive', expression: '"amount" > 0' }],
});

export class CreditNote extends CreditNoteSchema.class {}
CreditNoteSchema.setClass(CreditNote);

export const journalAccountValues = ['accounts_receivable', 'revenue', 'tax_payable', 'cash', 'customer_credit', 'bad_debt', 'dispute_losses'] as const;
export type JournalAccount = (typeof journalAccountValues)[number];

/**
 * One balanced posting for one financial event. `sourceKey` (e.g. `invoice:<id>:finalized`) is
 * unique, so an activity that runs twice posts once.
 */
const JournalEntrySchema = defineEntity({
  name: 'JournalEntry',
  tableName: 'journal_entries',
  properties: {
    id: p.uuid().primary(),
    organization: () => p.manyToOne(Organization).deleteRule('restrict'),
    invoice: () => p.manyToOne(Invoice).deleteRule('restrict').nullable(),
    sourceKey: p.string().length(200).unique(),
    description: p.string().length(300),
    currency: p.string().length(3),
    postedAt: p.datetime(),
  },
  indexes: [{ name: 'journal_entries_invoice_id_index', properties: ['invoice'] }],
});

export class JournalEntry extends JournalEntrySchema.class {}
JournalEntrySchema.setClass(JournalEntry);

const JournalLineSchema = defineEntity({
  name: 'JournalLine',
  tableName: 'journal_lines',
  properties: {
    id: p.uuid().primary(),
    entry: () => p.manyToOne(JournalEntry).deleteRule('cascade'),
    account: p.enum(journalAccountValues),
    debit: p.bigint('number'),
    credit: p.bigint('number'),
  },
  indexes: [{ name: 'journal_lines_entry_id_index', properties: ['entry'] }],
  checks: [{ name: 'journal_lines_one_side', expression: '"debit" >= 0 and "credit" >= 0 and ("debit" = 0) <> ("credit" = 0)' }],
});

export class JournalLine extends JournalLineSchema.class {}
JournalLineSchema.setClass(JournalLine);
