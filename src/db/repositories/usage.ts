import type { EntityManager } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import { dayOfDate, type IncludedAllocation, type SubscriptionCalendar } from '../../domain/index.js';
import type { Aggregation, SubscriptionStatus } from '../entities/index.js';
import { namedSql, sql } from '../sql.js';
import { organizationTree } from './organizations.js';

/**
 * SQL of usage metering. Every write is set-based: a batch of a thousand events is one statement
 * that records their keys, stores the new ones and folds them into the running aggregates, so the
 * whole batch commits or rolls back as one.
 */

/**
 * A timestamp column as an ISO 8601 UTC string: raw queries get timestamps as PostgreSQL's text
 * ("2027-01-01 00:00:00+00"), which is not a format `Date.parse` is guaranteed to read.
 */
const isoOf = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

export interface MetricRef {
  id: string;
  code: string;
  aggregation: Aggregation;
  field: string | null;
}

export async function metricsByCode(em: EntityManager, codes: readonly string[]): Promise<MetricRef[]> {
  if (codes.length === 0) return [];
  return sql<MetricRef>(em, 'select id, code, aggregation, field from metrics where code = any($1::text[])', [codes]);
}

export async function metricsById(em: EntityManager, ids: readonly string[]): Promise<MetricRef[]> {
  if (ids.length === 0) return [];
  return sql<MetricRef>(em, 'select id, code, aggregation, field from metrics where id = any($1::uuid[])', [ids]);
}

export interface ChargeQuota {
  metricId: string;
  included: number;
  allocation: IncludedAllocation;
  hardLimit: number | null;
}

/** The usage charges of plan versions (which never change once written), by plan id. */
export async function chargesOfPlans(em: EntityManager, planIds: readonly string[]): Promise<Map<string, ChargeQuota[]>> {
  const charges = new Map<string, ChargeQuota[]>(planIds.map((id) => [id, []]));
  if (planIds.length === 0) return charges;
  const rows = await sql<ChargeQuota & { planId: string; included: string; hardLimit: string | null }>(
    em,
    `select plan_id as "planId", metric_id as "metricId", included, allocation, hard_limit as "hardLimit"
     from plan_charges where plan_id = any($1::uuid[])`,
    [planIds],
  );
  for (const row of rows) {
    charges.get(row.planId)?.push({
      metricId: row.metricId,
      included: Number(row.included),
      allocation: row.allocation,
      hardLimit: row.hardLimit === null ? null : Number(row.hardLimit),
    });
  }
  return charges;
}

/** An organization and its ancestors (itself first), for every id that exists. */
export async function ancestriesOf(em: EntityManager, organizationIds: readonly string[]): Promise<Map<string, string[]>> {
  if (organizationIds.length === 0) return new Map();
  const rows = await sql<{ origin: string; chain: string[] }>(
    em,
    `with recursive ${organizationTree('chain', 'ancestors', 'id = any($1::uuid[])')}
     select origin, array_agg(id::text order by depth) as chain from chain group by origin`,
    [organizationIds],
  );
  return new Map(rows.map((row) => [row.origin, row.chain]));
}

export interface ExternalOrganization {
  applicationSlug: string;
  externalId: string;
  organizationId: string;
  applicationId: string;
}

/** Organizations named by a product's own id for them (`externalOrgId` + `applicationSlug`). */
export async function externalOrganizations(em: EntityManager, refs: readonly { applicationSlug: string; externalId: string }[]): Promise<ExternalOrganization[]> {
  if (refs.length === 0) return [];
  return sql<ExternalOrganization>(
    em,
    `select a.slug as "applicationSlug", e.external_id as "externalId", e.organization_id as "organizationId", a.id as "applicationId"
     from unnest($1::text[], $2::text[]) as r(slug, external_id)
     join applications a on a.slug = r.slug
     join external_ids e on e.application_id = a.id and e.external_id = r.external_id`,
    [refs.map((ref) => ref.applicationSlug), refs.map((ref) => ref.externalId)],
  );
}

