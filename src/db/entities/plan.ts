import { defineEntity, p } from '@mikro-orm/core';
import { Application } from './application.js';
import { Metric } from './metric.js';

export const intervalValues = ['week', 'month', 'quarter', 'year'] as const;
export type BillingInterval = (typeof intervalValues)[number];
export const chargeModelValues = ['per_unit', 'graduated', 'volume', 'package', 'percentage'] as const;
export type ChargeModelName = (typeof chargeModelValues)[number];
export const allocationValues = ['pooled', 'per_seat'] as const;

export interface PriceTier {
  upTo: number | null;
  unitPrice: string;
  flatFee: number;
}

/**
 * One version of a plan. Editing a plan adds a version; subscriptions keep the version they
 * were created on until migrated (grandfathering), so versions are never changed in place.
 */
const PlanSchema = defineEntity({
  name: 'Plan',
  tableName: 'plans',
  properties: {
    id: p.uuid().primary(),
    code: p.string().length(64),
    version: p.integer(),
    name: p.string().length(200),
    application: () => p.manyToOne(Application).deleteRule('restrict'),
    currency: p.string().length(3),
    interval: p.enum(intervalValues),
    basePrice: p.bigint('number'),
    seatPrice: p.bigint('number'),
    includedSeats: p.integer(),
    trialDays: p.integer(),
    charges: () => p.oneToMany(PlanCharge).mappedBy('plan').orderBy({ position: 'asc' }),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  uniques: [{ name: 'plans_code_version_unique', properties: ['code', 'version'] }],
  indexes: [{ name: 'plans_application_id_index', properties: ['application'] }],
  checks: [
    { name: 'plans_code_format', expression: `"code" ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'` },
    { name: 'plans_version_positive', expression: '"version" >= 1' },
    { name: 'plans_currency_format', expression: `"currency" ~ '^[A-Z]{3}$'` },
    {
      name: 'plans_amounts_non_negative',
      expression: '"base_price" >= 0 and "seat_price" >= 0 and "included_seats" >= 0 and "trial_days" >= 0',
    },
  ],
});

export class Plan extends PlanSchema.class {}
PlanSchema.setClass(Plan);

/** How a plan rates one metric. Fields follow the charge model (see the API contract). */
const PlanChargeSchema = defineEntity({
  name: 'PlanCharge',
  tableName: 'plan_charges',
  properties: {
    id: p.uuid().primary(),
    plan: () => p.manyToOne(Plan).deleteRule('cascade'),
    position: p.integer(),
    metric: () => p.manyToOne(Metric).deleteRule('restrict'),
    model: p.enum(chargeModelValues),
    unitPrice: p.decimal('string').precision(30).scale(12).nullable(),
    packageSize: p.integer().nullable(),
    tiers: p.json<PriceTier[]>().nullable(),
    rate: p.decimal('string').precision(30).scale(12).nullable(),
    fixedFee: p.decimal('string').precision(30).scale(12).nullable(),
    included: p.bigint('number'),
    allocation: p.enum(allocationValues),
    /** Units per period beyond which usage events are refused (429), never counted. */
    hardLimit: p.bigint('number').nullable(),
  },
  uniques: [{ name: 'plan_charges_plan_metric_unique', properties: ['plan', 'metric'] }],
  indexes: [{ name: 'plan_charges_metric_id_index', properties: ['metric'] }],
  checks: [
    { name: 'plan_charges_included_non_negative', expression: '"included" >= 0' },
    { name: 'plan_charges_package_size_positive', expression: '"package_size" is null or "package_size" >= 1' },
    { name: 'plan_charges_hard_limit_positive', expression: '"hard_limit" is null or "hard_limit" >= 1' },
  ],
});

export class PlanCharge extends PlanChargeSchema.class {}
PlanChargeSchema.setClass(PlanCharge);
