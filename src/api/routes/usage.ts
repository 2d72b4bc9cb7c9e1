import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { Decimal, MAX_USAGE_EVENT_QUANTITY, includedQuantity, instantOfDay, termsForPeriod, thresholdsReached, usageBreakdown, usagePeriods } from '../../domain/index.js';
import { meteredSubscriptions, readUsage } from '../../db/repositories/usage.js';
import { SubscriptionCostAllocation } from '../../db/entities/index.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import { requireOrganization } from '../http/access.js';
import { decide, type Principal } from '../auth/policy.js';
import type { AppEnv } from '../http/context.js';
import { ApiError, problemResponses } from '../http/problem.js';
import { codeSchema, jsonBody, jsonResponse } from '../http/schemas.js';
import { requireSubscription } from './subscriptions.js';
import { jsonObjectSchema, textSchema, type JsonObjectLimits } from '../http/text.js';
import { canonical, quotaOf, uniqueValues, type CallerTransaction, type UsageAccess, type UsageFailure, type UsageFailureCode, type UsageResult } from '../../usage/index.js';
import { commitsItselfWithoutIdempotencyKey, outsideUnitOfWork } from '../middleware/unit-of-work.js';

const tags = ['Usage'];
const security = [{ bearer: [] }];
const maxBatch = 1_000;
/** An event's `properties`: room for what metrics read, not a document store. */
const propertiesLimits: JsonObjectLimits = { maxBytes: 4_096, maxKeys: 50, maxKeyLength: 128, maxDepth: 5 };

/** The per-event maximum as a decimal string: whole digits below it, or exactly it (a power of ten, src/domain/money/limits.ts). */
const maxQuantityText = String(MAX_USAGE_EVENT_QUANTITY);

const QuantitySchema = z
  .union([
    z
      .number()
      .min(0)
      .max(MAX_USAGE_EVENT_QUANTITY)
      .refine((value) => /^\d+(\.\d{1,12})?$/.test(String(value)), 'at most 12 decimal places'),
    z
      .string()
      .regex(
        new RegExp(`^(\\d{1,${maxQuantityText.length - 1}}(\\.\\d{1,12})?|${maxQuantityText}(\\.0{1,12})?)$`),
        `a non-negative decimal string of at most ${maxQuantityText} with at most 12 decimal places`,
      ),
  ])
  .openapi({
    description: `Defaults to 1; at most ${maxQuantityText} per event. Summed by \`sum\` metrics without a field; \`count\` metrics count events instead.`,
    example: 1,
  });

export const UsageEventSchema = z
  .strictObject({
    eventId: z
      .string()
      .regex(/^[\x21-\x7e]{1,200}$/, '1 to 200 visible ASCII characters')
      .openapi({ description: 'Unique per organization: a replay is accepted and counted once.', example: 'evt_01J9Z' }),
    metricCode: codeSchema.openapi({ example: 'reports_generated' }),
    quantity: QuantitySchema.optional(),
    timestamp: z.iso.datetime({ offset: true }).optional().openapi({ description: 'When the usage happened; defaults to now.' }),
    organizationId: z.uuid().optional(),
    externalOrgId: textSchema({ maxLength: 200 }).optional().openapi({ description: "The product's own id for the organization, with applicationSlug." }),
    applicationSlug: textSchema({ maxLength: 64 }).optional(),
    subscriptionId: z.uuid().optional().openapi({ description: "Defaults to the organization's active subscription whose plan charges the metric." }),
    userId: textSchema({ maxLength: 200 }).optional(),
    departmentId: z.uuid().optional(),
    properties: jsonObjectSchema(propertiesLimits)
      .optional()
      .openapi({
        description:
          `Free-form JSON a metric's \`field\` reads (its top-level key). At most ${propertiesLimits.maxBytes} bytes as compact JSON, ` +
          `${propertiesLimits.maxKeys} keys per object, keys of ${propertiesLimits.maxKeyLength} characters, ${propertiesLimits.maxDepth} levels of objects and arrays ` +
          '(this object the first); no NUL (U+0000) or lone surrogate in any key or string.',
      }),
  })
  .superRefine((event, context) => {
    const byId = event.organizationId !== undefined;
    const external = [event.externalOrgId, event.applicationSlug].filter((value) => value !== undefined).length;
    if (external === 1) {
      const field = event.externalOrgId === undefined ? 'externalOrgId' : 'applicationSlug';
      context.addIssue({ code: 'custom', path: [field], message: 'externalOrgId and applicationSlug go together' });
    } else if (byId === (external === 2)) {
      context.addIssue({ code: 'custom', path: ['organizationId'], message: 'name the organization by organizationId or by externalOrgId and applicationSlug' });
    }
  })
  .openapi('UsageEvent');