export interface PhaseTerms {
  effectiveAt: string;
  sequence: number;
  planId: string;
  seats: number;
}

export interface MeteredSubscription extends SubscriptionCalendar {
  id: string;
  organizationId: string;
  applicationId: string;
  planId: string;
  status: SubscriptionStatus;
  /** Epoch ms of the start day. */
  startsAt: number;
  cancelAt: number | null;
  usageClosedThrough: number | null;
  phases: PhaseTerms[];
  /** The row's version (`xmin`): any update of the subscription changes it. */
  version: string;
}

interface SubscriptionRow {
  id: string;
  organizationId: string;
  applicationId: string;
  planId: string;
  status: SubscriptionStatus;
  version: string;
  startDate: string;
  billingAnchorDay: number | null;
  cancelAt: string | null;
  usageClosedThrough: string | null;
  interval: SubscriptionCalendar['interval'];
  phases: { effectiveAt: string; sequence: number; planId: string; seats: number }[] | null;
}

const day = (instant: string) => dayOfDate(new Date(instant));

/** The columns of a `MeteredSubscription`, from `subscriptions s join plans p`. */
const meteredSubscriptionColumns = `s.id, s.organization_id as "organizationId", s.application_id as "applicationId", s.plan_id as "planId", s.status,
  s.xmin::text as version, ${isoOf('s.start_date')} as "startDate", s.billing_anchor_day as "billingAnchorDay", ${isoOf('s.cancel_at')} as "cancelAt",
  ${isoOf('s.usage_closed_through')} as "usageClosedThrough", p.interval,
  (select json_agg(json_build_object('effectiveAt', ph.effective_at, 'sequence', ph.sequence, 'planId', ph.plan_id, 'seats', ph.seats))
     from subscription_phases ph where ph.subscription_id = s.id) as phases`;

const toMeteredSubscription = (row: SubscriptionRow): MeteredSubscription => ({
  id: row.id,
  organizationId: row.organizationId,
  applicationId: row.applicationId,
  planId: row.planId,
  status: row.status,
  version: row.version,
  interval: row.interval,
  startDate: day(row.startDate),
  billingAnchorDay: row.billingAnchorDay,
  startsAt: Date.parse(row.startDate),
  cancelAt: row.cancelAt === null ? null : Date.parse(row.cancelAt),
  usageClosedThrough: row.usageClosedThrough === null ? null : Date.parse(row.usageClosedThrough),
  // A subscription is written with its first phase; the mirror's own plan stands in until then.
  phases: (row.phases ?? [{ effectiveAt: day(row.startDate), sequence: 0, planId: row.planId, seats: 0 }]).map((phase) => ({
    ...phase,
    effectiveAt: day(phase.effectiveAt),
  })),
});

/**
 * Every subscription of these organizations (and these subscriptions) with its calendar and
 * history. With `lock`, the rows are held `for share` until the transaction ends: the billing
 * cycle's update of `usage_closed_through` then waits for ingestions in flight, and an ingestion
 * after it reads the new value, so an event is either on the invoice or refused.
 */
export async function meteredSubscriptions(
  em: EntityManager,
  scope: { organizationIds?: readonly string[]; subscriptionIds?: readonly string[] },
  options: { lock: boolean },
): Promise<MeteredSubscription[]> {
  const organizationIds = scope.organizationIds ?? [];
  const subscriptionIds = scope.subscriptionIds ?? [];
  if (organizationIds.length === 0 && subscriptionIds.length === 0) return [];
  const rows = await sql<SubscriptionRow>(
    em,
    `select ${meteredSubscriptionColumns}
     from subscriptions s join plans p on p.id = s.plan_id
     where s.organization_id = any($1::uuid[]) or s.id = any($2::uuid[])
     order by s.id
     ${options.lock ? 'for share of s' : ''}`,
    [organizationIds, subscriptionIds],
  );
  return rows.map(toMeteredSubscription);
}

