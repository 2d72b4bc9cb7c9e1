import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { WorkflowHandle } from '@temporalio/client';
import type { Context } from 'hono';
import { applicableApprovalRule, openApprovalRequest } from '../../approvals/open.js';
import type { CreditNoteApprovalPayload } from '../../approvals/subjects/credit-note.js';
import { ApprovalRequest, CreditNote, Invoice, Payment } from '../../db/entities/index.js';
import { activeDisputesOf } from '../../db/repositories/disputes.js';
import { creditNotePlan, creditNoteView, issueCreditNote, lockInvoice, outstandingOf, recordReceipt, voidInvoice } from '../../db/repositories/invoice-payments.js';
import { createStripeGateway, isTransientStripeError, StripeRequestRejectedError } from '../../integrations/stripe.js';
import { stripeIdempotencyKeys } from '../../domain/index.js';
import { uuidFromKey } from '../../ids.js';
import { workflowIds } from '../../temporal/workflow-ids.js';
import { dispatchWebhookEvents } from '../../webhooks/outbox.js';
import type { paymentCollection } from '../../../workflows/index.js';
import { invoiceVoidedSignal, paymentRecordedSignal } from '../../../workflows/messages/payment.js';
import { requireOwnedObject } from '../http/access.js';
import { audit } from '../http/audit.js';
import { actingUserId, type Action } from '../auth/policy.js';
import type { AppEnv } from '../http/context.js';
import { afterCursor, pageOrder, PageQuerySchema, pageSchema, toPage } from '../http/pagination.js';
import { ApiError, problemResponses } from '../http/problem.js';
import { jsonBody, jsonResponse, uuidParam } from '../http/schemas.js';
import { textSchema } from '../http/text.js';

const tags = ['Invoices'];
const security = [{ bearer: [] }];
const positiveMinorUnits = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

const RecordPaymentSchema = z
  .strictObject({
    amount: positiveMinorUnits.openapi({ description: 'Minor units received; at most what is still owed.' }),
    method: z.enum(['wire', 'check', 'other']),
    reference: textSchema({ maxLength: 200 }).openapi({ description: 'The bank or check reference; recording it again records nothing.', example: 'WIRE-2027-0042' }),
    receivedAt: z.iso.datetime({ offset: true }).optional().openapi({ description: 'Defaults to now; not in the future.' }),
  })
  .openapi('RecordPayment');

const PaymentSchema = z
  .object({
    id: z.uuid(),
    invoiceId: z.uuid(),
    amount: z.number().int(),
    currency: z.string(),
    method: z.enum(['stripe', 'wire', 'check', 'other']),
    reference: z.string().openapi({ description: 'The PaymentIntent id for Stripe payments.' }),
    receivedAt: z.iso.datetime(),
    recordedBy: z.string(),
    createdAt: z.iso.datetime(),
  })
  .openapi('Payment');

const CreateCreditNoteSchema = z
  .strictObject({
    amount: positiveMinorUnits.openapi({ description: 'Minor units; at most the invoice total less what was already credited.' }),
    reason: textSchema({ maxLength: 500, multiline: true }),
    refund: z.boolean().default(false).openapi({ description: "true: refund through Stripe (at most what a Stripe payment of the invoice has left); false: credit the customer's balance, applied to the next invoice." }),
  })
  .openapi('CreateCreditNote');

const CreditNoteSchema = z
  .object({
    id: z.uuid(),
    number: z.string(),
    invoiceId: z.uuid(),
    organizationId: z.uuid(),
    amount: z.number().int(),
    currency: z.string(),
    reason: z.string(),
    disposition: z.enum(['credit_balance', 'refund']),
    paymentId: z.uuid().nullable().openapi({ description: 'The Stripe payment a refund went back to.' }),
    stripeRefundId: z.string().nullable(),
    voidedAt: z.iso.datetime().nullable().openapi({ description: "A dispute's refund Stripe refused for good: the note credited and refunded nothing." }),
    createdBy: z.string(),
    createdAt: z.iso.datetime(),
  })
  .openapi('CreditNote');

const PendingApprovalSchema = z
  .object({
    status: z.literal('pending_approval'),
    approvalRequestId: z.uuid().openapi({ description: 'The approval request; once approved, the credit note is issued with this id.' }),
    workflowId: z.string(),
  })
  .openapi('PendingApproval');

const VoidedInvoiceSchema = z
  .object({
    id: z.uuid(),
    number: z.string().nullable(),
    organizationId: z.uuid(),
    status: z.enum(['draft', 'open', 'paid', 'void', 'uncollectible']),
    currency: z.string(),
    total: z.number().int(),
    amountDue: z.number().int(),
    amountPaid: z.number().int(),
    amountCredited: z.number().int(),
    voidedAt: z.iso.datetime().nullable(),
  })
  .openapi('VoidedInvoice');

