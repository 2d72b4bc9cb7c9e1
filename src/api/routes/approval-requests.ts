import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Context } from 'hono';
import { applicableApprovalRule, openApprovalRequest } from '../../approvals/open.js';
import { ApprovalComment, ApprovalRequest, approvalStatusValues, approvalSubjectTypeValues } from '../../db/entities/index.js';
import { approvalRequestPage, type ApprovalViewer } from '../../db/repositories/approval-queries.js';
import { ancestryOf } from '../../db/repositories/organizations.js';
import { approverRoles, timeoutActions, type ApprovalLevelSpec, type Approver } from '../../domain/index.js';
import { workflowIds } from '../../temporal/workflow-ids.js';
import { dispatchWebhookEvents } from '../../webhooks/outbox.js';
import { uuidFromKey } from '../../ids.js';
import type { approvalRequest } from '../../../workflows/index.js';
import { cancelApprovalUpdate, decideApprovalUpdate, type ApprovalOrigin, type ApprovalRequestState } from '../../../workflows/messages/approval.js';
import { actingUserId, decide, grantsScope, policy, roleIn, type Principal } from '../auth/policy.js';
import { forbidden, requireOrganization } from '../http/access.js';
import { toProblem } from '../http/errors.js';
import { audit } from '../http/audit.js';
import type { AppEnv } from '../http/context.js';
import { cursorPosition, PageQuerySchema, pageSchema, toPage } from '../http/pagination.js';
import { ApiError, problemResponses } from '../http/problem.js';
import { jsonBody, jsonResponse, uuidParam } from '../http/schemas.js';
import { textSchema } from '../http/text.js';
import { sendWorkflowUpdate } from '../http/workflow-updates.js';
import { waitsOnWorkflow } from '../middleware/unit-of-work.js';

const tags = ['Approvals'];
const security = [{ bearer: [] }];
const MAX_BULK_DECISIONS = 100;
/** Bulk decisions go through their workflows a few at a time: each is its own update, none waits on a giant transaction. */
const BULK_CONCURRENCY = 16;

/** A manual request no `manual` rule covers goes to the organization's OWNERs, one of whom decides. */
const defaultManualLevels: ApprovalLevelSpec[] = [{ role: 'OWNER', approvers: [], quorum: 1, timeoutHours: null, onTimeout: null }];

const CreateRequestSchema = z
  .strictObject({
    organizationId: z.uuid(),
    subjectType: z.literal('manual'),
    title: textSchema({ maxLength: 200 }),
    amount: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    currency: z.string().regex(/^[A-Z]{3}$/).optional(),
    description: textSchema({ maxLength: 5000, multiline: true }).optional(),
  })
  .refine((body) => (body.amount === undefined) === (body.currency === undefined), { message: 'amount and currency go together.', path: ['currency'] })
  .openapi('CreateApprovalRequest');

const DecisionSchema = z.strictObject({ decision: z.enum(['approve', 'reject']), comment: textSchema({ maxLength: 2000, multiline: true }).optional() }).openapi('ApprovalDecision');
const BulkDecisionSchema = z
  .strictObject({
    ids: z.array(z.uuid()).min(1).max(MAX_BULK_DECISIONS).refine((ids) => new Set(ids).size === ids.length, { message: 'ids must be unique.' }),
    decision: z.enum(['approve', 'reject']),
    comment: textSchema({ maxLength: 2000, multiline: true }).optional(),
  })
  .openapi('BulkApprovalDecision');
const CommentSchema = z.strictObject({ body: textSchema({ maxLength: 5000, multiline: true }) }).openapi('CreateApprovalComment');

