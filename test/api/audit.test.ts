import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestStack, type TestStack } from '../support/stack.js';
import { deliverStripeEvent, stripeEventBody } from '../support/stripe-webhook-events.js';
import { expectProblem } from './support/problems.js';
import { buildRequest, platformObjects, routesOutsideTable, routeTable, send, type RouteContext } from './support/route-table.js';
import { bearer, bootstrapAuthorization, call, createApiKey, createCatalog, createTenant, signJwt, unique, type Tenant } from './support/world.js';

interface AuditRow {
  id: string;
  actor_type: string;
  actor_id: string;
  organization_id: string | null;
  action: string;
  target_type: string;
  target_id: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  request_id: string;
  xmin: string;
}

/** What each mutation must record, and the table whose row it changes. */
const expectedAudit: Record<
  string,
  {
    action: string;
    targetType: string;
    table: string;
    /** `integrations`: the organization the route table's ERP integrations cover (theirs, not the request's target). */
    organization: 'target' | 'created' | 'none' | 'integrations';
    /** Whether `before` is the target's view (with its id); `replaced`: the set a replacement replaces, under the response's one field. */
    before: boolean | 'replaced';
    /** false: the row is not the request's to write (the subscription workflow mirrors it) or is gone. */
    rowInTransaction?: false;
    /** The response field naming the target, when it is not `id`. */
    targetField?: string;
    /** The path parameter naming the target, when the response does not. */
    targetParam?: string;
    /** `after` is the response and more: what the request asked besides (a re-sync's document types and `since`). */
    afterExtendsResponse?: true;
    /**
     * How to find the row written, when its table has no `id` column: a condition on its key and
     * the response fields that fill its parameters, in order (`targetId`: the target's id).
     */
    rowKey?: { where: string; fields: string[] };
  }
