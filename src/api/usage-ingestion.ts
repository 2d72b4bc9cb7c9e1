import type { EntityManager } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import type { Client } from '@temporalio/client';
import type { Clock } from '../clock.js';
import type { Orm } from '../db/orm.js';
import type { Logger } from '../logger.js';
import {
  DomainError,
  MAX_USAGE_EVENT_QUANTITY,
  MAX_USAGE_PERIOD_QUANTITY,
  decimalToString,
  exceedsHardLimit,
  includedQuantity,
  parseDecimal,
  termsForPeriod,
  thresholdsToRaise,
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
  readIngestionContext,
  recordedEventIds,
  writeUsage,
  writeUsageGuarded,
  type ChargeQuota,
  type ExternalOrganization,
  type MeteredSubscription,
  type MetricRef,
  type PeriodTotal,
  type ThresholdCrossing,
  type UsageRow,
  type UsageWritten,
} from '../db/repositories/usage.js';
import { raiseThresholdAlerts } from '../db/repositories/usage-alerts.js';
import { InFlightBatcher, type BatchOutcome } from '../db/batcher.js';
import { dispatchWebhookEvents } from '../webhooks/outbox.js';
import { decide, type Principal } from './auth/policy.js';
import { ApiError, type Problem } from './problem.js';

/**
 * Recording usage events: validation against what they refer to, attribution to a subscription
 * and billing period, the write, and the quotas — for a batch request, and for single events
 * committed together in groups (`UsageIngestion`).
 */

/** What one event may add to an aggregate, as canonical decimal text: at most MAX_USAGE_EVENT_QUANTITY either way (a power of ten). */
const maxEventValue = String(MAX_USAGE_EVENT_QUANTITY);
const eventValuePattern = new RegExp(`^-?(\\d{1,${maxEventValue.length - 1}}(\\.\\d+)?|${maxEventValue})$`);

/**
 * Whether a usage write failed because it would take an aggregate past MAX_USAGE_PERIOD_QUANTITY: the
 * table's check refuses the statement as a whole (on the pool a `pg` error, in a transaction MikroORM's
 * copy of it), so checking the bound costs the hot path nothing.
 */
const passesPeriodBound = (error: unknown) => (error as { constraint?: unknown } | null)?.constraint === 'usage_aggregates_quantity_bound';

const periodTotalOutOfRange = () =>
  new ApiError(
    422,
    'usage_period_total_out_of_range',
    `These events would take a subscription's total of a metric in one billing period past ${MAX_USAGE_PERIOD_QUANTITY}; nothing was recorded.`,
    [{ field: 'quantity', message: `a period's total is at most ${MAX_USAGE_PERIOD_QUANTITY}` }],
    undefined,
    { limit: MAX_USAGE_PERIOD_QUANTITY },
  );

/** How far ahead of the server's clock an event's timestamp may be (clocks of product servers drift). */
const maxClockSkewMs = 5 * 60 * 1000;
const maxDistinctValueLength = 500;
const msPerDay = 86_400_000;

/** One event as the API accepts it (the route's schema has validated its shape). */
export interface UsageEventInput {
  eventId: string;
  metricCode: string;
  quantity?: number | string | undefined;
  timestamp?: string | undefined;
  organizationId?: string | undefined;
  externalOrgId?: string | undefined;
  applicationSlug?: string | undefined;
  subscriptionId?: string | undefined;
  userId?: string | undefined;
  departmentId?: string | undefined;
  properties?: Record<string, unknown> | undefined;
}