const params = z.object({ id: uuidParam('id') });

const recordPaymentRoute = createRoute({
  method: 'post',
  path: '/v1/invoices/{id}/payments',
  tags,
  security,
  summary: 'Record a payment received outside Stripe (a wire, a check) against an open invoice',
  request: { params, body: jsonBody(RecordPaymentSchema) },
  responses: {
    201: jsonResponse('Recorded; the invoice is paid once nothing is owed', PaymentSchema),
    200: jsonResponse('This method and reference were already recorded for this invoice and amount (a retry): nothing was recorded again', PaymentSchema),
    ...problemResponses(400, 401, 403, 404, 409, 422),
  },
});

const listPaymentsRoute = createRoute({
  method: 'get',
  path: '/v1/invoices/{id}/payments',
  tags,
  security,
  summary: "List an invoice's payments, oldest first",
  request: { params, query: PageQuerySchema },
  responses: { 200: jsonResponse('A page of payments', pageSchema(PaymentSchema, 'PaymentPage')), ...problemResponses(400, 401, 403, 404) },
});

const voidRoute = createRoute({
  method: 'post',
  path: '/v1/invoices/{id}/void',
  tags,
  security,
  summary: 'Void an open invoice: its finalization is reversed and anything paid on it becomes credit balance',
  request: { params },
  responses: { 200: jsonResponse('The voided invoice', VoidedInvoiceSchema), ...problemResponses(400, 401, 403, 404, 409) },
});

const createCreditNoteRoute = createRoute({
  method: 'post',
  path: '/v1/invoices/{id}/credit-notes',
  tags,
  security,
  summary: 'Issue a credit note against a paid invoice, credited to the balance or refunded through Stripe (or, when an approval rule matches, open the approval request it waits for)',
  request: { params, body: jsonBody(CreateCreditNoteSchema) },
  responses: {
    201: jsonResponse('Issued', CreditNoteSchema),
    202: jsonResponse('A credit_note or refund approval rule matched: the credit note is issued once the request is approved', PendingApprovalSchema),
    ...problemResponses(400, 401, 403, 404, 409, 422, 503),
  },
});

const listCreditNotesRoute = createRoute({
  method: 'get',
  path: '/v1/invoices/{id}/credit-notes',
  tags,
  security,
  summary: "List an invoice's credit notes, oldest first",
  request: { params, query: PageQuerySchema },
  responses: { 200: jsonResponse('A page of credit notes', pageSchema(CreditNoteSchema, 'CreditNotePage')), ...problemResponses(400, 401, 403, 404) },
});

const pendingApprovalView = (approvalRequestId: string) => ({ status: 'pending_approval' as const, approvalRequestId, workflowId: workflowIds.approval(approvalRequestId) });

const invoiceNotFound = (id: string) => new ApiError(404, 'invoice_not_found', `No invoice ${id}.`);

/** An invoice the caller may act on (locked for this request's transaction when it changes it), or the 404 a missing one gets. */
async function requireInvoice(c: Context<AppEnv>, action: Action, id: string, options: { lock: boolean }): Promise<Invoice> {
  const invoice = options.lock ? await lockInvoice(c.var.em, id) : await c.var.em.findOne(Invoice, { id });
  await requireOwnedObject(c, action, invoice?.organization.id ?? null, () => invoiceNotFound(id));
  if (!invoice) throw invoiceNotFound(id);
  return invoice;
}

const iso = (date: Date | null | undefined) => date?.toISOString() ?? null;

const paymentView = (payment: Payment) => ({
  id: payment.id,
  invoiceId: payment.invoice.id,
  amount: payment.amount,
  currency: payment.currency,
  method: payment.method,
  reference: payment.reference,
  receivedAt: payment.receivedAt.toISOString(),
  recordedBy: payment.recordedBy,
  createdAt: payment.createdAt.toISOString(),
});

const voidedInvoiceView = (invoice: Invoice) => ({
  id: invoice.id,
  number: invoice.number ?? null,
  organizationId: invoice.organization.id,
  status: invoice.status,
  currency: invoice.currency,
  total: invoice.total,
  amountDue: invoice.amountDue,
  amountPaid: invoice.amountPaid,
  amountCredited: invoice.amountCredited,
  voidedAt: iso(invoice.voidedAt),
});

/**
 * After the commit: delivers the recorded webhook events and tells `payment:<invoiceId>` what
 * changed. An invoice without a running workflow (collected already, or none was started) has
 * nobody to tell; the workflow also reads the invoice again before each charge and reminder.
 */
