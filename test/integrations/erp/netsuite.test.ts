import { createHmac } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import OAuth from 'oauth-1.0a';
import {
  buildErpCreditNote,
  buildErpCustomer,
  buildErpInvoice,
  buildErpPayment,
  buildErpRefund,
  type ErpBuildResult,
  type ErpDocumentRef,
} from '../../../src/domain/erp/index.js';
import { ErpError, type ErpConnector } from '../../../src/integrations/erp/connector.js';
import type { ErpHttpRequest } from '../../../src/integrations/erp/http.js';
import { netsuiteConnector } from '../../../src/integrations/erp/netsuite.js';
import { memoryAccessTokens } from '../../../src/integrations/erp/tokens.js';
import { netsuiteFixture } from '../../support/erp-mock/netsuite.js';
import { netsuiteBodyViolations } from '../../support/erp-mock/netsuite-spec.js';
import { startErpMock, type ErpMock } from '../../support/erp-mock/server.js';
import { connectorFor } from './support.js';

const credentials = netsuiteConnector.credentialsSchema.parse(netsuiteFixture.credentials);
const mappings = netsuiteFixture.glMappings;

function built<T>(result: ErpBuildResult<T>): T {
  if (!result.ok) throw new Error(`unmapped: ${result.missing.join(', ')}`);
  return result.document;
}

const customer = buildErpCustomer({ organizationId: '4f1c2a9e-77b0-4c1d-9e8f-0a1b2c3d4e5f', name: 'Acme Corp', email: 'billing@acme.test', currency: 'USD' });

const invoiceFor = (customerRef: ErpDocumentRef, lines = invoiceLines) =>
  built(
    buildErpInvoice(
      { id: '9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d', number: 'INV-2025-0042', currency: 'USD', finalizedAt: '2025-01-31T10:00:00Z', dueAt: '2025-03-02T10:00:00Z', amountDue: 63_916, lines },
      customerRef,
      mappings,
    ),
  );

const invoiceLines = [
  { type: 'subscription' as const, description: 'Pro plan, January 2025', quantity: '1', amount: 49_900, planCode: 'pro', metricCode: null, departmentId: null },
  { type: 'usage' as const, description: 'API calls', quantity: '1520.5', amount: 15_205, planCode: 'pro', metricCode: 'api_calls', departmentId: null },
  { type: 'discount' as const, description: 'Launch discount', quantity: '1', amount: -5_000, planCode: null, metricCode: null, departmentId: null },
  { type: 'tax' as const, description: 'Sales tax 7.25%', quantity: '1', amount: 4_811, planCode: null, metricCode: null, departmentId: null },
  { type: 'credit' as const, description: 'Balance applied', quantity: '1', amount: -1_000, planCode: null, metricCode: null, departmentId: null },
];

const creditNoteFor = (customerRef: ErpDocumentRef, invoiceRef: ErpDocumentRef) =>
  built(
    buildErpCreditNote(
      { id: 'c0ffee00-1111-4222-8333-444455556666', number: 'CN-2025-0007', currency: 'USD', createdAt: '2025-02-10T09:30:00Z', amount: 2_500, reason: 'SLA credit: January downtime' },
      customerRef,
      invoiceRef,
      mappings,
    ),
  );

