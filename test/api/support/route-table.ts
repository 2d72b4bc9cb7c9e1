import type { Action } from '../../../src/api/auth/policy.js';
import type { TestStack } from '../../support/stack.js';
import { insertFinalizedInvoice, payInFull } from './collection.js';
import { bearer, call, createApiKey, unique, type Catalog, type Tenant } from './world.js';

/** An id no row has. */
export const missingId = '00000000-0000-4000-8000-000000000000';

/**
 * What a request is about. Routes read the ids they need from here, so one table drives every
 * suite: the same route is sent at the caller's own organization, at another tenant's, or at ids
 * that do not exist.
 */
export interface RouteContext {
  stack: TestStack;
  catalog: Catalog;
  /** The organization the request targets (or whose object it targets). */
  target: Tenant;
  /** Objects that belong to the platform rather than to an organization. */
  platform: {
    apiKeyId: string;
    webhookEndpointId: string;
    /** A platform_admin key with only the `read` scope: sees platform objects, may not change them. */
    readKeyAuthorization: string;
    /** A platform_admin key with only the `usage:write` scope: a platform caller who may not read platform objects. */
    usageKeyAuthorization: string;
    /** A global approval rule (no organization). */
    approvalRuleId: string;
    /**
     * The organization every ERP integration of the table covers: one of its own, which never has
     * a customer, invoice, payment or credit note, so nothing is ever queued for those integrations.
     */
    integrationScopeId: string;
    /** A connected ERP integration (the operator's: only platform roles see it) that reads, GL mappings and re-syncs share. */
    integrationId: string;
  };
}

/**
 * Platform-level variants get rows of their own in the policy matrix: without an organization,
 * keys, endpoints, approval rules and the whole audit log are platform objects that only platform
 * roles reach. So do approval routes whose answer is not their action's alone: the requests a
 * caller sees anywhere, cancels (the requester's) and bulk decisions (answered per id). Every
 * organization's disputes, contracts and budgets, listed without one, are the platform's too. ERP
 * integrations are the platform's alone: their action rows are the list and the connection (403 to
 * everyone else), and `@id` the routes naming an integration, which to everyone else does not exist (404).
 */
export type MatrixRow =
  | Action
  | 'apiKey.read@platform'
  | 'apiKey.write@platform'
  | 'apiKey.revoke@platform'
  | 'webhookEndpoint.read@platform'
  | 'webhookEndpoint.write@platform'
  | 'webhookEndpoint.disable@platform'
  | 'audit.read@platform'
  | 'approvalRule.read@platform'
  | 'approvalRule.write@platform'
  | 'approvalRule.update@platform'
  | 'approvalRequest.read@caller'
  | 'approvalRequest.cancel@requester'
  | 'approvalRequest.decide@bulk'
  | 'dispute.read@platform'
  | 'contract.read@platform'
  | 'budget.read@platform'
  | 'integration.read@id'
  | 'integration.write@id';

type Params = Record<string, string>;
type BodyBuilder = (ctx: RouteContext) => unknown;

export interface RouteCase {
  /** Unique label: method, path and the variant. */
  name: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The OpenAPI path template. */
  path: string;
  /** The policy action the handler checks. */
  action: Action;
  matrixRow: MatrixRow;
  /** `organization`: the request names an organization or its object, so tenant isolation applies. */
  owner: 'organization' | 'catalog' | 'platform';
  successStatus: 200 | 201 | 202;
  /** Async when it must first create the object it names (the server picks the id). */
  params?: (ctx: RouteContext) => Params | Promise<Params>;
  query?: (ctx: RouteContext) => Params;
  /** A valid body (async when it must first create something the body refers to). */
  body?: (ctx: RouteContext) => unknown;
  /** The table that gains one row when the request succeeds. */
  creates?: string;
  /** A POST that only reads (seat verification): it writes no audit row. */
  readOnly?: true;
  /** A mutation that writes no audit row, and why (test/api/audit.test.ts checks it writes its own record instead). */
  auditExempt?: string;
  /** A request that fails validation, and the field the problem must name. */
  invalid: { params?: Params; query?: Params; body?: BodyBuilder; field: string };
  /** A request naming an id or code that does not exist, and the problem code it gets. */
  notFound?: { params?: Params; query?: Params; body?: BodyBuilder; code: string };
  /** A caller who can see the target but lacks the role or scope: 403. */
  forbidden: (ctx: RouteContext) => string;
  /**
   * The code of the 403 the route gives callers its action's policy allows but who may still not
   * act (only people decide, at a level they hold; only the requester cancels).
   */
  refusedBeyondPolicy?: 'not_an_approver' | 'not_the_requester';
  /** Who succeeds, where the bootstrap key cannot (only people decide approvals; only the customer withdraws its dispute). */
  successCaller?: (ctx: RouteContext) => string;
  /** The audit action the route's workflow writes for the call, in the transaction of its change (test/api/audit.test.ts). */
  auditedByWorkflow?: string;
}

export interface Overrides {
  params?: Params;
  query?: Params;
  body?: BodyBuilder;
}

export interface BuiltRequest {
  method: string;
  path: string;
  body?: unknown;
}

export async function buildRequest(route: RouteCase, ctx: RouteContext, overrides: Overrides = {}): Promise<BuiltRequest> {
  const params = { ...(await route.params?.(ctx)), ...overrides.params };
  const path = route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`${route.name}: no value for {${name}}`);
    return encodeURIComponent(value);
  });
  const query = new URLSearchParams({ ...route.query?.(ctx), ...overrides.query }).toString();
  const bodyBuilder = overrides.body ?? route.body;
  const body: unknown = bodyBuilder ? await bodyBuilder(ctx) : undefined;
  return { method: route.method, path: query ? `${path}?${query}` : path, ...(body === undefined ? {} : { body }) };
}

export function send(stack: TestStack, request: BuiltRequest, authorization: string | undefined, headers: Record<string, string> = {}) {
  return stack.request(request.method, request.path, {
    ...(request.body === undefined ? {} : { body: request.body }),
    headers: { authorization: authorization ?? '', ...headers },
  });
}

const planTerms = (ctx: RouteContext) => ({
  name: 'Pro',
  applicationSlug: ctx.catalog.applicationSlug,
  currency: 'USD',
  interval: 'month',
  basePrice: 4900,
  seatPrice: 1000,
  includedSeats: 3,
  trialDays: 14,
  charges: [
    { metricCode: ctx.catalog.metricCode, model: 'graduated', tiers: [{ upTo: 1000, unitPrice: '0.01' }, { upTo: null, unitPrice: '0.005' }] },
  ],
});

const orgParams = (ctx: RouteContext) => ({ id: ctx.target.id });
const orgQuery = (ctx: RouteContext) => ({ organizationId: ctx.target.id });
const missingOrg = { params: { id: missingId }, code: 'organization_not_found' };
const missingOrgQuery = { query: { organizationId: missingId }, code: 'organization_not_found' };
const person = (role: keyof Tenant['people']) => (ctx: RouteContext) => ctx.target.people[role].authorization;
const confinedKey = (scope: keyof Tenant['keys']) => (ctx: RouteContext) => ctx.target.keys[scope].authorization;

const subscriptionParams = (ctx: RouteContext) => ({ id: ctx.target.subscriptionId });
const missingSubscription = { params: { id: missingId }, code: 'subscription_not_found' };
/** A plan of its own application, so each success creates a subscription (one live per organization and application). */
async function planOfNewApplication(ctx: RouteContext): Promise<string> {
  const applicationSlug = unique('app');
  const planCode = unique('plan');
  await call(ctx.stack, 'POST', '/v1/applications', { body: { slug: applicationSlug, name: 'Seats' } });
  await call(ctx.stack, 'POST', '/v1/plans', { body: { code: planCode, name: 'Seats', applicationSlug, currency: 'USD', interval: 'month', seatPrice: 500 } });
  return planCode;
}
/** A new plan of the subscription's application, so each plan change really changes the plan. */
async function newPlanOfCatalog(ctx: RouteContext): Promise<string> {
  const planCode = unique('plan');
  await call(ctx.stack, 'POST', '/v1/plans', {
    body: { code: planCode, name: 'Upgrade', applicationSlug: ctx.catalog.applicationSlug, currency: 'USD', interval: 'month', basePrice: 2000 },
  });
  return planCode;
}
/** Seat counts only grow, so every seat change is a change and never goes below the assigned seats. */
let nextSeatCount = 1_000;
/** The user the next unassignment takes the seat from; its body builder assigns that seat first. */
let seatHolder = '';

const invoiceParams = (ctx: RouteContext) => ({ id: ctx.target.invoiceId });
const missingInvoice = { params: { id: missingId }, code: 'invoice_not_found' };
/** The invoice the next void or credit note acts on: each success uses one up, so the body builder writes it first. */
let freshInvoiceId = '';
const freshInvoice = () => {
  freshInvoiceId = crypto.randomUUID();
  return { id: freshInvoiceId };
};
/** One usage event of the catalog's metric for the target's subscription (named: earlier routes change its plan). */
const usageEvent = (ctx: RouteContext, organizationId: string) => ({
  eventId: unique('evt'),
  metricCode: ctx.catalog.metricCode,
  organizationId,
  subscriptionId: ctx.target.subscriptionId,
});
const usageAuditExemption = "usage ingestion runs at 20,000 events/s: each event's usage_event_keys and usage_events rows are its record";

/** Rules the table creates besides the fixtures: in XTS, the ISO 4217 code for testing, so no request here ever falls under one. */
const inertRule = (organizationId?: string) => ({
  name: unique('rule'),
  subjectType: 'manual',
  currency: 'XTS',
  levels: [{ role: 'finance' }],
  ...(organizationId === undefined ? {} : { organizationId }),
});
const manualRequest = (organizationId: string) => ({ organizationId, subjectType: 'manual', title: unique('purchase'), amount: 250_000, currency: 'USD' });
/**
 * Each organization's approvals, made on first use: its manual rule, one ADMIN level (which the
 * organization's and its parent's admin roles hold, and no key: only people decide), and a
 * request the bootstrap key opened under it.
 */
