import { defineEntity, p } from '@mikro-orm/core';
import { disputeOutcomes, disputeSources, disputeStatuses } from '../../domain/index.js';
import { CreditNote, Invoice } from './invoice.js';
import { Organization } from './organization.js';

export { disputeOutcomes, disputeReasons, disputeSources, disputeStatuses } from '../../domain/index.js';

/** Why the last attempt to carry out a resolution failed (a refund Stripe refused for good). */
export interface DisputeFailure {
  code: string;
  message: string;
  at: string;
}

/**
 * A dispute of an invoice, as `dispute:<id>` last wrote it (a customer's), or as Stripe last
 * reported it (a card dispute, `source: stripe`). At most one customer dispute per invoice is
 * active at a time (the partial unique index), and its resolution makes at most one credit note.
 */
const DisputeSchema = defineEntity({
  name: 'Dispute',
  tableName: 'disputes',
  properties: {
    id: p.uuid().primary(),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    invoice: () => p.manyToOne(Invoice).deleteRule('restrict'),
    source: p.enum(disputeSources),
    /** A card dispute's id at Stripe (`dp_…`). */
    stripeDisputeId: p.string().length(100).nullable().unique(),
    paymentIntentId: p.string().length(100).nullable(),
    amount: p.bigint('number'),
    currency: p.string().length(3),
    reason: p.string().length(60),
    description: p.text().nullable(),
    status: p.enum(disputeStatuses),
    resolutionOutcome: p.enum(disputeOutcomes).nullable(),
    resolutionAmount: p.bigint('number').nullable(),
    resolutionComment: p.text().nullable(),
    resolvedBy: p.string().length(200).nullable(),
    creditNote: () => p.manyToOne(CreditNote).deleteRule('restrict').nullable(),
    stripeRefundId: p.string().length(100).nullable(),
    approvalRequestId: p.uuid().nullable(),
    lastFailure: p.json<DisputeFailure>().nullable(),
    openedBy: p.string().length(200),
    /** A card dispute: when Stripe made the report the row holds (reports arrive in any order). */
    stripeReportedAt: p.datetime().nullable(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
    resolvedAt: p.datetime().nullable(),
  },
  indexes: [
    { name: 'disputes_organization_index', properties: ['organization', 'createdAt'] },
    { name: 'disputes_invoice_index', properties: ['invoice'] },
    {
      name: 'disputes_one_active_per_invoice',
      expression: `create unique index "disputes_one_active_per_invoice" on "disputes" ("invoice_id") where "source" = 'customer' and "status" in ('open', 'under_review', 'pending_approval')`,
    },
  ],
  checks: [{ name: 'disputes_amount_positive', expression: '"amount" > 0' }],
});

export class Dispute extends DisputeSchema.class {}
DisputeSchema.setClass(Dispute);

const DisputeCommentSchema = defineEntity({
  name: 'DisputeComment',
  tableName: 'dispute_comments',
  properties: {
    id: p.uuid().primary(),
    dispute: () => p.manyToOne(Dispute).deleteRule('cascade'),
    userId: p.string().length(200),
    /** Whether the author spoke for the operator (a platform role) rather than the customer. */
    byOperator: p.boolean(),
    body: p.text(),
    createdAt: p.datetime(),
  },
  indexes: [{ name: 'dispute_comments_dispute_index', properties: ['dispute', 'createdAt'] }],
});

export class DisputeComment extends DisputeCommentSchema.class {}
DisputeCommentSchema.setClass(DisputeComment);
