import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Context } from 'hono';
import { Dispute, Invoice, Organization, disputeOutcomes, disputeReasons, disputeSources, disputeStatuses } from '../../db/entities/index.js';
import { activeDisputesOf, disputeCommentsOf, disputePage, disputeView, recordDisputeEvent } from '../../db/repositories/disputes.js';
import { lockInvoice } from '../../db/repositories/invoice-payments.js';
import { openingRefusal, operatorOutcomes } from '../../domain/index.js';
import { uuidFromKey } from '../../ids.js';
import { workflowIds } from '../../temporal/workflow-ids.js';
import { dispatchWebhookEvents } from '../../webhooks/outbox.js';
import type { disputeToRefund } from '../../../workflows/index.js';
import { approvalSearchAttributes } from '../../../workflows/messages/approval.js';
import {
  commentOnDisputeUpdate,
  disputeSearchAttributes,
  resolveDisputeUpdate,
  withdrawDisputeUpdate,
  type DisputeOrigin,
  type DisputeWorkflowInput,
} from '../../../workflows/messages/dispute.js';
import { actingUserId, type Action } from '../auth/policy.js';
import { requireGlobal, requireOrganization, requireOwnedObject } from '../http/access.js';
import { audit } from '../http/audit.js';
import type { AppEnv } from '../http/context.js';
import { cursorPosition, PageQuerySchema, pageSchema, toPage } from '../http/pagination.js';
import { ApiError, problemResponses } from '../http/problem.js';
import { jsonBody, jsonResponse, uuidParam } from '../http/schemas.js';
import { textSchema } from '../http/text.js';
import { sendWorkflowUpdate } from '../http/workflow-updates.js';
import { waitsOnWorkflow } from '../middleware/unit-of-work.js';

const tags = ['Disputes'];
const security = [{ bearer: [] }];

const OpenSchema = z
  .strictObject({
    invoiceId: z.uuid(),
    amount: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).openapi({ description: "Minor units; at most the invoice's total less what is credited or disputed." }),
    reason: z.enum(disputeReasons),
    description: textSchema({ maxLength: 5000, multiline: true }).optional(),
  })
  .openapi('OpenDispute');
const CommentSchema = z.strictObject({ body: textSchema({ maxLength: 5000, multiline: true }) }).openapi('CreateDisputeComment');
const ResolveSchema = z
  .strictObject({
    outcome: z.enum(operatorOutcomes),
    amount: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional().openapi({ description: 'What a credit or refund moves; defaults to the disputed amount. Not for a rejection.' }),
    comment: textSchema({ maxLength: 2000, multiline: true }).optional(),
  })
  .refine((body) => body.outcome !== 'reject' || body.amount === undefined, { message: 'a rejection moves no amount.', path: ['amount'] })
  .openapi('ResolveDispute');

const DisputeSchema = z
  .object({
    id: z.uuid(),
    invoiceId: z.uuid(),
    organizationId: z.uuid(),
    source: z.enum(disputeSources),
    stripeDisputeId: z.string().nullable(),
    amount: z.number().int(),
    currency: z.string(),
    reason: z.string(),
    description: z.string().nullable(),
    status: z.enum(disputeStatuses),
    resolution: z
      .object({ outcome: z.enum(disputeOutcomes), amount: z.number().int(), creditNoteId: z.uuid().nullable(), refundId: z.uuid().nullable(), stripeRefundId: z.string().nullable() })
      .nullable()
      .openapi({ description: 'Once resolved or rejected. `refundId` is the credit note that refunded; `won`/`lost` are Stripe verdicts on card disputes.' }),
    pendingResolution: z.object({ outcome: z.enum(disputeOutcomes), amount: z.number().int() }).nullable().openapi({ description: 'While pending approval: what waits for it.' }),
    approvalRequestId: z.uuid().nullable(),
    lastFailure: z.object({ code: z.string(), message: z.string(), at: z.iso.datetime() }).nullable().openapi({ description: 'Why the last resolution could not be carried out (it went back to review).' }),
    comments: z.array(z.object({ userId: z.string(), body: z.string(), at: z.iso.datetime() })),
    openedBy: z.string(),
    workflowId: z.string().nullable(),
    createdAt: z.iso.datetime(),
    resolvedAt: z.iso.datetime().nullable(),
  })
  .openapi('Dispute');
