import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Context } from 'hono';
import {
  DomainError,
  decimalToString,
  exceedsHardLimit,
  includedQuantity,
  parseDecimal,
  termsForPeriod,
  thresholdsReached,
  thresholdsToRaise,
  usageBreakdown,
  usageContribution,
  usagePeriods,
  type UsagePeriod,
} from '../domain/index.js';
import {
  ancestriesOf,
  chargesOfPlans,
  departmentOwners,
  externalOrganizations,
  meteredSubscriptions,
  metricsByCode,
  metricsById,
  periodKey,
  readUsage,
  recordedEventIds,
  writeUsage,
  type ChargeQuota,
  type ExternalOrganization,
  type MeteredSubscription,
  type MetricRef,
  type PeriodTotal,
  type ThresholdCrossing,
  type UsageRow,
} from '../db/repositories/usage.js';
import { raiseThresholdAlerts } from '../db/repositories/usage-alerts.js';
import { dispatchWebhookEvents } from '../webhooks/outbox.js';
import { requireOrganization } from './access.js';
import { decide } from './auth/policy.js';
import type { AppEnv } from './context.js';
import { ApiError, problemResponses, type Problem } from './problem.js';
import { codeSchema, decimalSchema, jsonBody, jsonResponse } from './schemas.js';
import { requireSubscription } from './subscriptions.js';

const tags = ['Usage'];
const security = [{ bearer: [] }];
const maxBatch = 1_000;
/** How far ahead of the server's clock an event's timestamp may be (clocks of product servers drift). */
const maxClockSkewMs = 5 * 60 * 1000;
const maxDistinctValueLength = 500;
const msPerDay = 86_400_000;

const QuantitySchema = z
  .union([
    z
      .number()
      .min(0)
      .max(1e15)
      .refine((value) => /^\d+(\.\d{1,12})?$/.test(String(value)), 'at most 12 decimal places'),
    decimalSchema,
  ])
  .openapi({ description: 'Defaults to 1. Summed by `sum` metrics without a field; `count` metrics count events instead.', example: 1 });

const UsageEventSchema = z
  .strictObject({
    eventId: z
      .string()
      .regex(/^[\x21-\x7e]{1,200}$/, '1 to 200 visible ASCII characters')
      .openapi({ description: 'Unique per organization: a replay is accepted and counted once.', example: 'evt_01J9Z' }),
    metricCode: codeSchema.openapi({ example: 'reports_generated' }),
    quantity: QuantitySchema.optional(),
    timestamp: z.iso.datetime({ offset: true }).optional().openapi({ description: 'When the usage happened; defaults to now.' }),
    organizationId: z.uuid().optional(),
    externalOrgId: z.string().min(1).max(200).optional().openapi({ description: "The product's own id for the organization, with applicationSlug." }),
    applicationSlug: z.string().min(1).max(64).optional(),
    subscriptionId: z.uuid().optional().openapi({ description: "Defaults to the organization's active subscription whose plan charges the metric." }),
    userId: z.string().trim().min(1).max(200).optional(),
    departmentId: z.uuid().optional(),
    properties: z.record(z.string().max(128), z.unknown()).optional(),
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

type UsageEventInput = z.infer<typeof UsageEventSchema>;

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
    userId: z.string().trim().min(1).max(200).optional(),
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
    quantity: z.string().openapi({ description: 'The metric’s value in the period (of the user/department asked for, if any).', example: '1250' }),
    events: z.number().int(),
    subscriptionQuantity: z.string().openapi({ description: 'The whole subscription’s value: what the quota applies to.' }),
    included: z.number().int().openapi({ description: 'Included quota of the period (per seat quotas times the seats).' }),
    overage: z.string().openapi({ description: 'subscriptionQuantity beyond the quota.' }),
    hardLimit: z.number().int().nullable(),
    thresholdsReached: z.array(z.number().int()).openapi({ description: 'Percentages of the quota reached (50, 80, 100).' }),
  })
  .openapi('UsageSummary');

const UsageReportSchema = z.object({ data: z.array(UsageSummarySchema) }).openapi('UsageReport');

