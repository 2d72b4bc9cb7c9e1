import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Context } from 'hono';
import { Department, Organization, Plan, SeatAssignment, Subscription, SubscriptionPhase } from '../../db/entities/index.js';
import { MAX_SEATS, dayOf, dayOfInstant, formatDay, instantOfDay } from '../../domain/index.js';
import { workflowIds } from '../../temporal/workflow-ids.js';
import {
  cancelUpdate,
  changePlanUpdate,
  changeSeatsUpdate,
  pauseUpdate,
  type PlanTerms,
  resumeUpdate,
  type SubscriptionChangeResult,
} from '../../../workflows/messages/subscription.js';
import type { subscriptionLifecycle } from '../../../workflows/index.js';
import { requireOrganization, requireOwnedObject } from '../http/access.js';
import { audit } from '../http/audit.js';
import type { AppEnv } from '../http/context.js';
import { ApiError, problemResponses } from '../http/problem.js';
import { codeSchema, jsonBody, jsonResponse, uuidParam } from '../http/schemas.js';
import { sendWorkflowUpdate } from '../http/workflow-updates.js';
import { budgetHoldResponse, holdForBudget } from '../http/budget-hold.js';
import { createSubscription, latestPlanTerms } from '../../subscriptions/create.js';

const tags = ['Subscriptions'];
const security = [{ bearer: [] }];

/** An ISO 8601 instant or a "YYYY-MM-DD" billing day (midnight UTC). */
const instantSchema = z.union([z.iso.datetime({ offset: true }), z.iso.date()]).openapi({ example: '2027-01-15T00:00:00Z' });

const CreateSubscriptionSchema = z
  .strictObject({
    organizationId: z.uuid(),
    planCode: codeSchema.openapi({ example: 'team' }),
    seats: z.number().int().min(1).max(MAX_SEATS).default(1),
    startAt: instantSchema.optional().openapi({ description: 'May be in the past (backdating); not in the future.' }),
    trialDays: z.number().int().min(0).max(730).optional().openapi({ description: "Defaults to the plan's trialDays." }),
    departmentId: z.uuid().optional(),
  })
  .openapi('CreateSubscription');

const ChangePlanSchema = z
  .strictObject({
    planCode: codeSchema,
    effectiveAt: z.union([z.literal('now'), instantSchema]).optional(),
    timing: z.enum(['immediate', 'period_end']).optional(),
  })
  .refine((body) => !(body.effectiveAt !== undefined && body.timing !== undefined), { path: ['timing'], message: 'give effectiveAt or timing, not both' })
  .openapi('ChangePlan');

const ChangeSeatsSchema = z
  .strictObject({ seats: z.number().int().min(1).max(MAX_SEATS), effectiveAt: z.union([z.literal('now'), instantSchema]).optional() })
  .openapi('ChangeSeats');

const CancelSchema = z
  .strictObject({
    at: z.enum(['now', 'period_end']),
    refund: z.boolean().optional().openapi({ description: 'With `now`: credit the unused rest of the paid period and end access today.' }),
  })
  .openapi('CancelSubscription');

const ProrationLineSchema = z
  .object({
    type: z.string(),
    description: z.string(),
    quantity: z.string(),
    unitAmount: z.number().int().optional(),
    amount: z.number().int(),
    periodStart: z.string(),
    periodEnd: z.string(),
  })
  .openapi('ProrationLine');

const ScheduledChangeSchema = z.object({ effectiveAt: z.iso.datetime(), planCode: z.string(), planVersion: z.number().int(), seats: z.number().int() });

const SubscriptionSchema = z
  .object({
    id: z.uuid(),
    organizationId: z.uuid(),
    applicationId: z.uuid(),
    planCode: z.string(),
    planVersion: z.number().int(),
    departmentId: z.uuid().nullable(),
    status: z.enum(['trialing', 'active', 'past_due', 'paused', 'canceled']),
    seats: z.number().int(),
    assignedSeats: z.number().int(),
    startAt: z.iso.datetime(),
    trialEnd: z.iso.datetime().nullable(),
    currentPeriodStart: z.iso.datetime(),
    currentPeriodEnd: z.iso.datetime(),
    cancelAt: z.iso.datetime().nullable().openapi({ description: 'When access ends, once canceled.' }),
    canceledAt: z.iso.datetime().nullable(),
    pausedAt: z.iso.datetime().nullable(),
    pastDueSince: z.iso.datetime().nullable(),
    scheduledChanges: z.array(ScheduledChangeSchema),
    workflowId: z.string().openapi({ example: 'subscription:0b6c…' }),
  })
  .openapi('Subscription');