const PendingSchema = DisputeSchema.extend({ status: z.literal('pending_approval'), approvalRequestId: z.uuid() }).openapi('DisputePendingApproval');
const CommentViewSchema = z.object({ id: z.uuid(), userId: z.string(), body: z.string(), at: z.iso.datetime() }).openapi('DisputeComment');

const params = z.object({ id: uuidParam('id') });
const ListQuerySchema = PageQuerySchema.extend({ organizationId: z.uuid().optional(), status: z.enum(disputeStatuses).optional() });

const openRoute = createRoute({
  method: 'post',
  path: '/v1/disputes',
  tags,
  security,
  summary: "Dispute an invoice (its organization's OWNER or BILLING_ADMIN): collection of the invoice pauses until the dispute ends",
  request: { body: jsonBody(OpenSchema) },
  responses: { 201: jsonResponse('Opened', DisputeSchema), ...problemResponses(400, 401, 403, 404, 409, 422) },
});
const listRoute = createRoute({
  method: 'get',
  path: '/v1/disputes',
  tags,
  security,
  summary: "List disputes, oldest first: an organization's, or (platform roles) every one",
  request: { query: ListQuerySchema },
  responses: { 200: jsonResponse('A page of disputes', pageSchema(DisputeSchema, 'DisputePage')), ...problemResponses(400, 401, 403, 404) },
});
const getRoute = createRoute({
  method: 'get',
  path: '/v1/disputes/{id}',
  tags,
  security,
  summary: 'Show a dispute with its comments and resolution',
  request: { params },
  responses: { 200: jsonResponse('The dispute', DisputeSchema), ...problemResponses(400, 401, 403, 404) },
});
const commentRoute = createRoute({
  method: 'post',
  path: '/v1/disputes/{id}/comments',
  tags,
  security,
  middleware: waitsOnWorkflow,
  summary: "Comment (either side); the operator's first comment puts an open dispute under review",
  request: { params, body: jsonBody(CommentSchema) },
  responses: { 201: jsonResponse('Added', CommentViewSchema), ...problemResponses(400, 401, 403, 404, 409, 504) },
});
const withdrawRoute = createRoute({
  method: 'post',
  path: '/v1/disputes/{id}/withdraw',
  tags,
  security,
  middleware: waitsOnWorkflow,
  summary: 'Withdraw an open dispute or one under review (the customer): collection resumes for the whole amount',
  request: { params },
  responses: { 200: jsonResponse('The withdrawn dispute', DisputeSchema), ...problemResponses(400, 401, 403, 404, 409, 504) },
});
const resolveRoute = createRoute({
  method: 'post',
  path: '/v1/disputes/{id}/resolve',
  tags,
  security,
  middleware: waitsOnWorkflow,
  summary: 'Resolve (platform roles): reject, credit (a credit note) or refund (a credit note refunded through Stripe); above a dispute_resolution rule it waits for approval',
  request: { params, body: jsonBody(ResolveSchema) },
  responses: {
    200: jsonResponse('The dispute as resolved (or back under review, with lastFailure, when Stripe refused the refund)', DisputeSchema),
    202: jsonResponse('Waiting for approval; carried out when approved', PendingSchema),
    ...problemResponses(400, 401, 403, 404, 409, 422, 504),
  },
});

type Em = AppEnv['Variables']['em'];

const disputeNotFound = (id: string) => new ApiError(404, 'dispute_not_found', `No dispute ${id}.`);

async function viewOf(em: Em, dispute: Dispute) {
  return disputeView(dispute, await disputeCommentsOf(em, [dispute.id]));
}