/** What ingestion reads about the organizations its events name. */
export interface IngestionContext {
  /** Each organization that exists and its ancestors (itself first). */
  ancestries: Map<string, string[]>;
  subscriptions: MeteredSubscription[];
  /** Departments among those named, with their organization. */
  departments: Map<string, string>;
}

/**
 * `ancestriesOf`, `meteredSubscriptions` and `departmentOwners` in one named statement on the
 * pool, outside any transaction and without locks: grouped single events read it, then write with
 * `writeUsageGuarded`, which checks under lock that no subscription read here has changed since.
 */
export async function readIngestionContext(pool: Pool, organizationIds: readonly string[], departmentIds: readonly string[]): Promise<IngestionContext> {
  const rows = await namedSql<{ ancestries: Record<string, string[]> | null; subscriptions: SubscriptionRow[] | null; departments: Record<string, string> | null }>(pool, {
    name: 'ledgerflow_usage_ingestion_context',
    text: `select
       (with recursive ${organizationTree('chain', 'ancestors', 'id = any($1::uuid[])')}
        select json_object_agg(origin, ids) from (select origin, array_agg(id::text order by depth) as ids from chain group by origin) a) as ancestries,
       (select json_agg(x order by x.id) from (
          select ${meteredSubscriptionColumns} from subscriptions s join plans p on p.id = s.plan_id where s.organization_id = any($1::uuid[])
        ) x) as subscriptions,
       (select json_object_agg(id, organization_id) from departments where id = any($2::uuid[])) as departments`,
    values: [organizationIds, departmentIds],
  });
  const [row] = rows;
  return {
    ancestries: new Map(Object.entries(row?.ancestries ?? {})),
    subscriptions: (row?.subscriptions ?? []).map(toMeteredSubscription),
    departments: new Map(Object.entries(row?.departments ?? {})),
  };
}

/** Departments among `ids`, with their organization. */
export async function departmentOwners(em: EntityManager, ids: readonly string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await sql<{ id: string; organizationId: string }>(
    em,
    'select id, organization_id as "organizationId" from departments where id = any($1::uuid[])',
    [ids],
  );
  return new Map(rows.map((row) => [row.id, row.organizationId]));
}

/** Event ids among `eventIds` that this organization has already recorded. */
export async function recordedEventIds(em: EntityManager, organizationId: string, eventIds: readonly string[]): Promise<Set<string>> {
  const rows = await sql<{ eventId: string }>(
    em,
    'select event_id as "eventId" from usage_event_keys where organization_id = $1 and event_id = any($2::text[])',
    [organizationId, eventIds],
  );
  return new Set(rows.map((row) => row.eventId));
}

/** One validated event, attributed to a subscription and billing period, ready to store. */
export interface UsageRow {
  organizationId: string;
  eventId: string;
  /** ISO instant. */
  occurredAt: string;
  subscriptionId: string;
  metricId: string;
  aggregation: Aggregation;
  /** ISO instants of the billing period. */
  periodStart: string;
  periodEnd: string;
  userId: string | null;
  departmentId: string | null;
  /** Decimal string, as sent (1 by default). */
  quantity: string;
  /** What the event adds to a count, sum, max or latest metric; null when it lacks the field. */
  value: string | null;
  /** The value a unique_count metric counts distinct. */
  distinctKey: string | null;
  properties: Record<string, unknown> | null;
}

/** A subscription's running total for one metric and period after a write. */
export interface PeriodTotal {
  subscriptionId: string;
  metricId: string;
  periodStart: string;
  periodEnd: string;
  quantity: string;
  /** The value before this write (0 for a new period). */
  previous: string;
}

/** What one write of events returns: how many were new, and the period totals they changed. */
export interface UsageWritten {
  accepted: number;
  totals: PeriodTotal[];
  /** With `reportKeys`: `organizationId eventId` of each event recorded now. */
  acceptedKeys?: string[];
}