const SubscriptionChangeSchema = SubscriptionSchema.extend({
  change: z.object({
    effectiveAt: z.iso.datetime(),
    prorationLines: z.array(ProrationLineSchema).openapi({ description: "The domain's credit and debit lines for this change; the next invoice bills them." }),
  }),
}).openapi('SubscriptionChange');

const params = z.object({ id: uuidParam('id') });
const changeResponses = { 200: jsonResponse('The workflow accepted the change', SubscriptionChangeSchema), ...problemResponses(400, 401, 403, 404, 409, 422, 503, 504) };

const createSubscriptionRoute = createRoute({
  method: 'post',
  path: '/v1/subscriptions',
  tags,
  security,
  summary: 'Subscribe an organization to a plan (and start its subscription:<id> workflow)',
  request: { body: jsonBody(CreateSubscriptionSchema) },
  responses: { 201: jsonResponse('Created', SubscriptionSchema), ...budgetHoldResponse, ...problemResponses(400, 401, 403, 404, 409, 422, 503) },
});

const getSubscriptionRoute = createRoute({
  method: 'get',
  path: '/v1/subscriptions/{id}',
  tags,
  security,
  summary: 'Get a subscription',
  request: { params },
  responses: { 200: jsonResponse('The subscription', SubscriptionSchema), ...problemResponses(400, 401, 403, 404) },
});

const changeRoute = (path: string, summary: string) => ({ method: 'post' as const, path, tags, security, summary, responses: changeResponses });
/** A change that buys more (seats, a plan upgrade) may be held by a budget. */
const purchaseRoute = (path: string, summary: string) => ({ ...changeRoute(path, summary), responses: { ...changeResponses, ...budgetHoldResponse } });

const changePlanRoute = createRoute({
  ...purchaseRoute('/v1/subscriptions/{id}/change-plan', 'Change plan: upgrades now with proration, downgrades at period end; a budget may hold an upgrade'),
  request: { params, body: jsonBody(ChangePlanSchema) },
});
const changeSeatsRoute = createRoute({
  ...purchaseRoute('/v1/subscriptions/{id}/seats', 'Change the number of seats (prorated); fewer than are assigned is refused; a budget may hold an increase'),
  request: { params, body: jsonBody(ChangeSeatsSchema) },
});
const cancelRoute = createRoute({
  ...changeRoute('/v1/subscriptions/{id}/cancel', 'Cancel now or at the period end'),
  request: { params, body: jsonBody(CancelSchema) },
});
const pauseRoute = createRoute({ ...changeRoute('/v1/subscriptions/{id}/pause', 'Pause: seat access is suspended until resumed'), request: { params } });
const resumeRoute = createRoute({ ...changeRoute('/v1/subscriptions/{id}/resume', 'Resume a paused subscription'), request: { params } });

const subscriptionNotFound = (id: string) => new ApiError(404, 'subscription_not_found', `No subscription ${id}.`);

/** The latest version of a plan, or 422. */
async function planTerms(em: EntityManager, code: string): Promise<PlanTerms> {
  const plan = await latestPlanTerms(em, code);
  if (!plan) throw new ApiError(422, 'plan_not_found', `No plan ${code}.`);
  return plan;
}

/** A subscription the caller may act on, or the 404 a missing one gets. */
export async function requireSubscription(c: Context<AppEnv>, action: Parameters<typeof requireOwnedObject>[1], id: string): Promise<Subscription> {
  const subscription = await c.var.em.findOne(Subscription, { id });
  await requireOwnedObject(c, action, subscription?.organization.id ?? null, () => subscriptionNotFound(id));
  if (!subscription) throw subscriptionNotFound(id);
  return subscription;
}