const UsageBatchSchema = z.strictObject({ events: z.array(UsageEventSchema).min(1).max(maxBatch) }).openapi('UsageBatch');

const UsageAcceptedSchema = z
  .object({
    eventId: z.string(),
    duplicate: z.boolean().openapi({ description: 'True when this eventId was already recorded: nothing was counted again.' }),
    subscriptionId: z.uuid().optional(),
    periodStart: z.iso.datetime().optional(),
    periodEnd: z.iso.datetime().optional(),
  })
  .openapi('UsageAccepted');

const UsageBatchAcceptedSchema = z
  .object({ accepted: z.number().int(), duplicates: z.number().int().openapi({ description: 'Events already recorded, counted once.' }) })
  .openapi('UsageBatchAccepted');

const instantSchema = z.union([z.iso.datetime({ offset: true }), z.iso.date()]);

const UsageQuerySchema = z
  .object({
    subscriptionId: z.uuid().optional(),
    organizationId: z.uuid().optional().openapi({ description: 'Every subscription of the organization.' }),
    userId: textSchema({ maxLength: 200 }).optional(),
    departmentId: z.uuid().optional(),
    from: instantSchema.optional().openapi({ description: 'Billing periods overlapping [from, to); defaults to the current period.' }),
    to: instantSchema.optional(),
  })
  .refine((query) => query.subscriptionId !== undefined || query.organizationId !== undefined, {
    path: ['subscriptionId'],
    message: 'give subscriptionId or organizationId',
  })
  .refine((query) => query.from === undefined || query.to === undefined || Date.parse(query.from) < Date.parse(query.to), {
    path: ['to'],
    message: 'must be after from',
  });

const UsageSummarySchema = z
  .object({
    subscriptionId: z.uuid(),
    metricCode: z.string(),
    aggregation: z.enum(['count', 'sum', 'max', 'unique_count', 'latest']),
    periodStart: z.iso.datetime(),
    periodEnd: z.iso.datetime(),
    quantity: z.string().openapi({
      description: "The metric's value in the period (of the user/department asked for, if any). A department's count or sum includes its cost-allocated share of the subscription's usage recorded without a department.",
      example: '1250',
    }),
    events: z.number().int(),
    subscriptionQuantity: z.string().openapi({ description: 'The whole subscription’s value: what the quota applies to.' }),
    included: z.number().int().openapi({ description: 'Included quota of the period (per seat quotas times the seats).' }),
    overage: z.string().openapi({ description: 'subscriptionQuantity beyond the quota.' }),
    hardLimit: z.number().int().nullable(),
    thresholdsReached: z.array(z.number().int()).openapi({ description: 'Percentages of the quota reached (50, 80, 100).' }),
  })
  .openapi('UsageSummary');

const UsageReportSchema = z.object({ data: z.array(UsageSummarySchema) }).openapi('UsageReport');

/** Recording one event's path, which the fast lane answers too (src/api/fast-lane.ts). */
export const recordUsagePath = '/v1/usage';

const recordUsageRoute = createRoute({
  method: 'post',
  path: recordUsagePath,
  tags,
  security,
  middleware: commitsItselfWithoutIdempotencyKey,
  summary: 'Record one usage event (durable in PostgreSQL before the 202; a replayed eventId counts once)',
  request: { body: jsonBody(UsageEventSchema) },
  responses: { 202: jsonResponse('Recorded, or already recorded', UsageAcceptedSchema), ...problemResponses(400, 401, 403, 404, 409, 422, 429) },
});

const recordBatchRoute = createRoute({
  method: 'post',
  path: '/v1/usage/batch',
  tags,
  security,
  middleware: commitsItselfWithoutIdempotencyKey,
  summary: `Record up to ${maxBatch} usage events, all or none`,
  request: { body: jsonBody(UsageBatchSchema) },
  responses: { 202: jsonResponse('Recorded', UsageBatchAcceptedSchema), ...problemResponses(400, 401, 403, 404, 409, 422, 429) },
});