const DecisionViewSchema = z.object({ userId: z.string(), decision: z.enum(['approve', 'reject']), comment: z.string().nullable(), at: z.iso.datetime() });
const RequestSchema = z
  .object({
    id: z.uuid(),
    organizationId: z.uuid(),
    subjectType: z.enum(approvalSubjectTypeValues),
    subjectId: z.string().nullable(),
    title: z.string(),
    description: z.string().nullable(),
    amount: z.number().int().nullable(),
    currency: z.string().nullable(),
    requestedBy: z.string(),
    status: z.enum(approvalStatusValues),
    currentLevel: z.number().int(),
    levels: z.array(
      z.object({
        level: z.number().int(),
        role: z.enum(approverRoles),
        approvers: z.array(z.string()),
        quorum: z.number().int(),
        timeoutHours: z.number().nullable(),
        onTimeout: z.enum(timeoutActions).nullable(),
        escalation: z.boolean(),
        status: z.enum(['waiting', 'pending', 'approved', 'rejected', 'timed_out']),
        decisions: z.array(DecisionViewSchema),
      }),
    ),
    comments: z.array(z.object({ userId: z.string(), body: z.string(), at: z.iso.datetime() })),
    timeline: z.array(z.object({ at: z.iso.datetime(), type: z.string(), level: z.number().int().optional(), userId: z.string().optional(), detail: z.string().optional() })),
    execution: z.object({ status: z.enum(['executed', 'failed']), at: z.iso.datetime(), resultId: z.string().nullable(), detail: z.string().nullable() }).nullable(),
    workflowId: z.string(),
    createdAt: z.iso.datetime(),
    decidedAt: z.iso.datetime().nullable(),
  })
  .openapi('ApprovalRequest');
const CommentViewSchema = z.object({ id: z.uuid(), userId: z.string(), body: z.string(), at: z.iso.datetime() }).openapi('ApprovalComment');
const BulkResultSchema = z
  .object({ results: z.array(z.object({ id: z.uuid(), status: z.string(), error: z.object({ code: z.string(), detail: z.string() }).optional() })) })
  .openapi('BulkApprovalDecisionResult');

const params = z.object({ id: uuidParam('id') });
const ListQuerySchema = PageQuerySchema.extend({
  status: z.enum(approvalStatusValues).optional(),
  organizationId: z.uuid().optional(),
  assignedTo: z.literal('me').optional().openapi({ description: 'me: only what the caller can decide now.' }),
});

const createRequestRoute = createRoute({
  method: 'post',
  path: '/v1/approval-requests',
  tags,
  security,
  summary: "Open a manual approval request; without a matching manual rule the organization's OWNERs decide (one suffices)",
  request: { body: jsonBody(CreateRequestSchema) },
  responses: { 201: jsonResponse('Opened', RequestSchema), ...problemResponses(400, 401, 403, 404) },
});
const listRequestsRoute = createRoute({
  method: 'get',
  path: '/v1/approval-requests',
  tags,
  security,
  summary: 'List approval requests the caller can see, oldest first; assignedTo=me: the inbox of what they can decide now',
  request: { query: ListQuerySchema },
  responses: { 200: jsonResponse('A page of requests', pageSchema(RequestSchema, 'ApprovalRequestPage')), ...problemResponses(400, 401, 403, 404) },
});
const getRequestRoute = createRoute({
  method: 'get',
  path: '/v1/approval-requests/{id}',
  tags,
  security,
  summary: 'Show a request: every level, decision, comment and its timeline',
  request: { params },
  responses: { 200: jsonResponse('The request', RequestSchema), ...problemResponses(400, 401, 403, 404) },
});
const decideRoute = createRoute({
  method: 'post',
  path: '/v1/approval-requests/{id}/decisions',
  tags,
  security,
  middleware: waitsOnWorkflow,
  summary: 'Approve or reject at the current level, as yourself: 403 not_an_approver, 409 already_decided (refused before the decision enters the workflow)',
  request: { params, body: jsonBody(DecisionSchema) },
  responses: { 200: jsonResponse('The request after the decision', RequestSchema), ...problemResponses(400, 401, 403, 404, 409, 504) },
});
const bulkDecideRoute = createRoute({
  method: 'post',
  path: '/v1/approval-requests/bulk-decisions',
  tags,
  security,
  middleware: waitsOnWorkflow,
  summary: 'Decide up to 100 requests, each on its own through its workflow; ids the caller cannot see are reported as not found',
  request: { body: jsonBody(BulkDecisionSchema) },
  responses: { 200: jsonResponse('One result per id, in the order given', BulkResultSchema), ...problemResponses(400, 401, 403) },
});
const commentRoute = createRoute({
  method: 'post',
  path: '/v1/approval-requests/{id}/comments',
  tags,
  security,
  summary: 'Comment on a request (the requester, or anyone who can see it)',
  request: { params, body: jsonBody(CommentSchema) },
  responses: { 201: jsonResponse('Added', CommentViewSchema), ...problemResponses(400, 401, 403, 404) },
});
const cancelRoute = createRoute({
  method: 'post',
  path: '/v1/approval-requests/{id}/cancel',
  tags,
  security,
  middleware: waitsOnWorkflow,
  summary: 'Withdraw a pending request (the requester only); nothing is carried out',
  request: { params },
  responses: { 200: jsonResponse('The canceled request', RequestSchema), ...problemResponses(400, 401, 403, 404, 409, 504) },
});