const approvalFixtures = new Map<string, Promise<{ ruleId: string; requestId: string }>>();
function approvalsOf(ctx: RouteContext): Promise<{ ruleId: string; requestId: string }> {
  const organizationId = ctx.target.id;
  let made = approvalFixtures.get(organizationId);
  if (!made) {
    made = (async () => {
      const rule = await call<{ id: string }>(ctx.stack, 'POST', '/v1/approval-rules', {
        body: { name: 'Purchases', subjectType: 'manual', organizationId, levels: [{ role: 'ADMIN' }] },
      });
      const request = await call<{ id: string }>(ctx.stack, 'POST', '/v1/approval-requests', { body: manualRequest(organizationId) });
      return { ruleId: rule.id, requestId: request.id };
    })();
    approvalFixtures.set(organizationId, made);
  }
  return made;
}
/** A pending request of the target that the bootstrap key opened: each decision or cancel uses one up. */
async function pendingRequest(ctx: RouteContext): Promise<string> {
  // The rule first, so the request waits on its ADMIN level.
  await approvalsOf(ctx);
  return (await call<{ id: string }>(ctx.stack, 'POST', '/v1/approval-requests', { body: manualRequest(ctx.target.id) })).id;
}
const ruleParams = async (ctx: RouteContext) => ({ id: (await approvalsOf(ctx)).ruleId });
const requestParams = async (ctx: RouteContext) => ({ id: (await approvalsOf(ctx)).requestId });
const pendingRequestParams = async (ctx: RouteContext) => ({ id: await pendingRequest(ctx) });
const missingRule = { params: { id: missingId }, code: 'approval_rule_not_found' };
const missingRequest = { params: { id: missingId }, code: 'approval_request_not_found' };

/** A finalized open invoice of the target that no dispute holds: each opening uses one up (one active customer dispute per invoice). */
const undisputedInvoice = (ctx: RouteContext) => insertFinalizedInvoice(ctx.stack, { organizationId: ctx.target.id, subtotal: 5_000 });
/** A dispute of part of the invoice's 5,000. */
const disputeTerms = (invoiceId: string) => ({ invoiceId, amount: 1_200, reason: 'billing_error', description: 'Billed for 12 seats; we had 8 in March.' });
/** A dispute the bootstrap key opened on an invoice of the target of its own: each withdrawal or resolution uses one up. */
export async function openDispute(ctx: RouteContext): Promise<string> {
  return (await call<{ id: string }>(ctx.stack, 'POST', '/v1/disputes', { body: disputeTerms(await undisputedInvoice(ctx)) })).id;
}
/** Each organization's dispute that reads and comments share, made on first use (comments leave it active). */
const disputeFixtures = new Map<string, Promise<string>>();
function disputeOf(ctx: RouteContext): Promise<string> {
  let made = disputeFixtures.get(ctx.target.id);
  if (!made) {
    made = openDispute(ctx);
    disputeFixtures.set(ctx.target.id, made);
  }
  return made;
}
const disputeParams = async (ctx: RouteContext) => ({ id: await disputeOf(ctx) });
const openDisputeParams = async (ctx: RouteContext) => ({ id: await openDispute(ctx) });
const missingDispute = { params: { id: missingId }, code: 'dispute_not_found' };

/**
 * Contracts. An organization has one contract at a time (terms [startDate, endDate) may not
 * overlap), so every contract the table creates has a term of its own, far in the future: none
 * applies to today's invoices and no timer of its `contract:<id>` workflow fires during a suite.
 * Each organization's standing contract (reads, amendments and SLA breaches share it) runs through
 * 2100–2109; every other one takes the first quarter of a year of its own from 2110 on, which
 * leaves the rest of that year free for its renewal (the table renews for 6 months).
 */
const contractSla = { uptimePercent: '99.9', creditPercent: '10' };
const standingTerm = { startDate: '2100-01-01', endDate: '2110-01-01' };
let nextTermYear = 2110;
function freshTerm(): { startDate: string; endDate: string } {
  const year = nextTermYear;
  nextTermYear += 1;
  return { startDate: `${year}-01-01`, endDate: `${year}-04-01` };
}
const contractTerms = (organizationId: string, term: { startDate: string; endDate: string }) => ({
  organizationId,
  name: unique('contract'),
  ...term,
  discountPercent: '10',
  committedAmount: 100_000,
  sla: contractSla,
});
/** A contract of the target that the bootstrap key created in a term of its own (with an SLA): each renewal or termination uses one up. */
export async function createContract(ctx: RouteContext): Promise<{ id: string; startDate: string; endDate: string }> {
  return call<{ id: string; startDate: string; endDate: string }>(ctx.stack, 'POST', '/v1/contracts', { body: contractTerms(ctx.target.id, freshTerm()) });
}
/** Each organization's standing contract, made on first use. */
const contractFixtures = new Map<string, Promise<string>>();
function contractOf(ctx: RouteContext): Promise<string> {
  let made = contractFixtures.get(ctx.target.id);
  if (!made) {
    made = call<{ id: string }>(ctx.stack, 'POST', '/v1/contracts', { body: contractTerms(ctx.target.id, standingTerm) }).then((contract) => contract.id);
    contractFixtures.set(ctx.target.id, made);
  }
  return made;
}
/** A day inside the term of the contract the last fresh-contract builder created (and after today): where its termination is scheduled. */
let terminationDay = '';
const contractParams = async (ctx: RouteContext) => ({ id: await contractOf(ctx) });
const freshContractParams = async (ctx: RouteContext) => {
  const contract = await createContract(ctx);
  terminationDay = `${contract.startDate.slice(0, 4)}-02-15`;
  return { id: contract.id };
};
const missingContract = { params: { id: missingId }, code: 'contract_not_found' };
/** From the standing contract's start, the latest version's day (amendments may not take effect before it). */
const amendment = () => ({ changes: { discountPercent: '12.5' }, effectiveAt: standingTerm.startDate, reason: 'Volume discount agreed at the quarterly review.' });
/** A day of the standing term: each breach its own period (one breach per period start). */
let breachDays = 0;
function breachPeriod(): { periodStart: string; periodEnd: string } {
  breachDays += 1;
  const day = (offset: number) => new Date(Date.UTC(2100, 0, 1 + offset)).toISOString().slice(0, 10);
  return { periodStart: day(breachDays), periodEnd: day(breachDays + 1) };
}

/**
 * Budgets. Every budget the table makes is the bootstrap key's, of the whole organization, in its
 * currency (createTenant bills every organization in USD: another currency is 422
 * currency_mismatch), with enforcement `none`, so no subscription change the table makes is held
 * for approval (202) or blocked (422 budget_exceeded); and its amount is far above anything the
 * table's organizations buy, so no threshold fires and no budget_alerts row appears behind a
 * "writes nothing" check after the budget watcher's background checks.
 */
const budgetCurrency = 'USD';
const budgetAmount = 10_000_000_000;
const budgetTerms = (organizationId: string) => ({
  organizationId,
  name: unique('budget'),
  period: 'month',
  amount: budgetAmount,
  currency: budgetCurrency,
  alertThresholds: [50, 80, 100],
  enforcement: 'none',
});
/** A budget of the target that the bootstrap key created. */
export async function createBudget(ctx: RouteContext): Promise<string> {
  return (await call<{ id: string }>(ctx.stack, 'POST', '/v1/budgets', { body: budgetTerms(ctx.target.id) })).id;
}
/** Each organization's standing budget that reads and updates share, made on first use (updates change only its name). */
const budgetFixtures = new Map<string, Promise<string>>();
function budgetOf(ctx: RouteContext): Promise<string> {
  let made = budgetFixtures.get(ctx.target.id);
  if (!made) {
    made = createBudget(ctx);
    budgetFixtures.set(ctx.target.id, made);
  }
  return made;
}
const budgetParams = async (ctx: RouteContext) => ({ id: await budgetOf(ctx) });
const missingBudget = { params: { id: missingId }, code: 'budget_not_found' };
/** The target's subscription charged wholly to the target's department (a repeat replaces the allocation of the same period). */
const wholeToDepartment = (ctx: RouteContext) => ({ allocations: [{ departmentId: ctx.target.departmentId, percent: '100' }] });

/**
 * ERP integrations. Every one the table connects is Xero's at an address where nothing listens,
 * and covers the table's integration scope, an organization with no documents (platformObjects):
 * nothing is ever queued for it, so no `erp:` workflow runs behind a "writes nothing" check and no
 * vendor is ever called. A re-sync queues nothing for the same reason.
 */
const integrationTerms = (organizationId: string) => ({
  provider: 'xero',
  name: unique('erp'),
  organizationId,
  credentials: { clientId: 'c', clientSecret: 's', refreshToken: 'r', tenantId: 't' },
  settings: { baseUrl: 'http://127.0.0.1:9/', tokenUrl: 'http://127.0.0.1:9/token' },
});
/** An integration the bootstrap key connected, covering `organizationId`. */
export async function connectIntegration(stack: TestStack, organizationId: string): Promise<string> {
  return (await call<{ id: string }>(stack, 'POST', '/v1/integrations', { body: integrationTerms(organizationId) })).id;
}
const integrationParams = (ctx: RouteContext) => ({ id: ctx.platform.integrationId });
/** A new integration: each disconnection uses one up (disconnecting a disconnected one changes nothing and records nothing). */
const freshIntegrationParams = async (ctx: RouteContext) => ({ id: await connectIntegration(ctx.stack, ctx.platform.integrationScopeId) });
const missingIntegration = { params: { id: missingId }, code: 'integration_not_found' };
/** Revenue per plan and one receivable account: a repeat replaces the same set. */
const glMappings = (ctx: RouteContext) => ({
  mappings: [
    { kind: 'revenue', planCode: ctx.catalog.planCode, account: '4000 Subscriptions' },
    { kind: 'receivable', account: '1100 Accounts receivable' },
  ],
});