function afterCommit(c: Context<AppEnv>, invoiceId: string, eventIds: string[], notify: (handle: PaymentHandle) => Promise<void>): void {
  const { temporal, config, logger, orm } = c.var;
  c.var.afterCommit(async () => {
    await dispatchWebhookEvents({ temporal, taskQueue: config.TEMPORAL_TASK_QUEUE, orm, logger }, eventIds);
    try {
      await notify(temporal.workflow.getHandle<typeof paymentCollection>(workflowIds.payment(invoiceId)));
    } catch (error) {
      logger.info({ err: error, invoiceId }, 'payment workflow not signaled');
    }
  });
}

type PaymentHandle = WorkflowHandle<typeof paymentCollection>;

/**
 * The credit note's id: with an Idempotency-Key it is derived from the caller and the key, so a
 * retry after a lost answer refunds through Stripe with the same idempotency key, never twice.
 */
function creditNoteIdFor(c: Context<AppEnv>, invoiceId: string): string {
  const key = c.req.header('idempotency-key');
  if (key === undefined) return crypto.randomUUID();
  return uuidFromKey(`credit-note\n${c.var.principal.id}\n${key}\n${invoiceId}`);
}

/** Stripe's answer to a refund, as the caller's problem: unreachable is a 503 (retry), a refusal a 422. */
function refundFailure(error: unknown): never {
  if (isTransientStripeError(error)) throw new ApiError(503, 'stripe_unavailable', 'Stripe did not answer the refund; nothing was recorded. Retry with the same Idempotency-Key.');
  if (error instanceof StripeRequestRejectedError) throw new ApiError(422, 'stripe_refund_refused', error.message);
  throw error;
}

