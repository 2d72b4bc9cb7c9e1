import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { SeatAssignment, type Subscription } from '../../db/entities/index.js';
import { ancestryOf } from '../../db/repositories/organizations.js';
import type { SeatVerdictRow, SeatVerdicts } from '../../db/repositories/seats.js';
import { lockSubscriptionSeats } from '../../db/repositories/subscriptions.js';
import type { Orm } from '../../db/orm.js';
import type { Clock } from '../../clock.js';
import { forbidden } from '../http/access.js';
import { audit } from '../http/audit.js';
import { decide, type Principal } from '../auth/policy.js';
import type { AppEnv } from '../http/context.js';
import { ApiError, problemResponses } from '../http/problem.js';
import { readsOnly } from '../middleware/unit-of-work.js';
import { jsonBody, jsonResponse, uuidParam } from '../http/schemas.js';
import { requireSubscription } from './subscriptions.js';
import { textSchema } from '../http/text.js';
import { MS_PER_DAY } from '../../domain/index.js';

/** How long a past-due subscription keeps its seats working while collection retries. */
const pastDueGraceDays = 7;

const userIdSchema = textSchema({ maxLength: 200 }).openapi({ example: 'user_42' });

const AssignSeatSchema = z.strictObject({ userId: userIdSchema }).openapi('AssignSeat');

const SeatAssignmentSchema = z
  .object({ id: z.uuid(), subscriptionId: z.uuid(), userId: z.string(), assignedBy: z.string(), assignedAt: z.iso.datetime() })
  .openapi('SeatAssignment');

const RemovedSeatAssignmentSchema = SeatAssignmentSchema.extend({ unassignedAt: z.iso.datetime() }).openapi('RemovedSeatAssignment');

export const VerifySeatSchema = z
  .strictObject({
    userId: userIdSchema,
    applicationSlug: textSchema({ maxLength: 64 }).openapi({ example: 'analytics' }),
    externalOrgId: textSchema({ maxLength: 200 }).openapi({ example: 'acme-42' }),
  })
  .openapi('VerifySeat');

const verifyReasons = ['unknown_organization', 'no_subscription', 'not_assigned', 'canceled', 'paused', 'past_due_grace_over'] as const;
type VerifyReason = (typeof verifyReasons)[number];

const SeatVerdictSchema = z
  .object({
    hasAccess: z.boolean(),
    seatId: z.uuid().optional(),
    subscriptionStatus: z.enum(['trialing', 'active', 'past_due', 'paused', 'canceled']).optional(),
    expiresAt: z.iso.datetime().optional().openapi({ description: 'When this access ends unless the subscription renews.' }),
    reason: z.enum(verifyReasons).optional(),
  })
  .openapi('SeatVerdict');

const assignParams = z.object({ id: uuidParam('id') });
const unassignParams = z.object({ id: uuidParam('id'), userId: userIdSchema.openapi({ param: { name: 'userId', in: 'path' } }) });
const security = [{ bearer: [] }];

const assignRoute = createRoute({
  method: 'post',
  path: '/v1/subscriptions/{id}/seat-assignments',
  tags: ['Seats'],
  security,
  summary: 'Assign a seat to a user (never more than the subscription has)',
  request: { params: assignParams, body: jsonBody(AssignSeatSchema) },
  responses: { 201: jsonResponse('Assigned', SeatAssignmentSchema), ...problemResponses(400, 401, 403, 404, 409) },
});

const unassignRoute = createRoute({
  method: 'delete',
  path: '/v1/subscriptions/{id}/seat-assignments/{userId}',
  tags: ['Seats'],
  security,
  summary: "Take a user's seat back",
  request: { params: unassignParams },
  responses: { 200: jsonResponse('The removed assignment', RemovedSeatAssignmentSchema), ...problemResponses(400, 401, 403, 404) },
});

/** Seat verification's path, which the fast lane answers too (src/api/fast-lane.ts). */
export const verifySeatPath = '/v1/seats/verify';

const verifyRoute = createRoute({
  method: 'post',
  path: verifySeatPath,
  tags: ['Seats'],
  security,
  middleware: readsOnly,
  summary: 'May this user use this application now? (reads PostgreSQL only; the hot path for product backends)',
  request: { body: jsonBody(VerifySeatSchema) },
  responses: { 200: jsonResponse('The verdict', SeatVerdictSchema), ...problemResponses(400, 401, 403) },
});

const toAssignmentView = (assignment: SeatAssignment) => ({
  id: assignment.id,
  subscriptionId: assignment.subscription.id,
  userId: assignment.userId,
  assignedBy: assignment.assignedBy,
  assignedAt: assignment.assignedAt.toISOString(),
});


type Verdict = z.infer<typeof SeatVerdictSchema>;

const denied = (reason: VerifyReason, status?: Subscription['status']): Verdict => ({ hasAccess: false, reason, ...(status ? { subscriptionStatus: status } : {}) });
const millis = (value: string | null) => (value === null ? null : new Date(value).getTime());

