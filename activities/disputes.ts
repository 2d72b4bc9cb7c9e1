import { ApplicationFailure, Context } from '@temporalio/activity';
import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { applicableApprovalRule, insertApprovalRequest } from '../src/approvals/open.js';
import type { Clock } from '../src/clock.js';
import { AuditEvent, CreditNote, Dispute, DisputeComment, Payment } from '../src/db/entities/index.js';
import type { Orm } from '../src/db/orm.js';
import { disputeStateOf, lockDispute, recordDisputeEvent } from '../src/db/repositories/disputes.js';
import { creditNoteErpEntries, enqueueErpDocuments } from '../src/db/repositories/erp-sync.js';
import {
  createCreditNote,
  lockInvoice,
  outstandingOf,
  postCreditNoteJournal,
  recordCreditNoteEvent,
  refundableStripePayments,
  settleIfCredited,
  voidCreditNote,
} from '../src/db/repositories/invoice-payments.js';
import { commentRefusal, creditSplit, resolutionRefusal, statusAfterComment, stripeIdempotencyKeys, withdrawalRefusal, type DisputeRefusal } from '../src/domain/index.js';
import { createStripeGateway, StripeRequestRejectedError } from '../src/integrations/stripe.js';
import type { Logger } from '../src/logger.js';
import { workflowIds } from '../src/temporal/workflow-ids.js';
import { dispatchWebhookEvents } from '../src/webhooks/outbox.js';
import {
  disputeRefusalFailureType,
  type CreditStep,
  type DisputeComment as DisputeCommentView,
  type DisputeCommentRequest,
  type DisputeOrigin,
  type DisputeResolveRequest,
  type DisputeState,
  type DisputeWithdrawRequest,
  type ResolutionFailure,
  type ResolutionPlan,
} from '../workflows/messages/dispute.js';
import { withDomainFailures } from './domain-failures.js';

export interface DisputeActivityDeps {
  orm: Orm;
  stripe: Stripe;
  clock: Clock;
  logger: Logger;
}

/** A refusal the API answers as its problem (`dispute_not_resolvable` → 409, …); retrying changes nothing. */
function refused(refusal: DisputeRefusal): never {
  throw ApplicationFailure.create({ message: refusal.message, type: disputeRefusalFailureType, nonRetryable: true, details: [{ code: refusal.code, status: refusal.status, details: refusal.details }] });
}

/**
 * The steps of `dispute:<id>`. Each runs in its own transaction on the locked dispute and is
 * idempotent: run again (a retried activity, a worker killed after the commit), it finds what it
 * made and answers it. Every change writes its audit row and records its webhook events with it.
 */