const requestNotFound = (id: string) => new ApiError(404, 'approval_request_not_found', `No approval request ${id}.`);

/**
 * A request as the API shows it: the row, with the workflow's state when the caller holds a newer
 * one (the answer to an update, which the workflow wrote before answering).
 */
function requestView(request: ApprovalRequest, comments: ApprovalComment[], state?: ApprovalRequestState) {
  return {
    id: request.id,
    organizationId: request.organization.id,
    subjectType: request.subjectType,
    subjectId: request.subjectId ?? null,
    title: request.title,
    description: request.description ?? null,
    amount: request.amount ?? null,
    currency: request.currency ?? null,
    requestedBy: request.requestedBy,
    status: state?.status ?? request.status,
    currentLevel: state?.currentLevel ?? request.currentLevel,
    levels: (state?.levels ?? request.levels).map((level) => ({
      level: level.level,
      role: level.role,
      approvers: level.approvers,
      quorum: level.quorum,
      timeoutHours: level.timeoutHours,
      onTimeout: level.onTimeout,
      escalation: level.escalation,
      status: level.status,
      decisions: level.decisions,
    })),
    comments: comments.map((comment) => ({ userId: comment.userId, body: comment.body, at: comment.createdAt.toISOString() })),
    timeline: state?.timeline ?? request.timeline,
    execution: (state ? state.execution : request.execution) ?? null,
    workflowId: workflowIds.approval(request.id),
    createdAt: request.createdAt.toISOString(),
    decidedAt: state ? state.decidedAt : (request.decidedAt?.toISOString() ?? null),
  };
}

type Em = AppEnv['Variables']['em'];

async function viewOf(em: Em, request: ApprovalRequest, state?: ApprovalRequestState) {
  const comments = await em.find(ApprovalComment, { request: request.id }, { orderBy: { createdAt: 'asc', id: 'asc' } });
  return requestView(request, comments, state);
}

type Access = { request: ApprovalRequest; ancestry: string[] } | { refused: 'not_found' | 'forbidden' };

/**
 * Who may see a request: the policy's readers of its organization, and its requester. Someone who
 * cannot see the organization is told the request does not exist; someone who can but lacks the
 * role or scope is refused, as on every other object of an organization.
 */
function accessTo(principal: Principal, request: ApprovalRequest | undefined, ancestry: string[]): Access {
  if (!request) return { refused: 'not_found' };
  if (request.requestedBy === actingUserId(principal)) return { request, ancestry };
  const decision = decide(principal, 'approvalRequest.read', ancestry);
  if (decision === 'allow') return { request, ancestry };
  return { refused: decision === 'forbidden' ? 'forbidden' : 'not_found' };
}

const ancestryOrSelf = async (em: Em, organizationId: string) => (await ancestryOf(em, organizationId)) ?? [organizationId];

async function requireRequest(c: Context<AppEnv>, id: string) {
  const request = (await c.var.em.findOne(ApprovalRequest, { id })) ?? undefined;
  const access = accessTo(c.var.principal, request, request ? await ancestryOrSelf(c.var.em, request.organization.id) : []);
  if ('refused' in access) throw access.refused === 'forbidden' ? forbidden('approvalRequest.read') : requestNotFound(id);
  return access;
}

/** The access to each of `ids`, from one read of the requests and one ancestry per organization. */
async function accessToEach(em: Em, principal: Principal, ids: readonly string[]): Promise<Map<string, Access>> {
  const requests = new Map((await em.find(ApprovalRequest, { id: { $in: [...ids] } })).map((request) => [request.id, request]));
  const organizationIds = [...new Set([...requests.values()].map((request) => request.organization.id))];
  const ancestries = new Map(await Promise.all(organizationIds.map(async (id) => [id, await ancestryOrSelf(em, id)] as const)));
  return new Map(ids.map((id) => {
    const request = requests.get(id);
    return [id, accessTo(principal, request, request ? (ancestries.get(request.organization.id) ?? []) : [])];
  }));
}

