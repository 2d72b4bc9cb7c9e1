import type { EntityManager } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import type { Client } from '@temporalio/client';
import type { Clock } from '../clock.js';
import type { Orm } from '../db/orm.js';
import type { Logger } from '../logger.js';
import {
  DomainError,
  MAX_USAGE_EVENT_QUANTITY,
  dayOf,
  decimalToString,
  exceedsHardLimit,
  instantOfDay,
  parseDecimal,
  thresholdsToRaise,
  usageContribution,
  usagePeriods,
  type UsagePeriod,
} from '../domain/index.js';
import {
  ancestriesOf,
  departmentOwners,
  meteredSubscriptions,
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
import type { BudgetWatcher } from '../budgets/watcher.js';
import { dispatchWebhookEvents } from '../webhooks/outbox.js';
import { periodTotalOutOfRange, refuse, refused, type EventFailure } from './failures.js';
import { canonical, externalKey, quotaOf, uniqueValues, type ReferenceCache } from './reference-cache.js';

/**
 * Recording usage events: validation against what they refer to, attribution to a subscription
 * and billing period, the write, and the quotas — for a batch request, and for single events
 * committed together in groups (`UsageIngestion`, ingestion.ts). A refusal is thrown as
 * `UsageRefused`, so the transaction rolls back; the recorder returns it as a result.
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

/** How far ahead of the server's clock an event's timestamp may be (clocks of product servers drift). */
const maxClockSkewMs = 5 * 60 * 1000;
const maxDistinctValueLength = 500;

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

/**
 * Whether the caller may record usage for an organization, given its ancestry (the organization
 * first): the API's policy answers (`not_visible` for one it cannot see).
 */
export type UsageAccess = (ancestry: readonly string[]) => 'allow' | 'forbidden' | 'not_visible';

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
  /** Told, once the events are committed, which organizations recorded usage (their budgets are checked). */
  budgetWatcher?: Pick<BudgetWatcher, 'touch'>;
}

/**
 * A guarded ingestion (see `ingest`) that cannot finish on its own terms: a subscription changed
 * between its read and its write, or a hard limit needs the transactional check. Nothing was
 * written; the same events go through a transaction instead.
 */