/** Every `/v1` route of the API, once per variant (with or without an organization). */
export const routeTable: RouteCase[] = [
  {
    name: 'POST /v1/applications',
    method: 'POST',
    path: '/v1/applications',
    action: 'catalog.write',
    matrixRow: 'catalog.write',
    owner: 'catalog',
    successStatus: 201,
    body: () => ({ slug: unique('app'), name: 'Reports' }),
    creates: 'applications',
    invalid: { body: () => ({ slug: 'Bad Slug', name: 'Reports' }), field: 'slug' },
    forbidden: person('OWNER'),
  },
  {
    name: 'GET /v1/applications',
    method: 'GET',
    path: '/v1/applications',
    action: 'catalog.read',
    matrixRow: 'catalog.read',
    owner: 'catalog',
    successStatus: 200,
    invalid: { query: { limit: '0' }, field: 'limit' },
    forbidden: confinedKey('usage:write'),
  },
  {
    name: 'GET /v1/applications/{slug}',
    method: 'GET',
    path: '/v1/applications/{slug}',
    action: 'catalog.read',
    matrixRow: 'catalog.read',
    owner: 'catalog',
    successStatus: 200,
    params: (ctx) => ({ slug: ctx.catalog.applicationSlug }),
    invalid: { params: { slug: 'Not_A_Slug' }, field: 'slug' },
    notFound: { params: { slug: 'no-such-application' }, code: 'application_not_found' },
    forbidden: confinedKey('seats:verify'),
  },
  {
    name: 'POST /v1/metrics',
    method: 'POST',
    path: '/v1/metrics',
    action: 'catalog.write',
    matrixRow: 'catalog.write',
    owner: 'catalog',
    successStatus: 201,
    body: () => ({ code: unique('metric'), name: 'Revenue', aggregation: 'sum', field: 'amount' }),
    creates: 'metrics',
    invalid: { body: () => ({ code: unique('metric'), name: 'Peak', aggregation: 'max' }), field: 'field' },
    forbidden: person('BILLING_ADMIN'),
  },
  {
    name: 'GET /v1/metrics',
    method: 'GET',
    path: '/v1/metrics',
    action: 'catalog.read',
    matrixRow: 'catalog.read',
    owner: 'catalog',
    successStatus: 200,
    invalid: { query: { limit: '101' }, field: 'limit' },
    forbidden: confinedKey('usage:write'),
  },
  {
    name: 'GET /v1/metrics/{code}',
    method: 'GET',
    path: '/v1/metrics/{code}',
    action: 'catalog.read',
    matrixRow: 'catalog.read',
    owner: 'catalog',
    successStatus: 200,
    params: (ctx) => ({ code: ctx.catalog.metricCode }),
    invalid: { params: { code: 'NOT A CODE' }, field: 'code' },
    notFound: { params: { code: 'no-such-metric' }, code: 'metric_not_found' },
    forbidden: confinedKey('seats:verify'),
  },
  {
    name: 'POST /v1/plans',
    method: 'POST',
    path: '/v1/plans',
    action: 'catalog.write',
    matrixRow: 'catalog.write',
    owner: 'catalog',
    successStatus: 201,
    body: (ctx) => ({ code: unique('plan'), ...planTerms(ctx) }),
    creates: 'plans',
    invalid: { body: (ctx) => ({ code: unique('plan'), ...planTerms(ctx), currency: 'usd' }), field: 'currency' },
    forbidden: confinedKey('write'),
  },
  {
    name: 'GET /v1/plans',
    method: 'GET',
    path: '/v1/plans',
    action: 'catalog.read',
    matrixRow: 'catalog.read',
    owner: 'catalog',
    successStatus: 200,
    invalid: { query: { limit: 'many' }, field: 'limit' },
    forbidden: confinedKey('usage:write'),
  },
  {
    name: 'GET /v1/plans/{code}',
    method: 'GET',
    path: '/v1/plans/{code}',
    action: 'catalog.read',
    matrixRow: 'catalog.read',
    owner: 'catalog',
    successStatus: 200,
    params: (ctx) => ({ code: ctx.catalog.planCode }),
    invalid: { query: { version: '0' }, field: 'version' },
    notFound: { params: { code: 'no-such-plan' }, code: 'plan_not_found' },
    forbidden: confinedKey('seats:verify'),
  },
  {
    name: 'POST /v1/plans/{code}/versions',
    method: 'POST',
    path: '/v1/plans/{code}/versions',
    action: 'catalog.write',
    matrixRow: 'catalog.write',
    owner: 'catalog',
    successStatus: 201,
    params: (ctx) => ({ code: ctx.catalog.planCode }),
    body: planTerms,
    creates: 'plans',
    invalid: { body: (ctx) => ({ ...planTerms(ctx), interval: 'fortnight' }), field: 'interval' },
    notFound: { params: { code: 'no-such-plan' }, code: 'plan_not_found' },
    forbidden: person('OWNER'),
  },
  {
    name: 'POST /v1/organizations (root)',
    method: 'POST',
    path: '/v1/organizations',
    action: 'organization.create',
    matrixRow: 'organization.create',
    owner: 'platform',
    successStatus: 201,
    body: () => ({ name: unique('root'), currency: 'USD', billingEmail: 'ap@example.test', netTermsDays: 30 }),
    creates: 'organizations',
    invalid: { body: () => ({ name: 'Root', currency: 'usd' }), field: 'currency' },
    forbidden: person('OWNER'),
  },
  {
    name: 'POST /v1/organizations (child)',
    method: 'POST',
    path: '/v1/organizations',
    action: 'organization.createChild',
    matrixRow: 'organization.createChild',
    owner: 'organization',
    successStatus: 201,
    body: (ctx) => ({ name: unique('child'), currency: 'USD', parentId: ctx.target.id }),
    creates: 'organizations',
    invalid: { body: (ctx) => ({ name: '', currency: 'USD', parentId: ctx.target.id }), field: 'name' },
    notFound: { body: () => ({ name: 'Orphan', currency: 'USD', parentId: missingId }), code: 'organization_not_found' },
    forbidden: person('BILLING_ADMIN'),
  },
  {
    name: 'GET /v1/organizations/{id}',
    method: 'GET',
    path: '/v1/organizations/{id}',
    action: 'organization.read',
    matrixRow: 'organization.read',
    owner: 'organization',
    successStatus: 200,
    params: orgParams,
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: missingOrg,
    forbidden: confinedKey('seats:verify'),
  },
  {
    name: 'PATCH /v1/organizations/{id}',
    method: 'PATCH',
    path: '/v1/organizations/{id}',
    action: 'organization.update',
    matrixRow: 'organization.update',
    owner: 'organization',
    successStatus: 200,
    params: orgParams,
    body: () => ({ billingEmail: `${unique('ap')}@example.test`, netTermsDays: 45, taxRatePercent: 7.5 }),
    invalid: { body: () => ({ netTermsDays: 400 }), field: 'netTermsDays' },
    notFound: missingOrg,
    forbidden: person('ADMIN'),
  },
  {
    name: 'GET /v1/organizations/{id}/hierarchy',
    method: 'GET',
    path: '/v1/organizations/{id}/hierarchy',
    action: 'organization.read',
    matrixRow: 'organization.read',
    owner: 'organization',
    successStatus: 200,
    params: orgParams,
    invalid: { params: { id: '12345' }, field: 'id' },
    notFound: missingOrg,
    forbidden: confinedKey('usage:write'),
  },
  {
    name: 'POST /v1/organizations/{id}/departments',
    method: 'POST',
    path: '/v1/organizations/{id}/departments',
    action: 'department.write',
    matrixRow: 'department.write',
    owner: 'organization',
    successStatus: 201,
    params: orgParams,
    body: () => ({ name: unique('dept'), costCenter: 'CC-1200', glCode: '6100' }),
    creates: 'departments',
    invalid: { body: () => ({ name: 'Finance', costCenter: '' }), field: 'costCenter' },
    notFound: missingOrg,
    forbidden: person('MEMBER'),
  },
  {
    name: 'GET /v1/organizations/{id}/departments',
    method: 'GET',
    path: '/v1/organizations/{id}/departments',
    action: 'department.read',
    matrixRow: 'department.read',
    owner: 'organization',
    successStatus: 200,
    params: orgParams,
    invalid: { query: { limit: '0' }, field: 'limit' },
    notFound: missingOrg,
    forbidden: confinedKey('seats:verify'),
  },
  {
    name: 'POST /v1/organizations/{id}/members',
    method: 'POST',
    path: '/v1/organizations/{id}/members',
    action: 'member.write',
    matrixRow: 'member.write',
    owner: 'organization',
    successStatus: 201,
    params: orgParams,
    body: () => ({ userId: unique('user'), email: 'new@example.test', role: 'MEMBER' }),
    creates: 'members',
    invalid: { body: () => ({ userId: unique('user'), role: 'KING' }), field: 'role' },
    notFound: missingOrg,
    forbidden: person('BILLING_ADMIN'),
  },
  {
    name: 'GET /v1/organizations/{id}/members',
    method: 'GET',
    path: '/v1/organizations/{id}/members',
    action: 'member.read',
    matrixRow: 'member.read',
    owner: 'organization',
    successStatus: 200,
    params: orgParams,
    invalid: { query: { limit: '-1' }, field: 'limit' },
    notFound: missingOrg,
    forbidden: person('MEMBER'),
  },
  {
    name: 'POST /v1/organizations/{id}/external-ids',
    method: 'POST',
    path: '/v1/organizations/{id}/external-ids',
    action: 'externalId.write',
    matrixRow: 'externalId.write',
    owner: 'organization',
    successStatus: 201,
    params: orgParams,
    // An organization has one external id per application, so each success needs a new application.
    body: async (ctx) => {
      const slug = unique('app');
      await call(ctx.stack, 'POST', '/v1/applications', { body: { slug, name: 'Application' } });
      return { applicationSlug: slug, externalId: unique('tenant') };
    },
    creates: 'external_ids',
    invalid: { body: (ctx) => ({ applicationSlug: ctx.catalog.applicationSlug, externalId: '   ' }), field: 'externalId' },
    notFound: { ...missingOrg, body: (ctx) => ({ applicationSlug: ctx.catalog.applicationSlug, externalId: unique('tenant') }) },
    forbidden: confinedKey('read'),
  },
  {
    name: 'GET /v1/organizations/{id}/external-ids',
    method: 'GET',
    path: '/v1/organizations/{id}/external-ids',
    action: 'externalId.read',
    matrixRow: 'externalId.read',
    owner: 'organization',
    successStatus: 200,
    params: orgParams,
    invalid: { query: { cursor: 'c'.repeat(201) }, field: 'cursor' },
    notFound: missingOrg,
    forbidden: person('MEMBER'),
  },
  {
    name: 'POST /v1/api-keys (organization)',
    method: 'POST',
    path: '/v1/api-keys',
    action: 'apiKey.write',
    matrixRow: 'apiKey.write',
    owner: 'organization',
    successStatus: 201,
    body: (ctx) => ({ name: unique('key'), scopes: ['read'], organizationId: ctx.target.id }),
    creates: 'api_keys',
    invalid: { body: (ctx) => ({ name: 'k', scopes: [], organizationId: ctx.target.id }), field: 'scopes' },
    notFound: { body: () => ({ name: 'k', scopes: ['read'], organizationId: missingId }), code: 'organization_not_found' },
    forbidden: confinedKey('read'),
  },
  {
    name: 'POST /v1/api-keys (platform)',
    method: 'POST',
    path: '/v1/api-keys',
    action: 'apiKey.write',
    matrixRow: 'apiKey.write@platform',
    owner: 'platform',
    successStatus: 201,
    body: () => ({ name: unique('key'), scopes: ['read'], platformRole: 'finance' }),
    creates: 'api_keys',
    invalid: { body: () => ({ name: 'k', scopes: ['read'], platformRole: 'root' }), field: 'platformRole' },
    forbidden: person('OWNER'),
  },
  {
    name: 'GET /v1/api-keys (organization)',
    method: 'GET',
    path: '/v1/api-keys',
    action: 'apiKey.read',
    matrixRow: 'apiKey.read',
    owner: 'organization',
    successStatus: 200,
    query: orgQuery,
    invalid: { query: { organizationId: 'acme' }, field: 'organizationId' },
    notFound: missingOrgQuery,
    forbidden: person('ADMIN'),
  },
  {
    name: 'GET /v1/api-keys (platform)',
    method: 'GET',
    path: '/v1/api-keys',
    action: 'apiKey.read',
    matrixRow: 'apiKey.read@platform',
    owner: 'platform',
    successStatus: 200,
    invalid: { query: { limit: '0' }, field: 'limit' },
    forbidden: person('OWNER'),
  },
  {
    name: 'DELETE /v1/api-keys/{id} (organization)',
    method: 'DELETE',
    path: '/v1/api-keys/{id}',
    action: 'apiKey.write',
    matrixRow: 'apiKey.write',
    owner: 'organization',
    successStatus: 200,
    params: (ctx) => ({ id: ctx.target.victimKeyId }),
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: { params: { id: missingId }, code: 'api_key_not_found' },
    forbidden: confinedKey('read'),
  },
  {
    name: 'DELETE /v1/api-keys/{id} (platform)',
    method: 'DELETE',
    path: '/v1/api-keys/{id}',
    action: 'apiKey.write',
    matrixRow: 'apiKey.revoke@platform',
    owner: 'platform',
    successStatus: 200,
    params: (ctx) => ({ id: ctx.platform.apiKeyId }),
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: { params: { id: missingId }, code: 'api_key_not_found' },
    forbidden: (ctx) => ctx.platform.readKeyAuthorization,
  },
  {
    name: 'POST /v1/webhook-endpoints (organization)',
    method: 'POST',
    path: '/v1/webhook-endpoints',
    action: 'webhookEndpoint.write',
    matrixRow: 'webhookEndpoint.write',
    owner: 'organization',
    successStatus: 201,
    body: (ctx) => ({ url: 'https://erp.example.test/ledgerflow', events: ['invoice.finalized', 'payment.*'], organizationId: ctx.target.id }),
    creates: 'webhook_endpoints',
    invalid: { body: (ctx) => ({ url: 'ftp://erp.example.test', events: ['invoice.finalized'], organizationId: ctx.target.id }), field: 'url' },
    notFound: { body: () => ({ url: 'https://erp.example.test', events: ['*'], organizationId: missingId }), code: 'organization_not_found' },
    forbidden: person('ADMIN'),
  },
  {
    name: 'POST /v1/webhook-endpoints (platform)',
    method: 'POST',
    path: '/v1/webhook-endpoints',
    action: 'webhookEndpoint.write',
    matrixRow: 'webhookEndpoint.write@platform',
    owner: 'platform',
    successStatus: 201,
    body: () => ({ url: 'https://ops.example.test/ledgerflow', events: ['*'] }),
    creates: 'webhook_endpoints',
    invalid: { body: () => ({ url: 'https://ops.example.test', events: [] }), field: 'events' },
    forbidden: person('OWNER'),
  },
  {
    name: 'GET /v1/webhook-endpoints (organization)',
    method: 'GET',
    path: '/v1/webhook-endpoints',
    action: 'webhookEndpoint.read',
    matrixRow: 'webhookEndpoint.read',
    owner: 'organization',
    successStatus: 200,
    query: orgQuery,
    invalid: { query: { organizationId: 'acme' }, field: 'organizationId' },
    notFound: missingOrgQuery,
    forbidden: person('MEMBER'),
  },
  {
    name: 'GET /v1/webhook-endpoints (platform)',
    method: 'GET',
    path: '/v1/webhook-endpoints',
    action: 'webhookEndpoint.read',
    matrixRow: 'webhookEndpoint.read@platform',
    owner: 'platform',
    successStatus: 200,
    invalid: { query: { limit: '1000' }, field: 'limit' },
    forbidden: person('BILLING_ADMIN'),
  },
  {
    name: 'GET /v1/webhook-endpoints/{id}/deliveries',
    method: 'GET',
    path: '/v1/webhook-endpoints/{id}/deliveries',
    action: 'webhookEndpoint.read',
    matrixRow: 'webhookEndpoint.read',
    owner: 'organization',
    successStatus: 200,
    params: (ctx) => ({ id: ctx.target.webhookEndpointId }),
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: { params: { id: missingId }, code: 'webhook_endpoint_not_found' },
    forbidden: person('MEMBER'),
  },
  {
    name: 'POST /v1/webhook-endpoints/{id}/test',
    method: 'POST',
    path: '/v1/webhook-endpoints/{id}/test',
    action: 'webhookEndpoint.write',
    matrixRow: 'webhookEndpoint.write',
    owner: 'organization',
    successStatus: 201,
    // Not the endpoint the DELETE rows disable: a disabled endpoint refuses test events (409).
    params: (ctx) => ({ id: ctx.target.liveWebhookEndpointId }),
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: { params: { id: missingId }, code: 'webhook_endpoint_not_found' },
    forbidden: person('ADMIN'),
  },
  {
    name: 'DELETE /v1/webhook-endpoints/{id} (organization)',
    method: 'DELETE',
    path: '/v1/webhook-endpoints/{id}',
    action: 'webhookEndpoint.write',
    matrixRow: 'webhookEndpoint.write',
    owner: 'organization',
    successStatus: 200,
    params: (ctx) => ({ id: ctx.target.webhookEndpointId }),
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: { params: { id: missingId }, code: 'webhook_endpoint_not_found' },
    forbidden: person('ADMIN'),
  },
  {
    name: 'DELETE /v1/webhook-endpoints/{id} (platform)',
    method: 'DELETE',
    path: '/v1/webhook-endpoints/{id}',
    action: 'webhookEndpoint.write',
    matrixRow: 'webhookEndpoint.disable@platform',
    owner: 'platform',
    successStatus: 200,
    params: (ctx) => ({ id: ctx.platform.webhookEndpointId }),
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: { params: { id: missingId }, code: 'webhook_endpoint_not_found' },
    forbidden: (ctx) => ctx.platform.readKeyAuthorization,
  },
  {
    name: 'GET /v1/audit-events (organization)',
    method: 'GET',
    path: '/v1/audit-events',
    action: 'audit.read',
    matrixRow: 'audit.read',
    owner: 'organization',
    successStatus: 200,
    query: orgQuery,
    invalid: { query: { cursor: 'abc' }, field: 'cursor' },
    notFound: missingOrgQuery,
    forbidden: person('BILLING_ADMIN'),
  },
  {
    name: 'GET /v1/audit-events (platform)',
    method: 'GET',
    path: '/v1/audit-events',
    action: 'audit.read',
    matrixRow: 'audit.read@platform',
    owner: 'platform',
    successStatus: 200,
    invalid: { query: { limit: '0' }, field: 'limit' },
    forbidden: person('OWNER'),
  },
  {
    name: 'POST /v1/subscriptions',
    method: 'POST',
    path: '/v1/subscriptions',
    action: 'subscription.manage',
    matrixRow: 'subscription.manage',
    owner: 'organization',
    successStatus: 201,
    body: async (ctx) => ({ organizationId: ctx.target.id, planCode: await planOfNewApplication(ctx), seats: 2 }),
    creates: 'subscriptions',
    invalid: { body: (ctx) => ({ organizationId: ctx.target.id, planCode: ctx.catalog.planCode, seats: 0 }), field: 'seats' },
    notFound: { body: (ctx) => ({ organizationId: missingId, planCode: ctx.catalog.planCode }), code: 'organization_not_found' },
    forbidden: person('ADMIN'),
  },
  {
    name: 'GET /v1/subscriptions/{id}',
    method: 'GET',
    path: '/v1/subscriptions/{id}',
    action: 'subscription.read',
    matrixRow: 'subscription.read',
    owner: 'organization',
    successStatus: 200,
    params: subscriptionParams,
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: missingSubscription,
    forbidden: person('MEMBER'),
  },
  {
    name: 'POST /v1/subscriptions/{id}/change-plan',
    method: 'POST',
    path: '/v1/subscriptions/{id}/change-plan',
    action: 'subscription.manage',
    matrixRow: 'subscription.manage',
    owner: 'organization',
    successStatus: 200,
    params: subscriptionParams,
    body: async (ctx) => ({ planCode: await newPlanOfCatalog(ctx), timing: 'immediate' }),
    invalid: { body: () => ({ planCode: 'NOT A CODE' }), field: 'planCode' },
    notFound: missingSubscription,
    forbidden: person('ADMIN'),
  },
  {
    name: 'POST /v1/subscriptions/{id}/seats',
    method: 'POST',
    path: '/v1/subscriptions/{id}/seats',
    action: 'subscription.manage',
    matrixRow: 'subscription.manage',
    owner: 'organization',
    successStatus: 200,
    params: subscriptionParams,
    body: () => ({ seats: (nextSeatCount += 1) }),
    invalid: { body: () => ({ seats: 0 }), field: 'seats' },
    notFound: missingSubscription,
    forbidden: person('ADMIN'),
  },
  {
    name: 'POST /v1/subscriptions/{id}/pause',
    method: 'POST',
    path: '/v1/subscriptions/{id}/pause',
    action: 'subscription.manage',
    matrixRow: 'subscription.manage',
    owner: 'organization',
    successStatus: 200,
    params: subscriptionParams,
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: missingSubscription,
    forbidden: person('ADMIN'),
  },
  {
    name: 'POST /v1/subscriptions/{id}/resume',
    method: 'POST',
    path: '/v1/subscriptions/{id}/resume',
    action: 'subscription.manage',
    matrixRow: 'subscription.manage',
    owner: 'organization',
    successStatus: 200,
    params: subscriptionParams,
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: missingSubscription,
    forbidden: person('ADMIN'),
  },
  {
    name: 'POST /v1/subscriptions/{id}/seat-assignments',
    method: 'POST',
    path: '/v1/subscriptions/{id}/seat-assignments',
    action: 'seat.assign',
    matrixRow: 'seat.assign',
    owner: 'organization',
    successStatus: 201,
    params: subscriptionParams,
    body: () => ({ userId: unique('user') }),
    creates: 'seat_assignments',
    invalid: { body: () => ({ userId: '' }), field: 'userId' },
    notFound: missingSubscription,
    forbidden: person('MEMBER'),
  },
  {
    name: 'DELETE /v1/subscriptions/{id}/seat-assignments/{userId}',
    method: 'DELETE',
    path: '/v1/subscriptions/{id}/seat-assignments/{userId}',
    action: 'seat.assign',
    matrixRow: 'seat.assign',
    owner: 'organization',
    successStatus: 200,
    params: (ctx) => {
      seatHolder = unique('holder');
      return { id: ctx.target.subscriptionId, userId: seatHolder };
    },
    body: async (ctx) => {
      await call(ctx.stack, 'POST', `/v1/subscriptions/${ctx.target.subscriptionId}/seat-assignments`, { body: { userId: seatHolder } });
      return undefined;
    },
    invalid: { params: { userId: 'x'.repeat(201) }, field: 'userId' },
    notFound: missingSubscription,
    forbidden: person('MEMBER'),
  },
  {
    // From the current period on; a repeat in the same period replaces it (the first writes the period's row, the others update it).
    name: 'PUT /v1/subscriptions/{id}/cost-allocations',
    method: 'PUT',
    path: '/v1/subscriptions/{id}/cost-allocations',
    action: 'subscription.manage',
    matrixRow: 'subscription.manage',
    owner: 'organization',
    successStatus: 200,
    params: subscriptionParams,
    body: wholeToDepartment,
    // A percent zod refuses: one that parses but does not sum to 100 is the domain's 422 invalid_allocation.
    invalid: { body: (ctx) => ({ allocations: [{ departmentId: ctx.target.departmentId, percent: 'abc' }] }), field: 'allocations.0.percent' },
    notFound: missingSubscription,
    forbidden: person('ADMIN'),
  },
  {
    // Cancels at the period end, which a repeat leaves as it is; last, so the routes above run on a live subscription.
    name: 'POST /v1/subscriptions/{id}/cancel',
    method: 'POST',
    path: '/v1/subscriptions/{id}/cancel',
    action: 'subscription.manage',
    matrixRow: 'subscription.manage',
    owner: 'organization',
    successStatus: 200,
    params: subscriptionParams,
    body: () => ({ at: 'period_end' }),
    invalid: { body: () => ({ at: 'tomorrow' }), field: 'at' },
    notFound: missingSubscription,
    forbidden: person('ADMIN'),
  },
  {
    name: 'GET /v1/invoices',
    method: 'GET',
    path: '/v1/invoices',
    action: 'invoice.read',
    matrixRow: 'invoice.read',
    owner: 'organization',
    successStatus: 200,
    query: (ctx) => ({ organizationId: ctx.target.id }),
    invalid: { query: { organizationId: 'not-a-uuid' }, field: 'organizationId' },
    notFound: { query: { organizationId: missingId }, code: 'organization_not_found' },
    forbidden: person('ADMIN'),
  },
  {
    name: 'GET /v1/invoices/{id}',
    method: 'GET',
    path: '/v1/invoices/{id}',
    action: 'invoice.read',
    matrixRow: 'invoice.read',
    owner: 'organization',
    successStatus: 200,
    params: (ctx) => ({ id: ctx.target.invoiceId }),
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: { params: { id: missingId }, code: 'invoice_not_found' },
    forbidden: person('ADMIN'),
  },
  {
    name: 'POST /v1/organizations/{id}/invoices/run',
    method: 'POST',
    path: '/v1/organizations/{id}/invoices/run',
    action: 'invoice.run',
    matrixRow: 'invoice.run',
    owner: 'organization',
    successStatus: 200,
    params: orgParams,
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: missingOrg,
    forbidden: person('OWNER'),
  },
  {
    name: 'GET /v1/organizations/{id}/upcoming-invoice',
    method: 'GET',
    path: '/v1/organizations/{id}/upcoming-invoice',
    action: 'invoice.read',
    matrixRow: 'invoice.read',
    owner: 'organization',
    successStatus: 200,
    params: orgParams,
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: missingOrg,
    forbidden: person('ADMIN'),
  },
  {
    name: 'GET /v1/subscriptions/{id}/upcoming-invoice',
    method: 'GET',
    path: '/v1/subscriptions/{id}/upcoming-invoice',
    action: 'invoice.read',
    matrixRow: 'invoice.read',
    owner: 'organization',
    successStatus: 200,
    params: subscriptionParams,
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: missingSubscription,
    forbidden: person('ADMIN'),
  },
  {
    // A cent at a time, each under its own reference: the tenant's open invoice stays open for every caller.
    name: 'POST /v1/invoices/{id}/payments',
    method: 'POST',
    path: '/v1/invoices/{id}/payments',
    action: 'invoice.pay',
    matrixRow: 'invoice.pay',
    owner: 'organization',
    successStatus: 201,
    params: invoiceParams,
    body: () => ({ amount: 1, method: 'wire', reference: unique('wire') }),
    creates: 'payments',
    invalid: { body: () => ({ amount: 0, method: 'wire', reference: unique('wire') }), field: 'amount' },
    notFound: missingInvoice,
    forbidden: person('OWNER'),
  },
  {
    name: 'GET /v1/invoices/{id}/payments',
    method: 'GET',
    path: '/v1/invoices/{id}/payments',
    action: 'invoice.read',
    matrixRow: 'invoice.read',
    owner: 'organization',
    successStatus: 200,
    params: invoiceParams,
    invalid: { query: { limit: '0' }, field: 'limit' },
    notFound: missingInvoice,
    forbidden: person('ADMIN'),
  },
  {
    name: 'POST /v1/invoices/{id}/void',
    method: 'POST',
    path: '/v1/invoices/{id}/void',
    action: 'invoice.void',
    matrixRow: 'invoice.void',
    owner: 'organization',
    successStatus: 200,
    params: freshInvoice,
    body: async (ctx) => {
      await insertFinalizedInvoice(ctx.stack, { organizationId: ctx.target.id, id: freshInvoiceId });
      return undefined;
    },
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: missingInvoice,
    forbidden: person('OWNER'),
  },
  {
    name: 'POST /v1/invoices/{id}/credit-notes',
    method: 'POST',
    path: '/v1/invoices/{id}/credit-notes',
    action: 'creditNote.write',
    matrixRow: 'creditNote.write',
    owner: 'organization',
    successStatus: 201,
    params: freshInvoice,
    body: async (ctx) => {
      await insertFinalizedInvoice(ctx.stack, { organizationId: ctx.target.id, id: freshInvoiceId });
      await payInFull(ctx.stack, freshInvoiceId, { method: 'wire', reference: unique('wire') });
      return { amount: 100, reason: 'Goodwill for an outage' };
    },
    creates: 'credit_notes',
    invalid: { body: () => ({ amount: 100, reason: '' }), field: 'reason' },
    notFound: missingInvoice,
    forbidden: person('OWNER'),
  },
  {
    name: 'GET /v1/invoices/{id}/credit-notes',
    method: 'GET',
    path: '/v1/invoices/{id}/credit-notes',
    action: 'invoice.read',
    matrixRow: 'invoice.read',
    owner: 'organization',
    successStatus: 200,
    params: invoiceParams,
    invalid: { query: { limit: '101' }, field: 'limit' },
    notFound: missingInvoice,
    forbidden: person('ADMIN'),
  },
  {
    // Resolves an external id: another tenant's organization answers like an unknown one (200,
    // reason unknown_organization), so it has no 404 (see test/api/subscriptions.test.ts).
    name: 'POST /v1/seats/verify',
    method: 'POST',
    path: '/v1/seats/verify',
    action: 'seat.verify',
    matrixRow: 'seat.verify',
    owner: 'catalog',
    successStatus: 200,
    readOnly: true,
    body: (ctx) => ({ userId: unique('user'), applicationSlug: ctx.catalog.applicationSlug, externalOrgId: ctx.target.externalId }),
    invalid: { body: (ctx) => ({ userId: 'u', applicationSlug: '', externalOrgId: ctx.target.externalId }), field: 'applicationSlug' },
    forbidden: confinedKey('read'),
  },
  {
    name: 'POST /v1/usage',
    method: 'POST',
    path: '/v1/usage',
    action: 'usage.write',
    matrixRow: 'usage.write',
    owner: 'organization',
    successStatus: 202,
    body: (ctx) => usageEvent(ctx, ctx.target.id),
    creates: 'usage_event_keys',
    auditExempt: usageAuditExemption,
    invalid: { body: (ctx) => ({ ...usageEvent(ctx, ctx.target.id), eventId: 'has spaces' }), field: 'eventId' },
    notFound: { body: (ctx) => usageEvent(ctx, missingId), code: 'organization_not_found' },
    forbidden: confinedKey('write'),
  },
  {
    name: 'POST /v1/usage/batch',
    method: 'POST',
    path: '/v1/usage/batch',
    action: 'usage.write',
    matrixRow: 'usage.write',
    owner: 'organization',
    successStatus: 202,
    body: (ctx) => ({ events: [usageEvent(ctx, ctx.target.id)] }),
    creates: 'usage_event_keys',
    auditExempt: usageAuditExemption,
    invalid: { body: (ctx) => ({ events: [{ ...usageEvent(ctx, ctx.target.id), quantity: 'lots' }] }), field: 'events.0.quantity' },
    notFound: { body: (ctx) => ({ events: [usageEvent(ctx, missingId)] }), code: 'organization_not_found' },
    forbidden: person('OWNER'),
  },
  {
    name: 'GET /v1/usage (subscription)',
    method: 'GET',
    path: '/v1/usage',
    action: 'usage.read',
    matrixRow: 'usage.read',
    owner: 'organization',
    successStatus: 200,
    query: (ctx) => ({ subscriptionId: ctx.target.subscriptionId }),
    invalid: { query: { subscriptionId: 'not-a-uuid' }, field: 'subscriptionId' },
    notFound: { query: { subscriptionId: missingId }, code: 'subscription_not_found' },
    forbidden: person('MEMBER'),
  },
  {
    name: 'GET /v1/usage (organization)',
    method: 'GET',
    path: '/v1/usage',
    action: 'usage.read',
    matrixRow: 'usage.read',
    owner: 'organization',
    successStatus: 200,
    query: orgQuery,
    invalid: { query: { organizationId: 'acme' }, field: 'organizationId' },
    notFound: missingOrgQuery,
    forbidden: confinedKey('usage:write'),
  },
  {
    name: 'POST /v1/organizations/{id}/payment-methods/setup',
    method: 'POST',
    path: '/v1/organizations/{id}/payment-methods/setup',
    action: 'paymentMethod.setup',
    matrixRow: 'paymentMethod.setup',
    owner: 'organization',
    successStatus: 200,
    params: orgParams,
    body: () => ({ successUrl: 'https://app.example.test/billing/saved', cancelUrl: 'https://app.example.test/billing' }),
    invalid: { body: () => ({ successUrl: 'not a url', cancelUrl: 'https://app.example.test/billing' }), field: 'successUrl' },
    notFound: missingOrg,
    forbidden: person('ADMIN'),
  },
  {
    name: 'POST /v1/approval-rules (organization)',
    method: 'POST',
    path: '/v1/approval-rules',
    action: 'approvalRule.write',
    matrixRow: 'approvalRule.write',
    owner: 'organization',
    successStatus: 201,
    body: (ctx) => inertRule(ctx.target.id),
    creates: 'approval_rules',
    invalid: { body: (ctx) => ({ ...inertRule(ctx.target.id), levels: [{ role: 'OWNER', quorum: 0 }] }), field: 'levels.0.quorum' },
    notFound: { body: () => inertRule(missingId), code: 'organization_not_found' },
    forbidden: person('BILLING_ADMIN'),
  },
  {
    name: 'POST /v1/approval-rules (platform)',
    method: 'POST',
    path: '/v1/approval-rules',
    action: 'approvalRule.write',
    matrixRow: 'approvalRule.write@platform',
    owner: 'platform',
    successStatus: 201,
    body: () => inertRule(),
    creates: 'approval_rules',
    invalid: { body: () => ({ ...inertRule(), levels: [] }), field: 'levels' },
    forbidden: person('OWNER'),
  },
  {
    name: 'GET /v1/approval-rules (organization)',
    method: 'GET',
    path: '/v1/approval-rules',
    action: 'approvalRule.read',
    matrixRow: 'approvalRule.read',
    owner: 'organization',
    successStatus: 200,
    query: orgQuery,
    invalid: { query: { organizationId: 'acme' }, field: 'organizationId' },
    notFound: missingOrgQuery,
    forbidden: person('ADMIN'),
  },
  {
    name: 'GET /v1/approval-rules (platform)',
    method: 'GET',
    path: '/v1/approval-rules',
    action: 'approvalRule.read',
    matrixRow: 'approvalRule.read@platform',
    owner: 'platform',
    successStatus: 200,
    invalid: { query: { subjectType: 'lunch' }, field: 'subjectType' },
    forbidden: person('OWNER'),
  },
  {
    name: 'GET /v1/approval-rules/{id}',
    method: 'GET',
    path: '/v1/approval-rules/{id}',
    action: 'approvalRule.read',
    matrixRow: 'approvalRule.read',
    owner: 'organization',
    successStatus: 200,
    params: ruleParams,
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: missingRule,
    forbidden: person('MEMBER'),
  },
  {
    // Only the name changes: the levels stay the ones decisions below are made at.
    name: 'PATCH /v1/approval-rules/{id} (organization)',
    method: 'PATCH',
    path: '/v1/approval-rules/{id}',
    action: 'approvalRule.write',
    matrixRow: 'approvalRule.write',
    owner: 'organization',
    successStatus: 200,
    params: ruleParams,
    body: () => ({ name: unique('rule') }),
    invalid: { body: () => ({ minAmount: -1 }), field: 'minAmount' },
    notFound: missingRule,
    forbidden: confinedKey('read'),
  },
  {
    name: 'PATCH /v1/approval-rules/{id} (platform)',
    method: 'PATCH',
    path: '/v1/approval-rules/{id}',
    action: 'approvalRule.write',
    matrixRow: 'approvalRule.update@platform',
    owner: 'platform',
    successStatus: 200,
    params: (ctx) => ({ id: ctx.platform.approvalRuleId }),
    body: () => ({ name: unique('rule') }),
    invalid: { body: () => ({ currency: 'usd' }), field: 'currency' },
    notFound: missingRule,
    forbidden: (ctx) => ctx.platform.readKeyAuthorization,
  },
  {
    name: 'POST /v1/approval-requests',
    method: 'POST',
    path: '/v1/approval-requests',
    action: 'approvalRequest.create',
    matrixRow: 'approvalRequest.create',
    owner: 'organization',
    successStatus: 201,
    body: (ctx) => manualRequest(ctx.target.id),
    creates: 'approval_requests',
    invalid: { body: (ctx) => ({ organizationId: ctx.target.id, subjectType: 'manual', title: 'Laptops', amount: 100 }), field: 'currency' },
    notFound: { body: () => manualRequest(missingId), code: 'organization_not_found' },
    forbidden: person('MEMBER'),
  },
  {
    name: 'GET /v1/approval-requests (organization)',
    method: 'GET',
    path: '/v1/approval-requests',
    action: 'approvalRequest.read',
    matrixRow: 'approvalRequest.read',
    owner: 'organization',
    successStatus: 200,
    query: orgQuery,
    invalid: { query: { status: 'waiting' }, field: 'status' },
    notFound: missingOrgQuery,
    forbidden: person('MEMBER'),
  },
  {
    // What the caller sees wherever it is (their own requests, their organizations'), so no 404.
    name: 'GET /v1/approval-requests (caller)',
    method: 'GET',
    path: '/v1/approval-requests',
    action: 'approvalRequest.read',
    matrixRow: 'approvalRequest.read@caller',
    owner: 'catalog',
    successStatus: 200,
    invalid: { query: { assignedTo: 'everyone' }, field: 'assignedTo' },
    forbidden: confinedKey('usage:write'),
  },
  {
    name: 'GET /v1/approval-requests/{id}',
    method: 'GET',
    path: '/v1/approval-requests/{id}',
    action: 'approvalRequest.read',
    matrixRow: 'approvalRequest.read',
    owner: 'organization',
    successStatus: 200,
    params: requestParams,
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: missingRequest,
    forbidden: person('MEMBER'),
  },
  {
    // Rejects: an approval carries out its action after the answer, a write that later "writes nothing" checks would see.
    name: 'POST /v1/approval-requests/{id}/decisions',
    method: 'POST',
    path: '/v1/approval-requests/{id}/decisions',
    action: 'approvalRequest.decide',
    matrixRow: 'approvalRequest.decide',
    owner: 'organization',
    successStatus: 200,
    params: pendingRequestParams,
    body: () => ({ decision: 'reject', comment: 'Not this quarter.' }),
    invalid: { body: () => ({ decision: 'maybe' }), field: 'decision' },
    notFound: missingRequest,
    forbidden: person('MEMBER'),
    refusedBeyondPolicy: 'not_an_approver',
    successCaller: person('ADMIN'),
    auditedByWorkflow: 'approval_request.decided',
  },
  {
    // Answered per id, an id the caller cannot see as not found (test/api/approvals.test.ts): no 404, so no tenant isolation here.
    name: 'POST /v1/approval-requests/bulk-decisions',
    method: 'POST',
    path: '/v1/approval-requests/bulk-decisions',
    action: 'approvalRequest.decide',
    matrixRow: 'approvalRequest.decide@bulk',
    owner: 'catalog',
    successStatus: 200,
    body: async (ctx) => ({ ids: [await pendingRequest(ctx)], decision: 'reject' }),
    invalid: { body: () => ({ ids: [], decision: 'reject' }), field: 'ids' },
    forbidden: confinedKey('read'),
    successCaller: person('ADMIN'),
    auditedByWorkflow: 'approval_request.decided',
  },
  {
    name: 'POST /v1/approval-requests/{id}/comments',
    method: 'POST',
    path: '/v1/approval-requests/{id}/comments',
    action: 'approvalRequest.read',
    matrixRow: 'approvalRequest.read',
    owner: 'organization',
    successStatus: 201,
    params: requestParams,
    body: () => ({ body: 'Needed for the new hires.' }),
    creates: 'approval_comments',
    invalid: { body: () => ({ body: '' }), field: 'body' },
    notFound: missingRequest,
    forbidden: person('MEMBER'),
  },
  {
    name: 'POST /v1/approval-requests/{id}/cancel',
    method: 'POST',
    path: '/v1/approval-requests/{id}/cancel',
    action: 'approvalRequest.read',
    matrixRow: 'approvalRequest.cancel@requester',
    owner: 'organization',
    successStatus: 200,
    params: pendingRequestParams,
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: missingRequest,
    forbidden: person('MEMBER'),
    refusedBeyondPolicy: 'not_the_requester',
    auditedByWorkflow: 'approval_request.canceled',
  },
  {
    // Each opening takes an invoice of its own: an invoice has one active customer dispute at a time.
    name: 'POST /v1/disputes',
    method: 'POST',
    path: '/v1/disputes',
    action: 'dispute.open',
    matrixRow: 'dispute.open',
    owner: 'organization',
    successStatus: 201,
    body: async (ctx) => disputeTerms(await undisputedInvoice(ctx)),
    creates: 'disputes',
    invalid: { body: (ctx) => ({ ...disputeTerms(ctx.target.invoiceId), reason: 'changed_our_minds' }), field: 'reason' },
    notFound: { body: () => disputeTerms(missingId), code: 'invoice_not_found' },
    forbidden: person('ADMIN'),
  },
  {
    name: 'GET /v1/disputes (organization)',
    method: 'GET',
    path: '/v1/disputes',
    action: 'dispute.read',
    matrixRow: 'dispute.read',
    owner: 'organization',
    successStatus: 200,
    query: orgQuery,
    invalid: { query: { status: 'settled' }, field: 'status' },
    notFound: missingOrgQuery,
    forbidden: person('MEMBER'),
  },
  {
    // Every organization's disputes: the platform's view, refused to organization roles.
    name: 'GET /v1/disputes (platform)',
    method: 'GET',
    path: '/v1/disputes',
    action: 'dispute.read',
    matrixRow: 'dispute.read@platform',
    owner: 'platform',
    successStatus: 200,
    invalid: { query: { organizationId: 'acme' }, field: 'organizationId' },
    forbidden: person('OWNER'),
  },
  {
    name: 'GET /v1/disputes/{id}',
    method: 'GET',
    path: '/v1/disputes/{id}',
    action: 'dispute.read',
    matrixRow: 'dispute.read',
    owner: 'organization',
    successStatus: 200,
    params: disputeParams,
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: missingDispute,
    forbidden: person('ADMIN'),
  },
  {
    // Either side comments while the dispute is active (the operator's first word puts it under review).
    name: 'POST /v1/disputes/{id}/comments',
    method: 'POST',
    path: '/v1/disputes/{id}/comments',
    action: 'dispute.comment',
    matrixRow: 'dispute.comment',
    owner: 'organization',
    successStatus: 201,
    params: disputeParams,
    body: () => ({ body: 'The seat report for March is attached.' }),
    creates: 'dispute_comments',
    invalid: { body: () => ({ body: '' }), field: 'body' },
    notFound: missingDispute,
    forbidden: person('MEMBER'),
    auditedByWorkflow: 'dispute.commented',
  },
  {
    // The customer's: no platform role withdraws, so the bootstrap key is refused and a BILLING_ADMIN succeeds.
    name: 'POST /v1/disputes/{id}/withdraw',
    method: 'POST',
    path: '/v1/disputes/{id}/withdraw',
    action: 'dispute.withdraw',
    matrixRow: 'dispute.withdraw',
    owner: 'organization',
    successStatus: 200,
    params: openDisputeParams,
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: missingDispute,
    forbidden: person('ADMIN'),
    successCaller: person('BILLING_ADMIN'),
    auditedByWorkflow: 'dispute.withdrawn',
  },
  {
    // Rejects: a credit or refund moves money (and a refund calls Stripe) after the answer.
    name: 'POST /v1/disputes/{id}/resolve',
    method: 'POST',
    path: '/v1/disputes/{id}/resolve',
    action: 'dispute.resolve',
    matrixRow: 'dispute.resolve',
    owner: 'organization',
    successStatus: 200,
    params: openDisputeParams,
    body: () => ({ outcome: 'reject', comment: 'The seat report shows 12 seats assigned all March.' }),
    invalid: { body: () => ({ outcome: 'reject', amount: 100 }), field: 'amount' },
    notFound: missingDispute,
    forbidden: person('OWNER'),
    auditedByWorkflow: 'dispute.rejected',
  },
  {
    // Each creation takes a term of its own: the target's contracts may not overlap.
    name: 'POST /v1/contracts',
    method: 'POST',
    path: '/v1/contracts',
    action: 'contract.write',
    matrixRow: 'contract.write',
    owner: 'organization',
    successStatus: 201,
    body: (ctx) => contractTerms(ctx.target.id, freshTerm()),
    creates: 'contracts',
    invalid: { body: (ctx) => contractTerms(ctx.target.id, { startDate: '2110-01-01', endDate: '2109-12-31' }), field: 'endDate' },
    notFound: { body: () => contractTerms(missingId, standingTerm), code: 'organization_not_found' },
    forbidden: person('OWNER'),
  },
  {
    name: 'GET /v1/contracts (organization)',
    method: 'GET',
    path: '/v1/contracts',
    action: 'contract.read',
    matrixRow: 'contract.read',
    owner: 'organization',
    successStatus: 200,
    query: orgQuery,
    invalid: { query: { status: 'signed' }, field: 'status' },
    notFound: missingOrgQuery,
    forbidden: person('MEMBER'),
  },
  {
    // Every organization's contracts: the platform's view, refused to organization roles.
    name: 'GET /v1/contracts (platform)',
    method: 'GET',
    path: '/v1/contracts',
    action: 'contract.read',
    matrixRow: 'contract.read@platform',
    owner: 'platform',
    successStatus: 200,
    invalid: { query: { organizationId: 'acme' }, field: 'organizationId' },
    forbidden: person('OWNER'),
  },
  {
    name: 'GET /v1/contracts/{id}',
    method: 'GET',
    path: '/v1/contracts/{id}',
    action: 'contract.read',
    matrixRow: 'contract.read',
    owner: 'organization',
    successStatus: 200,
    params: contractParams,
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: missingContract,
    forbidden: person('ADMIN'),
  },
  {
    // From the standing contract's start, which stays its latest version's day: every amendment applies (no contract_amendment rule here).
    name: 'POST /v1/contracts/{id}/amendments',
    method: 'POST',
    path: '/v1/contracts/{id}/amendments',
    action: 'contract.write',
    matrixRow: 'contract.write',
    owner: 'organization',
    successStatus: 201,
    params: contractParams,
    body: amendment,
    creates: 'contract_amendments',
    invalid: { body: () => ({ ...amendment(), changes: {} }), field: 'changes' },
    notFound: missingContract,
    forbidden: person('BILLING_ADMIN'),
    auditedByWorkflow: 'contract.amended',
  },
  {
    // A renewal adds a version; 6 months stay inside the fresh contract's year.
    name: 'POST /v1/contracts/{id}/renew',
    method: 'POST',
    path: '/v1/contracts/{id}/renew',
    action: 'contract.write',
    matrixRow: 'contract.write',
    owner: 'organization',
    successStatus: 200,
    params: freshContractParams,
    body: () => ({ termMonths: 6 }),
    creates: 'contract_versions',
    invalid: { body: () => ({ termMonths: 0 }), field: 'termMonths' },
    notFound: missingContract,
    forbidden: confinedKey('write'),
    auditedByWorkflow: 'contract.renewed',
  },
  {
    // Scheduled for a day inside the fresh contract's term (after today): a scheduled termination writes nothing until its day.
    name: 'POST /v1/contracts/{id}/terminate',
    method: 'POST',
    path: '/v1/contracts/{id}/terminate',
    action: 'contract.write',
    matrixRow: 'contract.write',
    owner: 'organization',
    successStatus: 200,
    params: freshContractParams,
    body: () => ({ at: terminationDay, reason: 'Consolidated into the group contract.' }),
    invalid: { body: () => ({ at: 'tomorrow', reason: 'Consolidated into the group contract.' }), field: 'at' },
    notFound: missingContract,
    forbidden: person('OWNER'),
    auditedByWorkflow: 'contract.termination_scheduled',
  },
  {
    // Below the SLA's 99.9%; the period lies in 2100, so no invoice of today's has charges for it to credit.
    name: 'POST /v1/contracts/{id}/sla-breaches',
    method: 'POST',
    path: '/v1/contracts/{id}/sla-breaches',
    action: 'contract.write',
    matrixRow: 'contract.write',
    owner: 'organization',
    successStatus: 201,
    params: contractParams,
    body: () => ({ ...breachPeriod(), measuredUptimePercent: '99.5' }),
    creates: 'contract_sla_breaches',
    invalid: { body: () => ({ periodStart: '2100-03-01', periodEnd: '2100-02-01', measuredUptimePercent: '99.5' }), field: 'periodEnd' },
    notFound: missingContract,
    forbidden: person('BILLING_ADMIN'),
  },
  {
    name: 'POST /v1/budgets',
    method: 'POST',
    path: '/v1/budgets',
    action: 'budget.write',
    matrixRow: 'budget.write',
    owner: 'organization',
    successStatus: 201,
    body: (ctx) => budgetTerms(ctx.target.id),
    creates: 'budgets',
    invalid: { body: (ctx) => ({ ...budgetTerms(ctx.target.id), period: 'week' }), field: 'period' },
    notFound: { body: () => budgetTerms(missingId), code: 'organization_not_found' },
    // Its admins follow the budgets (budget.read); only its billing people set them.
    forbidden: person('ADMIN'),
  },
  {
    name: 'GET /v1/budgets (organization)',
    method: 'GET',
    path: '/v1/budgets',
    action: 'budget.read',
    matrixRow: 'budget.read',
    owner: 'organization',
    successStatus: 200,
    query: orgQuery,
    invalid: { query: { organizationId: 'acme' }, field: 'organizationId' },
    notFound: missingOrgQuery,
    forbidden: person('MEMBER'),
  },
  {
    // Every organization's budgets: the platform's view, refused to organization roles.
    name: 'GET /v1/budgets (platform)',
    method: 'GET',
    path: '/v1/budgets',
    action: 'budget.read',
    matrixRow: 'budget.read@platform',
    owner: 'platform',
    successStatus: 200,
    invalid: { query: { limit: '0' }, field: 'limit' },
    forbidden: person('OWNER'),
  },
  {
    name: 'GET /v1/budgets/{id}',
    method: 'GET',
    path: '/v1/budgets/{id}',
    action: 'budget.read',
    matrixRow: 'budget.read',
    owner: 'organization',
    successStatus: 200,
    params: budgetParams,
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: missingBudget,
    forbidden: person('MEMBER'),
  },
  {
    // Only the name changes: the amount stays far above what the organization buys, and enforcement stays `none`.
    name: 'PATCH /v1/budgets/{id}',
    method: 'PATCH',
    path: '/v1/budgets/{id}',
    action: 'budget.write',
    matrixRow: 'budget.write',
    owner: 'organization',
    successStatus: 200,
    params: budgetParams,
    body: () => ({ name: unique('budget') }),
    invalid: { body: () => ({ amount: -1 }), field: 'amount' },
    notFound: missingBudget,
    forbidden: person('ADMIN'),
  },
  {
    name: 'GET /v1/budgets/{id}/tracking',
    method: 'GET',
    path: '/v1/budgets/{id}/tracking',
    action: 'budget.read',
    matrixRow: 'budget.read',
    owner: 'organization',
    successStatus: 200,
    params: budgetParams,
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: missingBudget,
    forbidden: confinedKey('seats:verify'),
  },
  {
    name: 'GET /v1/budgets/{id}/alerts',
    method: 'GET',
    path: '/v1/budgets/{id}/alerts',
    action: 'budget.read',
    matrixRow: 'budget.read',
    owner: 'organization',
    successStatus: 200,
    params: budgetParams,
    invalid: { params: { id: '12345' }, field: 'id' },
    notFound: missingBudget,
    forbidden: person('MEMBER'),
  },
  {
    name: 'POST /v1/integrations',
    method: 'POST',
    path: '/v1/integrations',
    action: 'integration.write',
    matrixRow: 'integration.write',
    owner: 'platform',
    successStatus: 201,
    body: (ctx) => integrationTerms(ctx.platform.integrationScopeId),
    creates: 'erp_integrations',
    invalid: { body: (ctx) => ({ ...integrationTerms(ctx.platform.integrationScopeId), provider: 'oracle' }), field: 'provider' },
    notFound: { body: () => integrationTerms(missingId), code: 'organization_not_found' },
    forbidden: (ctx) => ctx.platform.readKeyAuthorization,
  },
  {
    name: 'GET /v1/integrations',
    method: 'GET',
    path: '/v1/integrations',
    action: 'integration.read',
    matrixRow: 'integration.read',
    owner: 'platform',
    successStatus: 200,
    invalid: { query: { limit: '0' }, field: 'limit' },
    forbidden: person('OWNER'),
  },
  {
    name: 'GET /v1/integrations/{id}',
    method: 'GET',
    path: '/v1/integrations/{id}',
    action: 'integration.read',
    matrixRow: 'integration.read@id',
    owner: 'platform',
    successStatus: 200,
    params: integrationParams,
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: missingIntegration,
    forbidden: (ctx) => ctx.platform.usageKeyAuthorization,
  },
  {
    name: 'PUT /v1/integrations/{id}/gl-mappings',
    method: 'PUT',
    path: '/v1/integrations/{id}/gl-mappings',
    action: 'integration.write',
    matrixRow: 'integration.write@id',
    owner: 'platform',
    successStatus: 200,
    params: integrationParams,
    body: glMappings,
    invalid: { body: () => ({ mappings: [{ kind: 'revenue', account: '' }] }), field: 'mappings.0.account' },
    notFound: missingIntegration,
    forbidden: (ctx) => ctx.platform.readKeyAuthorization,
  },
  {
    name: 'GET /v1/integrations/{id}/gl-mappings',
    method: 'GET',
    path: '/v1/integrations/{id}/gl-mappings',
    action: 'integration.read',
    matrixRow: 'integration.read@id',
    owner: 'platform',
    successStatus: 200,
    params: integrationParams,
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: missingIntegration,
    forbidden: (ctx) => ctx.platform.usageKeyAuthorization,
  },
  {
    // The integration's scope has no documents: nothing is queued, so nothing is pushed after the answer.
    name: 'POST /v1/integrations/{id}/sync',
    method: 'POST',
    path: '/v1/integrations/{id}/sync',
    action: 'integration.write',
    matrixRow: 'integration.write@id',
    owner: 'platform',
    successStatus: 202,
    params: integrationParams,
    body: () => ({ documentTypes: ['invoice', 'payment'] }),
    invalid: { body: () => ({ since: 'yesterday' }), field: 'since' },
    notFound: missingIntegration,
    forbidden: (ctx) => ctx.platform.readKeyAuthorization,
  },
  {
    name: 'GET /v1/integrations/{id}/status',
    method: 'GET',
    path: '/v1/integrations/{id}/status',
    action: 'integration.read',
    matrixRow: 'integration.read@id',
    owner: 'platform',
    successStatus: 200,
    params: integrationParams,
    invalid: { params: { id: '12345' }, field: 'id' },
    notFound: missingIntegration,
    forbidden: (ctx) => ctx.platform.usageKeyAuthorization,
  },
  {
    name: 'GET /v1/integrations/{id}/logs',
    method: 'GET',
    path: '/v1/integrations/{id}/logs',
    action: 'integration.read',
    matrixRow: 'integration.read@id',
    owner: 'platform',
    successStatus: 200,
    params: integrationParams,
    query: () => ({ status: 'failed', documentType: 'invoice', limit: '10' }),
    invalid: { query: { limit: '0' }, field: 'limit' },
    notFound: missingIntegration,
    forbidden: (ctx) => ctx.platform.usageKeyAuthorization,
  },
  {
    // A connected integration of its own each time: a disconnected one answers 200 again without a change or an audit row.
    name: 'POST /v1/integrations/{id}/disconnect',
    method: 'POST',
    path: '/v1/integrations/{id}/disconnect',
    action: 'integration.write',
    matrixRow: 'integration.write@id',
    owner: 'platform',
    successStatus: 200,
    params: freshIntegrationParams,
    invalid: { params: { id: 'not-a-uuid' }, field: 'id' },
    notFound: missingIntegration,
    forbidden: (ctx) => ctx.platform.readKeyAuthorization,
  },
];

