import { Decimal, decimalToString, parseDecimal } from '../money/decimal.js';
import { parseInstant } from '../time/dates.js';
import { DomainError } from '../errors.js';

export type AggregationType = 'count' | 'sum' | 'max' | 'unique_count' | 'latest';

export const AGGREGATION_TYPES: readonly AggregationType[] = ['count', 'sum', 'max', 'unique_count', 'latest'];

/** A billable metric as the catalog defines it. */
export interface MetricDefinition {
  code: string;
  aggregation: AggregationType;
  /** Event property aggregated (sum, max, latest) or counted distinct (unique_count). */
  field?: string;
}

export interface UsageEvent {
  eventId: string;
  metricCode: string;
  /** ISO 8601 instant. */
  timestamp: string;
  quantity?: number | string;
  organizationId?: string;
  subscriptionId?: string;
  userId?: string;
  departmentId?: string;
  properties?: Record<string, unknown>;
}

export type UsageGroupKey = 'subscriptionId' | 'userId' | 'departmentId';

export interface AggregateUsageOptions {
  metrics: readonly MetricDefinition[];
  /** Half-open window [start, end): dates (midnight UTC) or instants. */
  periodStart: string;
  periodEnd: string;
  groupBy?: readonly UsageGroupKey[];
}

export interface UsageGroupAggregate {
  metricCode: string;
  periodStart: string;
  periodEnd: string;
  /** The group's value of each groupBy key; null when events carry none. */
  group: Partial<Record<UsageGroupKey, string | null>>;
  /** Aggregated value as a decimal string. */
  value: string;
  /** Events that contributed (after de-duplication and field presence). */
  eventCount: number;
}

interface GroupState {
  group: Partial<Record<UsageGroupKey, string | null>>;
  eventCount: number;
  total: Decimal;
  maximum: Decimal | null;
  distinct: Set<string>;
  latest: { at: number; eventId: string; value: Decimal } | null;
}

function fieldValue(event: UsageEvent, metric: MetricDefinition): unknown {
  if (metric.field === undefined) return event.quantity ?? 1;
  return event.properties?.[metric.field];
}

function numericValue(event: UsageEvent, metric: MetricDefinition, raw: unknown): Decimal {
  if (typeof raw !== 'number' && typeof raw !== 'string') {
    throw new DomainError('INVALID_USAGE', `event ${event.eventId}: ${metric.field ?? 'quantity'} is not numeric`, {
      eventId: event.eventId,
    });
  }
  return parseDecimal(raw, { field: `${event.eventId}.${metric.field ?? 'quantity'}`, allowNegative: true });
}

function distinctKey(event: UsageEvent, raw: unknown): string {
  if (typeof raw === 'string') return `s:${raw}`;
  if (typeof raw === 'number' && Number.isFinite(raw)) return `n:${String(raw)}`;
  if (typeof raw === 'boolean') return `b:${String(raw)}`;
  throw new DomainError('INVALID_USAGE', `event ${event.eventId}: unique_count field must be a string, number or boolean`, {
    eventId: event.eventId,
  });
}

/**
 * What one event adds to its metric: nothing (the event lacks the metric's field), a number
 * (count, sum, max, latest), or a value counted distinct (unique_count). Shared by the in-memory
 * aggregation below and by usage metering, which stores it with the raw event.
 */
export type UsageContribution = { kind: 'none' } | { kind: 'number'; value: Decimal } | { kind: 'distinct'; key: string };

export function usageContribution(event: UsageEvent, metric: MetricDefinition): UsageContribution {
  if (metric.aggregation === 'count') return { kind: 'number', value: new Decimal(1) };
  const raw = fieldValue(event, metric);
  if (raw === undefined || raw === null) return { kind: 'none' };
  if (metric.aggregation === 'unique_count') return { kind: 'distinct', key: distinctKey(event, raw) };
  return { kind: 'number', value: numericValue(event, metric, raw) };
}

/**
 * Aggregates events per metric over one window, grouped by any of subscription, user and
 * department. Events repeat under retries, so a repeated (organizationId, eventId) counts
 * once. An event without the metric's field does not take part in that metric.
 */
export function aggregateUsage(events: readonly UsageEvent[], options: AggregateUsageOptions): UsageGroupAggregate[] {
  const from = parseInstant(options.periodStart);
  const to = parseInstant(options.periodEnd);
  if (to <= from) {
    throw new DomainError('INVALID_PERIOD', 'usage window end must be after its start', {
      periodStart: options.periodStart,
      periodEnd: options.periodEnd,
    });
  }
  const groupBy = options.groupBy ?? [];
  const metrics = new Map<string, MetricDefinition>();
  for (const metric of options.metrics) {
    if (!AGGREGATION_TYPES.includes(metric.aggregation)) {
      throw new DomainError('INVALID_USAGE', `unknown aggregation ${JSON.stringify(metric.aggregation)}`, {
        metricCode: metric.code,
      });
    }
    if (metric.aggregation === 'unique_count' && metric.field === undefined) {
      throw new DomainError('INVALID_USAGE', `metric ${metric.code}: unique_count needs a field`, {
        metricCode: metric.code,
      });
    }
    metrics.set(metric.code, metric);
  }

  const seen = new Set<string>();
  const groups = new Map<string, GroupState & { metric: MetricDefinition }>();
  for (const event of events) {
    const metric = metrics.get(event.metricCode);
    if (metric === undefined) continue;
    const at = parseInstant(event.timestamp);
    if (at < from || at >= to) continue;
    const identity = JSON.stringify([event.organizationId ?? null, event.eventId]);
    if (seen.has(identity)) continue;
    seen.add(identity);
    const contribution = usageContribution(event, metric);
    if (contribution.kind === 'none') continue;

    const group: Partial<Record<UsageGroupKey, string | null>> = {};
    for (const key of groupBy) group[key] = event[key] ?? null;
    const groupKey = JSON.stringify([metric.code, ...groupBy.map((key) => group[key])]);
    let state = groups.get(groupKey);
    if (state === undefined) {
      state = { metric, group, eventCount: 0, total: new Decimal(0), maximum: null, distinct: new Set(), latest: null };
      groups.set(groupKey, state);
    }
    state.eventCount += 1;
    if (contribution.kind === 'distinct') {
      state.distinct.add(contribution.key);
      continue;
    }
    const value = contribution.value;
    switch (metric.aggregation) {
      case 'max':
        state.maximum = state.maximum === null || value.gt(state.maximum) ? value : state.maximum;
        break;
      case 'latest': {
        // Ties on the timestamp go to the greater eventId, so the result never depends on input order.
        const latest = state.latest;
        if (latest === null || at > latest.at || (at === latest.at && event.eventId > latest.eventId)) {
          state.latest = { at, eventId: event.eventId, value };
        }
        break;
      }
      default:
        state.total = state.total.plus(value);
    }
  }

  const results: UsageGroupAggregate[] = [];
  const ordered = [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [, state] of ordered) {
    let value: Decimal;
    switch (state.metric.aggregation) {
      case 'max':
        value = state.maximum ?? new Decimal(0);
        break;
      case 'unique_count':
        value = new Decimal(state.distinct.size);
        break;
      case 'latest':
        value = state.latest?.value ?? new Decimal(0);
        break;
      default:
        value = state.total;
    }
    results.push({
      metricCode: state.metric.code,
      periodStart: options.periodStart,
      periodEnd: options.periodEnd,
      group: state.group,
      value: decimalToString(value),
      eventCount: state.eventCount,
    });
  }
  return results;
}
