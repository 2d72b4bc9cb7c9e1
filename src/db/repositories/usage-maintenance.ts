import type { EntityManager } from '@mikro-orm/postgresql';
import { dateOfDay } from '../../domain/index.js';
import type { Aggregation } from '../entities/index.js';
import { sql } from '../sql.js';

/**
 * The daily upkeep of usage metering: monthly partitions of the raw events, and re-deriving the
 * running aggregates of closed periods from those raw events.
 */

/** `usage_events_2027_01` for the month starting at `monthStart` (UTC). */
export const partitionName = (monthStart: Date) =>
  `usage_events_${monthStart.getUTCFullYear()}_${String(monthStart.getUTCMonth() + 1).padStart(2, '0')}`;

const monthStartOf = (instant: Date) => new Date(Date.UTC(instant.getUTCFullYear(), instant.getUTCMonth(), 1));
const nextMonth = (monthStart: Date) => new Date(Date.UTC(monthStart.getUTCFullYear(), monthStart.getUTCMonth() + 1, 1));

/**
 * Gives a month its own partition: the months whose events sit in the default partition, and
 * `monthsAhead` months from `now`. Rows of the month move out of the default partition in the
 * same transaction, with inserts into the default partition held back meanwhile, so no event is
 * lost or refused. Returns the partitions created.
 */
export async function ensureUsagePartitions(em: EntityManager, now: Date, monthsAhead: number): Promise<string[]> {
  return em.transactional(async (tx) => {
    // One job at a time; retries and overlapping runs find the work done.
    await sql(tx, `select pg_advisory_xact_lock(hashtext('usage_events partitions'))`);
    const stranded = await sql<{ month: string }>(
      tx,
      `select distinct to_char(date_trunc('month', occurred_at at time zone 'UTC'), 'YYYY-MM-DD') as month from usage_events_default`,
    );
    const months = new Map<string, Date>();
    const want = (month: Date) => months.set(partitionName(month), month);
    for (const { month } of stranded) want(dateOfDay(month));
    for (let month = monthStartOf(now), step = 0; step <= monthsAhead; month = nextMonth(month), step += 1) want(month);

    const existing = new Set(
      (
        await sql<{ name: string }>(
          tx,
          `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'usage_events'::regclass`,
        )
      ).map((row) => row.name),
    );
    const created: string[] = [];
    const wanted = [...months].filter(([name]) => !existing.has(name)).map(([, month]) => month).sort((a, b) => a.getTime() - b.getTime());
    if (wanted.length === 0) return created;
    // Inserts routed to the default partition wait until the moved rows are out of it.
    await sql(tx, 'lock table usage_events_default in share row exclusive mode');
    for (const month of wanted) {
      const name = partitionName(month);
      const [from, to] = [month.toISOString(), nextMonth(month).toISOString()];
      await sql(tx, `create table "${name}" (like usage_events including defaults including constraints)`);
      await sql(
        tx,
        `with moved as (delete from usage_events_default where occurred_at >= $1 and occurred_at < $2 returning *)
         insert into "${name}" select * from moved`,
        [from, to],
      );
      await sql(tx, `alter table usage_events attach partition "${name}" for values from ('${from}') to ('${to}')`);
      created.push(name);
    }
    return created;
  });
}

export interface AggregateKey {
  subscriptionId: string;
  metricId: string;
  /** ISO instant. */
  periodStart: string;
  aggregation: Aggregation;
}

/** Subscriptions' periods, per metric, that ended in (since, until]. */
export async function periodsEndedBetween(em: EntityManager, since: Date, until: Date): Promise<AggregateKey[]> {
  return sql<AggregateKey>(
    em,
    `select subscription_id as "subscriptionId", metric_id as "metricId",
       to_char(period_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "periodStart", aggregation
     from usage_aggregates where scope = 'total' and period_end > $1 and period_end <= $2
     order by subscription_id, metric_id, period_start`,
    [since, until],
  );
}

/**
 * Re-derives one period's aggregates (the total and every user/department group) from its raw
 * events and repairs any row that differs. Its rows are locked in the order ingestion locks them,
 * so an ingestion in flight either committed before (and is in the raw events read here) or
 * waits and adds its share afterwards. Returns the rows checked and the rows repaired.
 */
