import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { activeDisputeStatuses, journalForLostDispute, laterStripeReport, statusOfStripeDispute, type DisputeStatus } from '../../domain/index.js';
import type { DisputeState } from '../../../workflows/messages/dispute.js';
import { Dispute, DisputeComment, Invoice } from '../entities/index.js';
import { sql } from '../sql.js';
import { workflowIds } from '../../temporal/workflow-ids.js';
import { postJournalEntry } from './journal.js';
import { recordWebhookEvent } from './webhook-events.js';

/** The dispute, locked until the caller's transaction ends: its workflow's steps and Stripe's reports take turns. */
export function lockDispute(em: EntityManager, disputeId: string): Promise<Dispute | null> {
  return em.findOne(Dispute, { id: disputeId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
}

/** A dispute as its workflow holds it. */
export function disputeStateOf(dispute: Dispute): DisputeState {
  return {
    id: dispute.id,
    invoiceId: dispute.invoice.id,
    organizationId: dispute.organization.id,
    source: dispute.source,
    amount: dispute.amount,
    currency: dispute.currency,
    status: dispute.status,
    resolution:
      dispute.resolutionOutcome && dispute.resolutionAmount !== null && dispute.resolutionAmount !== undefined
        ? { outcome: dispute.resolutionOutcome, amount: dispute.resolutionAmount, comment: dispute.resolutionComment ?? null, decidedBy: dispute.resolvedBy ?? '' }
        : null,
    approvalRequestId: dispute.approvalRequestId ?? null,
    creditNoteId: dispute.creditNote?.id ?? null,
    stripeRefundId: dispute.stripeRefundId ?? null,
    lastFailure: dispute.lastFailure ?? null,
    resolvedAt: dispute.resolvedAt?.toISOString() ?? null,
  };
}

/** What active disputes of the invoice hold, and whether one of them is the customer's (at most one is). */
export async function activeDisputesOf(em: EntityManager, invoiceId: string): Promise<{ amount: number; customerDisputeActive: boolean }> {
  const [row] = await sql<{ amount: string | null; customer: boolean | null }>(
    em,
    `select sum(amount) as amount, bool_or(source = 'customer') as customer from disputes where invoice_id = $1 and status = any($2::text[])`,
    [invoiceId, [...activeDisputeStatuses]],
  );
  return { amount: Number(row?.amount ?? 0), customerDisputeActive: row?.customer ?? false };
}

/** The ids of the invoice's active disputes, oldest first: while there is one, its collection is paused. */
export async function activeDisputeIdsOf(em: EntityManager, invoiceId: string): Promise<string[]> {
  const rows = await sql<{ id: string }>(em, `select id from disputes where invoice_id = $1 and status = any($2::text[]) order by created_at, id`, [invoiceId, [...activeDisputeStatuses]]);
  return rows.map((row) => row.id);
}

export function disputeCommentsOf(em: EntityManager, disputeIds: readonly string[]): Promise<DisputeComment[]> {
  if (disputeIds.length === 0) return Promise.resolve([]);
  return em.find(DisputeComment, { dispute: { $in: [...disputeIds] } }, { orderBy: { createdAt: 'asc', id: 'asc' } });
}

/** A dispute as the API answers it and `dispute.*` webhook events carry it. */
export function disputeView(dispute: Dispute, comments: readonly DisputeComment[]) {
  const outcome = dispute.resolutionOutcome ?? null;
  const settled = dispute.status === 'resolved' || dispute.status === 'rejected';
  return {
    id: dispute.id,
    invoiceId: dispute.invoice.id,
    organizationId: dispute.organization.id,
    source: dispute.source,
    stripeDisputeId: dispute.stripeDisputeId ?? null,
    amount: dispute.amount,
    currency: dispute.currency,
    reason: dispute.reason,
    description: dispute.description ?? null,
    status: dispute.status,
    resolution:
      settled && outcome !== null
        ? {
            outcome,
            amount: dispute.resolutionAmount ?? 0,
            creditNoteId: dispute.creditNote?.id ?? null,
            refundId: outcome === 'refund' ? (dispute.creditNote?.id ?? null) : null,
            stripeRefundId: dispute.stripeRefundId ?? null,
          }
        : null,
    pendingResolution: dispute.status === 'pending_approval' && outcome !== null ? { outcome, amount: dispute.resolutionAmount ?? 0 } : null,
    approvalRequestId: dispute.approvalRequestId ?? null,
    lastFailure: dispute.lastFailure ?? null,
    comments: comments.map((comment) => ({ userId: comment.userId, body: comment.body, at: comment.createdAt.toISOString() })),
    openedBy: dispute.openedBy,
    workflowId: dispute.source === 'customer' ? workflowIds.dispute(dispute.id) : null,
    createdAt: dispute.createdAt.toISOString(),
    resolvedAt: dispute.resolvedAt?.toISOString() ?? null,
  };
}

/** Records a `dispute.*` event: one per transition (keyed by the dispute's update time). */
export async function recordDisputeEvent(em: EntityManager, dispute: Dispute, type: string): Promise<string> {
  await em.flush();
  const comments = await disputeCommentsOf(em, [dispute.id]);
  return recordWebhookEvent(em, { organizationId: dispute.organization.id, type, data: disputeView(dispute, comments), dedupeKey: `${type}:${dispute.id}:${dispute.updatedAt.toISOString()}` });
}

/** One report of a card dispute, from a `charge.dispute.*` event. */
export interface StripeDisputeReport {
  stripeDisputeId: string;
  paymentIntentId: string;
  invoiceId: string;
  amount: number;
  currency: string;
  reason: string;
  /** Stripe's status: `needs_response`, `under_review`, `won`, `lost`, `warning_*`. */
  stripeStatus: string;
  reportedAt: Date;
}

/**
 * Creates or updates the card dispute from one of Stripe's reports, in any order and any number
 * of times: a closed dispute never reopens, and otherwise the later report stands. A dispute lost
 * posts its loss once. Returns the dispute (null when the invoice is unknown) and the events to dispatch.
 */
export async function applyStripeDisputeReport(em: EntityManager, report: StripeDisputeReport, now: Date): Promise<{ dispute: Dispute | null; changed: boolean; eventIds: string[] }> {
  const invoice = await em.findOne(Invoice, { id: report.invoiceId });
  if (!invoice) return { dispute: null, changed: false, eventIds: [] };
  const incoming = { ...statusOfStripeDispute(report.stripeStatus), reportedAt: report.reportedAt.toISOString() };
  const inserted = await sql<{ id: string }>(
    em,
    `insert into disputes (id, organization_id, invoice_id, source, stripe_dispute_id, payment_intent_id, amount, currency, reason, status, opened_by, stripe_reported_at, created_at, updated_at)
     values (gen_random_uuid(), $1, $2, 'stripe', $3, $4, $5, $6, $7, 'open', 'stripe', null, $8, $8) on conflict (stripe_dispute_id) do nothing returning id`,
    [invoice.organization.id, invoice.id, report.stripeDisputeId, report.paymentIntentId, report.amount, report.currency, report.reason.slice(0, 60), now],
  );
  const dispute = await em.findOneOrFail(Dispute, { stripeDisputeId: report.stripeDisputeId }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
  const current = { status: dispute.status, outcome: dispute.resolutionOutcome === 'won' || dispute.resolutionOutcome === 'lost' ? dispute.resolutionOutcome : null, reportedAt: (dispute.stripeReportedAt ?? new Date(0)).toISOString() };
  const first = inserted.length > 0;
  const standing = first ? incoming : laterStripeReport(current, incoming);
  if (standing !== incoming) return { dispute, changed: false, eventIds: [] };
  const previous: DisputeStatus | null = first ? null : dispute.status;
  dispute.status = incoming.status;
  dispute.amount = report.amount;
  dispute.stripeReportedAt = report.reportedAt;
  dispute.updatedAt = now;
  const eventIds: string[] = [];
  if (incoming.outcome !== null) {
    dispute.resolutionOutcome = incoming.outcome;
    dispute.resolutionAmount = incoming.outcome === 'lost' ? report.amount : 0;
    dispute.resolvedAt = report.reportedAt;
    if (incoming.outcome === 'lost') {
      await postJournalEntry(em, {
        organizationId: invoice.organization.id,
        invoiceId: invoice.id,
        sourceKey: `stripe-dispute:${report.stripeDisputeId}:lost`,
        description: `Card dispute ${report.stripeDisputeId} lost`,
        currency: invoice.currency,
        postedAt: report.reportedAt,
        lines: journalForLostDispute(report.amount),
      });
    }
  }
  if (previous === dispute.status) {
    await em.flush();
    return { dispute, changed: false, eventIds };
  }
  const type = previous === null ? 'dispute.opened' : incoming.outcome === 'lost' ? 'dispute.resolved' : incoming.outcome === 'won' ? 'dispute.rejected' : 'dispute.updated';
  eventIds.push(await recordDisputeEvent(em, dispute, type));
  if (previous === null && incoming.outcome !== null) eventIds.push(await recordDisputeEvent(em, dispute, incoming.outcome === 'lost' ? 'dispute.resolved' : 'dispute.rejected'));
  return { dispute, changed: true, eventIds };
}

export interface DisputeListFilter {
  organizationId?: string;
  status?: DisputeStatus;
  after: { at: Date; id: string } | null;
  limit: number;
}

/** A page of disputes, oldest first. */
export function disputePage(em: EntityManager, filter: DisputeListFilter): Promise<Dispute[]> {
  return em.find(
    Dispute,
    {
      ...(filter.organizationId ? { organization: filter.organizationId } : {}),
      ...(filter.status ? { status: filter.status } : {}),
      ...(filter.after ? { $or: [{ createdAt: { $gt: filter.after.at } }, { createdAt: filter.after.at, id: { $gt: filter.after.id } }] } : {}),
    },
    { orderBy: { createdAt: 'asc', id: 'asc' }, limit: filter.limit },
  );
}

