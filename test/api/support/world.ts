import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { OrganizationRole, PlatformRole, Scope } from '../../../src/db/entities/index.js';
import { testAdminKey, testJwtSecret, type TestStack } from '../../support/stack.js';
import { insertOpenInvoice } from './invoices.js';

/** Values of the `Authorization` header. */
export const bearer = (token: string) => `Bearer ${token}`;
export const bootstrapAuthorization = bearer(testAdminKey);

export const organizationRoles = ['OWNER', 'BILLING_ADMIN', 'ADMIN', 'MEMBER'] as const satisfies readonly OrganizationRole[];
export const keyScopes = ['read', 'write', 'usage:write', 'seats:verify'] as const satisfies readonly Scope[];

let counter = 0;
/** A short string no other call in this process returns: for names, codes and user ids. */
export function unique(prefix = 'x'): string {
  counter += 1;
  return `${prefix}-${counter}-${randomUUID().slice(0, 8)}`;
}

/** An HS256 JWT as the development identity provider would issue it. */
export async function signJwt(userId: string, platformRole?: PlatformRole): Promise<string> {
  return new SignJWT(platformRole ? { platform_role: platformRole } : {})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(testJwtSecret));
}

/** Sends a request and insists on the status, returning the JSON body. */
export async function call<T = Record<string, unknown>>(
  stack: TestStack,
  method: string,
  path: string,
  options: { body?: unknown; authorization?: string; expect?: number } = {},
): Promise<T> {
  const response = await stack.request(method, path, {
    ...(options.body === undefined ? {} : { body: options.body }),
    headers: { authorization: options.authorization ?? bootstrapAuthorization },
  });
  const text = await response.text();
  const expected = options.expect ?? (method === 'POST' ? 201 : 200);
  if (response.status !== expected) throw new Error(`${method} ${path} answered ${response.status}, expected ${expected}: ${text}`);
  return JSON.parse(text) as T;
}

export interface CreatedKey {
  id: string;
  key: string;
}

export async function createApiKey(
  stack: TestStack,
  options: { scopes: readonly Scope[]; organizationId?: string; platformRole?: PlatformRole; expiresAt?: string; authorization?: string },
): Promise<CreatedKey> {
  const { authorization, ...body } = options;
  const created = await call<CreatedKey>(stack, 'POST', '/v1/api-keys', {
    body: { name: unique('key'), ...body },
    ...(authorization ? { authorization } : {}),
  });
  return { id: created.id, key: created.key };
}

export interface Catalog {
  applicationSlug: string;
  metricCode: string;
  planCode: string;
}

export async function createCatalog(stack: TestStack): Promise<Catalog> {
  const applicationSlug = unique('app');
  const metricCode = unique('metric');
  const planCode = unique('plan');
  await call(stack, 'POST', '/v1/applications', { body: { slug: applicationSlug, name: 'Application' } });
  await call(stack, 'POST', '/v1/metrics', { body: { code: metricCode, name: 'Metric', aggregation: 'count' } });
  await call(stack, 'POST', '/v1/plans', {
    body: {
      code: planCode,
      name: 'Plan',
      applicationSlug,
      currency: 'USD',
      interval: 'month',
      basePrice: 1000,
      charges: [{ metricCode, model: 'per_unit', unitPrice: '0.01' }],
    },
  });
  return { applicationSlug, metricCode, planCode };
}

export interface Person {
  userId: string;
  memberId: string;
  authorization: string;
}

/** An organization with one person per role, a key confined to it per scope, and one of each object. */
export interface Tenant {
  id: string;
  name: string;
  parentId: string | null;
  people: Record<OrganizationRole, Person>;
  keys: Record<Scope, CreatedKey & { authorization: string }>;
  departmentId: string;
  externalIdId: string;
  externalId: string;
  webhookEndpointId: string;
  /** An endpoint no route disables: test events need an enabled one. */
  liveWebhookEndpointId: string;
  /** A confined key that exists to be revoked by tests (never used to call). */
  victimKeyId: string;
  /** A subscription to the catalog's plan, with seats to spare. */
  subscriptionId: string;
  /** An open invoice addressed to this organization (a fixture: see support/invoices.ts). */
  invoiceId: string;
}