async function requireDispute(c: Context<AppEnv>, action: Action, id: string): Promise<Dispute> {
  const dispute = await c.var.em.findOne(Dispute, { id }, { refresh: true });
  // Missing and not visible answer alike, so ids reveal nothing across tenants.
  if (!dispute) throw disputeNotFound(id);
  await requireOwnedObject(c, action, dispute.organization.id, () => disputeNotFound(id));
  return dispute;
}

/** A card dispute is Stripe's to decide: Ledgerflow records what Stripe reports. */
function requireCustomerDispute(dispute: Dispute): void {
  if (dispute.source === 'stripe') throw new ApiError(409, 'dispute_managed_by_stripe', `Dispute ${dispute.id} is a card dispute: it is answered and decided at Stripe, and shows here as Stripe reports it.`);
}

const originOf = (c: Context<AppEnv>): DisputeOrigin => ({ actorType: c.var.principal.kind, actorId: c.var.principal.id, requestId: c.var.requestId });

/** The update's id: with an Idempotency-Key, a retry is the same update and gets the first answer. */
function updateIdOf(c: Context<AppEnv>, kind: string, disputeId: string): string {
  const key = c.req.header('idempotency-key');
  return key === undefined ? crypto.randomUUID() : uuidFromKey(`dispute-${kind}\n${c.var.principal.id}\n${key}\n${disputeId}`);
}

/** Sends an update to `dispute:<id>`; a workflow that has ended took the dispute to its end already. */
async function updateDispute<T>(c: Context<AppEnv>, dispute: Dispute, updateId: string, send: (handle: ReturnType<Context<AppEnv>['var']['temporal']['workflow']['getHandle']>) => Promise<T>): Promise<T> {
  const handle = c.var.temporal.workflow.getHandle<typeof disputeToRefund>(workflowIds.dispute(dispute.id));
  try {
    return await sendWorkflowUpdate(c, { workflowId: workflowIds.dispute(dispute.id), location: `/v1/disputes/${dispute.id}`, updateId }, () => send(handle));
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw new ApiError(409, 'dispute_closed', `Dispute ${dispute.id} is ${dispute.status}.`);
    throw error;
  }
}