/**
 * The events as one array per column ($2 to $15 of the write): PostgreSQL reads typed arrays about
 * twice as fast as the same rows as a JSON document (`json_to_recordset` builds a key table per row).
 */
const usageInput = (rows: readonly UsageRow[]) => [
  rows.map((row) => row.organizationId),
  rows.map((row) => row.eventId),
  rows.map((row) => row.occurredAt),
  rows.map((row) => row.subscriptionId),
  rows.map((row) => row.metricId),
  rows.map((row) => row.aggregation),
  rows.map((row) => row.periodStart),
  rows.map((row) => row.periodEnd),
  rows.map((row) => row.userId),
  rows.map((row) => row.departmentId),
  rows.map((row) => row.quantity),
  rows.map((row) => row.value),
  rows.map((row) => row.distinctKey),
  rows.map((row) => (row.properties === null ? null : JSON.stringify(row.properties))),
];

/**
 * The statement that stores events ($1: when received, $2 to $15: their columns): keys first (a key already
 * there — a replay, or a concurrent duplicate once its transaction commits — drops the event),
 * then the new events' raw rows, their distinct values and their share of the aggregates. Rows
 * are fed in key order so concurrent writes lock in the same order and cannot deadlock.
 *
 * Guarded ($16: subscription ids, $17: their versions as read), it first locks those subscriptions
 * `for share` and writes nothing unless every one is still the version read (`current`).
 */