> = {
  'POST /v1/applications': { action: 'application.created', targetType: 'application', table: 'applications', organization: 'none', before: false },
  'POST /v1/metrics': { action: 'metric.created', targetType: 'metric', table: 'metrics', organization: 'none', before: false },
  'POST /v1/plans': { action: 'plan.created', targetType: 'plan', table: 'plans', organization: 'none', before: false },
  'POST /v1/plans/{code}/versions': { action: 'plan.version_created', targetType: 'plan', table: 'plans', organization: 'none', before: true },
  'POST /v1/organizations (root)': { action: 'organization.created', targetType: 'organization', table: 'organizations', organization: 'created', before: false },
  'POST /v1/organizations (child)': { action: 'organization.created', targetType: 'organization', table: 'organizations', organization: 'created', before: false },
  'PATCH /v1/organizations/{id}': { action: 'organization.updated', targetType: 'organization', table: 'organizations', organization: 'target', before: true },
  'POST /v1/organizations/{id}/departments': { action: 'department.created', targetType: 'department', table: 'departments', organization: 'target', before: false },
  'POST /v1/organizations/{id}/members': { action: 'member.created', targetType: 'member', table: 'members', organization: 'target', before: false },
  'POST /v1/organizations/{id}/external-ids': { action: 'external_id.created', targetType: 'external_id', table: 'external_ids', organization: 'target', before: false },
  'POST /v1/api-keys (organization)': { action: 'api_key.created', targetType: 'api_key', table: 'api_keys', organization: 'target', before: false },
  'POST /v1/api-keys (platform)': { action: 'api_key.created', targetType: 'api_key', table: 'api_keys', organization: 'none', before: false },
  'DELETE /v1/api-keys/{id} (organization)': { action: 'api_key.revoked', targetType: 'api_key', table: 'api_keys', organization: 'target', before: true },
  'DELETE /v1/api-keys/{id} (platform)': { action: 'api_key.revoked', targetType: 'api_key', table: 'api_keys', organization: 'none', before: true },
  'POST /v1/webhook-endpoints (organization)': { action: 'webhook_endpoint.created', targetType: 'webhook_endpoint', table: 'webhook_endpoints', organization: 'target', before: false },
  'POST /v1/webhook-endpoints (platform)': { action: 'webhook_endpoint.created', targetType: 'webhook_endpoint', table: 'webhook_endpoints', organization: 'none', before: false },
  'DELETE /v1/webhook-endpoints/{id} (organization)': { action: 'webhook_endpoint.disabled', targetType: 'webhook_endpoint', table: 'webhook_endpoints', organization: 'target', before: true },
  'DELETE /v1/webhook-endpoints/{id} (platform)': { action: 'webhook_endpoint.disabled', targetType: 'webhook_endpoint', table: 'webhook_endpoints', organization: 'none', before: true },
  // The delivery workflow marks the event dispatched right after the commit.
  'POST /v1/webhook-endpoints/{id}/test': { action: 'webhook_endpoint.test_sent', targetType: 'webhook_event', table: 'webhook_events', organization: 'target', before: false, rowInTransaction: false },
  'POST /v1/approval-rules (organization)': { action: 'approval_rule.created', targetType: 'approval_rule', table: 'approval_rules', organization: 'target', before: false },
  'POST /v1/approval-rules (platform)': { action: 'approval_rule.created', targetType: 'approval_rule', table: 'approval_rules', organization: 'none', before: false },
  'PATCH /v1/approval-rules/{id} (organization)': { action: 'approval_rule.updated', targetType: 'approval_rule', table: 'approval_rules', organization: 'target', before: true },
  'PATCH /v1/approval-rules/{id} (platform)': { action: 'approval_rule.updated', targetType: 'approval_rule', table: 'approval_rules', organization: 'none', before: true },
  'POST /v1/approval-requests/{id}/comments': { action: 'approval_request.commented', targetType: 'approval_comment', table: 'approval_comments', organization: 'target', before: false },
  'POST /v1/approval-requests': { action: 'approval_request.created', targetType: 'approval_request', table: 'approval_requests', organization: 'target', before: false },
  'POST /v1/disputes': { action: 'dispute.opened', targetType: 'dispute', table: 'disputes', organization: 'target', before: false },
  'POST /v1/contracts': { action: 'contract.created', targetType: 'contract', table: 'contracts', organization: 'target', before: false },
  // The target is the contract; the row the request writes is the breach's.
  'POST /v1/contracts/{id}/sla-breaches': {
    action: 'contract.sla_breach_recorded',
    targetType: 'contract',
    table: 'contract_sla_breaches',
    organization: 'target',
    before: false,
    targetField: 'contractId',
  },
  'POST /v1/budgets': { action: 'budget.created', targetType: 'budget', table: 'budgets', organization: 'target', before: false },
  'PATCH /v1/budgets/{id}': { action: 'budget.updated', targetType: 'budget', table: 'budgets', organization: 'target', before: true },
  // The target is the subscription; the row written is its allocation of the current period (keyed by both), the
  // first of that period here, so there is nothing before (test below: a replacement records the one it replaces).
  'PUT /v1/subscriptions/{id}/cost-allocations': {
    action: 'subscription.cost_allocated',
    targetType: 'subscription',
    table: 'subscription_cost_allocations',
    organization: 'target',
    before: false,
    targetField: 'subscriptionId',
    rowKey: { where: "subscription_id = $1 and to_char(effective_from at time zone 'UTC', 'YYYY-MM-DD') = $2", fields: ['subscriptionId', 'effectiveFrom'] },
  },
  'POST /v1/subscriptions': { action: 'subscription.created', targetType: 'subscription', table: 'subscriptions', organization: 'target', before: false, rowInTransaction: false },
  'POST /v1/subscriptions/{id}/change-plan': { action: 'subscription.plan_changed', targetType: 'subscription', table: 'subscriptions', organization: 'target', before: true, rowInTransaction: false },
  'POST /v1/subscriptions/{id}/seats': { action: 'subscription.seats_changed', targetType: 'subscription', table: 'subscriptions', organization: 'target', before: true, rowInTransaction: false },
  'POST /v1/subscriptions/{id}/pause': { action: 'subscription.paused', targetType: 'subscription', table: 'subscriptions', organization: 'target', before: true, rowInTransaction: false },
  'POST /v1/subscriptions/{id}/resume': { action: 'subscription.resumed', targetType: 'subscription', table: 'subscriptions', organization: 'target', before: true, rowInTransaction: false },
  'POST /v1/organizations/{id}/invoices/run': { action: 'invoice.run', targetType: 'organization', targetField: 'accountId', table: 'invoices', organization: 'target', before: false, rowInTransaction: false },
  'POST /v1/invoices/{id}/payments': { action: 'payment.recorded', targetType: 'payment', table: 'payments', organization: 'target', before: false },
  'POST /v1/invoices/{id}/void': { action: 'invoice.voided', targetType: 'invoice', table: 'invoices', organization: 'target', before: true },
  'POST /v1/invoices/{id}/credit-notes': { action: 'credit_note.created', targetType: 'credit_note', table: 'credit_notes', organization: 'target', before: false },
  'POST /v1/subscriptions/{id}/cancel': { action: 'subscription.canceled', targetType: 'subscription', table: 'subscriptions', organization: 'target', before: true, rowInTransaction: false },
  'POST /v1/subscriptions/{id}/seat-assignments': { action: 'seat.assigned', targetType: 'seat_assignment', table: 'seat_assignments', organization: 'target', before: false },
  'DELETE /v1/subscriptions/{id}/seat-assignments/{userId}': { action: 'seat.unassigned', targetType: 'seat_assignment', table: 'seat_assignments', organization: 'target', before: true, rowInTransaction: false },
  // The target is Stripe's Checkout Session, which has no row (the organization row changes only on first use).
  'POST /v1/organizations/{id}/payment-methods/setup': {
    action: 'payment_method.setup_started',
    targetType: 'checkout_session',
    table: 'organizations',
    organization: 'target',
    before: false,
    rowInTransaction: false,
    targetField: 'sessionId',
  },
  'POST /v1/integrations': { action: 'integration.created', targetType: 'integration', table: 'erp_integrations', organization: 'integrations', before: false },
  // The answer is the mappings alone; the rows written are the integration's mappings (test below: a replacement records the set it replaces).
  'PUT /v1/integrations/{id}/gl-mappings': {
    action: 'integration.gl_mappings_replaced',
    targetType: 'integration',
    table: 'erp_gl_mappings',
    organization: 'integrations',
    before: 'replaced',
    targetParam: 'id',
    rowKey: { where: 'integration_id = $1', fields: ['targetId'] },
  },
  // The answer is the count queued (none: the integration's organization has no documents), so no row changes with the audit row.
  'POST /v1/integrations/{id}/sync': {
    action: 'integration.sync_requested',
    targetType: 'integration',
    table: 'erp_integrations',
    organization: 'integrations',
    before: false,
    rowInTransaction: false,
    targetParam: 'id',
    afterExtendsResponse: true,
  },
  'POST /v1/integrations/{id}/disconnect': { action: 'integration.disconnected', targetType: 'integration', table: 'erp_integrations', organization: 'integrations', before: true },
};

