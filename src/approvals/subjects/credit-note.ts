import { AuditEvent, CreditNote } from '../../db/entities/index.js';
import { stripeIdempotencyKeys } from '../../domain/index.js';
import { creditNotePlan, creditNoteView, issueCreditNote, lockInvoice } from '../../db/repositories/invoice-payments.js';
import { createStripeGateway, StripeRequestRejectedError } from '../../integrations/stripe.js';
import { workflowIds } from '../../temporal/workflow-ids.js';
import { ApprovalSubjectRefusal, type ApprovalSubject } from './subject.js';

/** What `POST /v1/invoices/{id}/credit-notes` asked for, kept on the request until it is approved. */
export interface CreditNoteApprovalPayload {
  invoiceId: string;
  amount: number;
  reason: string;
  refund: boolean;
  /** The principal who asked (the credit note's `createdBy`, as when issued at once). */
  createdBy: string;
}

/**
 * A credit note (`credit_note`) or a refund through Stripe (`refund`) that waited for approval:
 * issued under the request's id, so a second run finds the note and issues nothing. The invoice is
 * checked again as at the request (it may have been credited or refunded meanwhile); Stripe's refund
 * carries the note's idempotency key, so a retry after a lost answer refunds once.
 */
export const creditNoteSubject: ApprovalSubject = {
  subjectTypes: ['credit_note', 'refund'],
  async carryOut(tx, request, { stripe, clock }) {
    const payload = request.subjectPayload as unknown as CreditNoteApprovalPayload;
    const issued = await tx.findOne(CreditNote, { id: request.id });
    if (issued) return { resultId: issued.id, eventIds: [] };
    const invoice = await lockInvoice(tx, payload.invoiceId);
    if (!invoice) throw new ApprovalSubjectRefusal(`invoice ${payload.invoiceId} no longer exists`);
    const plan = await creditNotePlan(tx, invoice, payload);
    if ('refusal' in plan) throw new ApprovalSubjectRefusal(`${plan.refusal.code}: ${plan.refusal.message}`);
    const gateway = createStripeGateway(stripe);
    const now = clock.now();
    const { creditNote, eventIds } = await issueCreditNote(
      tx,
      invoice,
      {
        id: request.id,
        amount: payload.amount,
        reason: payload.reason,
        refundOf: plan.refundOf,
        createdBy: payload.createdBy,
        refund: (noteId, paymentIntentId) =>
          gateway.refund({ paymentIntentId, amount: payload.amount, idempotencyKey: stripeIdempotencyKeys.creditNoteRefund(noteId) }).catch((error: unknown) => {
            if (error instanceof StripeRequestRejectedError) throw new ApprovalSubjectRefusal(`stripe_refund_refused: ${error.message}`);
            throw error;
          }),
      },
      now,
    );
    tx.create(AuditEvent, {
      occurredAt: now,
      actorType: 'workflow',
      actorId: workflowIds.approval(request.id),
      organizationId: invoice.organization.id,
      action: 'credit_note.created',
      targetType: 'credit_note',
      targetId: creditNote.id,
      before: null,
      after: { ...creditNoteView(creditNote, invoice), approvalRequestId: request.id },
      requestId: workflowIds.approval(request.id),
    });
    return { resultId: creditNote.id, eventIds };
  },
};