const getUsageRoute = createRoute({
  method: 'get',
  path: '/v1/usage',
  tags,
  security,
  summary: 'Usage per metric and billing period, with the included quota and overage (from the running aggregates)',
  request: { query: UsageQuerySchema },
  responses: { 200: jsonResponse('Usage', UsageReportSchema), ...problemResponses(400, 401, 403, 404) },
});

/** The answer to each refusal of usage (src/usage/failures.ts). */
const failureStatus: Record<UsageFailureCode, 403 | 404 | 409 | 422 | 429> = {
  organization_not_found: 404,
  forbidden: 403,
  metric_not_found: 422,
  department_not_found: 422,
  timestamp_out_of_range: 422,
  subscription_not_found: 422,
  no_subscription_for_metric: 422,
  subscription_ambiguous: 422,
  usage_period_closed: 409,
  usage_value_invalid: 422,
  usage_events_invalid: 422,
  usage_limit_exceeded: 429,
  usage_period_total_out_of_range: 422,
};

const usageProblem = (failure: UsageFailure) => new ApiError(failureStatus[failure.code], failure.code, failure.message, failure.errors, undefined, failure.details);

/** What was recorded, or the refusal as the request's problem (the unit of work rolls its transaction back). */
function recorded<T>(result: UsageResult<T>): T {
  if (!result.ok) throw usageProblem(result.failure);
  return result.value;
}

/** What the policy lets a principal do with usage (the same 404 for an organization it cannot see as for none). */
export const usageWriteAccess =
  (principal: Principal): UsageAccess =>
  (ancestry) =>
    decide(principal, 'usage.write', ancestry);

/** The request's own transaction, for ingestion. */
const requestTransaction = (c: Context<AppEnv>): CallerTransaction => ({ em: c.var.em, afterCommit: c.var.afterCommit });

/**
 * A department's count or sum with its share of the usage its subscription recorded without a
 * department, by the cost allocation in effect on the period's first day (exact decimals): what the
 * invoice allocates to it. Null where nothing is allocated (other aggregations are not additive).
 */
async function allocatedUsage(em: EntityManager, filter: { subscriptionIds: string[]; from: Date; to: Date; departmentId: string; userId?: string }) {
  const allocations = await em.find(SubscriptionCostAllocation, { subscription: { $in: filter.subscriptionIds } }, { orderBy: { effectiveFrom: 'asc' } });
  if (allocations.length === 0) return () => null;
  const unattributed = await readUsage(em, { ...filter, departmentId: '' });
  return (row: { subscriptionId: string; metricId: string; periodStart: string; aggregation: string; quantity: string }): string | null => {
    if (row.aggregation !== 'count' && row.aggregation !== 'sum') return null;
    const inEffect = allocations.filter((allocation) => allocation.subscription.id === row.subscriptionId && allocation.effectiveFrom.getTime() <= Date.parse(row.periodStart)).at(-1);
    const percent = inEffect?.allocations.find((allocation) => allocation.departmentId === filter.departmentId)?.percent;
    const shared = unattributed.find((other) => other.subscriptionId === row.subscriptionId && other.metricId === row.metricId && other.periodStart === row.periodStart);
    if (percent === undefined || !shared) return null;
    return new Decimal(row.quantity).plus(new Decimal(shared.quantity).times(percent).dividedBy(100)).toFixed();
  };
}