const paymentFor = (customerRef: ErpDocumentRef, invoiceRef: ErpDocumentRef) =>
  built(
    buildErpPayment(
      { id: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d', currency: 'USD', receivedAt: '2025-02-05T14:00:00Z', amount: 63_916, reference: 'ch_3QxYz1AbCdEf' },
      customerRef,
      invoiceRef,
      mappings,
    ),
  );

const refundFor = (customerRef: ErpDocumentRef, creditNoteRef: ErpDocumentRef) =>
  built(buildErpRefund({ creditNoteId: 'c0ffee00-1111-4222-8333-444455556666', currency: 'USD', createdAt: '2025-02-11T08:00:00Z', amount: 2_500 }, customerRef, creditNoteRef, mappings));

const refOf = (reference: string, externalId: string): ErpDocumentRef => ({ reference, externalId });

/** Pushes the five documents in dependency order, each linked by the ids the earlier pushes returned. */
async function pushAll(connector: ErpConnector) {
  const customerId = (await connector.upsertCustomer(customer)).externalId;
  const customerRef = refOf(customer.reference, customerId);
  const invoice = invoiceFor(customerRef);
  const invoiceId = (await connector.pushInvoice(invoice)).externalId;
  const invoiceRef = refOf(invoice.reference, invoiceId);
  const payment = paymentFor(customerRef, invoiceRef);
  const paymentId = (await connector.pushPayment(payment)).externalId;
  const creditNote = creditNoteFor(customerRef, invoiceRef);
  const creditNoteId = (await connector.pushCreditNote(creditNote)).externalId;
  const refund = refundFor(customerRef, refOf(creditNote.reference, creditNoteId));
  const refundId = (await connector.pushRefund(refund)).externalId;
  return {
    documents: { customer, invoice, payment, creditNote, refund },
    ids: { customer: customerId, invoice: invoiceId, payment: paymentId, creditNote: creditNoteId, refund: refundId },
  };
}

/** What the push threw, for asserting on its kind and details. */
async function failureOf(promise: Promise<unknown>): Promise<ErpError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ErpError);
    return error as ErpError;
  }
  throw new Error('expected the call to fail');
}

