/**
 * ERP sync through the real stack, for each of the six connectors: the API, `erp:` workflows on a
 * real worker, PostgreSQL, and the vendor's mock server (which checks auth and validates every body
 * against the vendor's spec). Documents are queued by the business events themselves (a billing
 * run's invoice, a recorded payment, a credit note, a refund) and each lands in the ERP exactly
 * once, whatever the vendor does: a 500, an answer lost after the ERP stored the document, a 429,
 * an expired token, a refusal.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { reserveErpRequestSlot } from '../../src/db/repositories/erp-sync.js';
import type { ErpDocumentType, ErpProvider, GlMapping } from '../../src/domain/index.js';
import { erpSearchAttributes } from '../../workflows/messages/erp.js';
import { startErpMock, type ErpMock } from '../support/erp-mock/server.js';
import { sapFixture } from '../support/erp-mock/sap.js';
import { xeroFixture } from '../support/erp-mock/xero.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { eventually } from '../workflow/support/subscriptions.js';
import { insertFinalizedInvoice, payInFull } from './support/collection.js';
import { erpFixtures as fixtures, erpProviderNames as providers, holdsValue, invoiceWrite } from './support/erp.js';
import { expectProblem } from './support/problems.js';
import { call, unique } from './support/world.js';

let stack: TestStack;
const mocks = new Map<ErpProvider, ErpMock>();
let applicationSlug: string;

beforeAll(async () => {
  stack = await startTestStack();
  for (const provider of providers) mocks.set(provider, await startErpMock(fixtures[provider].vendor));
  applicationSlug = unique('erp-app');
  await call(stack, 'POST', '/v1/applications', { body: { slug: applicationSlug, name: 'Ledger' } });
  // The fixtures map plan `pro` to an account of its own.
  await call(stack, 'POST', '/v1/plans', { body: { code: 'pro', name: 'Pro', applicationSlug, currency: 'USD', interval: 'month', basePrice: 12_345, seatPrice: 1_050 } });
}, 120_000);
afterAll(async () => {
  await stack?.stop();
  for (const mock of mocks.values()) await mock.close();
});
afterEach(() => {
  for (const mock of mocks.values()) {
    expect(mock.schemaViolations).toEqual([]);
    mock.setRateLimit(null);
  }
});

interface LogEntry {
  documentType: ErpDocumentType;
  documentId: string;
  externalId?: string;
  status: string;
  attempts: number;
  lastError?: string;
}

const mockOf = (provider: ErpProvider) => mocks.get(provider)!;

async function newOrganization(): Promise<string> {
  const organization = await call<{ id: string }>(stack, 'POST', '/v1/organizations', { body: { name: unique('erp-customer'), currency: 'USD', paymentTerms: 'send_invoice', netTermsDays: 30 } });
  return organization.id;
}

/**
 * Connects the provider's mock for one organization, with the fixture's GL mappings (or `mappings`).
 * Only a test that loses an answer on purpose shortens the request timeout: on a loaded CI machine
 * a short one times out ordinary answers too.
 */
async function connect(provider: ErpProvider, organizationId: string, options: { mappings?: GlMapping[]; timeoutMs?: number; settings?: Record<string, unknown> } = {}): Promise<string> {
  const fixture = fixtures[provider];
  const settings = { ...fixture.settings(mockOf(provider)), ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}), ...options.settings };
  const integration = await call<{ id: string; status: string }>(stack, 'POST', '/v1/integrations', {
    body: { provider, name: `${provider} sandbox`, organizationId, credentials: fixture.credentials, settings },
    expect: 201,
  });
  expect(integration.status).toBe('connected');
  await call(stack, 'PUT', `/v1/integrations/${integration.id}/gl-mappings`, { body: { mappings: options.mappings ?? fixture.glMappings }, expect: 200 });
  return integration.id;
}

const logOf = (integrationId: string) => call<LogEntry[]>(stack, 'GET', `/v1/integrations/${integrationId}/logs`);