/** The mirror's view of a subscription; phases that begin after `now` are its scheduled changes. */
async function subscriptionView(em: EntityManager, id: string, now: Date) {
  const subscription = await em.findOneOrFail(Subscription, { id }, { populate: ['plan'] });
  const phases = await em.find(SubscriptionPhase, { subscription: id, effectiveAt: { $gt: now } }, { populate: ['plan'], orderBy: { effectiveAt: 'asc', sequence: 'asc' } });
  const assignedSeats = await em.count(SeatAssignment, { subscription: id });
  const iso = (date: Date | null | undefined) => date?.toISOString() ?? null;
  return {
    id: subscription.id,
    organizationId: subscription.organization.id,
    applicationId: subscription.application.id,
    planCode: subscription.plan.code,
    planVersion: subscription.plan.version,
    departmentId: subscription.department?.id ?? null,
    status: subscription.status,
    seats: subscription.seats,
    assignedSeats,
    startAt: subscription.startDate.toISOString(),
    trialEnd: subscription.trialEnd.getTime() === subscription.startDate.getTime() ? null : subscription.trialEnd.toISOString(),
    currentPeriodStart: subscription.currentPeriodStart.toISOString(),
    currentPeriodEnd: subscription.currentPeriodEnd.toISOString(),
    cancelAt: iso(subscription.cancelAt),
    canceledAt: iso(subscription.canceledAt),
    pausedAt: iso(subscription.pausedAt),
    pastDueSince: iso(subscription.pastDueSince),
    scheduledChanges: phases.map((phase) => ({
      effectiveAt: phase.effectiveAt.toISOString(),
      planCode: phase.plan.code,
      planVersion: phase.plan.version,
      seats: phase.seats,
    })),
    workflowId: workflowIds.subscription(subscription.id),
  };
}

/** A day given as "now" or an instant, as the workflow's billing day. */
const billingDay = (value: string | undefined) => (value === undefined || value === 'now' ? undefined : formatDay(dayOfInstant(value)));

/**
 * Sends one change to `subscription:<id>` and waits for its verdict, at most `WORKFLOW_UPDATE_TIMEOUT_MS`
 * (then 504): the Update's validator and handler refuse with 409 (conflicts with the state) or 422
 * (a change the rules do not allow).
 * Retries of one request (same Idempotency-Key) reuse the Update id, so Temporal applies it once.
 */
async function sendChange(c: Context<AppEnv>, subscription: Subscription, send: ChangeSender) {
  if (subscription.status === 'canceled') {
    throw new ApiError(409, 'subscription_canceled', `Subscription ${subscription.id} is canceled.`);
  }
  const key = c.req.header('idempotency-key');
  const updateId = key === undefined ? crypto.randomUUID() : `${c.var.principal.id}:${key}`;
  const target = { workflowId: workflowIds.subscription(subscription.id), location: `/v1/subscriptions/${subscription.id}`, ...(key === undefined ? {} : { updateId }) };
  // A refusal (its ApplicationFailure type: subscriptionRefusal) is answered by errors.ts.
  const result: SubscriptionChangeResult = await sendWorkflowUpdate(c, target, () => send(handleOf(c, subscription.id), updateId));
  // The workflow wrote the mirror before answering; a fresh read sees it.
  const view = await subscriptionView(c.var.orm.em.fork(), subscription.id, c.var.clock.now());
  return {
    ...view,
    change: {
      effectiveAt: instantOfDay(result.effectiveAt),
      prorationLines: result.prorationLines.map((line) => ({
        type: line.type,
        description: line.description,
        quantity: line.quantity,
        ...(line.unitAmount === undefined ? {} : { unitAmount: line.unitAmount }),
        amount: line.amount,
        periodStart: line.periodStart,
        periodEnd: line.periodEnd,
      })),
    },
  };
}

const handleOf = (c: Context<AppEnv>, id: string) => c.var.temporal.workflow.getHandle<typeof subscriptionLifecycle>(workflowIds.subscription(id));

type ChangeSender = (handle: ReturnType<typeof handleOf>, updateId: string) => Promise<SubscriptionChangeResult>;

/** Every change the same way: authorize, read the state before, ask the workflow, audit what it answered. */
async function changeSubscription(c: Context<AppEnv>, id: string, action: string, send: ChangeSender) {
  const subscription = await requireSubscription(c, 'subscription.manage', id);
  const before = await subscriptionView(c.var.em, id, c.var.clock.now());
  const view = await sendChange(c, subscription, send);
  audit(c, { action, organizationId: subscription.organization.id, targetType: 'subscription', targetId: id, before, after: view });
  c.var.afterCommit(() => Promise.resolve(c.var.budgetWatcher.touch([subscription.organization.id])));
  return view;
}