const recordUsageRoute = createRoute({
  method: 'post',
  path: '/v1/usage',
  tags,
  security,
  summary: 'Record one usage event (durable in PostgreSQL before the 202; a replayed eventId counts once)',
  request: { body: jsonBody(UsageEventSchema) },
  responses: { 202: jsonResponse('Recorded, or already recorded', UsageAcceptedSchema), ...problemResponses(400, 401, 403, 404, 409, 422, 429) },
});

const recordBatchRoute = createRoute({
  method: 'post',
  path: '/v1/usage/batch',
  tags,
  security,
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

/** One refused event; a batch collects them all before answering. */
interface EventFailure {
  status: 409 | 422;
  code: string;
  field: string;
  message: string;
  details?: Problem['details'];
}

/**
 * Reference data that never changes once written — metrics, plan versions' charges, external
 * ids — kept per app so the hot path reads only what can change (subscriptions, departments).
 */
class ReferenceCache {
  private readonly metrics = new Map<string, MetricRef>();
  private readonly charges = new Map<string, ChargeQuota[]>();
  private readonly external = new Map<string, ExternalOrganization>();
  /** `subscription metric period threshold` already recorded (crossings are never removed). */
  private readonly raised = new Set<string>();

  async metricsByCode(em: EntityManager, codes: readonly string[]): Promise<Map<string, MetricRef>> {
    const missing = codes.filter((code) => !this.metrics.has(code));
    if (missing.length) for (const metric of await metricsByCode(em, missing)) this.metrics.set(metric.code, metric);
    return this.metrics;
  }

  async metricsById(em: EntityManager, ids: readonly string[]): Promise<Map<string, MetricRef>> {
    const known = new Map([...this.metrics.values()].map((metric) => [metric.id, metric]));
    const missing = ids.filter((id) => !known.has(id));
    if (missing.length) {
      for (const metric of await metricsById(em, missing)) {
        this.metrics.set(metric.code, metric);
        known.set(metric.id, metric);
      }
    }
    return known;
  }

  async chargesOfPlans(em: EntityManager, planIds: readonly string[]): Promise<Map<string, ChargeQuota[]>> {
    const missing = planIds.filter((id) => !this.charges.has(id));
    if (missing.length) for (const [planId, charges] of await chargesOfPlans(em, missing)) this.charges.set(planId, charges);
    return this.charges;
  }

  async externalOrganizations(em: EntityManager, refs: readonly { applicationSlug: string; externalId: string }[]): Promise<Map<string, ExternalOrganization>> {
    const missing = refs.filter((ref) => !this.external.has(externalKey(ref.applicationSlug, ref.externalId)));
    if (missing.length) {
      for (const found of await externalOrganizations(em, missing)) this.external.set(externalKey(found.applicationSlug, found.externalId), found);
    }
    return this.external;
  }

  raisedAlready(key: string): number[] {
    return [50, 80, 100].filter((threshold) => this.raised.has(`${key} ${threshold}`));
  }

  markRaised(key: string, threshold: number): void {
    // Bounded: forgetting only costs an insert that finds the crossing recorded.
    if (this.raised.size > 100_000) this.raised.clear();
    this.raised.add(`${key} ${threshold}`);
  }
}

const externalKey = (applicationSlug: string, externalId: string) => `${applicationSlug}\n${externalId}`;
/** A numeric(38,12) value as the API shows decimals: "8", not "8.000000000000". */
const canonical = (value: string) => decimalToString(parseDecimal(value, { field: 'value', allowNegative: true }));
const midnight = (day: string) => `${day}T00:00:00.000Z`;
const uniqueValues = <T>(values: readonly T[]) => [...new Set(values)];

/** The charge of `metricId` in the terms a subscription's period is measured against, and the quota it gives. */
function quotaOf(subscription: MeteredSubscription, charges: Map<string, ChargeQuota[]>, metricId: string, periodEnd: string) {
  const terms = termsForPeriod(subscription.phases, periodEnd.slice(0, 10));
  const charge = charges.get(terms.planId)?.find((candidate) => candidate.metricId === metricId);
  if (!charge) return { quota: 0, hardLimit: null };
  return { quota: includedQuantity(charge, terms.seats), hardLimit: charge.hardLimit };
}

/** Refuses the request with every failure, under the failures' own code when they share one. */
function refuse(failures: readonly EventFailure[]): never {
  const first = failures[0]!;
  const errors = failures.map((failure) => ({ field: failure.field, message: failure.message }));
  if (failures.every((failure) => failure.code === first.code)) {
    const detail = failures.length === 1 ? first.message : `${failures.length} events refused (${first.code}); none was recorded.`;
    throw new ApiError(first.status, first.code, detail, errors, undefined, failures.length === 1 ? first.details : undefined);
  }
  throw new ApiError(
    422,
    'usage_events_invalid',
    `${failures.length} events refused; none was recorded.`,
    failures.map((failure) => ({ field: failure.field, message: `${failure.code}: ${failure.message}` })),
  );
}

interface IngestResult {
  accepted: number;
  duplicates: number;
  /** Attribution of each event that was valid, by index. */
  rows: (UsageRow | undefined)[];
}

/**
 * Validates, attributes and records events in the request's transaction: all of them, or none.
 * `field` names an event's field in problems (`eventId`, or `events.3.eventId` in a batch).
 */
async function ingest(c: Context<AppEnv>, cache: ReferenceCache, events: readonly UsageEventInput[], field: (index: number, name: string) => string): Promise<IngestResult> {
  const { em, principal, clock } = c.var;
  const now = clock.now();

  // 1. The organizations, as the caller named them; one the caller cannot see is unknown.
  const externalRefs = uniqueValues(events.flatMap((event) => (event.externalOrgId === undefined ? [] : [externalKey(event.applicationSlug!, event.externalOrgId)]))).map(
    (key) => {
      const [applicationSlug, externalId] = key.split('\n') as [string, string];
      return { applicationSlug, externalId };
    },
  );
  const external = externalRefs.length ? await cache.externalOrganizations(em, externalRefs) : new Map<string, ExternalOrganization>();
  const namedBy = events.map((event) => (event.externalOrgId === undefined ? undefined : external.get(externalKey(event.applicationSlug!, event.externalOrgId))));
  const organizationIds = events.map((event, index) => event.organizationId ?? namedBy[index]?.organizationId);
  const ancestries = await ancestriesOf(em, uniqueValues(organizationIds.filter((id): id is string => id !== undefined)));
  events.forEach((event, index) => {
    const organizationId = organizationIds[index];
    const ancestry = organizationId === undefined ? undefined : ancestries.get(organizationId);
    const decision = ancestry === undefined ? 'not_visible' : decide(principal, 'usage.write', ancestry);
    if (decision === 'not_visible') {
      const message =
        event.organizationId !== undefined
          ? `No organization ${event.organizationId}.`
          : `No organization with external id "${event.externalOrgId}" in application "${event.applicationSlug}".`;
      // The same answer for an organization that does not exist and one the caller cannot see.
      const named = event.organizationId !== undefined ? 'organizationId' : 'externalOrgId';
      throw new ApiError(404, 'organization_not_found', message, [{ field: field(index, named), message: 'no such organization' }]);
    }
    if (decision === 'forbidden') throw new ApiError(403, 'forbidden', 'The caller may not usage: write.');
  });
  const organizations = uniqueValues(organizationIds as string[]);

  // 2. What the events refer to. Subscriptions are read `for share` (see meteredSubscriptions).
  const subscriptions = await meteredSubscriptions(em, { organizationIds: organizations }, { lock: true });
  const metrics = await cache.metricsByCode(em, uniqueValues(events.map((event) => event.metricCode)));
  const charges = await cache.chargesOfPlans(em, uniqueValues(subscriptions.flatMap((subscription) => [subscription.planId, ...subscription.phases.map((phase) => phase.planId)])));
  const departmentIds = uniqueValues(events.flatMap((event) => (event.departmentId === undefined ? [] : [event.departmentId])));
  const departments = await departmentOwners(em, departmentIds);
  /** Billing periods by subscription and day: a batch's events mostly share a few days. */
  const periodsOf = new Map<string, { at: (epochMs: number) => UsagePeriod; byDay: Map<number, UsagePeriod> }>();

  // 3. Each event on its own: every failure is collected, so a batch reports them all.
  const failures: (EventFailure & { index: number })[] = [];
  const rows: (UsageRow | undefined)[] = [];
  const seen = new Set<string>();
  events.forEach((event, index) => {
    const organizationId = organizationIds[index]!;
    const fail = (failure: Omit<EventFailure, 'field'> & { name: string }) => {
      failures.push({ index, status: failure.status, code: failure.code, field: field(index, failure.name), message: failure.message, ...(failure.details ? { details: failure.details } : {}) });
    };
    // A repeat inside the batch is a duplicate of its first occurrence.
    const identity = `${organizationId} ${event.eventId}`;
    if (seen.has(identity)) return;
    seen.add(identity);

    const metric = metrics.get(event.metricCode);
    if (!metric) return fail({ status: 422, code: 'metric_not_found', name: 'metricCode', message: `No metric "${event.metricCode}".` });
    if (event.departmentId !== undefined && departments.get(event.departmentId) !== organizationId) {
      return fail({ status: 422, code: 'department_not_found', name: 'departmentId', message: `The organization has no department ${event.departmentId}.` });
    }
    const occurredAt = event.timestamp === undefined ? now.getTime() : Date.parse(event.timestamp);
    if (occurredAt > now.getTime() + maxClockSkewMs) {
      return fail({ status: 422, code: 'timestamp_out_of_range', name: 'timestamp', message: `${event.timestamp} is in the future.` });
    }

    const own = subscriptions.filter((subscription) => subscription.organizationId === organizationId);
    let subscription: MeteredSubscription | undefined;
    if (event.subscriptionId !== undefined) {
      subscription = own.find((candidate) => candidate.id === event.subscriptionId);
      if (!subscription) return fail({ status: 422, code: 'subscription_not_found', name: 'subscriptionId', message: `The organization has no subscription ${event.subscriptionId}.` });
    } else {
      const applicationId = namedBy[index]?.applicationId;
      const charging = own.filter(
        (candidate) =>
          candidate.status !== 'canceled' &&
          (applicationId === undefined || candidate.applicationId === applicationId) &&
          charges.get(candidate.planId)?.some((charge) => charge.metricId === metric.id),
      );
      if (charging.length !== 1) {
        return charging.length === 0
          ? fail({ status: 422, code: 'no_subscription_for_metric', name: 'metricCode', message: `The organization has no active subscription whose plan charges "${metric.code}"; name subscriptionId.` })
          : fail({ status: 422, code: 'subscription_ambiguous', name: 'subscriptionId', message: `Several active subscriptions charge "${metric.code}" (${charging.map((candidate) => candidate.id).join(', ')}); name one.` });
      }
      subscription = charging[0]!;
    }
    if (occurredAt < subscription.startsAt || (subscription.cancelAt !== null && occurredAt >= subscription.cancelAt)) {
      return fail({ status: 422, code: 'timestamp_out_of_range', name: 'timestamp', message: `${new Date(occurredAt).toISOString()} is outside subscription ${subscription.id}.` });
    }
    let calendar = periodsOf.get(subscription.id);
    if (!calendar) {
      calendar = { at: usagePeriods(subscription), byDay: new Map() };
      periodsOf.set(subscription.id, calendar);
    }
    const day = Math.floor(occurredAt / msPerDay);
    let period = calendar.byDay.get(day);
    if (!period) {
      period = calendar.at(occurredAt);
      calendar.byDay.set(day, period);
    }
    if (subscription.usageClosedThrough !== null && occurredAt < subscription.usageClosedThrough) {
      return fail({
        status: 409,
        code: 'usage_period_closed',
        name: 'timestamp',
        message: `The period ${period.start} to ${period.end} of subscription ${subscription.id} is invoiced; late usage is refused.`,
        details: { subscriptionId: subscription.id, periodStart: midnight(period.start), periodEnd: midnight(period.end), closedThrough: new Date(subscription.usageClosedThrough).toISOString() },
      });
    }

    const timestamp = new Date(occurredAt).toISOString();
    const given = event.quantity ?? 1;
    const quantity = Number.isSafeInteger(given) ? String(given) : decimalToString(parseDecimal(given, { field: 'quantity' }));
    let value: string | null = null;
    let distinctKey: string | null = null;
    try {
      const contribution = usageContribution(
        { eventId: event.eventId, metricCode: metric.code, timestamp, quantity, ...(event.properties ? { properties: event.properties } : {}) },
        { code: metric.code, aggregation: metric.aggregation, ...(metric.field === null ? {} : { field: metric.field }) },
      );
      if (contribution.kind === 'number') value = decimalToString(contribution.value);
      if (contribution.kind === 'distinct') distinctKey = contribution.key;
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      return fail({ status: 422, code: 'usage_value_invalid', name: metric.field === null ? 'quantity' : `properties.${metric.field}`, message: error.message });
    }
    if (value !== null && !/^-?\d{1,26}(\.\d+)?$/.test(value)) {
      return fail({ status: 422, code: 'usage_value_invalid', name: `properties.${metric.field}`, message: `${value} is out of range.` });
    }
    if (distinctKey !== null && distinctKey.length > maxDistinctValueLength) {
      return fail({ status: 422, code: 'usage_value_invalid', name: `properties.${metric.field}`, message: `Values counted distinct are limited to ${maxDistinctValueLength - 2} characters.` });
    }
    rows[index] = {
      organizationId,
      eventId: event.eventId,
      occurredAt: timestamp,
      subscriptionId: subscription.id,
      metricId: metric.id,
      aggregation: metric.aggregation,
      periodStart: midnight(period.start),
      periodEnd: midnight(period.end),
      userId: event.userId ?? null,
      departmentId: event.departmentId ?? null,
      quantity,
      value,
      distinctKey,
      properties: event.properties ?? null,
    };
  });

  // An event already recorded is accepted as a duplicate even if it would not validate today
  // (its period has been invoiced since, say): a replay never fails where the first call passed.
  if (failures.length) {
    const recorded = new Set<number>();
    for (const organizationId of uniqueValues(failures.map((failure) => organizationIds[failure.index]!))) {
      const own = failures.filter((failure) => organizationIds[failure.index] === organizationId);
      const known = await recordedEventIds(em, organizationId, own.map((failure) => events[failure.index]!.eventId));
      for (const failure of own) if (known.has(events[failure.index]!.eventId)) recorded.add(failure.index);
    }
    const remaining = failures.filter((failure) => !recorded.has(failure.index));
    if (remaining.length) refuse(remaining);
  }

  // 4. One statement records the new events and folds them into the aggregates.
  const valid = rows.filter((row): row is UsageRow => row !== undefined);
  const written = valid.length ? await writeUsage(em, valid, now) : { accepted: 0, totals: [] };
  const totals = written.totals.map((total) => ({ ...total, quantity: canonical(total.quantity), previous: canonical(total.previous) }));
  await enforceQuotas(c, cache, totals, subscriptions, charges, metrics);
  return { accepted: written.accepted, duplicates: events.length - written.accepted, rows };
}

/**
 * After the write, with the subscriptions' period totals locked by it: refuses the whole request
 * when a hard limit is passed (the transaction rolls back, nothing is counted), then records the
 * quota thresholds reached — once per threshold and period, whoever gets there first.
 */
async function enforceQuotas(
  c: Context<AppEnv>,
  cache: ReferenceCache,
  totals: readonly PeriodTotal[],
  subscriptions: readonly MeteredSubscription[],
  charges: Map<string, ChargeQuota[]>,
  metrics: Map<string, MetricRef>,
): Promise<void> {
  const { em, clock, temporal, config, logger } = c.var;
  const byId = new Map(subscriptions.map((subscription) => [subscription.id, subscription]));
  const codeOf = (metricId: string) => [...metrics.values()].find((metric) => metric.id === metricId)?.code ?? metricId;
  const measured = totals.map((total) => ({ total, ...quotaOf(byId.get(total.subscriptionId)!, charges, total.metricId, total.periodEnd) }));

  const overLimit = measured.filter(({ total, hardLimit }) => exceedsHardLimit(total.quantity, hardLimit ?? undefined));
  if (overLimit.length) {
    const [{ total, hardLimit }] = overLimit as [(typeof overLimit)[number]];
    const metricCode = codeOf(total.metricId);
    const periodStart = new Date(total.periodStart).toISOString();
    const periodEnd = new Date(total.periodEnd).toISOString();
    throw new ApiError(
      429,
      'usage_limit_exceeded',
      `Metric "${metricCode}" is limited to ${hardLimit} units per period on subscription ${total.subscriptionId} (${periodStart.slice(0, 10)} to ${periodEnd.slice(0, 10)}); usage is ${total.previous} and these events would bring it to ${total.quantity}. Nothing was recorded.`,
      overLimit.map((over) => ({ field: 'metricCode', message: `${codeOf(over.total.metricId)}: limit ${over.hardLimit}, usage ${over.total.previous}, would be ${over.total.quantity}` })),
      undefined,
      { metricCode, subscriptionId: total.subscriptionId, limit: hardLimit, currentUsage: total.previous, requestedUsage: total.quantity, periodStart, periodEnd },
    );
  }

  const crossings = measured.flatMap(({ total, quota }) => {
    const key = periodKey(total.subscriptionId, total.metricId, total.periodStart);
    return thresholdsToRaise(total.quantity, quota, cache.raisedAlready(key)).map((threshold) => ({
      organizationId: byId.get(total.subscriptionId)!.organizationId,
      subscriptionId: total.subscriptionId,
      metricId: total.metricId,
      periodStart: total.periodStart,
      periodEnd: total.periodEnd,
      threshold,
      quota,
      quantity: total.quantity,
    }));
  });
  if (!crossings.length) return;
  const metricCodes = new Map([...metrics.values()].map((metric) => [metric.id, metric.code]));
  const { raised, known } = await raiseThresholdAlerts(em, crossings, metricCodes, clock.now());
  const remember = (crossing: ThresholdCrossing) => cache.markRaised(periodKey(crossing.subscriptionId, crossing.metricId, crossing.periodStart), crossing.threshold);
  // Crossings found already recorded were committed by another request: remember them now.
  known.forEach(remember);
  c.var.afterCommit(async () => {
    raised.forEach(remember);
    await dispatchWebhookEvents(temporal, config.TEMPORAL_TASK_QUEUE, raised.map((crossing) => crossing.webhookEventId), logger);
  });
}

export function registerUsage(app: OpenAPIHono<AppEnv>) {
  const cache = new ReferenceCache();

  app.openapi(recordUsageRoute, async (c) => {
    const event = c.req.valid('json');
    const result = await ingest(c, cache, [event], (_, name) => name);
    const row = result.rows[0];
    if (result.accepted === 0 || !row) return c.json({ eventId: event.eventId, duplicate: true }, 202);
    return c.json({ eventId: event.eventId, duplicate: false, subscriptionId: row.subscriptionId, periodStart: row.periodStart, periodEnd: row.periodEnd }, 202);
  });

  app.openapi(recordBatchRoute, async (c) => {
    const { events } = c.req.valid('json');
    const result = await ingest(c, cache, events, (index, name) => `events.${index}.${name}`);
    return c.json({ accepted: result.accepted, duplicates: result.duplicates }, 202);
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
    const charges = await cache.chargesOfPlans(em, uniqueValues(subscriptions.flatMap((subscription) => [subscription.planId, ...subscription.phases.map((phase) => phase.planId)])));
    const rows = await readUsage(em, {
      subscriptionIds,
      from,
      to,
      ...(query.userId === undefined ? {} : { userId: query.userId }),
      ...(query.departmentId === undefined ? {} : { departmentId: query.departmentId }),
    });
    const byId = new Map(subscriptions.map((subscription) => [subscription.id, subscription]));
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
          quantity: canonical(row.quantity),
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
      const periodStart = midnight(current.start);
      const periodEnd = midnight(current.end);
      if (Date.parse(periodStart) >= to.getTime() || Date.parse(periodEnd) <= from.getTime()) continue;
      const terms = termsForPeriod(subscription.phases, current.end);
      const unused = (charges.get(terms.planId) ?? []).filter(
        (charge) => !summaries.some(({ metricId, summary }) => metricId === charge.metricId && summary.subscriptionId === subscription.id && summary.periodStart === periodStart),
      );
      const definitions = await cache.metricsById(em, unused.map((charge) => charge.metricId));
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