/** A list or bulk call needs the action's scope before anything is looked up. */
function requireScope(c: Context<AppEnv>, action: 'approvalRequest.read' | 'approvalRequest.decide'): void {
  if (!grantsScope(c.var.principal.scopes, policy[action].scope)) throw forbidden(action);
}

const approverOf = (principal: Principal, ancestry: readonly string[]): Approver => {
  const role = roleIn(principal, ancestry);
  return {
    userId: actingUserId(principal),
    isPerson: principal.kind === 'user',
    platformRole: principal.platformRole,
    organizationRole: role === null ? null : role,
  };
};

/** The API call behind an update, so the workflow's audit row names the caller and this request as the API's own rows do. */
const originOf = (c: Context<AppEnv>): ApprovalOrigin => ({ actorType: c.var.principal.kind, actorId: c.var.principal.id, requestId: c.var.requestId });

const handleOf = (c: Context<AppEnv>, id: string) => c.var.temporal.workflow.getHandle<typeof approvalRequest>(workflowIds.approval(id));

/** A request whose workflow has ended was decided already: nothing there takes a decision any more. */
function alreadyDecided(request: ApprovalRequest): ApiError {
  return new ApiError(409, 'already_decided', `Approval request ${request.id} is ${request.status}.`);
}

/** Sends an update to `approval:<id>` within the update deadline; a workflow that has ended decided the request already. */
async function updateRequest(c: Context<AppEnv>, request: ApprovalRequest, send: (handle: ReturnType<typeof handleOf>) => Promise<ApprovalRequestState>, updateId?: string) {
  const target = { workflowId: workflowIds.approval(request.id), location: `/v1/approval-requests/${request.id}`, ...(updateId === undefined ? {} : { updateId }) };
  try {
    return await sendWorkflowUpdate(c, target, () => send(handleOf(c, request.id)));
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw alreadyDecided(request);
    throw error;
  }
}

/** Sends one decision to `approval:<id>`; the validator's refusal is answered by errors.ts (403/409). */
async function sendDecision(c: Context<AppEnv>, request: ApprovalRequest, ancestry: string[], body: { decision: 'approve' | 'reject'; comment?: string | undefined }): Promise<ApprovalRequestState> {
  if (request.status !== 'pending') throw alreadyDecided(request);
  if (decide(c.var.principal, 'approvalRequest.decide', ancestry) !== 'allow') throw new ApiError(403, 'not_an_approver', `The caller may not decide approval request ${request.id}.`);
  // With an Idempotency-Key, a retry is the same update: Temporal answers it with the first one's result.
  const key = c.req.header('idempotency-key');
  const updateId = key === undefined ? crypto.randomUUID() : uuidFromKey(`approval-decision\n${c.var.principal.id}\n${key}\n${request.id}`);
  const decision = { approver: approverOf(c.var.principal, ancestry), decision: body.decision, comment: body.comment ?? null, origin: originOf(c) };
  return updateRequest(c, request, (handle) => handle.executeUpdate(decideApprovalUpdate, { args: [decision], updateId }), key === undefined ? undefined : updateId);
}

async function runBounded<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await work(items[index] as T);
    }
  });
  await Promise.all(lanes);
  return results;
}