/**
 * What the row a mutation's workflow writes (the route table's `auditedByWorkflow` names its action)
 * targets, and the row of `table` its change writes in the same transaction: the target's, or
 * (`changedRow`) the one the response names and `after.id` (or `after.amendmentId`) too, which
 * belongs to the target by `targetColumn`.
 */
const expectedWorkflowAudit: Record<
  string,
  {
    targetType: string;
    table: string;
    changedRow?: { id: 'after.id' | 'after.amendmentId'; targetColumn: string };
    /** The response field naming the target. */
    targetField?: string;
    /** `after` is the response body. */
    afterIsResponse?: true;
  }
> = {
  'POST /v1/approval-requests/{id}/decisions': { targetType: 'approval_request', table: 'approval_requests' },
  'POST /v1/approval-requests/bulk-decisions': { targetType: 'approval_request', table: 'approval_requests' },
  'POST /v1/approval-requests/{id}/cancel': { targetType: 'approval_request', table: 'approval_requests' },
  // The dispute changes only at the operator's first comment: the row written with the audit row is the comment's.
  'POST /v1/disputes/{id}/comments': { targetType: 'dispute', table: 'dispute_comments', changedRow: { id: 'after.id', targetColumn: 'dispute_id' }, afterIsResponse: true },
  'POST /v1/disputes/{id}/withdraw': { targetType: 'dispute', table: 'disputes', targetField: 'id' },
  'POST /v1/disputes/{id}/resolve': { targetType: 'dispute', table: 'disputes', targetField: 'id' },
  // The answer is the amendment; the audit row targets its contract and names the amendment, written with it (and its version).
  'POST /v1/contracts/{id}/amendments': { targetType: 'contract', table: 'contract_amendments', changedRow: { id: 'after.amendmentId', targetColumn: 'contract_id' } },
  'POST /v1/contracts/{id}/renew': { targetType: 'contract', table: 'contracts', targetField: 'id' },
  'POST /v1/contracts/{id}/terminate': { targetType: 'contract', table: 'contracts', targetField: 'id' },
};

