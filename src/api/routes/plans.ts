import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { EntityManager } from '@mikro-orm/postgresql';
import {
  MAX_PACKAGE_SIZE,
  MAX_PRICE_MINOR,
  MAX_RATE_PERCENT,
  MAX_SEATS,
  MAX_UNIT_PRICE_DIGITS,
  MAX_USAGE_PERIOD_QUANTITY,
  compilePlan,
} from '../../domain/index.js';
import { Application, Metric, Plan, PlanCharge, allocationValues, chargeModelValues, intervalValues } from '../../db/entities/index.js';
import { chargeTermsOf } from '../../db/repositories/billing.js';
import { requireGlobal } from '../http/access.js';
import { audit } from '../http/audit.js';
import type { AppEnv } from '../http/context.js';
import { PageQuerySchema, afterCursor, pageOrder, pageSchema, toPage } from '../http/pagination.js';
import { ApiError, problemResponses } from '../http/problem.js';
import { codeSchema, currencySchema, jsonBody, jsonResponse } from '../http/schemas.js';
import { textSchema } from '../http/text.js';

/** A plan's price in minor units (base, seat, a tier's flat fee), bounded so a period's fees stay exact (src/domain/money/limits.ts). */
const priceSchema = z.number().int().min(0).max(MAX_PRICE_MINOR);

/** A decimal price in major units (per unit, per package, per event): below 10^6, up to 12 decimal places. */
const unitPriceSchema = z
  .string()
  .regex(new RegExp(`^\\d{1,${MAX_UNIT_PRICE_DIGITS}}(\\.\\d{1,12})?$`), `a non-negative decimal string below ${10 ** MAX_UNIT_PRICE_DIGITS} with at most 12 decimal places, such as "0.0125"`)
  .openapi({ description: `Major units, below ${10 ** MAX_UNIT_PRICE_DIGITS}, at most 12 decimal places.`, example: '0.0125' });

/** Units per period: tier bounds, included units and hard limits never exceed what a period may record. */
const periodUnitsSchema = z.number().int().max(MAX_USAGE_PERIOD_QUANTITY);

const TierSchema = z.strictObject({
  upTo: periodUnitsSchema.min(1).nullable(),
  unitPrice: unitPriceSchema,
  flatFee: priceSchema.default(0),
});

const ChargeSchema = z
  .strictObject({
    metricCode: codeSchema,
    model: z.enum(chargeModelValues),
    unitPrice: unitPriceSchema.optional(),
    packageSize: z.number().int().min(1).max(MAX_PACKAGE_SIZE).optional(),
    tiers: z.array(TierSchema).min(1).max(50).optional(),
    rate: z
      .string()
      .regex(/^(100(\.0{1,12})?|\d{1,2}(\.\d{1,12})?)$/, `a percentage of at most ${MAX_RATE_PERCENT}, at most 12 decimal places`)
      .optional()
      .openapi({ description: `Percent of the summed amount, at most ${MAX_RATE_PERCENT}.`, example: '2.5' }),
    fixedFee: unitPriceSchema.optional(),
    included: periodUnitsSchema.min(0).default(0),
    allocation: z.enum(allocationValues).default('pooled'),
    hardLimit: periodUnitsSchema
      .min(1)
      .optional()
      .openapi({ description: 'Units per period beyond which usage events are refused with 429 and not counted.' }),
  })
  .openapi('PlanCharge');

const PlanTermsSchema = z.strictObject({
  name: textSchema({ maxLength: 200 }),
  applicationSlug: textSchema({ maxLength: 64 }),
  currency: currencySchema,
  interval: z.enum(intervalValues),
  basePrice: priceSchema.default(0),
  seatPrice: priceSchema.default(0),
  includedSeats: z.number().int().min(0).max(MAX_SEATS).default(0),
  trialDays: z.number().int().min(0).max(730).default(0),
  charges: z.array(ChargeSchema).max(100).default([]),
});