export function registerSubscriptions(app: OpenAPIHono<AppEnv>) {
  app.openapi(createSubscriptionRoute, async (c) => {
    const body = c.req.valid('json');
    const { em, clock, temporal, config } = c.var;
    await requireOrganization(c, 'subscription.manage', body.organizationId);
    const organization = await em.findOneOrFail(Organization, { id: body.organizationId });
    const plan = await planTerms(em, body.planCode);
    if (plan.currency !== organization.currency) {
      throw new ApiError(422, 'currency_mismatch', `Plan ${plan.code} is in ${plan.currency}; the organization pays in ${organization.currency}.`);
    }
    if (body.departmentId !== undefined && !(await em.count(Department, { id: body.departmentId, organization: organization.id }))) {
      throw new ApiError(422, 'department_not_found', `The organization has no department ${body.departmentId}.`);
    }
    if (await em.count(Subscription, { organization: organization.id, application: plan.applicationId, canceledAt: null })) {
      throw new ApiError(409, 'subscription_exists', `The organization already has a subscription to this plan's application.`);
    }
    const today = dayOf(clock.now().getTime());
    const startDay = body.startAt === undefined ? today : dayOfInstant(body.startAt);
    if (startDay > today) throw new ApiError(422, 'start_in_future', 'startAt may be today or in the past, not in the future.');
    const purchase = { plan, seats: body.seats, departmentId: body.departmentId ?? null, startDay, trialDays: body.trialDays ?? plan.trialDays };
    const held = await holdForBudget(c, { kind: 'new_subscription', organizationId: organization.id, ...purchase });
    if (held) return c.json(held, 202);
    const subscription = await createSubscription(em, { temporal, taskQueue: config.TEMPORAL_TASK_QUEUE, clock }, { organization, ...purchase });
    const view = await subscriptionView(em, subscription.id, clock.now());
    audit(c, { action: 'subscription.created', organizationId: organization.id, targetType: 'subscription', targetId: subscription.id, after: view });
    c.var.afterCommit(() => Promise.resolve(c.var.budgetWatcher.touch([organization.id])));
    return c.json(view, 201);
  });

  app.openapi(getSubscriptionRoute, async (c) => {
    const { id } = c.req.valid('param');
    await requireSubscription(c, 'subscription.read', id);
    return c.json(await subscriptionView(c.var.em, id, c.var.clock.now()), 200);
  });

  app.openapi(changePlanRoute, async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    const effectiveAt = billingDay(body.effectiveAt);
    const timing = body.effectiveAt === 'now' ? 'immediate' : body.timing;
    const subscription = await requireSubscription(c, 'subscription.manage', id);
    const current = await c.var.em.findOneOrFail(Plan, { id: subscription.plan.id });
    const next = await planTerms(c.var.em, body.planCode);
    if (next.basePrice + next.seatPrice * subscription.seats > current.basePrice + current.seatPrice * subscription.seats) {
      const held = await holdForBudget(c, { kind: 'plan', organizationId: subscription.organization.id, departmentId: subscription.department?.id ?? null, subscriptionId: id, plan: next, timing: timing ?? null, effectiveAt: effectiveAt ?? null });
      if (held) return c.json(held, 202);
    }
    // The plan is looked up once the caller is known to be allowed on the subscription.
    const view = await changeSubscription(c, id, 'subscription.plan_changed', async (handle, updateId) => {
      const plan = await planTerms(c.var.em, body.planCode);
      return handle.executeUpdate(changePlanUpdate, {
        args: [{ plan, ...(timing === undefined ? {} : { timing }), ...(effectiveAt === undefined ? {} : { effectiveAt }) }],
        updateId,
      });
    });
    return c.json(view, 200);
  });

  app.openapi(changeSeatsRoute, async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    const effectiveAt = billingDay(body.effectiveAt);
    const subscription = await requireSubscription(c, 'subscription.manage', id);
    if (body.seats > subscription.seats) {
      const held = await holdForBudget(c, { kind: 'seats', organizationId: subscription.organization.id, departmentId: subscription.department?.id ?? null, subscriptionId: id, seats: body.seats, effectiveAt: effectiveAt ?? null });
      if (held) return c.json(held, 202);
    }
    const view = await changeSubscription(c, id, 'subscription.seats_changed', (handle, updateId) =>
      handle.executeUpdate(changeSeatsUpdate, { args: [{ seats: body.seats, ...(effectiveAt === undefined ? {} : { effectiveAt }) }], updateId }),
    );
    return c.json(view, 200);
  });

  app.openapi(cancelRoute, async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    const view = await changeSubscription(c, id, 'subscription.canceled', (handle, updateId) =>
      handle.executeUpdate(cancelUpdate, { args: [{ at: body.at, ...(body.refund === undefined ? {} : { refund: body.refund }) }], updateId }),
    );
    return c.json(view, 200);
  });

  for (const [route, update, action] of [
    [pauseRoute, pauseUpdate, 'subscription.paused'],
    [resumeRoute, resumeUpdate, 'subscription.resumed'],
  ] as const) {
    app.openapi(route, async (c) => {
      const { id } = c.req.valid('param');
      const view = await changeSubscription(c, id, action, (handle, updateId) => handle.executeUpdate(update, { args: [], updateId }));
      return c.json(view, 200);
    });
  }
}