/**
 * /v1 operations deliberately outside the table, with the reason: the table's cases (401 without
 * a bearer token, 403 by role) do not apply to them.
 */
export const routesOutsideTable: Record<string, string> = {
  'POST /v1/webhooks/stripe': 'Stripe signs it instead of a bearer token; test/api/stripe-webhooks.test.ts covers it',
};

/** Builds what the route table needs: a catalog, platform objects, and the target organization. */
export async function platformObjects(stack: TestStack, readKeyAuthorization: string): Promise<RouteContext['platform']> {
  // First: its billing workflow records its start on the row, long before any test compares state.
  const integrationScope = await call<{ id: string }>(stack, 'POST', '/v1/organizations', {
    body: { name: unique('erp-scope'), currency: 'USD', paymentTerms: 'send_invoice', netTermsDays: 30 },
  });
  const apiKey = await call<{ id: string }>(stack, 'POST', '/v1/api-keys', { body: { name: unique('platform'), scopes: ['read'] } });
  const usageKey = await createApiKey(stack, { scopes: ['usage:write'], platformRole: 'platform_admin' });
  const endpoint = await call<{ id: string }>(stack, 'POST', '/v1/webhook-endpoints', { body: { url: 'https://ops.example.test/hooks', events: ['*'] } });
  const rule = await call<{ id: string }>(stack, 'POST', '/v1/approval-rules', { body: inertRule() });
  return {
    apiKeyId: apiKey.id,
    webhookEndpointId: endpoint.id,
    readKeyAuthorization,
    usageKeyAuthorization: bearer(usageKey.key),
    approvalRuleId: rule.id,
    integrationScopeId: integrationScope.id,
    integrationId: await connectIntegration(stack, integrationScope.id),
  };
}