/** Waits until every queued document of the integration is synced or failed. */
async function settled(integrationId: string, expected: number, timeoutMs = 60_000): Promise<LogEntry[]> {
  return eventually(async () => {
    const log = await logOf(integrationId);
    return log.length >= expected && log.every((entry) => entry.status === 'synced' || entry.status === 'failed') ? log : undefined;
  }, timeoutMs);
}

const attemptsOf = (integrationId: string, documentId: string) =>
  stack.sql<{ outcome: string }>('select outcome from erp_sync_attempts where integration_id = $1 and document_id = $2 order by id', [integrationId, documentId]).then((rows) => rows.map((row) => row.outcome));

/** A finalized invoice of the organization, queued as the billing cycle queues one (a manual sync picks it up). */
async function queuedInvoice(integrationId: string, organizationId: string, subtotal = 10_000): Promise<string> {
  const invoiceId = await insertFinalizedInvoice(stack, { organizationId, subtotal });
  await call(stack, 'POST', `/v1/integrations/${integrationId}/sync`, { body: { documentTypes: ['invoice'] }, expect: 202 });
  return invoiceId;
}

describe.each(providers)('%s', (provider) => {
  const fixture = fixtures[provider];

  it('pushes a billed invoice, its payment, a credit note and a refund after its credit note, each exactly once', async () => {
    const mock = mockOf(provider);
    const before = Object.fromEntries((['customer', 'invoice', 'payment', 'credit_note', 'refund'] as const).map((type) => [type, fixture.documentsOf(mock, type).length]));
    const organizationId = await newOrganization();
    const integrationId = await connect(provider, organizationId);
    await call(stack, 'POST', '/v1/subscriptions', { body: { organizationId, planCode: 'pro', seats: 2 } });
    const run = await call<{ invoices: { id: string; total: number }[] }>(stack, 'POST', `/v1/organizations/${organizationId}/invoices/run`, { expect: 200 });
    const billed = run.invoices[0]!;
    expect(billed.total).toBe(12_345 + 2 * 1_050);
    await call(stack, 'POST', `/v1/invoices/${billed.id}/payments`, { body: { amount: billed.total, method: 'wire', reference: unique('WIRE') }, expect: 201 });
    await call(stack, 'POST', `/v1/invoices/${billed.id}/credit-notes`, { body: { amount: 1_000, reason: 'Onboarding delay' }, expect: 201 });
    // A refund goes back to a Stripe payment: a second invoice paid by card, then refunded in part.
    const carded = await insertFinalizedInvoice(stack, { organizationId, subtotal: 5_000 });
    await payInFull(stack, carded, { method: 'stripe', reference: `pi_${randomUUID().replaceAll('-', '')}` });
    const refunded = await call<{ id: string; stripeRefundId: string }>(stack, 'POST', `/v1/invoices/${carded}/credit-notes`, { body: { amount: 2_000, reason: 'Refund', refund: true }, expect: 201 });
    expect(refunded.stripeRefundId).toMatch(/^re_/);

    // customer, 2 invoices (the card one pulled in by its credit note), payment, 2 credit notes, refund.
    const log = await settled(integrationId, 7);
    expect(log.filter((entry) => entry.status !== 'synced')).toEqual([]);
    const count = (type: ErpDocumentType) => log.filter((entry) => entry.documentType === type).length;
    expect([count('customer'), count('invoice'), count('payment'), count('credit_note'), count('refund')]).toEqual([1, 2, 1, 2, 1]);
    // Every document on its first attempt; a failure shows what the others' attempts met.
    const failedAttempts = await stack.sql<{ documentType: string; outcome: string; error: string | null }>(
      `select document_type as "documentType", outcome, error from erp_sync_attempts where integration_id = $1 and outcome <> 'synced' order by id`,
      [integrationId],
    );
    expect(failedAttempts).toEqual([]);
    expect(log.filter((entry) => !entry.externalId || entry.attempts !== 1)).toEqual([]);
    for (const type of ['customer', 'invoice', 'payment', 'credit_note', 'refund'] as const) {
      expect(fixture.documentsOf(mock, type).length - before[type]!).toBe(count(type));
    }
    // The billed invoice's revenue lines went to plan `pro`'s own account.
    const proAccount = fixture.glMappings.find((mapping) => mapping.planCode === 'pro')!.account;
    const invoiceExternalId = log.find((entry) => entry.documentId === billed.id)!.externalId!;
    const pushed = fixture.documentsOf(mock, 'invoice').filter((document) => holdsValue(document, invoiceExternalId));
    expect(pushed).toHaveLength(1);
    expect(holdsValue(pushed[0], proAccount)).toBe(true);

    const status = await call<{ status: string; synced: number; pending: number; failed: number; lastSyncAt: string }>(stack, 'GET', `/v1/integrations/${integrationId}/status`);
    expect(status).toMatchObject({ status: 'connected', synced: 7, pending: 0, failed: 0, lastSyncAt: expect.any(String) });
    const description = await stack.temporal.workflow.getHandle(`erp:${integrationId}:invoice:${billed.id}`).describe();
    expect(description.typedSearchAttributes.get(erpSearchAttributes.status)).toBe('synced');
    expect(description.typedSearchAttributes.get(erpSearchAttributes.documentType)).toBe('invoice');
  });

  it('retries a 500, reconciles an answer lost after the ERP stored the invoice, waits out a 429: each invoice once', async () => {
    const mock = mockOf(provider);
    const organizationId = await newOrganization();
    const integrationId = await connect(provider, organizationId, { timeoutMs: 3_000 });
    const cases = [
      { fault: { kind: 'status', status: 500 } as const, outcomes: ['retrying', 'synced'] },
      // Business Central's lost answer leaves a draft, which is not yet the document (findByReference
      // sees posted ones only); the next push finds the draft and posts it instead of creating another.
      { fault: { kind: 'hang_after_success' } as const, outcomes: ['retrying', provider === 'dynamics365' ? 'synced' : 'reconciled'] },
      { fault: { kind: 'status', status: 429, retryAfterSeconds: 1 } as const, outcomes: ['retrying', 'synced'] },
    ];
    for (const { fault, outcomes } of cases) {
      mock.inject(fault, { match: invoiceWrite });
      const invoiceId = await queuedInvoice(integrationId, organizationId);
      const log = await settled(integrationId, 1);
      const entry = log.find((candidate) => candidate.documentId === invoiceId)!;
      expect(entry).toMatchObject({ status: 'synced', attempts: 2 });
      expect(await attemptsOf(integrationId, invoiceId)).toEqual(outcomes);
      expect(fixture.documentsOf(mock, 'invoice').filter((document) => holdsValue(document, entry.externalId!))).toHaveLength(1);
    }
  });

  it('refuses a document the vendor rejects: failed with its message, not retried', async () => {
    const mock = mockOf(provider);
    const organizationId = await newOrganization();
    const unknownAccount = provider === 'sap' || provider === 'quickbooks' || provider === 'netsuite' ? '999999' : '9999-UNKNOWN';
    const mappings = fixture.glMappings.map((mapping) => (mapping.kind === 'revenue' ? { ...mapping, account: unknownAccount } : mapping));
    const integrationId = await connect(provider, organizationId, { mappings });
    const writes = () => mock.requests.filter(invoiceWrite).length;
    const before = writes();
    const invoiceId = await queuedInvoice(integrationId, organizationId);
    const log = await settled(integrationId, 1);
    const entry = log.find((candidate) => candidate.documentId === invoiceId)!;
    expect(entry).toMatchObject({ status: 'failed', attempts: 1, lastError: expect.stringMatching(/\S{8,}/) });
    expect(await attemptsOf(integrationId, invoiceId)).toEqual(['failed']);
    expect(writes() - before).toBe(1);
    const status = await call<{ failed: number; status: string }>(stack, 'GET', `/v1/integrations/${integrationId}/status`);
    expect(status).toMatchObject({ status: 'connected', failed: 1 });
  });

  it('an expired access token is refreshed once and the push goes through (NetSuite: a revoked token needs attention)', async () => {
    const mock = mockOf(provider);
    const organizationId = await newOrganization();
    const integrationId = await connect(provider, organizationId);
    await queuedInvoice(integrationId, organizationId);
    await settled(integrationId, 2);
    mock.expireTokens();
    const refused = () => mock.requests.filter((request) => request.status === 401).length;
    const before = refused();
    const invoiceId = await queuedInvoice(integrationId, organizationId);
    const log = await settled(integrationId, 3);
    const entry = log.find((candidate) => candidate.documentId === invoiceId)!;
    if (provider === 'netsuite') {
      // Token-based authentication has nothing to refresh: a revoked token fails the push and flags the integration.
      expect(entry).toMatchObject({ status: 'failed', attempts: 1, lastError: expect.stringContaining('401') });
      expect(await call(stack, 'GET', `/v1/integrations/${integrationId}/status`)).toMatchObject({ status: 'needs_attention' });
      return;
    }
    expect(entry).toMatchObject({ status: 'synced', attempts: 1 });
    expect(refused() - before).toBe(1);
  });
});