export function createDisputeActivities({ orm, stripe, clock, logger }: DisputeActivityDeps) {
  const gateway = createStripeGateway(stripe);

  async function dispatch(eventIds: string[]): Promise<void> {
    if (eventIds.length === 0) return;
    const { client, info } = Context.current();
    await dispatchWebhookEvents({ temporal: client, taskQueue: info.taskQueue, orm, logger }, eventIds);
  }

  /** Runs `work` on the locked dispute in one transaction, then dispatches the events it recorded. */
  async function onDispute<T>(disputeId: string, work: (tx: EntityManager, dispute: Dispute) => Promise<{ result: T; eventIds: string[] }>): Promise<T> {
    const { result, eventIds } = await orm.em.fork().transactional(async (tx) => {
      const dispute = await lockDispute(tx, disputeId);
      if (!dispute) throw ApplicationFailure.nonRetryable(`no dispute ${disputeId}`, 'DisputeNotFound');
      return work(tx, dispute);
    });
    await dispatch(eventIds);
    return result;
  }

  function audit(tx: EntityManager, dispute: Dispute, action: string, origin: DisputeOrigin | null, after: Record<string, unknown>): void {
    tx.create(AuditEvent, {
      occurredAt: clock.now(),
      // As every workflow's own audit row: a step no API call asked for names the workflow.
      actorType: origin?.actorType ?? 'workflow',
      actorId: origin?.actorId ?? workflowIds.dispute(dispute.id),
      organizationId: dispute.organization.id,
      action,
      targetType: 'dispute',
      targetId: dispute.id,
      before: null,
      after,
      requestId: origin?.requestId ?? workflowIds.dispute(dispute.id),
    });
  }

  const stateAfter = (dispute: Dispute): Record<string, unknown> => ({ ...disputeStateOf(dispute) });

  /** Back to review after a resolution that did not happen; the asked resolution is cleared. */
  async function backToReview(tx: EntityManager, dispute: Dispute, failure: ResolutionFailure | null, action: string): Promise<string[]> {
    const now = clock.now();
    dispute.status = 'under_review';
    dispute.resolutionOutcome = null;
    dispute.resolutionAmount = null;
    dispute.resolutionComment = null;
    dispute.resolvedBy = null;
    dispute.creditNote = null;
    if (failure) dispute.lastFailure = { ...failure, at: now.toISOString() };
    dispute.updatedAt = now;
    audit(tx, dispute, action, null, stateAfter(dispute));
    return [await recordDisputeEvent(tx, dispute, failure ? 'dispute.resolution_failed' : 'dispute.updated')];
  }

  /** The dispute is resolved: its events and audit row. */
  async function resolved(tx: EntityManager, dispute: Dispute): Promise<string[]> {
    const now = clock.now();
    dispute.status = 'resolved';
    dispute.resolvedAt = now;
    dispute.lastFailure = null;
    dispute.updatedAt = now;
    audit(tx, dispute, 'dispute.resolved', null, stateAfter(dispute));
    return [await recordDisputeEvent(tx, dispute, 'dispute.resolved')];
  }

  return withDomainFailures({
    /** Fails (and is retried) until the API's transaction that opened the dispute has committed. */
    async loadDispute(disputeId: string): Promise<DisputeState> {
      const dispute = await orm.em.fork().transactional((tx) => lockDispute(tx, disputeId));
      if (!dispute) throw ApplicationFailure.retryable(`dispute ${disputeId} is not committed (yet)`, 'DisputeMissing');
      return disputeStateOf(dispute);
    },

    /** A comment from either side; the operator's first one puts an open dispute under review. */
    async commentOnDispute(input: DisputeCommentRequest & { disputeId: string }): Promise<{ state: DisputeState; comment: DisputeCommentView }> {
      return onDispute(input.disputeId, async (tx, dispute) => {
        const existing = await tx.findOne(DisputeComment, { id: input.commentId });
        if (existing) return { result: { state: disputeStateOf(dispute), comment: { id: existing.id, userId: existing.userId, body: existing.body, at: existing.createdAt.toISOString() } }, eventIds: [] };
        const refusal = commentRefusal(dispute.status);
        if (refusal) refused(refusal);
        const now = clock.now();
        const comment = tx.create(DisputeComment, { id: input.commentId, dispute, userId: input.userId, byOperator: input.byOperator, body: input.body, createdAt: now });
        const view = { id: comment.id, userId: comment.userId, body: comment.body, at: now.toISOString() };
        audit(tx, dispute, 'dispute.commented', input.origin, view);
        const next = statusAfterComment(dispute.status, input.byOperator);
        const eventIds: string[] = [];
        if (next !== dispute.status) {
          dispute.status = next;
          dispute.updatedAt = now;
          eventIds.push(await recordDisputeEvent(tx, dispute, 'dispute.updated'));
        }
        return { result: { state: disputeStateOf(dispute), comment: view }, eventIds };
      });
    },

    async withdrawDispute(input: DisputeWithdrawRequest & { disputeId: string }): Promise<DisputeState> {
      return onDispute(input.disputeId, async (tx, dispute) => {
        if (dispute.status === 'withdrawn') return { result: disputeStateOf(dispute), eventIds: [] };
        const refusal = withdrawalRefusal(dispute.status);
        if (refusal) refused(refusal);
        const now = clock.now();
        dispute.status = 'withdrawn';
        dispute.resolvedAt = now;
        dispute.updatedAt = now;
        audit(tx, dispute, 'dispute.withdrawn', input.origin, stateAfter(dispute));
        return { result: disputeStateOf(dispute), eventIds: [await recordDisputeEvent(tx, dispute, 'dispute.withdrawn')] };
      });
    },

    /**
     * Checks the resolution against the invoice as it is now and records it. A rejection ends the
     * dispute here; a credit or refund above a `dispute_resolution` rule's threshold opens the
     * approval request (its workflow is started by the dispute's, as its child) and waits.
     */
    async planDisputeResolution(input: DisputeResolveRequest & { disputeId: string }): Promise<ResolutionPlan> {
      return onDispute<ResolutionPlan>(input.disputeId, async (tx, dispute) => {
        const invoice = await lockInvoice(tx, dispute.invoice.id);
        if (!invoice) throw ApplicationFailure.nonRetryable(`no invoice ${dispute.invoice.id}`, 'InvoiceNotFound');
        const amount = input.outcome === 'reject' ? 0 : (input.amount ?? dispute.amount);
        const [payment] = await refundableStripePayments(tx, invoice.id);
        const refusal = resolutionRefusal(dispute, { outcome: input.outcome, amount }, { creditable: invoice.total - invoice.amountCredited, refundable: payment?.refundable ?? 0 });
        if (refusal) refused(refusal);
        const now = clock.now();
        dispute.resolutionOutcome = input.outcome;
        dispute.resolutionAmount = amount;
        dispute.resolutionComment = input.comment;
        dispute.resolvedBy = input.decidedBy;
        dispute.updatedAt = now;
        if (input.outcome === 'reject') {
          dispute.status = 'rejected';
          dispute.resolvedAt = now;
          audit(tx, dispute, 'dispute.rejected', input.origin, stateAfter(dispute));
          return { result: { state: disputeStateOf(dispute), approval: null }, eventIds: [await recordDisputeEvent(tx, dispute, 'dispute.rejected')] };
        }
        const subject = { subjectType: 'dispute_resolution' as const, organizationId: dispute.organization.id, amount, currency: dispute.currency };
        const rule = await applicableApprovalRule(tx, subject);
        if (!rule) {
          audit(tx, dispute, 'dispute.resolution_requested', input.origin, stateAfter(dispute));
          return { result: { state: disputeStateOf(dispute), approval: null }, eventIds: [] };
        }
        const opened = await insertApprovalRequest(tx, now, {
          ...subject,
          id: crypto.randomUUID(),
          subjectId: dispute.id,
          payload: { disputeId: dispute.id, outcome: input.outcome, amount, invoiceId: invoice.id },
          title: `${input.outcome === 'refund' ? 'Refund' : 'Credit'} ${amount} ${dispute.currency} on disputed invoice ${invoice.number ?? invoice.id}`,
          description: input.comment,
          requestedBy: input.decidedBy,
          ruleId: rule.id,
          levels: rule.levels,
        });
        dispute.status = 'pending_approval';
        dispute.approvalRequestId = opened.request.id;
        audit(tx, dispute, 'dispute.resolution_requested', input.origin, stateAfter(dispute));
        return {
          result: { state: disputeStateOf(dispute), approval: opened.state },
          eventIds: [...opened.eventIds, await recordDisputeEvent(tx, dispute, 'dispute.pending_approval')],
        };
      });
    },

    /** The approval was not given (rejected, expired, canceled): the dispute is back under review. */
    async returnDisputeToReview(input: { disputeId: string; approvalStatus: string }): Promise<DisputeState> {
      return onDispute(input.disputeId, async (tx, dispute) => {
        if (dispute.status !== 'pending_approval') return { result: disputeStateOf(dispute), eventIds: [] };
        const eventIds = await backToReview(tx, dispute, null, `dispute.approval_${input.approvalStatus}`);
        return { result: disputeStateOf(dispute), eventIds };
      });
    },

    /**
     * The saga's first step: the credit note, checked again against the invoice. A credit settles
     * what the invoice still owes first and credits the rest to the balance, and resolves the
     * dispute in the same transaction. A refund's note waits for Stripe: its journal is posted
     * once Stripe has refunded.
     */
    async creditDispute(disputeId: string): Promise<CreditStep> {
      return onDispute<CreditStep>(disputeId, async (tx, dispute) => {
        if (dispute.status === 'resolved') return { result: { kind: 'credited', state: disputeStateOf(dispute) }, eventIds: [] };
        const outcome = dispute.resolutionOutcome;
        const amount = dispute.resolutionAmount ?? 0;
        if ((outcome !== 'credit' && outcome !== 'refund') || amount <= 0) throw ApplicationFailure.nonRetryable(`dispute ${disputeId} has no credit or refund to carry out`, 'NoResolution');
        const invoice = await lockInvoice(tx, dispute.invoice.id);
        if (!invoice) throw ApplicationFailure.nonRetryable(`no invoice ${dispute.invoice.id}`, 'InvoiceNotFound');
        const existing = dispute.creditNote ? await tx.findOneOrFail(CreditNote, { id: dispute.creditNote.id }) : null;
        if (existing && outcome === 'refund') {
          return { result: { kind: 'refund', creditNoteId: existing.id, paymentIntentId: await paymentIntentOf(tx, existing), amount }, eventIds: [] };
        }
        const [payment] = await refundableStripePayments(tx, invoice.id);
        const refusal = resolutionRefusal({ status: 'under_review', amount: dispute.amount }, { outcome, amount }, { creditable: invoice.total - invoice.amountCredited, refundable: payment?.refundable ?? 0 });
        if (refusal) return { result: { kind: 'refused', failure: { code: refusal.code, message: refusal.message } }, eventIds: [] };
        const now = clock.now();
        const reason = `Dispute ${dispute.id}: ${dispute.reason}`;
        if (outcome === 'refund' && payment) {
          const note = await createCreditNote(tx, invoice, { id: crypto.randomUUID(), amount, reason, disposition: 'refund', paymentId: payment.paymentId, createdBy: dispute.resolvedBy ?? workflowIds.dispute(dispute.id) }, now);
          dispute.creditNote = note;
          dispute.updatedAt = now;
          return { result: { kind: 'refund', creditNoteId: note.id, paymentIntentId: payment.paymentIntentId, amount }, eventIds: [] };
        }
        const { toReceivable } = creditSplit(amount, outstandingOf(invoice).receivable);
        const note = await createCreditNote(tx, invoice, { id: crypto.randomUUID(), amount, reason, disposition: 'credit_balance', paymentId: null, createdBy: dispute.resolvedBy ?? workflowIds.dispute(dispute.id), toReceivable }, now);
        await postCreditNoteJournal(tx, invoice, note, now, toReceivable);
        dispute.creditNote = note;
        const eventIds = [await recordCreditNoteEvent(tx, note, invoice), ...(await settleIfCredited(tx, invoice, now)), ...(await resolved(tx, dispute))];
        return { result: { kind: 'credited', state: disputeStateOf(dispute) }, eventIds };
      });
    },

    /**
     * Refunds through Stripe with a key from the dispute and its credit note, so a retry after a
     * lost answer (or a worker killed after Stripe refunded) refunds once. Stripe's refusal for good
     * (already refunded, more than is left) is answered, not thrown: the saga compensates.
     */
    async refundDispute(input: { disputeId: string; creditNoteId: string; paymentIntentId: string; amount: number }): Promise<{ stripeRefundId: string } | { failure: ResolutionFailure }> {
      try {
        const stripeRefundId = await gateway.refund({ paymentIntentId: input.paymentIntentId, amount: input.amount, idempotencyKey: stripeIdempotencyKeys.disputeRefund(input.disputeId, input.creditNoteId) });
        return { stripeRefundId };
      } catch (error) {
        if (error instanceof StripeRequestRejectedError) return { failure: { code: error.code ?? 'stripe_refund_refused', message: error.message } };
        throw error;
      }
    },

    /** Stripe refunded: the note records the refund, its journal entry is posted, and the dispute is resolved. */
    async recordDisputeRefund(input: { disputeId: string; creditNoteId: string; stripeRefundId: string }): Promise<DisputeState> {
      return onDispute(input.disputeId, async (tx, dispute) => {
        if (dispute.status === 'resolved') return { result: disputeStateOf(dispute), eventIds: [] };
        const note = await tx.findOneOrFail(CreditNote, { id: input.creditNoteId });
        const invoice = await lockInvoice(tx, dispute.invoice.id);
        if (!invoice) throw ApplicationFailure.nonRetryable(`no invoice ${dispute.invoice.id}`, 'InvoiceNotFound');
        const now = clock.now();
        note.stripeRefundId = input.stripeRefundId;
        dispute.stripeRefundId = input.stripeRefundId;
        await postCreditNoteJournal(tx, invoice, note, now);
        const eventIds = [await recordCreditNoteEvent(tx, note, invoice), ...(await resolved(tx, dispute))];
        return { result: disputeStateOf(dispute), eventIds };
      });
    },

    /**
     * The compensation of a refund Stripe refused for good: its credit note is voided (it never
     * credited anything: no journal entry was posted for it) and the dispute goes back to review
     * with the failure, for the operator to resolve again (a credit, say).
     */
    async voidDisputeRefund(input: { disputeId: string; creditNoteId: string; failure: ResolutionFailure }): Promise<DisputeState> {
      return onDispute(input.disputeId, async (tx, dispute) => {
        if (dispute.status !== 'pending_approval' && dispute.status !== 'under_review' && dispute.status !== 'open') return { result: disputeStateOf(dispute), eventIds: [] };
        const note = await tx.findOneOrFail(CreditNote, { id: input.creditNoteId });
        const invoice = await lockInvoice(tx, dispute.invoice.id);
        if (!invoice) throw ApplicationFailure.nonRetryable(`no invoice ${dispute.invoice.id}`, 'InvoiceNotFound');
        await voidCreditNote(tx, invoice, note, clock.now());
        const eventIds = await backToReview(tx, dispute, input.failure, 'dispute.refund_failed');
        return { result: disputeStateOf(dispute), eventIds };
      });
    },

    /** A credit or refund that no longer fits the invoice (credited or refunded meanwhile): back to review, nothing moved. */
    async failDisputeResolution(input: { disputeId: string; failure: ResolutionFailure }): Promise<DisputeState> {
      return onDispute(input.disputeId, async (tx, dispute) => {
        if (dispute.status === 'resolved' || dispute.status === 'rejected' || dispute.status === 'withdrawn') return { result: disputeStateOf(dispute), eventIds: [] };
        const eventIds = await backToReview(tx, dispute, input.failure, 'dispute.resolution_failed');
        return { result: disputeStateOf(dispute), eventIds };
      });
    },

    /**
     * The ERP step of a resolved dispute: its credit note (and refund) are in the ERP outbox. They
     * were queued with the credit note's own transaction; queuing again is a no-op, and covers a
     * dispute resolved before its integration was connected.
     */
    async syncDisputeToErp(disputeId: string): Promise<void> {
      const queued = await orm.em.fork().transactional(async (tx) => {
        const dispute = await tx.findOne(Dispute, { id: disputeId });
        const note = dispute?.creditNote ? await tx.findOne(CreditNote, { id: dispute.creditNote.id }) : null;
        if (!dispute || !note || note.voidedAt) return 0;
        return enqueueErpDocuments(tx, creditNoteErpEntries(note, dispute.organization.id));
      });
      logger.debug({ disputeId, queued }, 'dispute resolved: its documents are in the ERP outbox');
    },
  });
}

/** The PaymentIntent a refund's credit note refunds. */
async function paymentIntentOf(tx: EntityManager, note: CreditNote): Promise<string> {
  const payment = note.payment ? await tx.findOne(Payment, { id: note.payment.id }) : null;
  const reference = payment?.reference;
  if (!reference) throw ApplicationFailure.nonRetryable(`credit note ${note.id} refunds no Stripe payment`, 'NoStripePayment');
  return reference;
}

export type DisputeActivities = ReturnType<typeof createDisputeActivities>;