const CreatePlanSchema = PlanTermsSchema.extend({ code: codeSchema.openapi({ example: 'reports-pro' }) }).openapi('CreatePlan');
const PlanVersionSchema = PlanTermsSchema.openapi('PlanVersionTerms');

const PlanViewSchema = z
  .object({
    id: z.uuid(),
    code: z.string(),
    version: z.number().int(),
    name: z.string(),
    applicationSlug: z.string(),
    currency: z.string(),
    interval: z.enum(intervalValues),
    basePrice: z.number().int(),
    seatPrice: z.number().int(),
    includedSeats: z.number().int(),
    trialDays: z.number().int(),
    charges: z.array(
      z.object({
        metricCode: z.string(),
        model: z.enum(chargeModelValues),
        unitPrice: z.string().optional(),
        packageSize: z.number().int().optional(),
        tiers: z.array(z.object({ upTo: z.number().int().nullable(), unitPrice: z.string(), flatFee: z.number().int() })).optional(),
        rate: z.string().optional(),
        fixedFee: z.string().optional(),
        included: z.number().int(),
        allocation: z.enum(allocationValues),
        hardLimit: z.number().int().optional(),
      }),
    ),
    createdAt: z.iso.datetime(),
  })
  .openapi('Plan');

const codeParam = z.object({ code: codeSchema.openapi({ param: { name: 'code', in: 'path' } }) });
const tags = ['Catalog'];
const security = [{ bearer: [] }];

const createPlanRoute = createRoute({
  method: 'post',
  path: '/v1/plans',
  tags,
  security,
  summary: 'Create a plan (version 1)',
  request: { body: jsonBody(CreatePlanSchema) },
  responses: { 201: jsonResponse('Created', PlanViewSchema), ...problemResponses(400, 401, 403, 409, 422) },
});

const createPlanVersionRoute = createRoute({
  method: 'post',
  path: '/v1/plans/{code}/versions',
  tags,
  security,
  summary: 'Edit a plan: adds a version; subscriptions keep theirs until migrated',
  request: { params: codeParam, body: jsonBody(PlanVersionSchema) },
  responses: { 201: jsonResponse('The new version', PlanViewSchema), ...problemResponses(400, 401, 403, 404, 409, 422) },
});

const getPlanRoute = createRoute({
  method: 'get',
  path: '/v1/plans/{code}',
  tags,
  security,
  summary: 'Get a plan (the latest version, or `?version=`)',
  request: { params: codeParam, query: z.object({ version: z.coerce.number().int().min(1).optional() }) },
  responses: { 200: jsonResponse('The plan version', PlanViewSchema), ...problemResponses(400, 401, 403, 404) },
});

const listPlansRoute = createRoute({
  method: 'get',
  path: '/v1/plans',
  tags,
  security,
  summary: 'List plan versions',
  request: { query: PageQuerySchema },
  responses: { 200: jsonResponse('A page of plan versions', pageSchema(PlanViewSchema, 'PlanPage')), ...problemResponses(400, 401, 403) },
});

type PlanTerms = z.infer<typeof PlanTermsSchema>;

function toPlanView(plan: Plan) {
  return {
    id: plan.id,
    code: plan.code,
    version: plan.version,
    name: plan.name,
    applicationSlug: plan.application.slug,
    currency: plan.currency,
    interval: plan.interval,
    basePrice: plan.basePrice,
    seatPrice: plan.seatPrice,
    includedSeats: plan.includedSeats,
    trialDays: plan.trialDays,
    charges: plan.charges.getItems().map(chargeTermsOf),
    createdAt: plan.createdAt.toISOString(),
  };
}

