import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { resolveGlAccount, type ErpCreditNote, type ErpCustomer, type ErpInvoice, type ErpPayment, type ErpRefund, type GlSubject } from '../../../src/domain/erp/index.js';
import { ErpError, type ErpConnector } from '../../../src/integrations/erp/connector.js';
import { createErpHttp, unpaced } from '../../../src/integrations/erp/http.js';
import { sageConnector } from '../../../src/integrations/erp/sage.js';
import { memoryAccessTokens } from '../../../src/integrations/erp/tokens.js';
import { sageFixture } from '../../support/erp-mock/sage.js';
import { issueToken, startErpMock, type ErpMock, type MockRequest } from '../../support/erp-mock/server.js';

/** The mapped account for a subject, from the fixture's mappings (so per-plan revenue mapping is exercised too). */
const account = (subject: GlSubject) => resolveGlAccount(sageFixture.glMappings, subject)!;

const customer: ErpCustomer = {
  type: 'customer',
  reference: 'CUS-0A1B2C3D4E5F6071',
  organizationId: '0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9',
  name: 'Acme Analytics',
  email: 'billing@acme.test',
  currency: 'USD',
};

const invoiceOf = (reference: string, customerExternalId: string, lines: ErpInvoice['lines']): ErpInvoice => ({
  type: 'invoice',
  reference,
  number: reference,
  customer: { reference: customer.reference, externalId: customerExternalId },
  issueDate: '2026-03-01',
  dueDate: '2026-03-31',
  currency: 'USD',
  lines,
  total: lines.reduce((sum, line) => sum + line.amount, 0),
  receivableAccount: account({ kind: 'receivable' }),
});

const invoiceLines: ErpInvoice['lines'] = [
  { description: 'Team plan, March', kind: 'revenue', quantity: '1', amount: 10_000, account: account({ kind: 'revenue', planCode: 'team' }) },
  { description: 'Pro plan, March', kind: 'revenue', quantity: '1', amount: 25_000, account: account({ kind: 'revenue', planCode: 'pro' }) },
  { description: 'Annual discount', kind: 'discount', quantity: '1', amount: -1_500, account: account({ kind: 'discount' }) },
  { description: 'Sales tax', kind: 'tax', quantity: '1', amount: 2_685, account: account({ kind: 'tax' }) },
  { description: 'SLA credit applied', kind: 'credit', quantity: '1', amount: -500, account: account({ kind: 'credit' }) },
];

type SageCredentials = Parameters<typeof sageConnector.create>[0]['credentials'];

const tokenRequests = (mock: ErpMock) => mock.requests.filter((request) => request.path.endsWith('/oauth2/token')).length;
const toPath = (suffix: string) => (request: MockRequest) => request.path.endsWith(suffix);

async function failure(promise: Promise<unknown>): Promise<ErpError> {
  const error = await promise.then(
    () => null,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ErpError);
  return error as ErpError;
}