/** Mutating /v1 operations outside the route table that write no audit row, and why. */
const notAudited: Record<string, string> = {
  'POST /v1/webhooks/stripe': "Stripe's event, not a caller's change: stripe_events keeps each one (payload, when processed, what it did)",
};

/** Secrets a creation shows once: never copied into the audit log. */
const shownOnce = ['key', 'secret'];

let stack: TestStack;
let ctx: RouteContext;
let tenant: Tenant;

beforeAll(async () => {
  stack = await startTestStack();
  const catalog = await createCatalog(stack);
  tenant = await createTenant(stack, catalog, { label: 'audited' });
  const readKey = await createApiKey(stack, { scopes: ['read'], platformRole: 'platform_admin' });
  ctx = { stack, catalog, target: tenant, platform: await platformObjects(stack, bearer(readKey.key)) };
});
afterAll(async () => {
  await stack.stop();
});

/** The value of `name` in `path`, a request path of the OpenAPI `template`. */
function pathParameter(template: string, path: string, name: string): string | undefined {
  const names: string[] = [];
  const pattern = template.replace(/\{(\w+)\}/g, (_, parameter: string) => {
    names.push(parameter);
    return '([^/?]+)';
  });
  const index = names.indexOf(name);
  const match = new RegExp(`^${pattern}(?:\\?|$)`).exec(path);
  const value = index < 0 ? undefined : match?.[index + 1];
  return value === undefined ? undefined : decodeURIComponent(value);
}

async function auditRowsFor(requestId: string): Promise<AuditRow[]> {
  return stack.sql<AuditRow>('select *, xmin::text as xmin from audit_events where request_id = $1', [requestId]);
}

const mutations = routeTable.filter((route) => route.method !== 'GET' && !route.readOnly && route.auditExempt === undefined && route.auditedByWorkflow === undefined);
/** Mutations whose workflow writes the audit row with its change (approval decisions and cancels; dispute comments, withdrawals and resolutions; contract amendments, renewals and terminations). */
const workflowAudited = routeTable.filter((route) => route.auditedByWorkflow !== undefined);
/** Mutations that are their own record (the route table says why). */
const exempt = routeTable.filter((route) => route.auditExempt !== undefined);