export function registerUsage(app: OpenAPIHono<AppEnv>) {
  app.openapi(recordUsageRoute, async (c) => {
    const event = c.req.valid('json');
    const { usageIngestion } = c.var;
    const access = usageWriteAccess(c.var.principal);
    // Without an Idempotency-Key the event joins a group commit; with one, the request's own
    // transaction keeps the key's record and the event together.
    const result = outsideUnitOfWork(c) ? await usageIngestion.record(event, access) : await usageIngestion.recordIn(requestTransaction(c), event, access);
    return c.json(recorded(result), 202);
  });

  app.openapi(recordBatchRoute, async (c) => {
    const { events } = c.req.valid('json');
    const { usageIngestion } = c.var;
    const access = usageWriteAccess(c.var.principal);
    // Without an Idempotency-Key the batch commits on its own (guarded, as a group of single events does).
    const result = outsideUnitOfWork(c) ? await usageIngestion.recordBatch(events, access) : await usageIngestion.recordBatchIn(requestTransaction(c), events, access);
    return c.json(recorded(result), 202);
  });

  app.openapi(getUsageRoute, async (c) => {
    const query = c.req.valid('query');
    const { em, clock } = c.var;
    let subscriptionIds: string[];
    if (query.subscriptionId !== undefined) {
      const subscription = await requireSubscription(c, 'usage.read', query.subscriptionId);
      if (query.organizationId !== undefined && subscription.organization.id !== query.organizationId) {
        throw new ApiError(404, 'subscription_not_found', `No subscription ${query.subscriptionId}.`);
      }
      subscriptionIds = [subscription.id];
    } else {
      await requireOrganization(c, 'usage.read', query.organizationId!);
      subscriptionIds = (await meteredSubscriptions(em, { organizationIds: [query.organizationId!] }, { lock: false })).map((subscription) => subscription.id);
    }
    const now = clock.now();
    const from = query.from === undefined ? now : new Date(query.from);
    const to = query.to === undefined ? new Date(Math.max(from.getTime(), now.getTime()) + 1) : new Date(query.to);
    const subscriptions = await meteredSubscriptions(em, { subscriptionIds }, { lock: false });
    const charges = await c.var.usageIngestion.cache.chargesOfPlans(em, uniqueValues(subscriptions.flatMap((subscription) => [subscription.planId, ...subscription.phases.map((phase) => phase.planId)])));
    const rows = await readUsage(em, {
      subscriptionIds,
      from,
      to,
      ...(query.userId === undefined ? {} : { userId: query.userId }),
      ...(query.departmentId === undefined ? {} : { departmentId: query.departmentId }),
    });
    const byId = new Map(subscriptions.map((subscription) => [subscription.id, subscription]));
    const allocatedShare = query.departmentId === undefined ? () => null : await allocatedUsage(em, { subscriptionIds, from, to, departmentId: query.departmentId, ...(query.userId === undefined ? {} : { userId: query.userId }) });
    const summaries = rows.map((row) => {
      const { quota, hardLimit } = quotaOf(byId.get(row.subscriptionId)!, charges, row.metricId, row.periodEnd);
      const whole = usageBreakdown(row.total, quota);
      return {
        metricId: row.metricId,
        summary: {
          subscriptionId: row.subscriptionId,
          metricCode: row.metricCode,
          aggregation: row.aggregation,
          periodStart: row.periodStart,
          periodEnd: row.periodEnd,
          quantity: canonical(allocatedShare(row) ?? row.quantity),
          events: Number(row.events),
          subscriptionQuantity: whole.quantity,
          included: whole.included,
          overage: whole.overage,
          hardLimit,
          thresholdsReached: thresholdsReached(whole.quantity, quota),
        },
      };
    });
    // The current period lists every charged metric, used or not, so a quota shows from day one.
    for (const subscription of subscriptions) {
      const current = usagePeriods(subscription)(now.getTime());
      const periodStart = instantOfDay(current.start);
      const periodEnd = instantOfDay(current.end);
      if (Date.parse(periodStart) >= to.getTime() || Date.parse(periodEnd) <= from.getTime()) continue;
      const terms = termsForPeriod(subscription.phases, current.end);
      const unused = (charges.get(terms.planId) ?? []).filter(
        (charge) => !summaries.some(({ metricId, summary }) => metricId === charge.metricId && summary.subscriptionId === subscription.id && summary.periodStart === periodStart),
      );
      const definitions = await c.var.usageIngestion.cache.metricsById(em, unused.map((charge) => charge.metricId));
      for (const charge of unused) {
        const metric = definitions.get(charge.metricId)!;
        summaries.push({
          metricId: charge.metricId,
          summary: {
            subscriptionId: subscription.id,
            metricCode: metric.code,
            aggregation: metric.aggregation,
            periodStart,
            periodEnd,
            quantity: '0',
            events: 0,
            subscriptionQuantity: '0',
            included: includedQuantity(charge, terms.seats),
            overage: '0',
            hardLimit: charge.hardLimit,
            thresholdsReached: [],
          },
        });
      }
    }
    const data = summaries.map(({ summary }) => summary);
    data.sort((a, b) => a.subscriptionId.localeCompare(b.subscriptionId) || a.periodStart.localeCompare(b.periodStart) || a.metricCode.localeCompare(b.metricCode));
    return c.json({ data }, 200);
  });
}