describe('Sage Intacct connector against the mock Intacct REST API', () => {
  let mock: ErpMock;
  let tokens: ReturnType<typeof memoryAccessTokens<SageCredentials>>;
  /** Connectors as the worker wires them: several HTTP clients (timeouts) sharing one integration's tokens. */
  let connectorWithin: (timeoutMs: number) => ErpConnector;
  let sage: ErpConnector;
  const pushed = { customer: '', invoice: '', creditNote: '', payment: '', refund: '' };

  beforeAll(async () => {
    mock = await startErpMock(sageFixture.vendor);
    tokens = memoryAccessTokens(sageConnector.credentialsSchema.parse(sageFixture.credentials));
    connectorWithin = (timeoutMs) =>
      sageConnector.create({ credentials: tokens.credentials(), settings: sageFixture.settings(mock), http: createErpHttp({ pacer: unpaced, timeoutMs }), tokens });
    sage = connectorWithin(2_000);
  });

  afterAll(async () => {
    await mock.close();
  });

  afterEach(() => {
    expect(mock.schemaViolations).toEqual([]);
  });

  it('upserts the customer: created once with its reference as id, then updated in place', async () => {
    const first = await sage.upsertCustomer(customer);
    const second = await sage.upsertCustomer({ ...customer, name: 'Acme Analytics Inc.', email: 'ap@acme.test' });

    expect(second.externalId).toBe(first.externalId);
    const customers = sageFixture.documentsOf(mock, 'customer');
    expect(customers).toHaveLength(1);
    expect(customers[0]).toMatchObject({
      key: first.externalId,
      id: customer.reference,
      name: 'Acme Analytics Inc.',
      currency: 'USD',
      contacts: { default: { id: customer.reference, printAs: 'Acme Analytics Inc.', email1: 'ap@acme.test' } },
    });
    expect(mock.requests.filter((request) => request.method === 'PATCH' && request.path.endsWith(`/customer/${first.externalId}`))).toHaveLength(1);
    expect(mock.requests.find((request) => request.path.endsWith('/customer'))?.headers['x-ia-api-param-entity']).toBe('LF-US');
    pushed.customer = first.externalId;
  });

  it('pushes an invoice with one line per charge on the mapped GL accounts, in major units', async () => {
    const invoice = invoiceOf('INV-2026-0001', pushed.customer, invoiceLines);
    pushed.invoice = (await sage.pushInvoice(invoice)).externalId;

    const [stored] = sageFixture.documentsOf(mock, 'invoice');
    expect(stored).toMatchObject({
      key: pushed.invoice,
      invoiceNumber: 'INV-2026-0001',
      referenceNumber: 'INV-2026-0001',
      customer: { id: customer.reference },
      invoiceDate: '2026-03-01',
      dueDate: '2026-03-31',
      currency: { txnCurrency: 'USD' },
      lines: [
        { glAccount: { id: '4000' }, overrideOffsetGLAccount: { id: '1100' }, txnAmount: '100.00', memo: 'Team plan, March' },
        { glAccount: { id: '4010' }, overrideOffsetGLAccount: { id: '1100' }, txnAmount: '250.00', memo: 'Pro plan, March' },
        { glAccount: { id: '4900' }, txnAmount: '-15.00', memo: 'Annual discount' },
        { glAccount: { id: '2200' }, txnAmount: '26.85', memo: 'Sales tax' },
        { glAccount: { id: '4950' }, txnAmount: '-5.00', memo: 'SLA credit applied' },
      ],
    });
    const idempotencyKey = mock.requests.find((request) => request.method === 'POST' && request.path.endsWith('/invoice'))?.headers['idempotency-key'];
    expect(idempotencyKey).toBe('ledgerflow-invoice-INV-2026-0001');
  });

  it('pushes a credit note as a credit adjustment referencing the invoice', async () => {
    const creditNote: ErpCreditNote = {
      type: 'credit_note',
      reference: 'CN-0A1B2C3D4E5F6072',
      number: 'CN-0001',
      customer: { reference: customer.reference, externalId: pushed.customer },
      invoice: { reference: 'INV-2026-0001', externalId: pushed.invoice },
      issueDate: '2026-03-05',
      currency: 'USD',
      reason: 'Outage credit',
      amount: 5_000,
      creditAccount: account({ kind: 'credit' }),
      receivableAccount: account({ kind: 'receivable' }),
    };
    pushed.creditNote = (await sage.pushCreditNote(creditNote)).externalId;

    expect(sageFixture.documentsOf(mock, 'credit_note')).toEqual([
      expect.objectContaining({
        key: pushed.creditNote,
        adjustmentNumber: 'CN-0A1B2C3D4E5F6072',
        documentNumber: 'INV-2026-0001',
        customer: { id: customer.reference },
        createdDate: '2026-03-05',
        txnCurrency: { currency: 'USD' },
        lines: [{ glAccount: { id: '4950' }, overrideOffsetGLAccount: { id: '1100' }, txnCurrency: { amount: '-50.00' }, memo: 'Outage credit' }],
      }),
    ]);
  });

  it('pushes a payment applied to the invoice, received into the mapped bank account', async () => {
    const payment: ErpPayment = {
      type: 'payment',
      reference: 'PAY-0A1B2C3D4E5F6073',
      customer: { reference: customer.reference, externalId: pushed.customer },
      invoice: { reference: 'INV-2026-0001', externalId: pushed.invoice },
      date: '2026-03-10',
      currency: 'USD',
      amount: 35_685,
      cashAccount: account({ kind: 'cash' }),
      receivableAccount: account({ kind: 'receivable' }),
      paymentReference: 'ch_3PqZ8a',
    };
    pushed.payment = (await sage.pushPayment(payment)).externalId;

    expect(sageFixture.documentsOf(mock, 'payment')).toEqual([
      expect.objectContaining({
        key: pushed.payment,
        referenceNumber: 'PAY-0A1B2C3D4E5F6073',
        documentNumber: 'ch_3PqZ8a',
        customer: { id: customer.reference },
        financialEntity: { entityId: 'BOA-OPERATING' },
        paymentSummary: { receiptDate: '2026-03-10' },
        txnCurrency: { currency: 'USD', amountToPay: '356.85' },
        paymentDetails: [{ arInvoice: { key: pushed.invoice }, txnCurrency: { paymentAmount: '356.85' } }],
      }),
    ]);
  });

  it('pushes a refund paying the credit adjustment out of the bank account to the customer', async () => {
    const refund: ErpRefund = {
      type: 'refund',
      reference: 'RF-0A1B2C3D4E5F6074',
      customer: { reference: customer.reference, externalId: pushed.customer },
      creditNote: { reference: 'CN-0A1B2C3D4E5F6072', externalId: pushed.creditNote },
      date: '2026-03-12',
      currency: 'USD',
      amount: 5_000,
      cashAccount: account({ kind: 'cash' }),
      refundAccount: account({ kind: 'refund' }),
      receivableAccount: account({ kind: 'receivable' }),
    };
    pushed.refund = (await sage.pushRefund(refund)).externalId;

    expect(sageFixture.documentsOf(mock, 'refund')).toEqual([
      expect.objectContaining({
        key: pushed.refund,
        documentNumber: 'RF-0A1B2C3D4E5F6074',
        customer: { id: customer.reference },
        payTo: { id: customer.reference },
        financialEntity: { id: 'BOA-OPERATING' },
        paymentMethod: 'eft',
        refundDate: '2026-03-12',
        txnCurrency: { currency: 'USD', refundAmount: '50.00' },
        refundDetails: [{ arAdjustment: { key: pushed.creditNote }, txnRefundAmount: '50.00' }],
      }),
    ]);
  });

  it('finds every pushed document by its reference, and nothing for an unknown one', async () => {
    const find = (type: 'customer' | 'invoice' | 'credit_note' | 'payment' | 'refund', reference: string) =>
      sage.findByReference({ type, reference } as Parameters<ErpConnector['findByReference']>[0]);
    expect(await find('customer', customer.reference)).toBe(pushed.customer);
    expect(await find('invoice', 'INV-2026-0001')).toBe(pushed.invoice);
    expect(await find('credit_note', 'CN-0A1B2C3D4E5F6072')).toBe(pushed.creditNote);
    expect(await find('payment', 'PAY-0A1B2C3D4E5F6073')).toBe(pushed.payment);
    expect(await find('refund', 'RF-0A1B2C3D4E5F6074')).toBe(pushed.refund);
    expect(await find('invoice', 'INV-UNKNOWN')).toBeNull();
    const query = mock.requests.filter((request) => request.path.endsWith('/services/core/query')).at(-1);
    expect(JSON.parse(query!.body)).toEqual({ object: 'accounts-receivable/invoice', fields: ['key', 'id'], filters: [{ $eq: { referenceNumber: 'INV-UNKNOWN' } }] });
  });

  it('reconciles an invoice whose answer was lost after Intacct stored it: one invoice, found by reference, and a resend answers with it', async () => {
    const invoice = invoiceOf('INV-2026-0002', pushed.customer, invoiceLines.slice(0, 1));
    mock.inject({ kind: 'reset_after_success' }, { match: toPath('/objects/accounts-receivable/invoice') });

    expect((await failure(sage.pushInvoice(invoice))).kind).toBe('transient');
    const stored = sageFixture.documentsOf(mock, 'invoice').filter((record) => record.referenceNumber === 'INV-2026-0002');
    expect(stored).toHaveLength(1);
    expect(await sage.findByReference(invoice)).toBe(stored[0]!.key);

    // Pushed again anyway, the reused idempotency key is refused (409) and the stored invoice is the answer.
    expect(await sage.pushInvoice(invoice)).toEqual({ externalId: stored[0]!.key });
    expect(sageFixture.documentsOf(mock, 'invoice').filter((record) => record.referenceNumber === 'INV-2026-0002')).toHaveLength(1);
  });

  it('reconciles a payment whose answer never came (a timeout after Intacct stored it)', async () => {
    const impatient = connectorWithin(300);
    const payment: ErpPayment = {
      type: 'payment',
      reference: 'PAY-0A1B2C3D4E5F6075',
      customer: { reference: customer.reference, externalId: pushed.customer },
      invoice: { reference: 'INV-2026-0002', externalId: (await sage.findByReference({ ...invoiceOf('INV-2026-0002', pushed.customer, invoiceLines) }))! },
      date: '2026-03-11',
      currency: 'USD',
      amount: 10_000,
      cashAccount: account({ kind: 'cash' }),
      receivableAccount: account({ kind: 'receivable' }),
      paymentReference: 'wire-0042',
    };
    mock.inject({ kind: 'hang_after_success' }, { match: toPath('/objects/accounts-receivable/payment') });

    const error = await failure(impatient.pushPayment(payment));
    expect(error.kind).toBe('transient');
    const stored = sageFixture.documentsOf(mock, 'payment').filter((record) => record.referenceNumber === payment.reference);
    expect(stored).toHaveLength(1);
    expect(await impatient.findByReference(payment)).toBe(stored[0]!.key);
  });

  it('classifies a 500 as transient, with Intacct’s message', async () => {
    mock.inject({ kind: 'status', status: 500, message: 'Internal error, try again' }, { match: toPath('/services/core/query') });
    const error = await failure(sage.findByReference(customer));
    expect(error).toMatchObject({ kind: 'transient', details: { status: 500 } });
    expect(error.message).toContain('Internal error, try again');
  });

  it('classifies a 429 as rate limited, waiting as long as Retry-After says', async () => {
    mock.inject({ kind: 'status', status: 429, retryAfterSeconds: 7 }, { match: toPath('/services/core/query') });
    const error = await failure(sage.findByReference(customer));
    expect(error).toMatchObject({ kind: 'rate_limited', details: { status: 429, retryAfterMs: 7_000, vendorCode: 'REST-1429' } });
  });

  it('refreshes an expired token once, keeping the rotated refresh token, and carries on', async () => {
    const before = tokenRequests(mock);
    const oldRefreshToken = tokens.credentials().refreshToken;
    mock.expireTokens();

    expect(await sage.findByReference(customer)).toBe(pushed.customer);
    expect(tokenRequests(mock)).toBe(before + 1);
    expect(tokens.credentials().refreshToken).not.toBe(oldRefreshToken);
    expect((mock.state.get('refreshTokens') as Set<string>).has(tokens.credentials().refreshToken)).toBe(true);
    const refresh = mock.requests.filter((request) => request.path.endsWith('/oauth2/token')).at(-1)!;
    expect(Object.fromEntries(new URLSearchParams(refresh.body))).toEqual({
      grant_type: 'refresh_token',
      client_id: sageFixture.credentials.clientId,
      client_secret: sageFixture.credentials.clientSecret,
      refresh_token: oldRefreshToken,
    });
  });

  it('gives up with an auth error when Intacct refuses the refreshed token too', async () => {
    const before = tokenRequests(mock);
    mock.inject({ kind: 'status', status: 401, message: 'Token is not valid' }, { match: toPath('/services/core/query'), times: 2 });
    const error = await failure(sage.findByReference(customer));
    expect(error).toMatchObject({ kind: 'auth', details: { status: 401 } });
    expect(tokenRequests(mock)).toBe(before + 1);
    expect(error.message).not.toContain(sageFixture.credentials.clientSecret);
  });

  it('reports a document Intacct refuses (an unknown GL account) as a validation error with Intacct’s message', async () => {
    const invoice = invoiceOf('INV-2026-0003', pushed.customer, [{ description: 'Consulting', kind: 'revenue', quantity: '1', amount: 1_000, account: '9999' }]);
    const error = await failure(sage.pushInvoice(invoice));
    expect(error).toMatchObject({ kind: 'validation', details: { status: 422 } });
    expect(error.message).toContain('Invalid GL account 9999');
    expect(error.message).toContain('/lines/0/glAccount/id');
    expect(sageFixture.documentsOf(mock, 'invoice').filter((record) => record.referenceNumber === 'INV-2026-0003')).toHaveLength(0);
  });

  it('refuses a body the Intacct spec does not allow (an unknown field) and records the violation', async () => {
    const response = await fetch(`${sageFixture.settings(mock).baseUrl}/objects/accounts-receivable/invoice`, {
      method: 'POST',
      headers: { authorization: `Bearer ${issueToken(mock, 'direct')}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        invoiceNumber: 'INV-2026-0004',
        customer: { id: customer.reference },
        invoiceDate: '2026-03-01',
        dueDate: '2026-03-31',
        lines: [{ glAccount: { id: '4000' }, txnAmount: '10.00', unitPrice: '10.00' }],
      }),
    });

    expect(response.status).toBe(400);
    const body = (await response.json()) as { 'ia::result': { 'ia::error': { code: string; details: { message: string }[] } } };
    expect(body['ia::result']['ia::error'].code).toBe('invalidRequest');
    expect(mock.schemaViolations).toEqual([{ method: 'POST', path: '/ia/api/v1/objects/accounts-receivable/invoice', violations: ['/lines/0: unknown field "unitPrice"'] }]);
    expect(sageFixture.documentsOf(mock, 'invoice').filter((record) => record.invoiceNumber === 'INV-2026-0004')).toHaveLength(0);
    mock.schemaViolations.length = 0;
  });
});