function usageWriteStatement(options: { reportKeys: boolean; guarded: boolean }): string {
  // Which events were new matters only to callers answering for each event (grouped single events).
  const keys = options.reportKeys ? `(select json_agg(o::text || ' ' || e) from new_keys)` : 'null::json';
  const guard = options.guarded
    ? `locked as materialized (select id, xmin::text as version from subscriptions where id = any($16::uuid[]) order by id for share),
     guard as (
       select count(*) filter (where l.version = r.version) = cardinality($16::uuid[]) as current
       from unnest($16::uuid[], $17::text[]) as r(id, version) left join locked l using (id)
     ),`
    : `guard as (select true as current),`;
  return `with ${guard}
     input as (
       select * from unnest($2::uuid[], $3::text[], $4::timestamptz[], $5::uuid[], $6::uuid[], $7::text[], $8::timestamptz[], $9::timestamptz[],
         $10::text[], $11::uuid[], $12::numeric[], $13::numeric[], $14::text[], $15::jsonb[]) as i(o, e, t, s, m, a, ps, pe, u, d, q, v, k, p)
     ),
     new_keys as (
       insert into usage_event_keys (organization_id, event_id, occurred_at, received_at)
       select o, e, t, $1::timestamptz from input where (select current from guard) order by o, e
       on conflict do nothing
       returning organization_id as o, event_id as e
     ),
     fresh as (select input.* from input join new_keys using (o, e)),
     stored as (
       insert into usage_events (organization_id, event_id, occurred_at, received_at, subscription_id, metric_id, period_start,
         user_id, department_id, quantity, value, distinct_key, properties)
       select o, e, t, $1::timestamptz, s, m, ps, u, d, q, v, k, p from fresh
     ),
     contributions as (
       select f.s, f.m, f.ps, f.pe, f.o, f.a, f.e, f.t, f.v, f.k, g.scope,
         case g.scope when 'total' then '' else coalesce(f.u, '') end as uk,
         case g.scope when 'total' then '' else coalesce(f.d::text, '') end as dk
       from fresh f cross join (values ('total'), ('group')) as g(scope)
       where f.v is not null or f.k is not null
     ),
     new_distinct as (
       insert into usage_distinct_values (subscription_id, metric_id, period_start, scope, user_key, department_key, value_key)
       select distinct s, m, ps, scope, uk, dk, k from contributions where k is not null order by 1, 2, 3, 4, 5, 6, 7
       on conflict do nothing
       returning subscription_id as s, metric_id as m, period_start as ps, scope, user_key as uk, department_key as dk
     ),
     distinct_counts as (select s, m, ps, scope, uk, dk, count(*) as n from new_distinct group by s, m, ps, scope, uk, dk),
     deltas as (
       select c.s, c.m, c.ps, c.scope, c.uk, c.dk, min(c.pe) as pe, min(c.o::text)::uuid as o, min(c.a) as a, count(*) as events,
         case min(c.a)
           when 'max' then max(c.v)
           when 'latest' then (array_agg(c.v order by c.t desc, c.e collate "C" desc) filter (where c.a = 'latest'))[1]
           when 'unique_count' then coalesce(min(dc.n), 0)
           else sum(c.v)
         end as quantity,
         max(c.t) as latest_at,
         -- only latest metrics need the ordering (a sort per group otherwise spent for nothing)
         (array_agg(c.e order by c.t desc, c.e collate "C" desc) filter (where c.a = 'latest'))[1] as latest_event_id
       from contributions c left join distinct_counts dc using (s, m, ps, scope, uk, dk)
       group by c.s, c.m, c.ps, c.scope, c.uk, c.dk
     ),
     upserted as (
       insert into usage_aggregates as t (id, organization_id, subscription_id, metric_id, aggregation, period_start, period_end, scope,
         user_key, department_key, quantity, event_count, latest_at, latest_event_id, updated_at)
       select gen_random_uuid(), o, s, m, a, ps, pe, scope, uk, dk, quantity, events,
         case when a = 'latest' then latest_at end, case when a = 'latest' then latest_event_id end, $1::timestamptz
       from deltas order by s, m, ps, scope, uk, dk
       on conflict on constraint usage_aggregates_key_unique do update set
         quantity = case
           when t.aggregation = 'max' then greatest(t.quantity, excluded.quantity)
           when t.aggregation = 'latest' then
             case when (excluded.latest_at, excluded.latest_event_id collate "C") > (t.latest_at, t.latest_event_id collate "C")
               then excluded.quantity else t.quantity end
           else t.quantity + excluded.quantity
         end,
         latest_at = case when t.aggregation = 'latest' then greatest(t.latest_at, excluded.latest_at) end,
         latest_event_id = case
           when t.aggregation <> 'latest' then null
           when (excluded.latest_at, excluded.latest_event_id collate "C") > (t.latest_at, t.latest_event_id collate "C") then excluded.latest_event_id
           else t.latest_event_id
         end,
         event_count = t.event_count + excluded.event_count,
         updated_at = excluded.updated_at
       -- old.* (PostgreSQL 18): the value before this write, which a refusal names.
       returning t.subscription_id, t.metric_id, t.period_start, t.period_end, t.scope, t.quantity, old.quantity as previous
     )
     select (select current from guard) as current, (select count(*) from new_keys)::int as accepted, ${keys} as "acceptedKeys",
       coalesce((select json_agg(json_build_object('subscriptionId', subscription_id, 'metricId', metric_id, 'periodStart', period_start,
         'periodEnd', period_end, 'quantity', quantity::text, 'previous', coalesce(previous, 0)::text)) from upserted where scope = 'total'), '[]'::json) as totals`;
}

interface UsageWriteRow {
  current: boolean;
  accepted: number;
  totals: PeriodTotal[];
  acceptedKeys: string[] | null;
}

const written = (row: UsageWriteRow | undefined, reportKeys: boolean): UsageWritten => ({
  accepted: row?.accepted ?? 0,
  totals: row?.totals ?? [],
  ...(reportKeys ? { acceptedKeys: row?.acceptedKeys ?? [] } : {}),
});

