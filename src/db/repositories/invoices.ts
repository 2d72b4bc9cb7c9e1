import type { EntityManager } from '@mikro-orm/postgresql';
import { MS_PER_DAY, journalForFinalizedInvoice, type InvoiceProposal } from '../../domain/index.js';
import { Invoice, InvoiceLine, Organization } from '../entities/index.js';
import { sql } from '../sql.js';
import { dayStart, type BillingAccountProfile } from './billing.js';
import { invoiceEventData } from './invoice-payments.js';
import { postJournalEntry } from './journal.js';
import { enqueueErpDocuments } from './erp-sync.js';
import { recordWebhookEvent } from './webhook-events.js';

/** Invoice numbers are gapless per prefix: one prefix per billing account. */
export const invoicePrefixOf = (accountId: string) => `INV-${accountId.slice(0, 8).toUpperCase()}`;

async function nextInvoiceNumber(em: EntityManager, prefix: string): Promise<string> {
  // In the finalizing transaction: a rollback gives the number back, so numbers have no gaps.
  const [row] = await sql<{ number: string }>(
    em,
    `insert into invoice_number_sequences (prefix, next_number) values ($1, 2)
     on conflict (prefix) do update set next_number = invoice_number_sequences.next_number + 1
     returning next_number - 1 as number`,
    [prefix],
  );
  return `${prefix}-${String(row!.number).padStart(6, '0')}`;
}

/** The account's invoice of a billing day, if it was issued. */
export async function invoiceOfBillingDay(em: EntityManager, accountId: string, billingDay: string): Promise<Invoice | null> {
  return em.findOne(Invoice, { organization: accountId, billingDate: dayStart(billingDay) });
}

/**
 * Issues the domain's proposal as the account's finalized invoice of `billingDay`, in the
 * caller's transaction: the invoice and its lines with the next gapless number, the balanced
 * journal entry of its finalization and the `invoice.finalized` webhook event. Returns the
 * invoice and the event's id (to dispatch after the commit).
 */
export async function persistProposal(
  em: EntityManager,
  closing: { account: BillingAccountProfile; billingDay: string; proposal: InvoiceProposal; now: Date },
): Promise<{ invoice: Invoice; eventId: string }> {
  const { account, billingDay, proposal, now } = closing;
  const collectionMethod = account.paymentTerms;
  const invoice = em.create(Invoice, {
    id: crypto.randomUUID(),
    organization: em.getReference(Organization, account.id),
    billingDate: dayStart(billingDay),
    number: await nextInvoiceNumber(em, invoicePrefixOf(account.id)),
    status: proposal.amountDue === 0 ? 'paid' : 'open',
    currency: proposal.currency,
    collectionMethod,
    periodStart: dayStart(proposal.periodStart),
    periodEnd: dayStart(proposal.periodEnd),
    subtotal: proposal.subtotal,
    discount: proposal.discount,
    tax: proposal.tax,
    total: proposal.total,
    creditApplied: proposal.creditApplied,
    amountDue: proposal.amountDue,
    amountPaid: 0,
    amountCredited: 0,
    dueAt: collectionMethod === 'send_invoice' ? new Date(now.getTime() + account.netTermsDays * MS_PER_DAY) : now,
    finalizedAt: now,
    paidAt: proposal.amountDue === 0 ? now : null,
    createdAt: now,
    updatedAt: now,
  });
  proposal.lines.forEach((line, position) =>
    em.create(InvoiceLine, {
      id: crypto.randomUUID(),
      invoice,
      position,
      key: line.key,
      type: line.type,
      description: line.description,
      organizationId: line.organizationId,
      subscriptionId: line.subscriptionId ?? null,
      departmentId: line.departmentId ?? null,
      metricCode: line.metricCode ?? null,
      couponId: line.couponId ?? null,
      quantity: line.quantity,
      unitAmount: line.unitAmount ?? null,
      amount: line.amount,
      periodStart: dayStart(line.periodStart),
      periodEnd: dayStart(line.periodEnd),
    }),
  );
  await em.flush();
  await postJournalEntry(em, {
    organizationId: account.id,
    invoiceId: invoice.id,
    sourceKey: `invoice:${invoice.id}:finalized`,
    description: `Invoice ${invoice.number} finalized`,
    currency: invoice.currency,
    postedAt: now,
    lines: journalForFinalizedInvoice(proposal),
  });
  await enqueueErpDocuments(em, [{ documentType: 'invoice', documentId: invoice.id, organizationId: account.id }]);
  const eventId = await recordWebhookEvent(em, {
    organizationId: account.id,
    type: 'invoice.finalized',
    data: { ...invoiceEventData(invoice), periodStart: invoice.periodStart.toISOString(), periodEnd: invoice.periodEnd.toISOString() },
    dedupeKey: `invoice.finalized:${invoice.id}`,
  });
  return { invoice, eventId };
}