export async function createTenant(stack: TestStack, catalog: Catalog, options: { label: string; parentId?: string }): Promise<Tenant> {
  const name = unique(options.label);
  // Invoiced on terms: an invoice a route runs is then collected 30 days later, not charged (and
  // failed, and past due) in the background while later requests check that nothing changed.
  const organization = await call<{ id: string }>(stack, 'POST', '/v1/organizations', {
    body: { name, currency: 'USD', paymentTerms: 'send_invoice', netTermsDays: 30, ...(options.parentId ? { parentId: options.parentId } : {}) },
  });
  const id = organization.id;
  const people = {} as Record<OrganizationRole, Person>;
  for (const role of organizationRoles) {
    const userId = unique(`${options.label}-${role.toLowerCase()}`);
    const member = await call<{ id: string }>(stack, 'POST', `/v1/organizations/${id}/members`, {
      body: { userId, email: `${role.toLowerCase()}@example.test`, role },
    });
    people[role] = { userId, memberId: member.id, authorization: bearer(await signJwt(userId)) };
  }
  const keys = {} as Tenant['keys'];
  for (const scope of keyScopes) {
    const key = await createApiKey(stack, { scopes: [scope], organizationId: id });
    keys[scope] = { ...key, authorization: bearer(key.key) };
  }
  const department = await call<{ id: string }>(stack, 'POST', `/v1/organizations/${id}/departments`, {
    body: { name: 'Research', costCenter: 'CC-1', glCode: '6100' },
  });
  const externalId = unique('ext');
  const external = await call<{ id: string }>(stack, 'POST', `/v1/organizations/${id}/external-ids`, {
    body: { applicationSlug: catalog.applicationSlug, externalId },
  });
  const endpoint = await call<{ id: string }>(stack, 'POST', '/v1/webhook-endpoints', {
    body: { url: 'https://erp.example.test/hooks', events: ['invoice.*'], organizationId: id },
  });
  const liveEndpoint = await call<{ id: string }>(stack, 'POST', '/v1/webhook-endpoints', {
    body: { url: 'https://erp.example.test/live-hooks', events: ['invoice.*'], organizationId: id },
  });
  const victim = await createApiKey(stack, { scopes: ['read'], organizationId: id });
  const subscription = await call<{ id: string }>(stack, 'POST', '/v1/subscriptions', {
    body: { organizationId: id, planCode: catalog.planCode, seats: 500 },
  });
  // The account's billing workflow would bill the new subscription on its own, at a moment of its
  // choosing; billing it now keeps later "writes nothing" checks free of that background write.
  await call(stack, 'POST', `/v1/organizations/${id}/invoices/run`, { expect: 200 });
  return {
    id,
    name,
    parentId: options.parentId ?? null,
    people,
    keys,
    departmentId: department.id,
    externalIdId: external.id,
    externalId,
    webhookEndpointId: endpoint.id,
    liveWebhookEndpointId: liveEndpoint.id,
    victimKeyId: victim.id,
    subscriptionId: subscription.id,
    invoiceId: await insertOpenInvoice(stack, id),
  };
}

/** Row counts of the tables a request may write, to prove a refused request wrote nothing. */
export async function rowCounts(stack: TestStack): Promise<Record<string, number>> {
  const tables = [
    'applications',
    'metrics',
    'plans',
    'plan_charges',
    'organizations',
    'departments',
    'members',
    'external_ids',
    'api_keys',
    'webhook_endpoints',
    'audit_events',
    'idempotency_records',
    'subscriptions',
    'seat_assignments',
    'usage_event_keys',
    'usage_aggregates',
    'payments',
    'credit_notes',
    'journal_entries',
    'approval_rules',
    'approval_requests',
    'approval_comments',
    'disputes',
    'dispute_comments',
    'contracts',
    'contract_versions',
    'contract_amendments',
    'contract_sla_breaches',
    'budgets',
    'budget_alerts',
    'subscription_cost_allocations',
    'erp_integrations',
    'erp_gl_mappings',
    'erp_sync_documents',
    'erp_sync_attempts',
  ];
  const [row] = await stack.sql<Record<string, string>>(
    `select ${tables.map((table) => `(select count(*) from ${table}) as ${table}`).join(', ')}`,
  );
  return Object.fromEntries(tables.map((table) => [table, Number(row?.[table])]));
}

/**
 * A state digest of rows that updates change in place (revocation, disabling, organization edits,
 * rule edits, decisions, dispute and contract transitions, budget edits, cost allocations replaced
 * within a period, ERP integrations disconnected or re-synced, GL mappings replaced by as many,
 * queued ERP documents requeued or pushed). Budget alerts and ERP sync attempts are only ever
 * inserted: rowCounts has them.
 */
export async function mutableState(stack: TestStack): Promise<string> {
  const rows = await stack.sql<{ state: string }>(
    `select md5(coalesce(string_agg(x, ',' order by x), '')) as state from (
       select concat_ws('|', id, revoked_at) as x from api_keys
       union all select concat_ws('|', id, disabled_at) from webhook_endpoints
       union all select concat_ws('|', id, name, billing_email, tax_rate_percent, payment_terms, net_terms_days, billing_anchor_day, stripe_customer_id) from organizations
       union all select concat_ws('|', id, status, seats, plan_id, cancel_at, paused_at) from subscriptions
       union all select concat_ws('|', id, quantity, event_count) from usage_aggregates
       union all select concat_ws('|', id, status, amount_paid, amount_credited) from invoices
       union all select concat_ws('|', id, name, min_amount, currency, levels) from approval_rules
       union all select concat_ws('|', id, status, current_level) from approval_requests
       union all select concat_ws('|', id, status, resolution_outcome, resolution_amount, approval_request_id, credit_note_id, resolved_at) from disputes
       union all select concat_ws('|', id, status, end_date, terminates_on, termination_reason, notice_sent_for, version, updated_at) from contracts
       union all select concat_ws('|', id, status, version, approval_request_id, decided_at) from contract_amendments
       union all select concat_ws('|', id, name, amount, currency, alert_thresholds, enforcement, updated_at) from budgets
       union all select concat_ws('|', subscription_id, effective_from, allocations) from subscription_cost_allocations
       union all select concat_ws('|', id, name, status, document_types, settings, last_sync_at, last_error, updated_at) from erp_integrations
       union all select concat_ws('|', id, integration_id, position, kind, plan_code, metric_code, department_id, account) from erp_gl_mappings
       union all select concat_ws('|', integration_id, document_type, document_id, status, external_id, attempts, last_error, dispatched_at, synced_at, updated_at) from erp_sync_documents
     ) rows`,
  );
  return rows[0]?.state ?? '';
}