/** Validates the terms with the domain's own rules, then writes one plan version with its charges. */
async function writePlanVersion(em: EntityManager, code: string, version: number, terms: PlanTerms): Promise<Plan> {
  compilePlan({ code, ...terms });
  const application = await em.findOne(Application, { slug: terms.applicationSlug });
  if (!application) throw new ApiError(422, 'application_not_found', `No application "${terms.applicationSlug}".`);
  const metricCodes = terms.charges.map((charge) => charge.metricCode);
  const metrics = new Map((await em.find(Metric, { code: { $in: metricCodes } })).map((metric) => [metric.code, metric]));
  const unknown = metricCodes.filter((metricCode) => !metrics.has(metricCode));
  if (unknown.length) throw new ApiError(422, 'metric_not_found', `No metric ${unknown.map((name) => `"${name}"`).join(', ')}.`);

  const plan = em.create(Plan, {
    id: crypto.randomUUID(),
    code,
    version,
    name: terms.name,
    application,
    currency: terms.currency,
    interval: terms.interval,
    basePrice: terms.basePrice,
    seatPrice: terms.seatPrice,
    includedSeats: terms.includedSeats,
    trialDays: terms.trialDays,
  });
  terms.charges.forEach((charge, position) =>
    em.create(PlanCharge, {
      id: crypto.randomUUID(),
      plan,
      position,
      metric: metrics.get(charge.metricCode)!,
      model: charge.model,
      unitPrice: charge.unitPrice ?? null,
      packageSize: charge.packageSize ?? null,
      tiers: charge.tiers ?? null,
      rate: charge.rate ?? null,
      fixedFee: charge.fixedFee ?? null,
      included: charge.included,
      allocation: charge.allocation,
      hardLimit: charge.hardLimit ?? null,
    }),
  );
  await em.flush();
  return plan;
}

const planPopulate = ['application', 'charges', 'charges.metric'] as const;

export function registerPlans(app: OpenAPIHono<AppEnv>) {
  app.openapi(createPlanRoute, async (c) => {
    requireGlobal(c, 'catalog.write');
    const { code, ...terms } = c.req.valid('json');
    const { em } = c.var;
    if (await em.count(Plan, { code })) throw new ApiError(409, 'plan_code_taken', `A plan with code "${code}" already exists; add a version instead.`);
    const plan = await writePlanVersion(em, code, 1, terms);
    const view = toPlanView(plan);
    audit(c, { action: 'plan.created', organizationId: null, targetType: 'plan', targetId: plan.id, after: view });
    return c.json(view, 201);
  });

  app.openapi(createPlanVersionRoute, async (c) => {
    requireGlobal(c, 'catalog.write');
    const { code } = c.req.valid('param');
    const { em } = c.var;
    const latest = await em.findOne(Plan, { code }, { orderBy: { version: 'desc' }, populate: planPopulate });
    if (!latest) throw new ApiError(404, 'plan_not_found', `No plan "${code}".`);
    const before = toPlanView(latest);
    const plan = await writePlanVersion(em, code, latest.version + 1, c.req.valid('json'));
    const view = toPlanView(plan);
    audit(c, { action: 'plan.version_created', organizationId: null, targetType: 'plan', targetId: plan.id, before, after: view });
    return c.json(view, 201);
  });

  app.openapi(getPlanRoute, async (c) => {
    requireGlobal(c, 'catalog.read');
    const { code } = c.req.valid('param');
    const { version } = c.req.valid('query');
    const plan = await c.var.em.findOne(Plan, version ? { code, version } : { code }, { orderBy: { version: 'desc' }, populate: planPopulate });
    if (!plan) throw new ApiError(404, 'plan_not_found', version ? `No version ${version} of plan "${code}".` : `No plan "${code}".`);
    return c.json(toPlanView(plan), 200);
  });

  app.openapi(listPlansRoute, async (c) => {
    requireGlobal(c, 'catalog.read');
    const { limit, cursor } = c.req.valid('query');
    const rows = await c.var.em.find(Plan, afterCursor(cursor), { orderBy: pageOrder, limit: limit + 1, populate: planPopulate });
    return c.json(toPage(rows, limit, toPlanView), 200);
  });
}