export function registerApprovalRequests(app: OpenAPIHono<AppEnv>) {
  app.openapi(createRequestRoute, async (c) => {
    const body = c.req.valid('json');
    const { em, principal, clock, temporal, config } = c.var;
    await requireOrganization(c, 'approvalRequest.create', body.organizationId);
    const subject = { subjectType: 'manual' as const, organizationId: body.organizationId, amount: body.amount ?? null, currency: body.currency ?? null };
    const rule = await applicableApprovalRule(em, subject);
    const { request, eventIds } = await openApprovalRequest(
      em,
      { temporal, taskQueue: config.TEMPORAL_TASK_QUEUE, now: clock.now() },
      {
        ...subject,
        id: crypto.randomUUID(),
        subjectId: null,
        payload: {},
        title: body.title,
        description: body.description ?? null,
        requestedBy: actingUserId(principal),
        ruleId: rule?.id ?? null,
        levels: rule?.levels ?? defaultManualLevels,
      },
    );
    const view = requestView(request, []);
    audit(c, { action: 'approval_request.created', organizationId: body.organizationId, targetType: 'approval_request', targetId: request.id, after: view });
    c.var.afterCommit(() => dispatchWebhookEvents({ temporal, taskQueue: config.TEMPORAL_TASK_QUEUE, orm: c.var.orm, logger: c.var.logger }, eventIds));
    return c.json(view, 201);
  });

  app.openapi(listRequestsRoute, async (c) => {
    const query = c.req.valid('query');
    const { em, principal } = c.var;
    if (query.organizationId !== undefined) await requireOrganization(c, 'approvalRequest.read', query.organizationId);
    else requireScope(c, 'approvalRequest.read');
    const viewer: ApprovalViewer = {
      userId: actingUserId(principal),
      isPerson: principal.kind === 'user',
      platformRole: principal.platformRole,
      roles: principal.confinedTo !== null ? [[principal.confinedTo, 'OWNER']] : [...principal.memberships.entries()],
    };
    const rows = await approvalRequestPage(em, viewer, {
      ...(query.status ? { status: query.status } : {}),
      ...(query.organizationId ? { organizationId: query.organizationId } : {}),
      assignedToViewer: query.assignedTo === 'me',
      after: cursorPosition(query.cursor),
      limit: query.limit + 1,
    });
    const comments = rows.length === 0 ? [] : await em.find(ApprovalComment, { request: { $in: rows.map((row) => row.id) } }, { orderBy: { createdAt: 'asc', id: 'asc' } });
    return c.json(
      toPage(rows, query.limit, (row) => requestView(row, comments.filter((comment) => comment.request.id === row.id))),
      200,
    );
  });

  app.openapi(getRequestRoute, async (c) => {
    const { request } = await requireRequest(c, c.req.valid('param').id);
    return c.json(await viewOf(c.var.em, request), 200);
  });

  app.openapi(decideRoute, async (c) => {
    const { request, ancestry } = await requireRequest(c, c.req.valid('param').id);
    const state = await sendDecision(c, request, ancestry, c.req.valid('json'));
    return c.json(await viewOf(c.var.em, request, state), 200);
  });

  app.openapi(bulkDecideRoute, async (c) => {
    const body = c.req.valid('json');
    requireScope(c, 'approvalRequest.decide');
    const access = await accessToEach(c.var.em, c.var.principal, body.ids);
    const results = await runBounded(body.ids, BULK_CONCURRENCY, async (id) => {
      const found = access.get(id) ?? { refused: 'not_found' as const };
      if ('refused' in found) {
        const refusal = found.refused === 'forbidden' ? forbidden('approvalRequest.read') : requestNotFound(id);
        return { id, status: found.refused, error: { code: refusal.code, detail: refusal.message } };
      }
      try {
        const state = await sendDecision(c, found.request, found.ancestry, body);
        return { id, status: state.status };
      } catch (error) {
        if (error instanceof ApiError) return { id, status: found.request.status, error: { code: error.code, detail: error.message } };
        const problem = toProblem(error, c.var.requestId);
        if (problem.status >= 500 && problem.status !== 504) throw error;
        return { id, status: found.request.status, error: { code: problem.code, detail: problem.detail } };
      }
    });
    return c.json({ results }, 200);
  });

  app.openapi(commentRoute, async (c) => {
    const { request } = await requireRequest(c, c.req.valid('param').id);
    const { em, principal, clock } = c.var;
    const comment = em.create(ApprovalComment, { id: crypto.randomUUID(), request, userId: actingUserId(principal), body: c.req.valid('json').body, createdAt: clock.now() });
    const view = { id: comment.id, userId: comment.userId, body: comment.body, at: comment.createdAt.toISOString() };
    audit(c, { action: 'approval_request.commented', organizationId: request.organization.id, targetType: 'approval_comment', targetId: comment.id, after: view });
    return c.json(view, 201);
  });

  app.openapi(cancelRoute, async (c) => {
    const { request } = await requireRequest(c, c.req.valid('param').id);
    if (request.requestedBy !== actingUserId(c.var.principal)) throw new ApiError(403, 'not_the_requester', `Only the requester may cancel approval request ${request.id}.`);
    if (request.status !== 'pending') throw alreadyDecided(request);
    const state = await updateRequest(c, request, (handle) => handle.executeUpdate(cancelApprovalUpdate, { args: [{ userId: actingUserId(c.var.principal), origin: originOf(c) }] }));
    return c.json(await viewOf(c.var.em, request, state), 200);
  });
}
