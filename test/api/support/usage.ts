import type { MetricDefinition } from '../../../src/domain/index.js';
import type { TestStack } from '../../support/stack.js';
import { call, unique } from './world.js';

/** Shared by the usage suites: a customer subscribed to a usage plan, and calls to the usage API. */

export interface Charge {
  metricCode: string;
  model: 'per_unit';
  unitPrice: string;
  included?: number;
  allocation?: 'pooled' | 'per_seat';
  hardLimit?: number;
}

export interface Customer {
  organizationId: string;
  subscriptionId: string;
  applicationSlug: string;
  externalId: string;
  departmentId: string;
}

export interface UsageSummary {
  subscriptionId: string;
  metricCode: string;
  periodStart: string;
  periodEnd: string;
  quantity: string;
  events: number;
  subscriptionQuantity: string;
  included: number;
  overage: string;
  hardLimit: number | null;
  thresholdsReached: number[];
}

export const days = (count: number) => count * 86_400_000;
export const iso = (epochMs: number) => new Date(epochMs).toISOString();

/**
 * A monthly subscription's start date: `periodsBefore` periods before one that began
 * `daysIntoPeriod` days ago (anchor day at most 28, so every month has it).
 */
export function startFor(daysIntoPeriod: number, periodsBefore: number): string {
  const currentStart = new Date(Date.now() - days(daysIntoPeriod));
  return iso(Date.UTC(currentStart.getUTCFullYear(), currentStart.getUTCMonth() - periodsBefore, Math.min(currentStart.getUTCDate(), 28))).slice(0, 10);
}

export async function createMetric(stack: TestStack, aggregation: MetricDefinition['aggregation'], field?: string): Promise<string> {
  const code = unique('metric');
  await call(stack, 'POST', '/v1/metrics', { body: { code, name: code, aggregation, ...(field ? { field } : {}) } });
  return code;
}

export const perUnit = (metricCode: string, extra: Partial<Charge> = {}): Charge => ({ metricCode, model: 'per_unit', unitPrice: '0.01', ...extra });

/** An organization subscribed to a plan of its own application, with a department and an external id. */
export interface CustomerOptions {
  seats?: number;
  startAt?: string;
  /** Runs once the organization exists, before it subscribes (and its billing cycle finds a fee due). */
  beforeSubscribing?: (organizationId: string) => Promise<void>;
}

export async function createCustomer(stack: TestStack, charges: Charge[], options: CustomerOptions = {}): Promise<Customer> {
  const applicationSlug = unique('app');
  const planCode = unique('plan');
  await call(stack, 'POST', '/v1/applications', { body: { slug: applicationSlug, name: 'Reports' } });
  await call(stack, 'POST', '/v1/plans', { body: { code: planCode, name: 'Usage', applicationSlug, currency: 'USD', interval: 'month', charges } });
  const organization = await call<{ id: string }>(stack, 'POST', '/v1/organizations', { body: { name: unique('org'), currency: 'USD' } });
  const department = await call<{ id: string }>(stack, 'POST', `/v1/organizations/${organization.id}/departments`, { body: { name: unique('dept') } });
  const externalId = unique('ext');
  await call(stack, 'POST', `/v1/organizations/${organization.id}/external-ids`, { body: { applicationSlug, externalId } });
  await options.beforeSubscribing?.(organization.id);
  const subscription = await call<{ id: string }>(stack, 'POST', '/v1/subscriptions', {
    body: { organizationId: organization.id, planCode, seats: options.seats ?? 1, ...(options.startAt ? { startAt: options.startAt } : {}) },
  });
  return { organizationId: organization.id, subscriptionId: subscription.id, applicationSlug, externalId, departmentId: department.id };
}

export async function sendBatch(stack: TestStack, events: unknown[], authorization?: string): Promise<{ accepted: number; duplicates: number }> {
  const response = await stack.request('POST', '/v1/usage/batch', { body: { events }, ...(authorization ? { headers: { authorization } } : {}) });
  const text = await response.text();
  if (response.status !== 202) throw new Error(`batch answered ${response.status}: ${text}`);
  return JSON.parse(text) as { accepted: number; duplicates: number };
}

export async function readUsage(stack: TestStack, query: string): Promise<UsageSummary[]> {
  return (await call<{ data: UsageSummary[] }>(stack, 'GET', `/v1/usage?${query}`)).data;
}

/** What a customer's usage rows hold: keys, raw events and a digest of every aggregate. */
export async function storedUsage(stack: TestStack, organizationId: string) {
  const [row] = await stack.sql<{ keys: string; events: string; aggregates: string }>(
    `select (select count(*) from usage_event_keys where organization_id = $1) as keys,
       (select count(*) from usage_events where organization_id = $1) as events,
       (select coalesce(string_agg(row, ',' order by row), '') from (
          select concat_ws('|', metric_id, period_start, scope, user_key, department_key, quantity, event_count) as row
          from usage_aggregates where organization_id = $1) rows) as aggregates`,
    [organizationId],
  );
  return row!;
}