export function registerInvoicePayments(app: OpenAPIHono<AppEnv>) {
  app.openapi(recordPaymentRoute, async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    const { em, clock, principal } = c.var;
    const invoice = await requireInvoice(c, 'invoice.pay', id, { lock: true });
    const now = clock.now();
    const receivedAt = body.receivedAt === undefined ? now : new Date(body.receivedAt);
    if (receivedAt > now) throw new ApiError(422, 'received_at_in_future', 'receivedAt may not be in the future.');
    const recorded = await em.findOne(Payment, { method: body.method, reference: body.reference });
    if (recorded) {
      if (recorded.invoice.id === invoice.id && recorded.amount === body.amount) return c.json(paymentView(recorded), 200);
      throw new ApiError(409, 'payment_reference_used', `A ${body.method} payment with reference ${body.reference} is already recorded.`);
    }
    if (invoice.status !== 'open') {
      throw new ApiError(409, 'invoice_not_open', `Invoice ${invoice.number ?? id} is ${invoice.status}; payments are recorded against open invoices.`, undefined, undefined, {
        status: invoice.status,
      });
    }
    const owed = outstandingOf(invoice).receivable;
    if (body.amount > owed) {
      throw new ApiError(409, 'payment_exceeds_amount_due', `Invoice ${invoice.number ?? id} has ${owed} left to pay; ${body.amount} is more.`, undefined, undefined, {
        amountOwed: owed,
      });
    }
    const { payment, eventIds } = await recordReceipt(
      em,
      invoice,
      { method: body.method, reference: body.reference, amount: body.amount, currency: invoice.currency, receivedAt, recordedBy: principal.id },
      now,
    );
    // Recorded for another invoice by a concurrent request since the check above.
    if (!payment) throw new ApiError(409, 'payment_reference_used', `A ${body.method} payment with reference ${body.reference} is already recorded.`);
    const view = paymentView(payment);
    audit(c, { action: 'payment.recorded', organizationId: invoice.organization.id, targetType: 'payment', targetId: payment.id, after: view });
    afterCommit(c, invoice.id, eventIds, (handle) => handle.signal(paymentRecordedSignal, { paymentId: payment.id }));
    return c.json(view, 201);
  });

  app.openapi(listPaymentsRoute, async (c) => {
    const { id } = c.req.valid('param');
    const query = c.req.valid('query');
    await requireInvoice(c, 'invoice.read', id, { lock: false });
    const rows = await c.var.em.find(Payment, { invoice: id, ...afterCursor(query.cursor) }, { orderBy: pageOrder, limit: query.limit + 1 });
    return c.json(toPage(rows, query.limit, paymentView), 200);
  });

  app.openapi(voidRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { em, clock } = c.var;
    const invoice = await requireInvoice(c, 'invoice.void', id, { lock: true });
    if (invoice.status !== 'open') {
      throw new ApiError(409, 'invoice_not_open', `Invoice ${invoice.number ?? id} is ${invoice.status}; only open invoices can be voided.`, undefined, undefined, {
        status: invoice.status,
      });
    }
    if (invoice.amountCredited > 0) {
      throw new ApiError(409, 'invoice_credited', `Invoice ${invoice.number ?? id} has ${invoice.amountCredited} credited (a dispute's credit): voiding would take that back twice.`, undefined, undefined, { amountCredited: invoice.amountCredited });
    }
    if ((await activeDisputesOf(em, invoice.id)).amount > 0) {
      throw new ApiError(409, 'invoice_disputed', `Invoice ${invoice.number ?? id} has an active dispute: resolve it first (a credit settles what it covers).`);
    }
    const before = voidedInvoiceView(invoice);
    const now = clock.now();
    const eventIds = await voidInvoice(em, invoice, now);
    await em.flush();
    const view = voidedInvoiceView(invoice);
    audit(c, { action: 'invoice.voided', organizationId: invoice.organization.id, targetType: 'invoice', targetId: invoice.id, before, after: view });
    afterCommit(c, invoice.id, eventIds, (handle) => handle.signal(invoiceVoidedSignal, { voidedAt: now.toISOString() }));
    return c.json(view, 200);
  });

  app.openapi(createCreditNoteRoute, async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    const { em, clock, principal, stripe } = c.var;
    const invoice = await requireInvoice(c, 'creditNote.write', id, { lock: true });
    const creditNoteId = creditNoteIdFor(c, invoice.id);
    // The same Idempotency-Key after its record expired: the credit note it made, not a second one.
    const issued = await em.findOne(CreditNote, { id: creditNoteId, invoice: invoice.id });
    if (issued) return c.json(creditNoteView(issued, invoice), 201);
    const waiting = await em.findOne(ApprovalRequest, { id: creditNoteId });
    if (waiting) return c.json(pendingApprovalView(waiting.id), 202);
    const plan = await creditNotePlan(em, invoice, body);
    if ('refusal' in plan) throw new ApiError(409, plan.refusal.code, plan.refusal.message, undefined, undefined, plan.refusal.details);
    const subject = { subjectType: body.refund ? ('refund' as const) : ('credit_note' as const), organizationId: invoice.organization.id, amount: body.amount, currency: invoice.currency };
    const rule = await applicableApprovalRule(em, subject);
    if (rule) {
      // The request's id is the credit note's to be: once approved, the note is issued under it, exactly once.
      const payload: CreditNoteApprovalPayload = { invoiceId: invoice.id, amount: body.amount, reason: body.reason, refund: body.refund, createdBy: principal.id };
      const { eventIds } = await openApprovalRequest(
        em,
        { temporal: c.var.temporal, taskQueue: c.var.config.TEMPORAL_TASK_QUEUE, now: clock.now() },
        {
          ...subject,
          id: creditNoteId,
          subjectId: invoice.id,
          payload: { ...payload },
          title: `${body.refund ? 'Refund' : 'Credit note'} on invoice ${invoice.number ?? invoice.id}`,
          description: body.reason,
          requestedBy: actingUserId(principal),
          ruleId: rule.id,
          levels: rule.levels,
        },
      );
      const pending = pendingApprovalView(creditNoteId);
      audit(c, { action: 'approval_request.created', organizationId: invoice.organization.id, targetType: 'approval_request', targetId: creditNoteId, after: { ...pending, subjectType: subject.subjectType, ...payload } });
      c.var.afterCommit(() => dispatchWebhookEvents({ temporal: c.var.temporal, taskQueue: c.var.config.TEMPORAL_TASK_QUEUE, orm: c.var.orm, logger: c.var.logger }, eventIds));
      return c.json(pending, 202);
    }
    const gateway = createStripeGateway(stripe);
    const { creditNote, eventIds } = await issueCreditNote(
      em,
      invoice,
      {
        id: creditNoteId,
        amount: body.amount,
        reason: body.reason,
        refundOf: plan.refundOf,
        createdBy: principal.id,
        refund: (noteId, paymentIntentId) =>
          gateway.refund({ paymentIntentId, amount: body.amount, idempotencyKey: stripeIdempotencyKeys.creditNoteRefund(noteId) }).catch(refundFailure),
      },
      clock.now(),
    );
    const view = creditNoteView(creditNote, invoice);
    audit(c, { action: 'credit_note.created', organizationId: invoice.organization.id, targetType: 'credit_note', targetId: creditNote.id, after: view });
    c.var.afterCommit(() => dispatchWebhookEvents({ temporal: c.var.temporal, taskQueue: c.var.config.TEMPORAL_TASK_QUEUE, orm: c.var.orm, logger: c.var.logger }, eventIds));
    return c.json(view, 201);
  });

  app.openapi(listCreditNotesRoute, async (c) => {
    const { id } = c.req.valid('param');
    const query = c.req.valid('query');
    const invoice = await requireInvoice(c, 'invoice.read', id, { lock: false });
    const rows = await c.var.em.find(CreditNote, { invoice: id, ...afterCursor(query.cursor) }, { orderBy: pageOrder, limit: query.limit + 1 });
    return c.json(
      toPage(rows, query.limit, (creditNote) => creditNoteView(creditNote, invoice)),
      200,
    );
  });
}