describe('the audit log', () => {
  it('has an expectation for every mutation route in the table, and a reason for each mutation outside it', () => {
    expect(mutations.map((route) => route.name).sort()).toEqual(Object.keys(expectedAudit).sort());
    expect(workflowAudited.map((route) => route.name).sort()).toEqual(Object.keys(expectedWorkflowAudit).sort());
    expect(Object.keys(routesOutsideTable).filter((name) => !name.startsWith('GET ')).sort()).toEqual(Object.keys(notAudited).sort());
  });

  it.each(mutations.map((route) => [route.name, route] as const))(
    '%s writes exactly one row, in the same transaction, naming actor, organization, action, target, before/after and request id',
    async (name, route) => {
      const expectation = expectedAudit[name]!;
      const request = await buildRequest(route, ctx);
      const response = await send(stack, request, bootstrapAuthorization);
      expect(response.status).toBe(route.successStatus);
      const body = (await response.json()) as Record<string, unknown> & { id: string };
      const requestId = response.headers.get('x-request-id')!;
      const rows = await auditRowsFor(requestId);
      expect(rows).toHaveLength(1);
      const row = rows[0]!;
      const organizationId = { target: tenant.id, created: body.id, none: null, integrations: ctx.platform.integrationScopeId }[expectation.organization];
      const targetId = expectation.targetParam ? pathParameter(route.path, request.path, expectation.targetParam) : body[expectation.targetField ?? 'id'];
      expect(targetId).toEqual(expect.any(String));
      expect(row).toMatchObject({
        actor_type: 'bootstrap_key',
        actor_id: 'bootstrap',
        organization_id: organizationId,
        action: expectation.action,
        target_type: expectation.targetType,
        target_id: targetId,
        request_id: requestId,
      });
      const recorded = Object.fromEntries(Object.entries(body).filter(([field]) => !shownOnce.includes(field)));
      if (expectation.afterExtendsResponse) expect(row.after).toEqual(expect.objectContaining(recorded));
      else expect(row.after).toEqual(recorded);
      if (expectation.before === 'replaced') expect(Object.keys(row.before ?? {})).toEqual(Object.keys(recorded));
      else if (expectation.before) expect(row.before).toEqual(expect.objectContaining({ id: expectation.action === 'plan.version_created' ? expect.any(String) : body.id }));
      else expect(row.before).toBeNull();
      // The same transaction wrote both rows (xmin is the writing transaction's id). A root
      // organization is left out: its billing workflow updates the row right after creation.
      if (name !== 'POST /v1/organizations (root)' && expectation.rowInTransaction !== false) {
        const key = expectation.rowKey ?? { where: 'id = $1', fields: ['id'] };
        const [changed] = await stack.sql<{ xmin: string }>(
          `select xmin::text as xmin from ${expectation.table} where ${key.where}`,
          key.fields.map((field) => (field === 'targetId' ? targetId : body[field])),
        );
        expect(changed?.xmin).toBe(row.xmin);
      }
    },
  );

  it('records a person as the actor, with before and after of an update', async () => {
    const owner = tenant.people.OWNER;
    const [current] = await stack.sql<{ net_terms_days: number }>('select net_terms_days from organizations where id = $1', [tenant.id]);
    const response = await stack.request('PATCH', `/v1/organizations/${tenant.id}`, {
      body: { netTermsDays: current!.net_terms_days === 60 ? 61 : 60 },
      headers: { authorization: owner.authorization, 'x-request-id': unique('req') },
    });
    expect(response.status).toBe(200);
    const [row] = await auditRowsFor(response.headers.get('x-request-id')!);
    expect(row).toMatchObject({ actor_type: 'user', actor_id: `user:${owner.userId}`, action: 'organization.updated' });
    expect(row?.before?.netTermsDays).toBe(current!.net_terms_days);
    expect(row?.after?.netTermsDays).toBe(current!.net_terms_days === 60 ? 61 : 60);
  });

  it('records the cost allocation a replacement within the same period replaces as its before', async () => {
    const billingAdmin = tenant.people.BILLING_ADMIN;
    const path = `/v1/subscriptions/${tenant.subscriptionId}/cost-allocations`;
    const second = await call<{ id: string }>(stack, 'POST', `/v1/organizations/${tenant.id}/departments`, { body: { name: unique('dept'), costCenter: 'CC-2' } });
    const first = await call<Record<string, unknown>>(stack, 'PUT', path, { body: { allocations: [{ departmentId: tenant.departmentId, percent: '100' }] } });
    const response = await stack.request('PUT', path, {
      body: { allocations: [{ departmentId: tenant.departmentId, percent: '60' }, { departmentId: second.id, percent: '40' }] },
      headers: { authorization: billingAdmin.authorization },
    });
    expect(response.status).toBe(200);
    const replaced = (await response.json()) as Record<string, unknown>;
    expect(replaced.effectiveFrom).toBe(first.effectiveFrom);
    const rows = await auditRowsFor(response.headers.get('x-request-id')!);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      actor_type: 'user',
      actor_id: `user:${billingAdmin.userId}`,
      organization_id: tenant.id,
      action: 'subscription.cost_allocated',
      target_type: 'subscription',
      target_id: tenant.subscriptionId,
    });
    expect(rows[0]?.before).toEqual(first);
    expect(rows[0]?.after).toEqual(replaced);
  });

  it('records the GL mappings a replacement replaces as its before, and the finance person who replaced them', async () => {
    const financeUserId = unique('finance');
    const finance = bearer(await signJwt(financeUserId, 'finance'));
    const path = `/v1/integrations/${ctx.platform.integrationId}/gl-mappings`;
    const first = await call<Record<string, unknown>>(stack, 'PUT', path, { body: { mappings: [{ kind: 'revenue', account: '4000 Subscriptions' }] } });
    const response = await stack.request('PUT', path, {
      body: { mappings: [{ kind: 'revenue', account: '4100 Subscriptions' }, { kind: 'tax', account: '2200 Sales tax' }] },
      headers: { authorization: finance },
    });
    expect(response.status).toBe(200);
    const replaced = (await response.json()) as Record<string, unknown>;
    const rows = await auditRowsFor(response.headers.get('x-request-id')!);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      actor_type: 'user',
      actor_id: `user:${financeUserId}`,
      organization_id: ctx.platform.integrationScopeId,
      action: 'integration.gl_mappings_replaced',
      target_type: 'integration',
      target_id: ctx.platform.integrationId,
    });
    expect(rows[0]?.before).toEqual(first);
    expect(rows[0]?.after).toEqual(replaced);
  });

  it('writes no row for a Stripe webhook delivery, which stripe_events records instead', async () => {
    const eventId = `evt_${unique('audit')}`;
    const body = stripeEventBody({ id: eventId, type: 'customer.created', created: Math.floor(Date.now() / 1000), object: { id: 'cus_audit', object: 'customer' } });
    const response = await deliverStripeEvent(stack, body);
    expect(response.status).toBe(200);
    expect(await auditRowsFor(response.headers.get('x-request-id')!)).toEqual([]);
    expect(await stack.sql('select id from stripe_events where id = $1', [eventId])).toEqual([{ id: eventId }]);
  });

  it.each(workflowAudited.map((route) => [route.name, route.auditedByWorkflow, route] as const))(
    '%s: its workflow writes one %s row naming the caller and the HTTP request',
    async (name, action, route) => {
      const expectation = expectedWorkflowAudit[name]!;
      const caller = route.successCaller?.(ctx) ?? bootstrapAuthorization;
      const response = await send(stack, await buildRequest(route, ctx), caller);
      expect(response.status).toBe(route.successStatus);
      const body = (await response.json()) as Record<string, unknown>;
      const requestId = response.headers.get('x-request-id')!;
      const rows = await auditRowsFor(requestId);
      expect(rows).toHaveLength(1);
      const row = rows[0]!;
      expect(row).toMatchObject({
        actor_type: route.successCaller ? 'user' : 'bootstrap_key',
        actor_id: route.successCaller ? expect.stringMatching(/^user:/) : 'bootstrap',
        organization_id: tenant.id,
        action,
        target_type: expectation.targetType,
        request_id: requestId,
      });
      if (expectation.targetField) expect(row.target_id).toBe(body[expectation.targetField]);
      if (expectation.afterIsResponse) expect(row.after).toEqual(body);
      const changedRow = expectation.changedRow;
      const changedId = changedRow ? row.after?.[changedRow.id.slice('after.'.length)] : row.target_id;
      if (changedRow) expect(changedId).toBe(body.id);
      const [changed] = await stack.sql<Record<string, string>>(`select *, xmin::text as xmin from ${expectation.table} where id = $1`, [changedId]);
      expect(changed?.xmin).toBe(row.xmin);
      if (changedRow) expect(changed?.[changedRow.targetColumn]).toBe(row.target_id);
    },
  );

  it('exempts only usage ingestion, whose event rows are the record', () => {
    expect(exempt.map((route) => route.name)).toEqual(['POST /v1/usage', 'POST /v1/usage/batch']);
  });

  it.each(exempt.map((route) => [route.name, route.auditExempt, route] as const))('%s writes no audit row (%s) but its event rows', async (_, __, route) => {
    const count = async (table: string) => Number((await stack.sql<{ count: string }>(`select count(*) from ${table}`))[0]?.count);
    const before = await count(route.creates!);
    const response = await send(stack, await buildRequest(route, ctx), bootstrapAuthorization);
    expect(response.status).toBe(route.successStatus);
    expect(await auditRowsFor(response.headers.get('x-request-id')!)).toEqual([]);
    expect(await count(route.creates!)).toBe(before + 1);
  });

  it('writes no row for a refused or failed mutation', async () => {
    const attempts = [
      stack.request('POST', `/v1/organizations/${tenant.id}/departments`, { body: { name: '' } }),
      stack.request('POST', `/v1/organizations/${tenant.id}/departments`, { body: { name: 'Research' } }),
      stack.request('POST', `/v1/organizations/${tenant.id}/departments`, { body: { name: 'Nope' }, headers: { authorization: tenant.people.MEMBER.authorization } }),
    ];
    const responses = await Promise.all(attempts);
    expect(responses.map((response) => response.status)).toEqual([400, 409, 403]);
    for (const response of responses) expect(await auditRowsFor(response.headers.get('x-request-id')!)).toEqual([]);
  });

  it.each([
    ['UPDATE', "update audit_events set action = 'tampered'"],
    ['DELETE', 'delete from audit_events'],
    ['TRUNCATE', 'truncate audit_events'],
  ])('is append-only: PostgreSQL refuses %s', async (_, statement) => {
    const before = await stack.sql<{ count: string }>('select count(*) from audit_events');
    await expect(stack.sql(statement)).rejects.toThrow(/append-only/);
    expect(await stack.sql('select count(*) from audit_events')).toEqual(before);
    expect(await stack.sql("select id from audit_events where action = 'tampered'")).toEqual([]);
  });
});

