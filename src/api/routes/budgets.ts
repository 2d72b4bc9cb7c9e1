import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { trackingOf } from '../../budgets/tracking.js';
import { Budget, Department, Organization, budgetEnforcements, budgetPeriods } from '../../db/entities/index.js';
import { alertsOf, budgetView } from '../../db/repositories/budgets.js';
import { defaultAlertThresholds, formatDayOf } from '../../domain/index.js';
import { actingUserId, type Action } from '../auth/policy.js';
import { requireGlobal, requireOrganization, requireOwnedObject } from '../http/access.js';
import { audit } from '../http/audit.js';
import type { AppEnv } from '../http/context.js';
import { cursorPosition, PageQuerySchema, pageSchema, toPage } from '../http/pagination.js';
import { ApiError, problemResponses } from '../http/problem.js';
import { currencySchema, jsonBody, jsonResponse, patchBody, uuidParam } from '../http/schemas.js';
import { textSchema } from '../http/text.js';

const tags = ['Budgets'];
const security = [{ bearer: [] }];

const thresholdsSchema = z
  .array(z.number().int().min(1).max(1000))
  .min(1)
  .max(10)
  .refine((thresholds) => new Set(thresholds).size === thresholds.length, { message: 'thresholds must be unique.' })
  .openapi({ description: 'Percents of the amount; each fires once per budget period.', example: [50, 80, 100] });
const amountSchema = z.number().int().min(0).max(1_000_000_000_000);
const CreateSchema = z
  .strictObject({
    organizationId: z.uuid(),
    departmentId: z.uuid().optional(),
    name: textSchema({ maxLength: 200 }),
    period: z.enum(budgetPeriods),
    amount: amountSchema,
    currency: currencySchema,
    alertThresholds: thresholdsSchema.optional(),
    enforcement: z.enum(budgetEnforcements).optional(),
  })
  .openapi('CreateBudget');
const PatchSchema = z
  .strictObject({ name: textSchema({ maxLength: 200 }).optional(), amount: amountSchema.optional(), alertThresholds: thresholdsSchema.optional(), enforcement: z.enum(budgetEnforcements).optional() })
  .openapi('UpdateBudget');