/** A request signed like the connector signs, sent straight to the mock. */
function signedFetch(url: string, init: { method: string; body?: unknown; signFor?: string }) {
  const oauth = new OAuth({
    consumer: { key: credentials.consumerKey, secret: credentials.consumerSecret },
    signature_method: 'HMAC-SHA256',
    realm: credentials.accountId,
    hash_function: (base, key) => createHmac('sha256', key).update(base).digest('base64'),
  });
  const authorization = oauth.toHeader(oauth.authorize({ method: init.method, url: init.signFor ?? url }, { key: credentials.tokenId, secret: credentials.tokenSecret })).Authorization;
  return fetch(url, {
    method: init.method,
    headers: { authorization, 'content-type': 'application/json' },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
}

describe('NetSuite connector (SuiteTalk REST, TBA)', () => {
  let mock: ErpMock;
  const connect = (options: { timeoutMs?: number } = {}) => connectorFor(netsuiteConnector, credentials, netsuiteFixture.settings(mock), options).connector;
  const apiRequests = (method?: string) => mock.requests.filter((request) => method === undefined || request.method === method);

  beforeEach(async () => {
    mock = await startErpMock(netsuiteFixture.vendor);
  });

  afterEach(async () => {
    try {
      expect(mock.schemaViolations).toEqual([]);
    } finally {
      await mock.close();
    }
  });

  it('pushes the five documents, each linked by the internal ids NetSuite returned for the ones before it', async () => {
    const { ids } = await pushAll(connect());

    const [storedCustomer] = netsuiteFixture.documentsOf(mock, 'customer');
    expect(storedCustomer).toEqual({ id: ids.customer, externalId: customer.reference, companyName: 'Acme Corp', isPerson: false, email: 'billing@acme.test', currency: { id: '1' } });

    const [invoice] = netsuiteFixture.documentsOf(mock, 'invoice');
    expect(invoice).toEqual({
      id: ids.invoice,
      externalId: 'INV-2025-0042',
      tranId: 'INV-2025-0042',
      entity: { id: ids.customer },
      tranDate: '2025-01-31',
      dueDate: '2025-03-02',
      currency: { id: '1' },
      account: { id: '6' },
      item: {
        items: [
          // The pro plan's own revenue item, then the default revenue item for usage.
          { item: { id: '8' }, description: 'Pro plan, January 2025', quantity: 1, amount: 499 },
          { item: { id: '7' }, description: 'API calls', quantity: 1520.5, amount: 152.05 },
          { item: { id: '9' }, description: 'Launch discount', quantity: 1, amount: -50 },
          { item: { id: '11' }, description: 'Sales tax 7.25%', quantity: 1, amount: 48.11 },
          { item: { id: '10' }, description: 'Balance applied', quantity: 1, amount: -10 },
        ],
      },
    });

    const [payment] = netsuiteFixture.documentsOf(mock, 'payment');
    expect(payment).toEqual({
      id: ids.payment,
      externalId: `PAY-A1B2C3D4E5F64A7B`,
      customer: { id: ids.customer },
      tranDate: '2025-02-05',
      currency: { id: '1' },
      payment: 639.16,
      undepFunds: { id: 'F' },
      account: { id: '1' },
      arAcct: { id: '6' },
      memo: 'ch_3QxYz1AbCdEf',
      apply: { items: [{ doc: { id: ids.invoice }, apply: true, amount: 639.16 }] },
    });

    const [creditMemo] = netsuiteFixture.documentsOf(mock, 'credit_note');
    expect(creditMemo).toEqual({
      id: ids.creditNote,
      externalId: 'CN-C0FFEE0011114222',
      tranId: 'CN-2025-0007',
      entity: { id: ids.customer },
      createdFrom: { id: ids.invoice },
      autoApply: false,
      tranDate: '2025-02-10',
      currency: { id: '1' },
      account: { id: '6' },
      memo: 'SLA credit: January downtime',
      item: { items: [{ item: { id: '10' }, description: 'SLA credit: January downtime', quantity: 1, amount: 25 }] },
    });

    const [refund] = netsuiteFixture.documentsOf(mock, 'refund');
    expect(refund).toEqual({
      id: ids.refund,
      externalId: 'RF-C0FFEE0011114222',
      customer: { id: ids.customer },
      tranDate: '2025-02-11',
      currency: { id: '1' },
      account: { id: '1' },
      arAcct: { id: '6' },
      apply: { items: [{ doc: { id: ids.creditNote }, apply: true, amount: 25 }] },
    });

    // Five upserts by external id, and one currency lookup kept for the connector's life.
    expect(apiRequests('PUT').map((request) => request.path.replace('/services/rest/record/v1', ''))).toEqual([
      `/customer/eid:${customer.reference}`,
      '/invoice/eid:INV-2025-0042',
      '/customerPayment/eid:PAY-A1B2C3D4E5F64A7B',
      '/creditMemo/eid:CN-C0FFEE0011114222',
      '/customerRefund/eid:RF-C0FFEE0011114222',
    ]);
    expect(apiRequests('PUT').every((request) => request.status === 204)).toBe(true);
    expect(apiRequests('GET').map((request) => `${request.path}${request.query}`)).toEqual(['/services/rest/record/v1/currency?q=symbol%20IS%20%22USD%22']);
  });

  it('finds each document by its reference, and null for a reference NetSuite does not have', async () => {
    const connector = connect();
    const { documents, ids } = await pushAll(connector);

    expect(await connector.findByReference(documents.customer)).toBe(ids.customer);
    expect(await connector.findByReference(documents.invoice)).toBe(ids.invoice);
    expect(await connector.findByReference(documents.payment)).toBe(ids.payment);
    expect(await connector.findByReference(documents.creditNote)).toBe(ids.creditNote);
    expect(await connector.findByReference(documents.refund)).toBe(ids.refund);
    expect(await connector.findByReference({ ...documents.invoice, reference: 'INV-2025-9999' })).toBeNull();
    // Signed with the query string: NetSuite rejects a signature that leaves `fields` out.
    expect(mock.requests.at(-1)).toMatchObject({ path: '/services/rest/record/v1/invoice/eid:INV-2025-9999', query: '?fields=id', status: 404 });
  });

  it('upserts the customer: a second push updates the one NetSuite has', async () => {
    const connector = connect();
    const first = await connector.upsertCustomer(customer);
    const second = await connector.upsertCustomer({ ...customer, name: 'Acme Corporation', email: null });

    expect(second.externalId).toBe(first.externalId);
    const stored = netsuiteFixture.documentsOf(mock, 'customer');
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ id: first.externalId, externalId: customer.reference, companyName: 'Acme Corporation' });
  });

  it.each(['reset_after_success', 'hang_after_success'] as const)('an answer lost after NetSuite stored the invoice (%s) is transient, and reconciling finds the one invoice', async (kind) => {
    const connector = connect({ timeoutMs: 500 });
    const customerId = (await connector.upsertCustomer(customer)).externalId;
    const invoice = invoiceFor(refOf(customer.reference, customerId));
    mock.inject({ kind }, { match: (request) => request.method === 'PUT' && request.path.endsWith('/invoice/eid:INV-2025-0042') });

    const failure = await failureOf(connector.pushInvoice(invoice));
    expect(failure.kind).toBe('transient');

    const stored = netsuiteFixture.documentsOf(mock, 'invoice');
    expect(stored).toHaveLength(1);
    expect(await connector.findByReference(invoice)).toBe(stored[0]!.id);
    // Even a retry without reconciling upserts the same record.
    expect((await connector.pushInvoice(invoice)).externalId).toBe(stored[0]!.id);
    expect(netsuiteFixture.documentsOf(mock, 'invoice')).toHaveLength(1);
  });

  it('a 500 is transient, carrying NetSuite’s message', async () => {
    mock.inject({ kind: 'status', status: 500, message: 'An unexpected error occurred.' });
    const failure = await failureOf(connect().upsertCustomer(customer));
    expect(failure.kind).toBe('transient');
    expect(failure.message).toContain('An unexpected error occurred.');
    expect(failure.details).toMatchObject({ status: 500, vendorCode: 'UNEXPECTED_ERROR' });
  });

  it('a 429 with Retry-After: 7 is rate_limited for 7 s', async () => {
    mock.inject({ kind: 'status', status: 429, retryAfterSeconds: 7, message: 'Concurrency limit exceeded.' });
    const failure = await failureOf(connect().upsertCustomer(customer));
    expect(failure.kind).toBe('rate_limited');
    expect(failure.details).toMatchObject({ status: 429, retryAfterMs: 7_000, vendorCode: 'CONCURRENCY_LIMIT_EXCEEDED' });
  });

  it('a 400 CONCURRENCY_LIMIT_EXCEEDED is rate_limited, not a refused document', () => {
    const body = {
      type: 'https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1',
      title: 'Bad Request',
      status: 400,
      'o:errorDetails': [{ detail: 'The request could not be processed because too many requests are running.', 'o:errorCode': 'CONCURRENCY_LIMIT_EXCEEDED' }],
    };
    const error = connect().classifyError({ status: 400, headers: new Headers({ 'retry-after': '2' }), body, text: JSON.stringify(body) });
    expect(error.kind).toBe('rate_limited');
    expect(error.details).toMatchObject({ status: 400, retryAfterMs: 2_000, vendorCode: 'CONCURRENCY_LIMIT_EXCEEDED' });
  });

  it('a revoked token (expireTokens) is auth at once: TBA has no token to refresh, so nothing is retried', async () => {
    const connector = connect();
    await connector.upsertCustomer(customer);
    mock.expireTokens();
    const before = mock.requests.length;

    const failure = await failureOf(connector.upsertCustomer(customer));
    expect(failure.kind).toBe('auth');
    expect(failure.details).toMatchObject({ status: 401, vendorCode: 'INVALID_LOGIN' });
    expect(mock.requests.slice(before).map((request) => request.status)).toEqual([401]);
    // No token or login endpoint exists: every request is signed with the stored token.
    expect(mock.requests.every((request) => request.path.startsWith('/services/rest/record/v1/'))).toBe(true);
  });

  it('any 401 is auth after one request, and names no secret', async () => {
    mock.inject({ kind: 'status', status: 401, message: 'Invalid login attempt.' }, { times: 2 });
    const failure = await failureOf(connect().upsertCustomer(customer));
    expect(failure.kind).toBe('auth');
    expect(mock.requests).toHaveLength(1);
    for (const secret of [credentials.consumerSecret, credentials.tokenSecret, credentials.tokenId, credentials.consumerKey]) expect(failure.message).not.toContain(secret);
  });

  it('a wrong token secret fails the signature check: auth', async () => {
    const { connector } = connectorFor(netsuiteConnector, { ...credentials, tokenSecret: 'not-the-secret' }, netsuiteFixture.settings(mock));
    const failure = await failureOf(connector.upsertCustomer(customer));
    expect(failure.kind).toBe('auth');
    expect(failure.message).toContain('Invalid login attempt');
    expect(failure.message).not.toContain('not-the-secret');
  });

  it('an item NetSuite does not have is a validation error carrying NetSuite’s message', async () => {
    const connector = connect();
    const customerId = (await connector.upsertCustomer(customer)).externalId;
    const invoice = invoiceFor(refOf(customer.reference, customerId));
    const unknownItem = { ...invoice, lines: invoice.lines.map((line, index) => (index === 1 ? { ...line, account: '999' } : line)) };

    const failure = await failureOf(connector.pushInvoice(unknownItem));
    expect(failure.kind).toBe('validation');
    expect(failure.message).toBe('400: Invalid Field Value 999 for the following field: item (at item.items[1].item)');
    expect(failure.details).toEqual({ status: 400, vendorCode: 'INVALID_KEY_OR_REF' });
    expect(netsuiteFixture.documentsOf(mock, 'invoice')).toHaveLength(0);
  });

  it('a currency NetSuite does not have is a validation error before anything is written', async () => {
    const failure = await failureOf(connect().upsertCustomer({ ...customer, currency: 'CHF' }));
    expect(failure.kind).toBe('validation');
    expect(failure.message).toContain('no currency CHF');
    expect(apiRequests('PUT')).toHaveLength(0);
  });

  it('the mock refuses a body its record catalog does not allow, and records the violation', async () => {
    const url = `${netsuiteFixture.settings(mock).baseUrl!}/invoice/eid:INV-RAW-1`;
    const response = await signedFetch(url, { method: 'PUT', body: { entity: { id: '1' }, item: { items: [{ item: { id: '7' }, amount: 10 }] }, discountCode: 'SPRING' } });

    expect(response.status).toBe(400);
    const body = (await response.json()) as { 'o:errorDetails': { detail: string; 'o:errorCode': string }[] };
    expect(body['o:errorDetails']).toEqual([{ detail: '/: unknown field "discountCode"', 'o:errorCode': 'INVALID_CONTENT' }]);
    expect(mock.schemaViolations).toEqual([{ method: 'PUT', path: '/services/rest/record/v1/invoice/eid:INV-RAW-1', violations: ['/: unknown field "discountCode"'] }]);
    mock.schemaViolations.length = 0;
  });

  it('the record catalog flags missing required fields and wrong types', () => {
    expect(netsuiteBodyViolations('invoice', { entity: { id: '42' }, tranDate: '2025-01-31' })).toEqual(["/: must have required property 'item'"]);
    expect(netsuiteBodyViolations('customerPayment', { customer: { id: '42' }, payment: '639.16' })).toEqual(['/payment: must be number']);
    expect(netsuiteBodyViolations('invoice', { entity: { id: '42' }, item: { items: [{ quantity: 1 }] } })).toEqual(["/item/items/0: must have required property 'item'"]);
  });

  it('signs the query string: a signature made without it is refused', async () => {
    const url = `${netsuiteFixture.settings(mock).baseUrl!}/invoice/eid:INV-2025-0042?fields=id`;
    const response = await signedFetch(url, { method: 'GET', signFor: url.replace('?fields=id', '') });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ status: 401, 'o:errorDetails': [{ 'o:errorCode': 'INVALID_LOGIN' }] });
  });

  it('talks to the account’s production host by default, with the account id as realm', async () => {
    const sent: ErpHttpRequest[] = [];
    const connector = netsuiteConnector.create({
      credentials,
      settings: {},
      tokens: memoryAccessTokens(credentials),
      http: {
        send: async (request) => {
          sent.push(request);
          return { status: 404, headers: new Headers(), body: '', text: '' };
        },
      },
    });
    expect(await connector.findByReference(customer)).toBeNull();
    expect(sent[0]!.url).toBe(`https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/customer/eid:${customer.reference}?fields=id`);
    expect(sent[0]!.headers!.authorization).toMatch(/^OAuth realm="1234567_SB1", oauth_consumer_key="ck-ledgerflow-integration", oauth_nonce="\w+", oauth_signature="[^"]+", oauth_signature_method="HMAC-SHA256"/);
  });
});