describe('GL mappings and the integration itself', () => {
  it('fails a document whose amounts are not all mapped, naming what is missing, and pushes nothing', async () => {
    const mock = mockOf('xero');
    const organizationId = await newOrganization();
    const integrationId = await connect('xero', organizationId, { mappings: xeroFixture.glMappings.filter((mapping) => mapping.kind !== 'receivable') });
    const before = mock.requests.length;
    const invoiceId = await queuedInvoice(integrationId, organizationId);
    const log = await settled(integrationId, 2);
    expect(log.find((entry) => entry.documentId === invoiceId)).toMatchObject({ status: 'failed', attempts: 0, lastError: expect.stringContaining('no GL mapping for receivable') });
    // The customer went; the invoice never did.
    expect(mock.requests.slice(before).filter(invoiceWrite)).toEqual([]);

    // Mapped, then re-synced: it goes through.
    await call(stack, 'PUT', `/v1/integrations/${integrationId}/gl-mappings`, { body: { mappings: xeroFixture.glMappings }, expect: 200 });
    expect(await call<{ queued: number }>(stack, 'POST', `/v1/integrations/${integrationId}/sync`, { body: {}, expect: 202 })).toEqual({ queued: 1 });
    await eventually(async () => ((await logOf(integrationId)).find((entry) => entry.documentId === invoiceId)?.status === 'synced' ? true : undefined), 30_000);
  });

  it('refuses bad input with problem+json and changes nothing', async () => {
    const organizationId = await newOrganization();
    const count = async () => (await stack.sql('select id from erp_integrations')).length;
    const before = await count();
    await expectProblem(await stack.request('POST', '/v1/integrations', { body: { provider: 'xero', name: 'x', credentials: { clientId: 'a' } } }), 422, 'invalid_credentials');
    await expectProblem(await stack.request('POST', '/v1/integrations', { body: { provider: 'sap', name: 'x', credentials: sapFixture.credentials } }), 422, 'base_url_required');
    await expectProblem(await stack.request('POST', '/v1/integrations', { body: { provider: 'oracle', name: 'x', credentials: {} } }), 400, 'validation_failed');
    expect(await count()).toBe(before);
    const integrationId = await connect('xero', organizationId);
    const mappings = await call<{ mappings: GlMapping[] }>(stack, 'GET', `/v1/integrations/${integrationId}/gl-mappings`);
    await expectProblem(await stack.request('PUT', `/v1/integrations/${integrationId}/gl-mappings`, { body: { mappings: [{ kind: 'tax', planCode: 'pro', account: '1' }] } }), 422, 'invalid_gl_mapping');
    await expectProblem(await stack.request('PUT', `/v1/integrations/${integrationId}/gl-mappings`, { body: { mappings: [{ kind: 'cash', account: '1' }, { kind: 'cash', account: '2' }] } }), 422, 'invalid_gl_mapping');
    expect(await call(stack, 'GET', `/v1/integrations/${integrationId}/gl-mappings`)).toEqual(mappings);
    const view = await call<Record<string, unknown>>(stack, 'GET', `/v1/integrations/${integrationId}`);
    expect(Object.keys(view)).not.toContain('credentials');
    expect(JSON.stringify(view)).not.toContain(xeroFixture.credentials.clientSecret!);
  });

  it("the shared rate limiter lets exactly the vendor's burst go at once, then makes the next request wait an interval", async () => {
    const integrationId = await connect('xero', await newOrganization());
    // After a quiet spell, the burst is free.
    await stack.sql(`update erp_integrations set rate_next_at = now() - interval '1 hour' where id = $1`, [integrationId]);
    const minute = 60_000;
    const reserve = () => reserveErpRequestSlot(stack.orm.em.fork(), integrationId, minute, 3, 0);
    const slots = [await reserve(), await reserve(), await reserve(), await reserve()];
    expect(slots.map((slot) => slot.reserved)).toEqual([true, true, true, false]);
    expect(slots.slice(0, 3).every((slot) => slot.waitMs === 0)).toBe(true);
    expect(slots[3]!.waitMs).toBeGreaterThan(minute - 5_000);
  });

  it('takes the provider settings the connectors read: a NetSuite subsidiary lands on the customer, a Business Central refund journal is kept', async () => {
    // A NetSuite account of its own: the suite's has had its tokens revoked by the token test.
    const mock = await startErpMock(fixtures.netsuite.vendor);
    try {
      const organizationId = await newOrganization();
      const integrationId = await connect('netsuite', organizationId, { settings: { ...fixtures.netsuite.settings(mock), subsidiaryId: '1' } });
      await queuedInvoice(integrationId, organizationId);
      const log = await settled(integrationId, 2);
      const customer = log.find((entry) => entry.documentType === 'customer')!;
      expect(customer.status).toBe('synced');
      expect(fixtures.netsuite.documentsOf(mock, 'customer')).toEqual([expect.objectContaining({ id: customer.externalId, subsidiary: expect.objectContaining({ id: '1' }) })]);
    } finally {
      await mock.close();
    }

    const dynamics = await connect('dynamics365', await newOrganization(), { settings: { refundJournalCode: 'REFUNDS' } });
    expect(await call(stack, 'GET', `/v1/integrations/${dynamics}`)).toMatchObject({ settings: expect.objectContaining({ refundJournalCode: 'REFUNDS' }) });
  });

  it('disconnect stops new pushes: nothing is queued for it, and a manual sync is refused', async () => {
    const organizationId = await newOrganization();
    const integrationId = await connect('xero', organizationId);
    expect(await call(stack, 'POST', `/v1/integrations/${integrationId}/disconnect`, { expect: 200 })).toMatchObject({ status: 'disconnected' });
    await call(stack, 'POST', '/v1/subscriptions', { body: { organizationId, planCode: 'pro', seats: 1 } });
    await call(stack, 'POST', `/v1/organizations/${organizationId}/invoices/run`, { expect: 200 });
    expect(await stack.sql('select 1 from erp_sync_documents where integration_id = $1', [integrationId])).toEqual([]);
    await expectProblem(await stack.request('POST', `/v1/integrations/${integrationId}/sync`, { body: {} }), 409, 'integration_disconnected');
    expect(await call(stack, 'GET', `/v1/integrations/${integrationId}/status`)).toMatchObject({ status: 'disconnected', synced: 0, pending: 0, failed: 0 });
  });
});
