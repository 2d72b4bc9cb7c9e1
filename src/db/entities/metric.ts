import { defineEntity, p } from '@mikro-orm/core';

export const aggregationValues = ['count', 'sum', 'max', 'unique_count', 'latest'] as const;
export type Aggregation = (typeof aggregationValues)[number];

/** A billable quantity products report (reports generated, API calls, storage, …). */
const MetricSchema = defineEntity({
  name: 'Metric',
  tableName: 'metrics',
  properties: {
    id: p.uuid().primary(),
    code: p.string().length(64).unique(),
    name: p.string().length(200),
    aggregation: p.enum(aggregationValues),
    /**
     * The event property aggregated (sum, max, latest) or counted distinct (unique_count). A sum
     * without one adds up the events' `quantity`.
     */
    field: p.string().length(128).nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  checks: [
    { name: 'metrics_code_format', expression: `"code" ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'` },
    { name: 'metrics_field_required', expression: `"aggregation" in ('count', 'sum') or "field" is not null` },
  ],
});

export class Metric extends MetricSchema.class {}
MetricSchema.setClass(Metric);