const plainWrite = { report: usageWriteStatement({ reportKeys: true, guarded: false }), silent: usageWriteStatement({ reportKeys: false, guarded: false }) };
const guardedWrite = usageWriteStatement({ reportKeys: true, guarded: true });

/** Stores events in one statement, in the EntityManager's transaction (see `usageWriteStatement`). */
export async function writeUsage(em: EntityManager, rows: readonly UsageRow[], receivedAt: Date, options: { reportKeys?: boolean } = {}): Promise<UsageWritten> {
  const reportKeys = options.reportKeys === true;
  const [row] = await sql<UsageWriteRow>(em, reportKeys ? plainWrite.report : plainWrite.silent, [receivedAt, ...usageInput(rows)]);
  return written(row, reportKeys);
}

/**
 * Stores events in one named statement on the pool, a transaction of its own, provided the
 * subscriptions they were attributed with are still the versions read (`MeteredSubscription.version`).
 * Returns `stale` — and has written nothing — when one has changed since.
 */
export async function writeUsageGuarded(
  pool: Pool,
  rows: readonly UsageRow[],
  receivedAt: Date,
  subscriptions: readonly { id: string; version: string }[],
): Promise<UsageWritten | 'stale'> {
  const [row] = await namedSql<UsageWriteRow>(pool, {
    name: 'ledgerflow_usage_write_guarded',
    text: guardedWrite,
    values: [receivedAt, ...usageInput(rows), subscriptions.map((subscription) => subscription.id), subscriptions.map((subscription) => subscription.version)],
  });
  return row?.current ? written(row, true) : 'stale';
}

export interface ThresholdCrossing {
  organizationId: string;
  subscriptionId: string;
  metricId: string;
  periodStart: string;
  periodEnd: string;
  threshold: number;
  quota: number;
  quantity: string;
}

/** Records crossings; returns those not recorded before (the unique key decides, also under concurrency). */
export async function recordCrossings(em: EntityManager, crossings: readonly ThresholdCrossing[], at: Date): Promise<(ThresholdCrossing & { id: string })[]> {
  if (crossings.length === 0) return [];
  return sql<ThresholdCrossing & { id: string }>(
    em,
    `insert into usage_threshold_crossings (id, organization_id, subscription_id, metric_id, period_start, period_end, threshold, quota, quantity, crossed_at)
     select gen_random_uuid(), c."organizationId", c."subscriptionId", c."metricId", c."periodStart", c."periodEnd", c.threshold, c.quota, c.quantity, $1::timestamptz
     from json_to_recordset($2::json) as c("organizationId" uuid, "subscriptionId" uuid, "metricId" uuid, "periodStart" timestamptz,
       "periodEnd" timestamptz, threshold int, quota bigint, quantity numeric)
     -- key order: concurrent writers lock in the same order
     order by c."subscriptionId", c."metricId", c."periodStart", c.threshold
     on conflict on constraint usage_threshold_crossings_once do nothing
     returning id, organization_id as "organizationId", subscription_id as "subscriptionId", metric_id as "metricId",
       ${isoOf('period_start')} as "periodStart", ${isoOf('period_end')} as "periodEnd", threshold, quota::float8 as quota, trim_scale(quantity)::text as quantity`,
    [at, JSON.stringify(crossings)],
  );
}

export async function linkCrossingEvents(em: EntityManager, links: readonly { crossingId: string; webhookEventId: string }[]): Promise<void> {
  if (links.length === 0) return;
  await sql(
    em,
    `update usage_threshold_crossings c set webhook_event_id = l.event_id
     from unnest($1::uuid[], $2::uuid[]) as l(id, event_id) where c.id = l.id`,
    [links.map((link) => link.crossingId), links.map((link) => link.webhookEventId)],
  );
}

