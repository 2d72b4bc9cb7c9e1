import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import {
  journalForCreditNote,
  journalForReceipt,
  journalForVoidedInvoice,
  journalForVoidedPayments,
  journalForWriteOff,
  type FinalizedTotals,
} from '../../domain/index.js';
import { CreditNote, Invoice, Payment, type CreditNoteDisposition, type PaymentMethod } from '../entities/index.js';
import { sql } from '../sql.js';
import { creditNoteErpEntries, enqueueErpDocuments } from './erp-sync.js';
import { recordWebhookEvent } from './webhook-events.js';
import { postJournalEntry } from './journal.js';

/**
 * What happens to an invoice after it is finalized — money received, a void, a write-off, a
 * credit note — each in the caller's transaction, on an invoice locked with `lockInvoice`, with
 * its balanced journal entry (idempotent by source key) and its webhook event. Each returns the
 * ids of the events it recorded, for the caller to dispatch after the commit.
 */

/** The invoice, locked until the caller's transaction ends: payments, voids and credit notes of one invoice take turns. */
export function lockInvoice(em: EntityManager, invoiceId: string): Promise<Invoice | null> {
  return em.findOne(Invoice, { id: invoiceId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
}

/** The invoice as `invoice.*` webhook events carry it. */
export function invoiceEventData(invoice: Invoice): Record<string, unknown> {
  const iso = (date: Date | null | undefined) => date?.toISOString() ?? null;
  return {
    id: invoice.id,
    number: invoice.number,
    organizationId: invoice.organization.id,
    status: invoice.status,
    currency: invoice.currency,
    total: invoice.total,
    amountDue: invoice.amountDue,
    amountPaid: invoice.amountPaid,
    amountCredited: invoice.amountCredited,
    dueAt: iso(invoice.dueAt),
    paidAt: iso(invoice.paidAt),
    voidedAt: iso(invoice.voidedAt),
    markedUncollectibleAt: iso(invoice.markedUncollectibleAt),
  };
}

/** What the invoice still owes: an open one its receivable, an uncollectible one what was written off (a late payment recovers it). */
export function outstandingOf(invoice: Invoice): { receivable: number; writtenOff: number } {
  const unpaid = Math.max(0, invoice.amountDue - invoice.amountPaid - invoice.creditedToReceivable);
  return { receivable: invoice.status === 'open' ? unpaid : 0, writtenOff: invoice.status === 'uncollectible' ? unpaid : 0 };
}

/** The totals the invoice was finalized with; the carried-forward credit is what lifted a negative total to zero. */
function finalizedTotalsOf(invoice: Invoice): FinalizedTotals {
  return {
    subtotal: invoice.subtotal,
    discount: invoice.discount,
    tax: invoice.tax,
    total: invoice.total,
    creditApplied: invoice.creditApplied,
    creditCarriedForward: invoice.total - (invoice.subtotal - invoice.discount + invoice.tax),
    amountDue: invoice.amountDue,
  };
}

async function recordInvoiceEvent(em: EntityManager, invoice: Invoice, type: string, dedupeKey: string, extra: Record<string, unknown> = {}): Promise<string> {
  await em.flush();
  return recordWebhookEvent(em, { organizationId: invoice.organization.id, type, data: { ...invoiceEventData(invoice), ...extra }, dedupeKey });
}

interface Receipt {
  method: PaymentMethod;
  /** A PaymentIntent id, a wire or check reference: unique per method. */
  reference: string;
  amount: number;
  currency: string;
  receivedAt: Date;
  recordedBy: string;
}

/**
 * Records money received for the invoice. Recording a method and reference again records nothing
 * (payment null). The money settles what is owed — the receivable of an open invoice, the
 * write-off of an uncollectible one — and the rest, if any, becomes the customer's credit
 * balance; once nothing is owed the invoice is paid.
 */
export async function recordReceipt(em: EntityManager, invoice: Invoice, receipt: Receipt, now: Date): Promise<{ payment: Payment | null; eventIds: string[] }> {
  const [inserted] = await sql<{ id: string }>(
    em,
    `insert into payments (id, invoice_id, amount, currency, method, reference, received_at, recorded_by, created_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict (method, reference) do nothing returning id`,
    [crypto.randomUUID(), invoice.id, receipt.amount, receipt.currency, receipt.method, receipt.reference, receipt.receivedAt, receipt.recordedBy, now],
  );
  if (!inserted) return { payment: null, eventIds: [] };
  await enqueueErpDocuments(em, [{ documentType: 'payment', documentId: inserted.id, organizationId: invoice.organization.id }]);
  const owed = outstandingOf(invoice);
  await postJournalEntry(em, {
    organizationId: invoice.organization.id,
    invoiceId: invoice.id,
    sourceKey: `payment:${inserted.id}`,
    description: `Payment ${receipt.reference} (${receipt.method}) for invoice ${invoice.number}`,
    currency: invoice.currency,
    postedAt: receipt.receivedAt,
    lines: journalForReceipt(receipt.amount, owed),
  });
  const applied = Math.min(receipt.amount, owed.receivable + owed.writtenOff);
  invoice.amountPaid += applied;
  invoice.updatedAt = now;
  const eventIds: string[] = [];
  if (applied > 0 && invoice.amountPaid + invoice.creditedToReceivable >= invoice.amountDue) {
    invoice.status = 'paid';
    invoice.paidAt = receipt.receivedAt;
    eventIds.push(await recordInvoiceEvent(em, invoice, 'invoice.paid', `invoice.paid:${invoice.id}`));
  }
  await em.flush();
  return { payment: await em.findOneOrFail(Payment, { id: inserted.id }), eventIds };
}

/**
 * Voids an open invoice: its finalization is reversed (the applied credit returns to the credit
 * balance) and what was already paid on it becomes credit balance too. Nothing stays creditable.
 */
export async function voidInvoice(em: EntityManager, invoice: Invoice, now: Date): Promise<string[]> {
  const posting = { organizationId: invoice.organization.id, invoiceId: invoice.id, currency: invoice.currency, postedAt: now };
  await postJournalEntry(em, { ...posting, sourceKey: `invoice:${invoice.id}:voided`, description: `Invoice ${invoice.number} voided`, lines: journalForVoidedInvoice(finalizedTotalsOf(invoice)) });
  await postJournalEntry(em, {
    ...posting,
    sourceKey: `invoice:${invoice.id}:voided:payments`,
    description: `Payments of voided invoice ${invoice.number} kept as credit balance`,
    lines: journalForVoidedPayments(invoice.amountPaid),
  });
  invoice.status = 'void';
  invoice.voidedAt = now;
  invoice.amountCredited = invoice.total;
  invoice.updatedAt = now;
  return [await recordInvoiceEvent(em, invoice, 'invoice.voided', `invoice.voided:${invoice.id}`)];
}

/** Marks an open invoice uncollectible and writes off what is still owed on it. */
export async function markUncollectible(em: EntityManager, invoice: Invoice, now: Date): Promise<string[]> {
  const { receivable } = outstandingOf(invoice);
  await postJournalEntry(em, {
    organizationId: invoice.organization.id,
    invoiceId: invoice.id,
    sourceKey: `invoice:${invoice.id}:written-off`,
    description: `Invoice ${invoice.number} written off`,
    currency: invoice.currency,
    postedAt: now,
    lines: journalForWriteOff(receivable),
  });
  invoice.status = 'uncollectible';
  invoice.markedUncollectibleAt = now;
  invoice.updatedAt = now;
  return [await recordInvoiceEvent(em, invoice, 'invoice.marked_uncollectible', `invoice.marked_uncollectible:${invoice.id}`, { writtenOff: receivable })];
}

/** What is left to refund of each Stripe payment of the invoice, the most refundable first. */
export async function refundableStripePayments(em: EntityManager, invoiceId: string): Promise<{ paymentId: string; paymentIntentId: string; refundable: number }[]> {
  const rows = await sql<{ payment_id: string; reference: string; refundable: string }>(
    em,
    `select p.id as payment_id, p.reference, p.amount - coalesce(sum(n.amount), 0) as refundable
       from payments p left join credit_notes n on n.payment_id = p.id and n.voided_at is null
      where p.invoice_id = $1 and p.method = 'stripe'
      group by p.id order by refundable desc, p.received_at, p.id`,
    [invoiceId],
  );
  return rows.map((row) => ({ paymentId: row.payment_id, paymentIntentId: row.reference, refundable: Number(row.refundable) }));
}

/** Why a credit note cannot be issued as asked; the API answers it as a 409, an approved request records it as failed. */
export interface CreditNoteRefusal {
  code: 'invoice_not_paid' | 'credit_exceeds_creditable' | 'refund_exceeds_stripe_payment';
  message: string;
  details: Record<string, string | number>;
}

/**
 * Whether a credit note of `amount` can be issued against the (locked) invoice now, and which Stripe
 * payment a refund goes back to: checked when it is asked for, and again when an approved one is issued.
 */
export async function creditNotePlan(
  em: EntityManager,
  invoice: Invoice,
  ask: { amount: number; refund: boolean },
): Promise<{ refusal: CreditNoteRefusal } | { refundOf: { paymentId: string; paymentIntentId: string } | null }> {
  const name = invoice.number ?? invoice.id;
  if (invoice.status !== 'paid') {
    return { refusal: { code: 'invoice_not_paid', message: `Invoice ${name} is ${invoice.status}; credit notes are issued against paid invoices (void an open one).`, details: { status: invoice.status } } };
  }
  const creditable = invoice.total - invoice.amountCredited;
  if (ask.amount > creditable) {
    return { refusal: { code: 'credit_exceeds_creditable', message: `Invoice ${name} has ${creditable} left to credit; ${ask.amount} is more.`, details: { creditable } } };
  }
  if (!ask.refund) return { refundOf: null };
  const [payment] = await refundableStripePayments(em, invoice.id);
  if (!payment || ask.amount > payment.refundable) {
    const refundable = payment?.refundable ?? 0;
    return {
      refusal: {
        code: 'refund_exceeds_stripe_payment',
        message: `A refund goes back to one Stripe payment of the invoice, which has ${refundable} left to refund; ${ask.amount} is more (credit the balance instead).`,
        details: { refundable },
      },
    };
  }
  return { refundOf: { paymentId: payment.paymentId, paymentIntentId: payment.paymentIntentId } };
}

export interface CreditNoteRequest {
  id: string;
  amount: number;
  reason: string;
  /** A refund names the Stripe payment it refunds; without one the credit goes to the customer's balance. */
  refundOf: { paymentId: string; paymentIntentId: string } | null;
  createdBy: string;
  /** Refunds through Stripe (called last, in the transaction) and returns the refund's id. */
  refund: (creditNoteId: string, paymentIntentId: string) => Promise<string>;
}

/**
 * Issues a credit note against the invoice: revenue and tax are taken back in the invoice's
 * proportion and the amount goes to the customer's credit balance (applied to the next invoice)
 * or back to their card. Numbers are `<invoice number>-CN<n>`, consecutive per invoice.
 */
export async function issueCreditNote(em: EntityManager, invoice: Invoice, request: CreditNoteRequest, now: Date): Promise<{ creditNote: CreditNote; eventIds: string[] }> {
  const creditNote = await createCreditNote(em, invoice, { ...request, disposition: request.refundOf ? 'refund' : 'credit_balance', paymentId: request.refundOf?.paymentId ?? null }, now);
  await postCreditNoteJournal(em, invoice, creditNote, now);
  if (request.refundOf) creditNote.stripeRefundId = await request.refund(creditNote.id, request.refundOf.paymentIntentId);
  await em.flush();
  return { creditNote, eventIds: [await recordCreditNoteEvent(em, creditNote, invoice)] };
}

/**
 * The credit note's row, counted against what the invoice can still be credited (`toReceivable`
 * of it settling what the invoice still owes: an invoice left owing nothing is paid). Its journal
 * entry and its event are separate steps, so a refund can go to Stripe in between.
 */
export async function createCreditNote(
  em: EntityManager,
  invoice: Invoice,
  request: { id: string; amount: number; reason: string; disposition: CreditNoteDisposition; paymentId: string | null; createdBy: string; toReceivable?: number },
  now: Date,
): Promise<CreditNote> {
  const issued = await em.count(CreditNote, { invoice: invoice.id });
  const creditNote = em.create(CreditNote, {
    id: request.id,
    invoice,
    number: `${invoice.number}-CN${issued + 1}`,
    amount: request.amount,
    reason: request.reason,
    disposition: request.disposition,
    payment: request.paymentId,
    stripeRefundId: null,
    voidedAt: null,
    createdBy: request.createdBy,
    createdAt: now,
  });
  invoice.amountCredited += request.amount;
  invoice.creditedToReceivable += request.toReceivable ?? 0;
  invoice.updatedAt = now;
  await em.flush();
  return creditNote;
}

/** The credit note's balanced entry (idempotent by the note); `toReceivable` of a balance credit settles what the invoice owed. */
export async function postCreditNoteJournal(em: EntityManager, invoice: Invoice, creditNote: CreditNote, now: Date, toReceivable = 0): Promise<void> {
  await postJournalEntry(em, {
    organizationId: invoice.organization.id,
    invoiceId: invoice.id,
    sourceKey: `credit-note:${creditNote.id}`,
    description: `Credit note ${creditNote.number} (${creditNote.disposition})`,
    currency: invoice.currency,
    postedAt: now,
    lines: journalForCreditNote(creditNote.amount, invoice, creditNote.disposition, toReceivable),
  });
}

/** A credit that left the open invoice owing nothing has paid it. */
export async function settleIfCredited(em: EntityManager, invoice: Invoice, now: Date): Promise<string[]> {
  if (invoice.status !== 'open' || outstandingOf(invoice).receivable > 0) return [];
  invoice.status = 'paid';
  invoice.paidAt = now;
  invoice.updatedAt = now;
  return [await recordInvoiceEvent(em, invoice, 'invoice.paid', `invoice.paid:${invoice.id}`)];
}

/** Voids a refund's credit note Stripe refused for good: the invoice can be credited by its amount again. */
export async function voidCreditNote(em: EntityManager, invoice: Invoice, creditNote: CreditNote, now: Date): Promise<void> {
  if (creditNote.voidedAt) return;
  creditNote.voidedAt = now;
  invoice.amountCredited -= creditNote.amount;
  invoice.updatedAt = now;
  await em.flush();
}

export async function recordCreditNoteEvent(em: EntityManager, creditNote: CreditNote, invoice: Invoice): Promise<string> {
  await em.flush();
  // The ERP gets the credit note, and its refund once Stripe refunded it (this is called again then).
  await enqueueErpDocuments(em, creditNoteErpEntries(creditNote, invoice.organization.id));
  return recordWebhookEvent(em, {
    organizationId: invoice.organization.id,
    type: 'credit_note.created',
    data: creditNoteView(creditNote, invoice),
    dedupeKey: `credit_note.created:${creditNote.id}`,
  });
}

/** A credit note as the API answers and `credit_note.created` carries it. */
export function creditNoteView(creditNote: CreditNote, invoice: Invoice) {
  return {
    id: creditNote.id,
    number: creditNote.number,
    invoiceId: invoice.id,
    organizationId: invoice.organization.id,
    amount: creditNote.amount,
    currency: invoice.currency,
    reason: creditNote.reason,
    disposition: creditNote.disposition,
    paymentId: creditNote.payment?.id ?? null,
    stripeRefundId: creditNote.stripeRefundId ?? null,
    voidedAt: creditNote.voidedAt?.toISOString() ?? null,
    createdBy: creditNote.createdBy,
    createdAt: creditNote.createdAt.toISOString(),
  };
}