export function registerDisputes(app: OpenAPIHono<AppEnv>) {
  app.openapi(openRoute, async (c) => {
    const body = c.req.valid('json');
    const { em, principal, clock, temporal, config } = c.var;
    const notFound = () => new ApiError(404, 'invoice_not_found', `No invoice ${body.invoiceId}.`);
    const found = await em.findOne(Invoice, { id: body.invoiceId });
    if (!found) throw notFound();
    await requireOwnedObject(c, 'dispute.open', found.organization.id, notFound);
    const invoice = await lockInvoice(em, found.id);
    if (!invoice) throw notFound();
    const active = await activeDisputesOf(em, invoice.id);
    const refusal = openingRefusal(invoice, { amount: body.amount, customerDisputeActive: active.customerDisputeActive, activelyDisputed: active.amount });
    if (refusal) throw new ApiError(refusal.status, refusal.code, refusal.message, undefined, undefined, refusal.details);
    const now = clock.now();
    const dispute = em.create(Dispute, {
      id: crypto.randomUUID(),
      organization: em.getReference(Organization, invoice.organization.id),
      invoice,
      source: 'customer',
      stripeDisputeId: null,
      paymentIntentId: null,
      amount: body.amount,
      currency: invoice.currency,
      reason: body.reason,
      description: body.description ?? null,
      status: 'open',
      openedBy: actingUserId(principal),
      createdAt: now,
      updatedAt: now,
    });
    try {
      await em.flush();
    } catch (error) {
      // A concurrent opening won the partial unique index: one active customer dispute per invoice.
      if (error instanceof UniqueConstraintViolationException) throw new ApiError(409, 'dispute_already_open', 'The invoice already has an open dispute; comment on it, or wait until it ends.');
      throw error;
    }
    const eventId = await recordDisputeEvent(em, dispute, 'dispute.opened');
    const view = disputeView(dispute, []);
    audit(c, { action: 'dispute.opened', organizationId: invoice.organization.id, targetType: 'dispute', targetId: dispute.id, after: view });
    // Started before the commit, so a committed dispute always has its workflow (which waits for the row, and ends if it never commits).
    const args: [DisputeWorkflowInput] = [{ disputeId: dispute.id }];
    await temporal.workflow.start('disputeToRefund', {
      workflowId: workflowIds.dispute(dispute.id),
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      args,
      typedSearchAttributes: [
        { key: approvalSearchAttributes.organizationId, value: invoice.organization.id },
        { key: disputeSearchAttributes.invoiceId, value: invoice.id },
        { key: disputeSearchAttributes.status, value: 'open' },
      ],
    });
    c.var.afterCommit(() => dispatchWebhookEvents({ temporal, taskQueue: config.TEMPORAL_TASK_QUEUE, orm: c.var.orm, logger: c.var.logger }, [eventId]));
    return c.json(view, 201);
  });

  app.openapi(listRoute, async (c) => {
    const query = c.req.valid('query');
    if (query.organizationId !== undefined) await requireOrganization(c, 'dispute.read', query.organizationId);
    else requireGlobal(c, 'dispute.read');
    const rows = await disputePage(c.var.em, {
      ...(query.organizationId ? { organizationId: query.organizationId } : {}),
      ...(query.status ? { status: query.status } : {}),
      after: cursorPosition(query.cursor),
      limit: query.limit + 1,
    });
    const comments = await disputeCommentsOf(c.var.em, rows.map((row) => row.id));
    return c.json(toPage(rows, query.limit, (row) => disputeView(row, comments.filter((comment) => comment.dispute.id === row.id))), 200);
  });

  app.openapi(getRoute, async (c) => {
    const dispute = await requireDispute(c, 'dispute.read', c.req.valid('param').id);
    return c.json(await viewOf(c.var.em, dispute), 200);
  });

  app.openapi(commentRoute, async (c) => {
    const { id } = c.req.valid('param');
    const dispute = await requireDispute(c, 'dispute.comment', id);
    requireCustomerDispute(dispute);
    const { principal } = c.var;
    const updateId = updateIdOf(c, 'comment', id);
    const request = { commentId: updateId, userId: actingUserId(principal), body: c.req.valid('json').body, byOperator: principal.platformRole !== null, origin: originOf(c) };
    const { comment } = await updateDispute(c, dispute, updateId, (handle) => handle.executeUpdate(commentOnDisputeUpdate, { args: [request], updateId }));
    return c.json(comment, 201);
  });

  app.openapi(withdrawRoute, async (c) => {
    const { id } = c.req.valid('param');
    const dispute = await requireDispute(c, 'dispute.withdraw', id);
    requireCustomerDispute(dispute);
    const updateId = updateIdOf(c, 'withdraw', id);
    await updateDispute(c, dispute, updateId, (handle) => handle.executeUpdate(withdrawDisputeUpdate, { args: [{ userId: actingUserId(c.var.principal), origin: originOf(c) }], updateId }));
    return c.json(await viewOf(c.var.em, await c.var.em.findOneOrFail(Dispute, { id }, { refresh: true })), 200);
  });

  app.openapi(resolveRoute, async (c) => {
    const { id } = c.req.valid('param');
    const dispute = await requireDispute(c, 'dispute.resolve', id);
    requireCustomerDispute(dispute);
    const body = c.req.valid('json');
    const updateId = updateIdOf(c, 'resolve', id);
    const request = { outcome: body.outcome, amount: body.amount ?? null, comment: body.comment ?? null, decidedBy: actingUserId(c.var.principal), origin: originOf(c) };
    const state = await updateDispute(c, dispute, updateId, (handle) => handle.executeUpdate(resolveDisputeUpdate, { args: [request], updateId }));
    const view = await viewOf(c.var.em, await c.var.em.findOneOrFail(Dispute, { id }, { refresh: true }));
    if (state.status === 'pending_approval') return c.json({ ...view, status: 'pending_approval' as const, approvalRequestId: state.approvalRequestId ?? '' }, 202);
    return c.json(view, 200);
  });
}