export class GuardedWriteDeclined extends Error {}

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
  caller: { accessOf: (index: number) => UsageAccess; field: (index: number, name: string) => string; reportEach?: boolean; guarded?: { pool: Pool } },
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
    const decision = ancestry === undefined ? 'not_visible' : caller.accessOf(index)(ancestry);
    if (decision === 'not_visible') {
      const message =
        event.organizationId !== undefined
          ? `No organization ${event.organizationId}.`
          : `No organization with external id "${event.externalOrgId}" in application "${event.applicationSlug}".`;
      // The same answer for an organization that does not exist and one the caller cannot see.
      const named = event.organizationId !== undefined ? 'organizationId' : 'externalOrgId';
      throw refused({ code: 'organization_not_found', message, errors: [{ field: field(index, named), message: 'no such organization' }] });
    }
    if (decision === 'forbidden') throw refused({ code: 'forbidden', message: 'The caller may not usage: write.' });
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
      failures.push({ index, code: failure.code, field: field(index, failure.name), message: failure.message, ...(failure.details ? { details: failure.details } : {}) });
    };
    // A repeat inside the batch is a duplicate of its first occurrence.
    const identity = `${organizationId} ${event.eventId}`;
    if (seen.has(identity)) return;
    seen.add(identity);

    const metric = metrics.get(event.metricCode);
    if (!metric) return fail({ code: 'metric_not_found', name: 'metricCode', message: `No metric "${event.metricCode}".` });
    if (event.departmentId !== undefined && departments.get(event.departmentId) !== organizationId) {
      return fail({ code: 'department_not_found', name: 'departmentId', message: `The organization has no department ${event.departmentId}.` });
    }
    const occurredAt = event.timestamp === undefined ? now.getTime() : Date.parse(event.timestamp);
    if (occurredAt > now.getTime() + maxClockSkewMs) {
      return fail({ code: 'timestamp_out_of_range', name: 'timestamp', message: `${event.timestamp} is in the future.` });
    }

    const own = subscriptions.filter((subscription) => subscription.organizationId === organizationId);
    let subscription: MeteredSubscription | undefined;
    if (event.subscriptionId !== undefined) {
      subscription = own.find((candidate) => candidate.id === event.subscriptionId);
      if (!subscription) return fail({ code: 'subscription_not_found', name: 'subscriptionId', message: `The organization has no subscription ${event.subscriptionId}.` });
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
          ? fail({ code: 'no_subscription_for_metric', name: 'metricCode', message: `The organization has no active subscription whose plan charges "${metric.code}"; name subscriptionId.` })
          : fail({ code: 'subscription_ambiguous', name: 'subscriptionId', message: `Several active subscriptions charge "${metric.code}" (${charging.map((candidate) => candidate.id).join(', ')}); name one.` });
      }
      subscription = charging[0]!;
    }
    if (occurredAt < subscription.startsAt || (subscription.cancelAt !== null && occurredAt >= subscription.cancelAt)) {
      return fail({ code: 'timestamp_out_of_range', name: 'timestamp', message: `${new Date(occurredAt).toISOString()} is outside subscription ${subscription.id}.` });
    }
    let calendar = periodsOf.get(subscription.id);
    if (!calendar) {
      calendar = { at: usagePeriods(subscription), byDay: new Map() };
      periodsOf.set(subscription.id, calendar);
    }
    const day = dayOf(occurredAt);
    let period = calendar.byDay.get(day);
    if (!period) {
      period = calendar.at(occurredAt);
      calendar.byDay.set(day, period);
    }
    if (subscription.usageClosedThrough !== null && occurredAt < subscription.usageClosedThrough) {
      return fail({
        code: 'usage_period_closed',
        name: 'timestamp',
        message: `The period ${period.start} to ${period.end} of subscription ${subscription.id} is invoiced; late usage is refused.`,
        details: { subscriptionId: subscription.id, periodStart: instantOfDay(period.start), periodEnd: instantOfDay(period.end), closedThrough: new Date(subscription.usageClosedThrough).toISOString() },
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
      return fail({ code: 'usage_value_invalid', name: metric.field === null ? 'quantity' : `properties.${metric.field}`, message: error.message });
    }
    if (value !== null && !eventValuePattern.test(value)) {
      return fail({ code: 'usage_value_invalid', name: `properties.${metric.field}`, message: `${value} is out of range: an event adds at most ${maxEventValue}.` });
    }
    if (distinctKey !== null && distinctKey.length > maxDistinctValueLength) {
      return fail({ code: 'usage_value_invalid', name: `properties.${metric.field}`, message: `Values counted distinct are limited to ${maxDistinctValueLength - 2} characters.` });
    }
    rows[index] = {
      organizationId,
      eventId: event.eventId,
      occurredAt: timestamp,
      subscriptionId: subscription.id,
      metricId: metric.id,
      aggregation: metric.aggregation,
      periodStart: instantOfDay(period.start),
      periodEnd: instantOfDay(period.end),
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
  if (written.accepted > 0 && scope.budgetWatcher) {
    const { budgetWatcher } = scope;
    scope.afterCommit(() => Promise.resolve(budgetWatcher.touch(uniqueValues(valid.map((row) => row.organizationId)))));
  }
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
    throw refused({
      code: 'usage_limit_exceeded',
      message: `Metric "${metricCode}" is limited to ${hardLimit} units per period on subscription ${total.subscriptionId} (${periodStart.slice(0, 10)} to ${periodEnd.slice(0, 10)}); usage is ${total.previous} and these events would bring it to ${total.quantity}. Nothing was recorded.`,
      errors: overLimit.map((over) => ({ field: 'metricCode', message: `${codeOf(over.total.metricId)}: limit ${over.hardLimit}, usage ${over.total.previous}, would be ${over.total.quantity}` })),
      details: { metricCode, subscriptionId: total.subscriptionId, limit: hardLimit, currentUsage: total.previous, requestedUsage: total.quantity, periodStart, periodEnd },
    });
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

export type Caller = Omit<Parameters<typeof ingest>[3], 'guarded'>;

/** A batch request's caller: one caller's access, events named by index in problems. */
export const batchCaller = (access: UsageAccess): Caller => ({ accessOf: () => access, field: (index, name) => `events.${index}.${name}` });

