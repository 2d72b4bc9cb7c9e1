import type { EntityManager } from '@mikro-orm/postgresql';
import { decimalToString, includedQuantity, parseDecimal, termsForPeriod } from '../domain/index.js';
import {
  chargesOfPlans,
  externalOrganizations,
  metricsByCode,
  metricsById,
  type ChargeQuota,
  type ExternalOrganization,
  type MeteredSubscription,
  type MetricRef,
} from '../db/repositories/usage.js';

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

export const externalKey = (applicationSlug: string, externalId: string) => `${applicationSlug}\n${externalId}`;
/** A numeric(38,12) value as the API shows decimals: "8", not "8.000000000000". */
export const canonical = (value: string) => decimalToString(parseDecimal(value, { field: 'value', allowNegative: true }));
export const uniqueValues = <T>(values: readonly T[]) => [...new Set(values)];

/** The charge of `metricId` in the terms a subscription's period is measured against, and the quota it gives. */
export function quotaOf(subscription: MeteredSubscription, charges: Map<string, ChargeQuota[]>, metricId: string, periodEnd: string) {
  const terms = termsForPeriod(subscription.phases, periodEnd.slice(0, 10));
  const charge = charges.get(terms.planId)?.find((candidate) => candidate.metricId === metricId);
  if (!charge) return { quota: 0, hardLimit: null };
  return { quota: includedQuantity(charge, terms.seats), hardLimit: charge.hardLimit };
}

