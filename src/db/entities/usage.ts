import { defineEntity, p } from '@mikro-orm/core';
import { MAX_USAGE_PERIOD_QUANTITY } from '../../domain/money/index.js';
import { Metric, aggregationValues } from './metric.js';
import { Subscription } from './subscription.js';

/**
 * Usage metering keeps four tables here and one outside the entities: the raw events,
 * `usage_events`, are range-partitioned by time with partitions created at run time, which the
 * schema generator cannot describe (it would try to rebuild the table whenever a month is
 * added), so that table is written by its migration and left out of schema diffs (see orm.ts).
 * The tables that take a row per event carry no foreign keys: the API resolves every reference
 * before it writes, and referenced rows are never deleted.
 */

/**
 * One accepted event per organization and `eventId`: the primary key is what makes a replayed or
 * concurrently duplicated event count once. A partitioned table could not hold this key (its
 * unique keys must include the partition column), so it lives here, unpartitioned.
 */
const UsageEventKeySchema = defineEntity({
  name: 'UsageEventKey',
  tableName: 'usage_event_keys',
  properties: {
    organizationId: p.uuid().primary(),
    eventId: p.string().length(200).primary(),
    /** Where the raw event is: the partition key of `usage_events`. */
    occurredAt: p.datetime(),
    receivedAt: p.datetime(),
  },
});

export class UsageEventKey extends UsageEventKeySchema.class {}
UsageEventKeySchema.setClass(UsageEventKey);

export const usageAggregateScopeValues = ['total', 'group'] as const;
export type UsageAggregateScope = (typeof usageAggregateScopeValues)[number];

/**
 * A running aggregate of one metric in one billing period of a subscription, kept up to date in
 * the transaction that accepts the events. `total` rows cover the whole subscription (quotas,
 * alerts and hard limits read them); `group` rows split it by user and department for filtered
 * reads. An empty key means "no user" / "no department". `quantity` is the metric's value:
 * a sum, a maximum, a distinct count or the latest value (with its timestamp and event id).
 */
const UsageAggregateSchema = defineEntity({
  name: 'UsageAggregate',
  tableName: 'usage_aggregates',
  properties: {
    id: p.uuid().primary(),
    organizationId: p.uuid(),
    subscription: () => p.manyToOne(Subscription).deleteRule('cascade'),
    metric: () => p.manyToOne(Metric).deleteRule('restrict'),
    aggregation: p.enum(aggregationValues),
    periodStart: p.datetime(),
    periodEnd: p.datetime(),
    scope: p.enum(usageAggregateScopeValues),
    userKey: p.string().length(200),
    departmentKey: p.string().length(36),
    quantity: p.decimal('string').precision(38).scale(12),
    eventCount: p.bigint('number'),
    latestAt: p.datetime().nullable(),
    latestEventId: p.string().length(200).nullable(),
    updatedAt: p.datetime(),
  },
  uniques: [
    {
      name: 'usage_aggregates_key_unique',
      properties: ['subscription', 'metric', 'periodStart', 'scope', 'userKey', 'departmentKey'],
    },
  ],
  indexes: [
    { name: 'usage_aggregates_organization_period_index', properties: ['organizationId', 'periodStart'] },
    { name: 'usage_aggregates_metric_id_index', properties: ['metric'] },
  ],
  checks: [
    { name: 'usage_aggregates_period_order', expression: '"period_end" > "period_start"' },
    // MAX_USAGE_PERIOD_QUANTITY (src/domain/money/limits.ts): a write past it fails, and its events are refused.
    { name: 'usage_aggregates_quantity_bound', expression: `"quantity" >= -${MAX_USAGE_PERIOD_QUANTITY} and "quantity" <= ${MAX_USAGE_PERIOD_QUANTITY}` },
  ],
});

export class UsageAggregate extends UsageAggregateSchema.class {}
UsageAggregateSchema.setClass(UsageAggregate);

/**
 * The values a `unique_count` metric has seen, per aggregate row: a value is counted when its
 * insert here is new, which keeps distinct counts exact under replays and concurrency.
 */
const UsageDistinctValueSchema = defineEntity({
  name: 'UsageDistinctValue',
  tableName: 'usage_distinct_values',
  properties: {
    subscriptionId: p.uuid().primary(),
    metricId: p.uuid().primary(),
    periodStart: p.datetime().primary(),
    scope: p.enum(usageAggregateScopeValues).primary(),
    userKey: p.string().length(200).primary(),
    departmentKey: p.string().length(36).primary(),
    valueKey: p.string().length(512).primary(),
  },
});

export class UsageDistinctValue extends UsageDistinctValueSchema.class {}
UsageDistinctValueSchema.setClass(UsageDistinctValue);

/**
 * A quota threshold reached in a period. The unique key is what makes the alert (and its
 * `usage.threshold_reached` webhook event, recorded in the same transaction) happen once.
 */
const UsageThresholdCrossingSchema = defineEntity({
  name: 'UsageThresholdCrossing',
  tableName: 'usage_threshold_crossings',
  properties: {
    id: p.uuid().primary(),
    organizationId: p.uuid(),
    subscription: () => p.manyToOne(Subscription).deleteRule('cascade'),
    metric: () => p.manyToOne(Metric).deleteRule('restrict'),
    periodStart: p.datetime(),
    periodEnd: p.datetime(),
    /** Percent of the quota. */
    threshold: p.integer(),
    quota: p.bigint('number'),
    /** The period's value when the threshold was found reached. */
    quantity: p.decimal('string').precision(38).scale(12),
    /** The `usage.threshold_reached` event recorded with it (set in the same transaction). */
    webhookEventId: p.uuid().nullable(),
    crossedAt: p.datetime(),
  },
  uniques: [{ name: 'usage_threshold_crossings_once', properties: ['subscription', 'metric', 'periodStart', 'threshold'] }],
  indexes: [{ name: 'usage_threshold_crossings_metric_id_index', properties: ['metric'] }],
  checks: [{ name: 'usage_threshold_crossings_threshold_range', expression: '"threshold" >= 1 and "threshold" <= 100' }],
});

export class UsageThresholdCrossing extends UsageThresholdCrossingSchema.class {}
UsageThresholdCrossingSchema.setClass(UsageThresholdCrossing);