const BudgetSchema = z
  .object({
    id: z.uuid(),
    organizationId: z.uuid(),
    departmentId: z.uuid().nullable(),
    name: z.string(),
    period: z.enum(budgetPeriods),
    amount: z.number().int(),
    currency: z.string(),
    alertThresholds: z.array(z.number().int()),
    enforcement: z.enum(budgetEnforcements),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('Budget');
const TrackingSchema = z
  .object({
    periodStart: z.iso.date(),
    periodEnd: z.iso.date(),
    amount: z.number().int(),
    spent: z.number().int().openapi({ description: 'What finalized invoices billed to the scope for the period.' }),
    pending: z.number().int().openapi({ description: "What the period's charges and usage so far would add (the next invoice's preview)." }),
    remaining: z.number().int(),
    percentUsed: z.string(),
    forecast: z.number().int().openapi({ description: 'spent + pending recurring charges + usage so far projected linearly to the period end.' }),
    status: z.enum(['ok', 'warning', 'exceeded']),
  })
  .openapi('BudgetTracking');
const AlertSchema = z.object({ threshold: z.number().int(), periodStart: z.iso.date(), crossedAt: z.iso.datetime(), spent: z.number().int() }).openapi('BudgetAlert');

const params = z.object({ id: uuidParam('id') });
const ListQuerySchema = PageQuerySchema.extend({ organizationId: z.uuid().optional() });

const createBudgetRoute = createRoute({
  method: 'post',
  path: '/v1/budgets',
  tags,
  security,
  summary: 'Create a budget for an organization or one of its departments, per calendar month, quarter or year',
  request: { body: jsonBody(CreateSchema) },
  responses: { 201: jsonResponse('Created', BudgetSchema), ...problemResponses(400, 401, 403, 404, 422) },
});
const listBudgetsRoute = createRoute({
  method: 'get',
  path: '/v1/budgets',
  tags,
  security,
  summary: "List budgets, oldest first: an organization's, or (platform roles) every one",
  request: { query: ListQuerySchema },
  responses: { 200: jsonResponse('A page of budgets', pageSchema(BudgetSchema, 'BudgetPage')), ...problemResponses(400, 401, 403, 404) },
});
const getBudgetRoute = createRoute({ method: 'get', path: '/v1/budgets/{id}', tags, security, summary: 'Show a budget', request: { params }, responses: { 200: jsonResponse('The budget', BudgetSchema), ...problemResponses(400, 401, 403, 404) } });
const updateBudgetRoute = createRoute({
  method: 'patch',
  path: '/v1/budgets/{id}',
  tags,
  security,
  summary: 'Change a budget; its status is checked again at once (a threshold not fired this period may fire; one fired never fires again)',
  request: { params, body: patchBody(PatchSchema) },
  responses: { 200: jsonResponse('The budget', BudgetSchema), ...problemResponses(400, 401, 403, 404) },
});
const trackingRoute = createRoute({
  method: 'get',
  path: '/v1/budgets/{id}/tracking',
  tags,
  security,
  summary: "Where the budget stands in its current period: spent, pending, remaining, forecast and status",
  request: { params },
  responses: { 200: jsonResponse('Tracking', TrackingSchema), ...problemResponses(400, 401, 403, 404) },
});
const alertsRoute = createRoute({
  method: 'get',
  path: '/v1/budgets/{id}/alerts',
  tags,
  security,
  summary: 'The thresholds crossed, each once per period (also sent as budget.threshold_crossed)',
  request: { params },
  responses: { 200: jsonResponse('Alerts, oldest period first', z.array(AlertSchema)), ...problemResponses(400, 401, 403, 404) },
});

const budgetNotFound = (id: string) => new ApiError(404, 'budget_not_found', `No budget ${id}.`);

async function requireBudget(c: Context<AppEnv>, action: Action, id: string): Promise<Budget> {
  const budget = await c.var.em.findOne(Budget, { id });
  // Missing and not visible answer alike, so ids reveal nothing across tenants.
  if (!budget) throw budgetNotFound(id);
  await requireOwnedObject(c, action, budget.organization.id, () => budgetNotFound(id));
  return budget;
}

export function registerBudgets(app: OpenAPIHono<AppEnv>) {
  app.openapi(createBudgetRoute, async (c) => {
    const body = c.req.valid('json');
    const { em, clock, principal } = c.var;
    await requireOrganization(c, 'budget.write', body.organizationId);
    const organization = await em.findOneOrFail(Organization, { id: body.organizationId });
    if (body.currency !== organization.currency) throw new ApiError(422, 'currency_mismatch', `The organization is billed in ${organization.currency}; a budget of it is too.`);
    if (body.departmentId !== undefined && !(await em.count(Department, { id: body.departmentId, organization: organization.id }))) {
      throw new ApiError(422, 'department_not_found', `The organization has no department ${body.departmentId}.`);
    }
    const now = clock.now();
    const budget = em.create(Budget, {
      id: crypto.randomUUID(),
      organization,
      department: body.departmentId ?? null,
      name: body.name,
      period: body.period,
      amount: body.amount,
      currency: body.currency,
      alertThresholds: [...(body.alertThresholds ?? defaultAlertThresholds)].sort((a, b) => a - b),
      enforcement: body.enforcement ?? 'none',
      createdBy: actingUserId(principal),
      createdAt: now,
      updatedAt: now,
    });
    await em.flush();
    const view = budgetView(budget);
    audit(c, { action: 'budget.created', organizationId: organization.id, targetType: 'budget', targetId: budget.id, after: view });
    c.var.afterCommit(() => Promise.resolve(c.var.budgetWatcher.touch([organization.id])));
    return c.json(view, 201);
  });

  app.openapi(listBudgetsRoute, async (c) => {
    const query = c.req.valid('query');
    if (query.organizationId !== undefined) await requireOrganization(c, 'budget.read', query.organizationId);
    else requireGlobal(c, 'budget.read');
    const after = cursorPosition(query.cursor);
    const rows = await c.var.em.find(
      Budget,
      {
        ...(query.organizationId ? { organization: query.organizationId } : {}),
        ...(after ? { $or: [{ createdAt: { $gt: after.at } }, { createdAt: after.at, id: { $gt: after.id } }] } : {}),
      },
      { orderBy: { createdAt: 'asc', id: 'asc' }, limit: query.limit + 1 },
    );
    return c.json(toPage(rows, query.limit, budgetView), 200);
  });

  app.openapi(getBudgetRoute, async (c) => c.json(budgetView(await requireBudget(c, 'budget.read', c.req.valid('param').id)), 200));

  app.openapi(updateBudgetRoute, async (c) => {
    const budget = await requireBudget(c, 'budget.write', c.req.valid('param').id);
    const body = c.req.valid('json');
    const before = budgetView(budget);
    if (body.name !== undefined) budget.name = body.name;
    if (body.amount !== undefined) budget.amount = body.amount;
    if (body.alertThresholds !== undefined) budget.alertThresholds = [...body.alertThresholds].sort((a, b) => a - b);
    if (body.enforcement !== undefined) budget.enforcement = body.enforcement;
    budget.updatedAt = c.var.clock.now();
    await c.var.em.flush();
    const view = budgetView(budget);
    audit(c, { action: 'budget.updated', organizationId: budget.organization.id, targetType: 'budget', targetId: budget.id, before, after: view });
    c.var.afterCommit(() => Promise.resolve(c.var.budgetWatcher.touch([budget.organization.id])));
    return c.json(view, 200);
  });

  app.openapi(trackingRoute, async (c) => {
    const budget = await requireBudget(c, 'budget.read', c.req.valid('param').id);
    return c.json(await trackingOf(c.var.em, budget, formatDayOf(c.var.clock.now().getTime())), 200);
  });

  app.openapi(alertsRoute, async (c) => {
    const budget = await requireBudget(c, 'budget.read', c.req.valid('param').id);
    return c.json(await alertsOf(c.var.em, budget.id), 200);
  });
}