describe('GET /v1/audit-events', () => {
  it('walks an organization’s log with limit and nextCursor, oldest first, without duplicates or gaps', async () => {
    const expected = await stack.sql<{ id: string }>('select e.id::text as id from audit_events e where e.organization_id = $1 order by e.id', [tenant.id]);
    expect(expected.length).toBeGreaterThan(5);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `organizationId=${tenant.id}&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page: { data: { id: string; organizationId: string }[]; nextCursor: string | null } = await call(stack, 'GET', `/v1/audit-events?${query}`);
      expect(page.data.length).toBeLessThanOrEqual(2);
      for (const event of page.data) expect(event.organizationId).toBe(tenant.id);
      seen.push(...page.data.map((event) => event.id));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 100);
    expect(seen).toEqual(expected.map((row) => row.id));
    expect(pages).toBe(Math.ceil(expected.length / 2));
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=101', 'limit'],
    ['cursor=not-a-cursor', 'cursor'],
    ['cursor=99999999999999999999', 'cursor'],
  ])('refuses %s with a 400 naming the field', async (query, field) => {
    const problem = await expectProblem(await stack.request('GET', `/v1/audit-events?${query}`), 400, 'validation_failed');
    expect(problem.errors?.map((error) => error.field)).toContain(field);
  });

  it('lets finance read the whole log and an OWNER read its organization’s, but not a MEMBER', async () => {
    const finance = bearer(await signJwt(unique('finance'), 'finance'));
    const all = await call<{ data: unknown[] }>(stack, 'GET', '/v1/audit-events?limit=5', { authorization: finance });
    expect(all.data).toHaveLength(5);
    const own = await call<{ data: unknown[] }>(stack, 'GET', `/v1/audit-events?organizationId=${tenant.id}&limit=5`, {
      authorization: tenant.people.OWNER.authorization,
    });
    expect(own.data.length).toBeGreaterThan(0);
    const member = tenant.people.MEMBER.authorization;
    await expectProblem(await stack.request('GET', `/v1/audit-events?organizationId=${tenant.id}`, { headers: { authorization: member } }), 403, 'forbidden');
    await expectProblem(await stack.request('GET', '/v1/audit-events', { headers: { authorization: member } }), 403, 'forbidden');
    await expectProblem(await stack.request('GET', '/v1/audit-events', { headers: { authorization: tenant.people.OWNER.authorization } }), 403, 'forbidden');
  });
});