export async function verifyPeriodAggregates(em: EntityManager, key: AggregateKey, at: Date): Promise<{ checked: number; repaired: number }> {
  return em.transactional(async (tx) => {
    const locked = await sql<{ id: string }>(
      tx,
      `select id from usage_aggregates where subscription_id = $1 and metric_id = $2 and period_start = $3
       order by scope, user_key, department_key for update`,
      [key.subscriptionId, key.metricId, key.periodStart],
    );
    const [result] = await sql<{ repaired: number; expected: number }>(
      tx,
      `with contributions as (
         select e.*, g.scope,
           case g.scope when 'total' then '' else coalesce(e.user_id, '') end as uk,
           case g.scope when 'total' then '' else coalesce(e.department_id::text, '') end as dk
         from usage_events e cross join (values ('total'), ('group')) as g(scope)
         where e.subscription_id = $1 and e.metric_id = $2 and e.period_start = $3 and (e.value is not null or e.distinct_key is not null)
       ),
       distinct_values as (
         insert into usage_distinct_values (subscription_id, metric_id, period_start, scope, user_key, department_key, value_key)
         select distinct subscription_id, metric_id, period_start, scope, uk, dk, distinct_key from contributions where distinct_key is not null
         order by 1, 2, 3, 4, 5, 6, 7
         on conflict do nothing
       ),
       expected as (
         select scope, uk, dk, min(organization_id::text)::uuid as organization_id, count(*) as events,
           case $4::text
             when 'max' then max(value)
             when 'latest' then (array_agg(value order by occurred_at desc, event_id collate "C" desc))[1]
             when 'unique_count' then count(distinct distinct_key)
             else sum(value)
           end as quantity,
           case when $4::text = 'latest' then max(occurred_at) end as latest_at,
           case when $4::text = 'latest' then (array_agg(event_id order by occurred_at desc, event_id collate "C" desc))[1] end as latest_event_id
         from contributions group by scope, uk, dk
       ),
       stored as (
         select * from usage_aggregates where subscription_id = $1 and metric_id = $2 and period_start = $3
       ),
       period as (select period_end from stored where scope = 'total'),
       differing as (
         select x.* from expected x left join stored s on s.scope = x.scope and s.user_key = x.uk and s.department_key = x.dk
         where s.id is null or s.quantity is distinct from x.quantity or s.event_count <> x.events
           or s.latest_at is distinct from x.latest_at or s.latest_event_id is distinct from x.latest_event_id
       ),
       fixed as (
         insert into usage_aggregates as t (id, organization_id, subscription_id, metric_id, aggregation, period_start, period_end, scope,
           user_key, department_key, quantity, event_count, latest_at, latest_event_id, updated_at)
         select gen_random_uuid(), d.organization_id, $1, $2, $4, $3, (select period_end from period), d.scope, d.uk, d.dk, d.quantity, d.events,
           d.latest_at, d.latest_event_id, $5
         from differing d order by d.scope, d.uk, d.dk
         on conflict on constraint usage_aggregates_key_unique do update set quantity = excluded.quantity, event_count = excluded.event_count,
           latest_at = excluded.latest_at, latest_event_id = excluded.latest_event_id, updated_at = excluded.updated_at
         returning 1
       ),
       orphaned as (
         delete from usage_aggregates a using stored s
         where a.id = s.id and not exists (select 1 from expected x where x.scope = s.scope and x.uk = s.user_key and x.dk = s.department_key)
         returning 1
       )
       select ((select count(*) from fixed) + (select count(*) from orphaned))::int as repaired, (select count(*) from expected)::int as expected`,
      [key.subscriptionId, key.metricId, key.periodStart, key.aggregation, at],
    );
    return { checked: Math.max(locked.length, result?.expected ?? 0), repaired: result?.repaired ?? 0 };
  });
}

/** The period totals of every subscription whose period contains `at`, for the threshold check. */
export async function currentPeriodTotals(em: EntityManager, at: Date): Promise<{ subscriptionId: string; metricId: string; periodStart: string; periodEnd: string; quantity: string }[]> {
  return sql(
    em,
    `select subscription_id as "subscriptionId", metric_id as "metricId",
       to_char(period_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "periodStart",
       to_char(period_end at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "periodEnd", trim_scale(quantity)::text as quantity
     from usage_aggregates where scope = 'total' and period_start <= $1 and period_end > $1
     order by subscription_id, metric_id`,
    [at],
  );
}
