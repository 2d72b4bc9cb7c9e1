import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { Department, SubscriptionCostAllocation } from '../../db/entities/index.js';
import { dayOfDate, validateCostAllocations } from '../../domain/index.js';
import { audit } from '../http/audit.js';
import type { AppEnv } from '../http/context.js';
import { ApiError, problemResponses } from '../http/problem.js';
import { jsonBody, jsonResponse, uuidParam } from '../http/schemas.js';
import { requireSubscription } from './subscriptions.js';

const AllocationsSchema = z
  .strictObject({
    allocations: z
      .array(z.strictObject({ departmentId: z.uuid(), percent: z.string().regex(/^\d{1,3}(\.\d{1,4})?$/, 'a decimal percent such as "33.33"') }))
      .max(100)
      .openapi({ description: 'Percents summing to 100, each department once; an empty list stops splitting.' }),
  })
  .openapi('CostAllocations');
const AllocationsViewSchema = z
  .object({
    subscriptionId: z.uuid(),
    effectiveFrom: z.iso.date().openapi({ description: 'The first day of the billing period it applies from (the current one).' }),
    allocations: z.array(z.object({ departmentId: z.uuid(), percent: z.string() })),
  })
  .openapi('CostAllocationsView');

const putRoute = createRoute({
  method: 'put',
  path: '/v1/subscriptions/{id}/cost-allocations',
  tags: ['Subscriptions'],
  security: [{ bearer: [] }],
  summary: "Split the subscription's recurring and usage charges across departments from its current period on (usage recorded for a department stays with it)",
  request: { params: z.object({ id: uuidParam('id') }), body: jsonBody(AllocationsSchema) },
  responses: { 200: jsonResponse('The allocation in effect', AllocationsViewSchema), ...problemResponses(400, 401, 403, 404, 422) },
});

export function registerCostAllocations(app: OpenAPIHono<AppEnv>) {
  app.openapi(putRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { allocations } = c.req.valid('json');
    const { em, clock } = c.var;
    const subscription = await requireSubscription(c, 'subscription.manage', id);
    validateCostAllocations(allocations);
    const departmentIds = allocations.map((allocation) => allocation.departmentId);
    if (departmentIds.length && (await em.count(Department, { id: { $in: departmentIds }, organization: subscription.organization.id })) !== departmentIds.length) {
      throw new ApiError(422, 'department_not_found', "Every department must be one of the subscription's organization.");
    }
    const effectiveFrom = subscription.currentPeriodStart;
    const existing = await em.findOne(SubscriptionCostAllocation, { subscription: id, effectiveFrom });
    const before = existing ? { subscriptionId: id, effectiveFrom: dayOfDate(effectiveFrom), allocations: existing.allocations } : null;
    if (existing) existing.allocations = allocations;
    else em.create(SubscriptionCostAllocation, { subscription, effectiveFrom, allocations, createdAt: clock.now() });
    await em.flush();
    const view = { subscriptionId: id, effectiveFrom: dayOfDate(effectiveFrom), allocations };
    audit(c, { action: 'subscription.cost_allocated', organizationId: subscription.organization.id, targetType: 'subscription', targetId: id, before, after: view });
    return c.json(view, 200);
  });
}