/** The verdict from the mirror and the time: a due cancellation or grace end counts before the workflow writes it. */
function verdictOf(row: SeatVerdictRow, now: number): Verdict {
  if (row.subscriptionId === null || row.status === null) return denied('no_subscription');
  const cancelAt = millis(row.cancelAt);
  if (cancelAt !== null && cancelAt <= now) return denied('canceled', 'canceled');
  if (row.status === 'paused') return denied('paused', row.status);
  let expiresAt = Math.min(millis(row.currentPeriodEnd) ?? Number.POSITIVE_INFINITY, cancelAt ?? Number.POSITIVE_INFINITY);
  const pastDueSince = millis(row.pastDueSince);
  // A subscription canceled for non-payment keeps pastDueSince: its grace still ends access before cancelAt.
  if ((row.status === 'past_due' || row.status === 'canceled') && pastDueSince !== null) {
    const graceEnd = pastDueSince + pastDueGraceDays * MS_PER_DAY;
    if (graceEnd <= now) return denied('past_due_grace_over', row.status);
    expiresAt = Math.min(expiresAt, graceEnd);
  }
  if (row.seatId === null) return denied('not_assigned', row.status);
  return { hasAccess: true, seatId: row.seatId, subscriptionStatus: row.status, expiresAt: new Date(expiresAt).toISOString() };
}

/**
 * Whether `principal` may use the application now: the route's handler, shared with the fast lane
 * (src/api/fast-lane.ts). Throws the route's problems (403).
 */
export async function verifySeat(
  principal: Principal,
  { userId, applicationSlug, externalOrgId }: z.infer<typeof VerifySeatSchema>,
  services: { seatVerdicts: SeatVerdicts; orm: Orm; clock: Clock },
): Promise<Verdict> {
  // A platform caller needs no ancestry; checking it first keeps the hot path to one query.
  if (principal.platformRole !== null && decide(principal, 'seat.verify') !== 'allow') throw forbidden('seat.verify');
  const row = await services.seatVerdicts.ask(applicationSlug, externalOrgId, userId);
  if (!row) return denied('unknown_organization');
  if (principal.platformRole === null) {
    const ancestry = await ancestryOf(services.orm.em.fork(), row.organizationId);
    const decision = ancestry ? decide(principal, 'seat.verify', ancestry) : 'not_visible';
    // Another tenant's organization is indistinguishable from an unknown one.
    if (decision === 'not_visible') return denied('unknown_organization');
    if (decision === 'forbidden') throw forbidden('seat.verify');
  }
  return verdictOf(row, services.clock.now().getTime());
}

export function registerSeats(app: OpenAPIHono<AppEnv>) {
  app.openapi(assignRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { userId } = c.req.valid('json');
    const subscription = await requireSubscription(c, 'seat.assign', id);
    const { em, clock, principal } = c.var;
    // Concurrent assignments (and seat reductions) serialize on this row lock, so the count is exact.
    const locked = await lockSubscriptionSeats(em, id);
    if (!locked || locked.status === 'canceled') throw new ApiError(409, 'subscription_canceled', `Subscription ${id} is canceled.`);
    if (await em.count(SeatAssignment, { subscription: id, userId })) {
      throw new ApiError(409, 'seat_already_assigned', `User ${userId} already has a seat in subscription ${id}.`);
    }
    const assigned = await em.count(SeatAssignment, { subscription: id });
    if (assigned >= locked.seats) {
      throw new ApiError(409, 'no_seat_available', `All ${locked.seats} seats of subscription ${id} are assigned; unassign one or buy more.`);
    }
    const assignment = em.create(SeatAssignment, {
      id: crypto.randomUUID(),
      subscription,
      userId,
      assignedBy: principal.id,
      assignedAt: clock.now(),
    });
    await em.flush();
    const view = toAssignmentView(assignment);
    audit(c, { action: 'seat.assigned', organizationId: subscription.organization.id, targetType: 'seat_assignment', targetId: assignment.id, after: view });
    return c.json(view, 201);
  });

  app.openapi(unassignRoute, async (c) => {
    const { id, userId } = c.req.valid('param');
    const subscription = await requireSubscription(c, 'seat.assign', id);
    const { em } = c.var;
    const assignment = await em.findOne(SeatAssignment, { subscription: id, userId });
    if (!assignment) throw new ApiError(404, 'seat_assignment_not_found', `User ${userId} has no seat in subscription ${id}.`);
    const before = toAssignmentView(assignment);
    em.remove(assignment);
    await em.flush();
    const after = { ...before, unassignedAt: c.var.clock.now().toISOString() };
    audit(c, { action: 'seat.unassigned', organizationId: subscription.organization.id, targetType: 'seat_assignment', targetId: assignment.id, before, after });
    return c.json(after, 200);
  });

  app.openapi(verifyRoute, async (c) => {
    // `c.get`, not `c.var`: each `c.var` builds an object of every variable, and this is the hot path.
    const verdict = await verifySeat(c.get('principal'), c.req.valid('json'), { seatVerdicts: c.get('seatVerdicts'), orm: c.get('orm'), clock: c.get('clock') });
    return c.json(verdict, 200);
  });
}