/** What recording needs besides the events: a transaction, and what runs once it has committed. */
export interface IngestScope {
  em: EntityManager;
  /** For work after the commit (the transaction's `em` is done by then). */
  orm: Orm;
  clock: Clock;
  temporal: Client;
  taskQueue: string;
  logger: Logger;
  afterCommit: (task: () => Promise<void>) => void;
}

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
export class ReferenceCache {
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
export const canonical = (value: string) => decimalToString(parseDecimal(value, { field: 'value', allowNegative: true }));
export const midnight = (day: string) => `${day}T00:00:00.000Z`;
export const uniqueValues = <T>(values: readonly T[]) => [...new Set(values)];

/** The charge of `metricId` in the terms a subscription's period is measured against, and the quota it gives. */
export function quotaOf(subscription: MeteredSubscription, charges: Map<string, ChargeQuota[]>, metricId: string, periodEnd: string) {
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

/**
 * A guarded ingestion (see `ingest`) that cannot finish on its own terms: a subscription changed
 * between its read and its write, or a hard limit needs the transactional check. Nothing was
 * written; the same events go through a transaction instead.
 */
class GuardedWriteDeclined extends Error {}

export interface IngestResult {
  accepted: number;
  duplicates: number;
  /** Attribution of each event that was valid, by index. */
  rows: (UsageRow | undefined)[];
  /** With `reportEach`: whether each event was recorded now (false: a duplicate), by index. */
  recorded?: boolean[];
}

/**
 * Validates, attributes and records events: all of them, or none. `field` names an event's field
 * in problems (`eventId`, or `events.3.eventId` in a batch).
 *
 * By default everything happens in `scope.em`'s transaction, with the organizations'
 * subscriptions read `for share`. `guarded` takes two statements on the pool instead, each its
 * own transaction: one read of what the events refer to, and one write that locks those
 * subscriptions and writes only if none has changed since the read (`writeUsageGuarded`), which
 * orders it against a billing closing exactly as the transaction's lock does. Events under a hard
 * limit, and a changed subscription, throw `GuardedWriteDeclined` with nothing written.
 */
export async function ingest(
  scope: IngestScope,
  cache: ReferenceCache,
  events: readonly UsageEventInput[],
  caller: { principalOf: (index: number) => Principal; field: (index: number, name: string) => string; reportEach?: boolean; guarded?: { pool: Pool } },
): Promise<IngestResult> {
  const { em, clock } = scope;
  const { field } = caller;
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
  const namedOrganizations = uniqueValues(organizationIds.filter((id): id is string => id !== undefined));
  const departmentIds = uniqueValues(events.flatMap((event) => (event.departmentId === undefined ? [] : [event.departmentId])));
  const read = caller.guarded ? await readIngestionContext(caller.guarded.pool, namedOrganizations, departmentIds) : undefined;
  const ancestries = read?.ancestries ?? (await ancestriesOf(em, namedOrganizations));
  events.forEach((event, index) => {
    const organizationId = organizationIds[index];
    const ancestry = organizationId === undefined ? undefined : ancestries.get(organizationId);
    const decision = ancestry === undefined ? 'not_visible' : decide(caller.principalOf(index), 'usage.write', ancestry);
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

  // 2. What the events refer to. In a transaction, subscriptions are read `for share` (see meteredSubscriptions).
  const subscriptions = read?.subscriptions ?? (await meteredSubscriptions(em, { organizationIds: organizations }, { lock: true }));
  const metrics = await cache.metricsByCode(em, uniqueValues(events.map((event) => event.metricCode)));
  const charges = await cache.chargesOfPlans(em, uniqueValues(subscriptions.flatMap((subscription) => [subscription.planId, ...subscription.phases.map((phase) => phase.planId)])));
  const departments = read?.departments ?? (await departmentOwners(em, departmentIds));
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
    if (value !== null && !eventValuePattern.test(value)) {
      return fail({ status: 422, code: 'usage_value_invalid', name: `properties.${metric.field}`, message: `${value} is out of range: an event adds at most ${maxEventValue}.` });
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
  let written: UsageWritten = { accepted: 0, totals: [], acceptedKeys: [] };
  try {
    if (valid.length && caller.guarded) {
      const byId = new Map(subscriptions.map((subscription) => [subscription.id, subscription]));
      if (valid.some((row) => quotaOf(byId.get(row.subscriptionId)!, charges, row.metricId, row.periodEnd).hardLimit !== null)) {
        throw new GuardedWriteDeclined('a hard limit is checked in a transaction');
      }
      const outcome = await writeUsageGuarded(caller.guarded.pool, valid, now, subscriptions);
      if (outcome === 'stale') throw new GuardedWriteDeclined('a subscription changed since it was read');
      written = outcome;
    } else if (valid.length) {
      written = await writeUsage(em, valid, now, { reportKeys: caller.reportEach === true });
    }
  } catch (error) {
    throw passesPeriodBound(error) ? periodTotalOutOfRange() : error;
  }
  const totals = written.totals.map((total) => ({ ...total, quantity: canonical(total.quantity), previous: canonical(total.previous) }));
  await enforceQuotas(scope, cache, totals, subscriptions, charges, metrics, caller.guarded === undefined);
  const result: IngestResult = { accepted: written.accepted, duplicates: events.length - written.accepted, rows };
  if (caller.reportEach) {
    const fresh = new Set(written.acceptedKeys);
    result.recorded = events.map((_, index) => {
      const row = rows[index];
      return row !== undefined && fresh.delete(`${row.organizationId} ${row.eventId}`);
    });
  }
  return result;
}

/**
 * After the write, with the subscriptions' period totals locked by it: refuses the whole request
 * when a hard limit is passed (the transaction rolls back, nothing is counted), then records the
 * quota thresholds reached — once per threshold and period, whoever gets there first. After a
 * guarded write (`inTransaction` false) the crossings get a transaction of their own, right after
 * the events'. The events are recorded by then, so a failure there is logged, not answered: the
 * daily processing raises what it left out.
 */
async function enforceQuotas(
  scope: IngestScope,
  cache: ReferenceCache,
  totals: readonly PeriodTotal[],
  subscriptions: readonly MeteredSubscription[],
  charges: Map<string, ChargeQuota[]>,
  metrics: Map<string, MetricRef>,
  inTransaction: boolean,
): Promise<void> {
  const { em, clock, temporal, taskQueue, orm, logger } = scope;
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
  const raise = (tx: EntityManager) => raiseThresholdAlerts(tx, crossings, metricCodes, clock.now());
  let alerts: Awaited<ReturnType<typeof raise>>;
  if (inTransaction) alerts = await raise(em);
  else {
    try {
      alerts = await em.fork().transactional(raise);
    } catch (error) {
      logger.warn({ err: error, crossings: crossings.length }, 'usage thresholds not recorded; the daily usage processing raises them');
      return;
    }
  }
  const { raised, known } = alerts;
  const remember = (crossing: ThresholdCrossing) => cache.markRaised(periodKey(crossing.subscriptionId, crossing.metricId, crossing.periodStart), crossing.threshold);
  // Crossings found already recorded were committed by another request: remember them now.
  known.forEach(remember);
  scope.afterCommit(async () => {
    raised.forEach(remember);
    await dispatchWebhookEvents({ temporal, taskQueue, orm, logger }, raised.map((crossing) => crossing.webhookEventId));
  });
}

type Caller = Omit<Parameters<typeof ingest>[3], 'guarded'>;

/** A batch request's caller: one principal, events named by index in problems. */
export const batchCaller = (principal: Principal): Caller => ({ principalOf: () => principal, field: (index, name) => `events.${index}.${name}` });

/** What a single event's request is answered with. */
export interface SingleEventOutcome {
  eventId: string;
  duplicate: boolean;
  subscriptionId?: string;
  periodStart?: string;
  periodEnd?: string;
}

interface Submission {
  event: UsageEventInput;
  principal: Principal;
}

export interface UsageIngestionDeps {
  orm: Orm;
  clock: Clock;
  temporal: Client;
  taskQueue: string;
  logger: Logger;
}

/**
 * The API's usage recorder: the reference cache every request shares, and group commit for single
 * events (`InFlightBatcher`). Requests that arrive while earlier groups are being written are
 * recorded together, so a busy API pays round trips and a commit (its fsync) per group rather
 * than per event. Every request is still answered only once its event is durable, and an idle API
 * writes each event at once.
 *
 * A group — and a batch request without an Idempotency-Key (`recordBatch`) — is first recorded
 * guarded (`ingest`): one read and one write on the pool, no transaction to open and close; what
 * the guarded write declines goes through a transaction.
 * A group is all or nothing like a batch, but its events come from unrelated callers: when the
 * group is refused (one event invalid, over a hard limit, not visible to its caller), each event
 * is recorded on its own, so each request gets exactly the answer it would have got alone.
 */
export class UsageIngestion {
  readonly cache = new ReferenceCache();
  readonly #groups: InFlightBatcher<Submission, SingleEventOutcome>;

  constructor(private readonly deps: UsageIngestionDeps) {
    // Two groups in flight measured best (one and four were slower: bench/usage-ingest.bench.ts).
    this.#groups = new InFlightBatcher({ maxInFlight: 2, maxBatch: 500, run: (group) => this.commitGroup(group) });
  }

  record(event: UsageEventInput, principal: Principal): Promise<SingleEventOutcome> {
    return this.#groups.submit({ event, principal });
  }

  /** A batch request's events, all or none, recorded as a group is (guarded first). */
  recordBatch(events: readonly UsageEventInput[], principal: Principal): Promise<IngestResult> {
    return this.ingestGuarded(events, batchCaller(principal));
  }

  private async commitGroup(group: Submission[]): Promise<BatchOutcome<SingleEventOutcome>[]> {
    if (group.length > 1) {
      try {
        return (await this.commit(group)).map((value) => ({ ok: true, value }));
      } catch {
        // Refused as a whole: each event alone below gets its own verdict.
      }
    }
    return Promise.all(
      group.map(async (submission): Promise<BatchOutcome<SingleEventOutcome>> => {
        try {
          const [value] = await this.commit([submission]);
          return { ok: true, value: value! };
        } catch (error) {
          return { ok: false, error };
        }
      }),
    );
  }

  private async commit(group: readonly Submission[]): Promise<SingleEventOutcome[]> {
    const events = group.map((submission) => submission.event);
    const result = await this.ingestGuarded(events, { principalOf: (index) => group[index]!.principal, field: (_, name) => name, reportEach: true });
    return events.map((event, index) => {
      const row = result.rows[index];
      if (!result.recorded![index] || !row) return { eventId: event.eventId, duplicate: true };
      return { eventId: event.eventId, duplicate: false, subscriptionId: row.subscriptionId, periodStart: row.periodStart, periodEnd: row.periodEnd };
    });
  }

  /** Guarded on the pool first; through a transaction when the guarded write declines. Runs the after-commit work of whichever committed. */
  private async ingestGuarded(events: readonly UsageEventInput[], caller: Caller): Promise<IngestResult> {
    const committed: (() => Promise<void>)[] = [];
    const scope = { ...this.deps, afterCommit: (task: () => Promise<void>) => void committed.push(task) };
    const em = this.deps.orm.em.fork();
    let result: IngestResult;
    try {
      result = await ingest({ ...scope, em }, this.cache, events, { ...caller, guarded: { pool: await em.getConnection().getNativeClient() } });
    } catch (error) {
      if (!(error instanceof GuardedWriteDeclined)) throw error;
      committed.length = 0;
      result = await this.deps.orm.em.fork().transactional((tx) => ingest({ ...scope, em: tx }, this.cache, events, caller));
    }
    for (const task of committed) await task();
    return result;
  }
}