/** Thresholds already recorded for these subscriptions' periods, by `subscription metric periodStart` (ISO). */
export async function recordedThresholds(em: EntityManager, subscriptionIds: readonly string[]): Promise<Map<string, number[]>> {
  const rows = await sql<{ subscriptionId: string; metricId: string; periodStart: string; threshold: number }>(
    em,
    `select subscription_id as "subscriptionId", metric_id as "metricId", ${isoOf('period_start')} as "periodStart", threshold
     from usage_threshold_crossings where subscription_id = any($1::uuid[])`,
    [subscriptionIds],
  );
  const recorded = new Map<string, number[]>();
  for (const row of rows) {
    const key = periodKey(row.subscriptionId, row.metricId, row.periodStart);
    recorded.set(key, [...(recorded.get(key) ?? []), row.threshold]);
  }
  return recorded;
}

export const periodKey = (subscriptionId: string, metricId: string, periodStart: string) =>
  `${subscriptionId} ${metricId} ${new Date(periodStart).toISOString()}`;

/** What `GET /v1/usage` reads: one row per subscription, metric and period, from the aggregates only. */
export interface UsageReadRow {
  subscriptionId: string;
  metricId: string;
  metricCode: string;
  aggregation: Aggregation;
  /** ISO instants. */
  periodStart: string;
  periodEnd: string;
  /** The value of the rows read (the whole subscription, or the user/department slice asked for). */
  quantity: string;
  events: string;
  /** The subscription's whole value in the period (quotas apply to it). */
  total: string;
}

export interface UsageReadFilter {
  subscriptionIds: readonly string[];
  /** Periods overlapping [from, to). */
  from: Date;
  to: Date;
  userId?: string;
  departmentId?: string;
}

export async function readUsage(em: EntityManager, filter: UsageReadFilter): Promise<UsageReadRow[]> {
  if (filter.subscriptionIds.length === 0) return [];
  const sliced = filter.userId !== undefined || filter.departmentId !== undefined;
  return sql<UsageReadRow>(
    em,
    `with totals as (
       select subscription_id, metric_id, period_start, period_end, aggregation, quantity, event_count
       from usage_aggregates
       where scope = 'total' and subscription_id = any($1::uuid[]) and period_start < $2::timestamptz and period_end > $3::timestamptz
     ),
     slices as (
       select g.subscription_id, g.metric_id, g.period_start, g.aggregation,
         case
           when g.aggregation = 'max' then max(g.quantity)
           when g.aggregation = 'latest' then (array_agg(g.quantity order by g.latest_at desc, g.latest_event_id collate "C" desc))[1]
           when g.aggregation = 'unique_count' then (
             select count(distinct d.value_key) from usage_distinct_values d
             where d.subscription_id = g.subscription_id and d.metric_id = g.metric_id and d.period_start = g.period_start and d.scope = 'group'
               and ($4::text is null or d.user_key = $4::text) and ($5::text is null or d.department_key = $5::text))
           else sum(g.quantity)
         end as quantity,
         sum(g.event_count) as event_count
       from usage_aggregates g join totals t using (subscription_id, metric_id, period_start)
       where g.scope = 'group' and ($4::text is null or g.user_key = $4::text) and ($5::text is null or g.department_key = $5::text)
       group by g.subscription_id, g.metric_id, g.period_start, g.aggregation
     )
     select t.subscription_id as "subscriptionId", t.metric_id as "metricId", m.code as "metricCode", t.aggregation,
       ${isoOf('t.period_start')} as "periodStart", ${isoOf('t.period_end')} as "periodEnd",
       ${sliced ? 'coalesce(s.quantity, 0)' : 't.quantity'}::text as quantity,
       ${sliced ? 'coalesce(s.event_count, 0)' : 't.event_count'}::text as events,
       t.quantity::text as total
     from totals t join metrics m on m.id = t.metric_id
     ${sliced ? 'left join slices s using (subscription_id, metric_id, period_start)' : ''}
     order by t.subscription_id, t.period_start, m.code`,
    [filter.subscriptionIds, filter.to, filter.from, filter.userId ?? null, filter.departmentId ?? null],
  );
}
