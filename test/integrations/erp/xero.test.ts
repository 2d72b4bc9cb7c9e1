import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { ErpCreditNote, ErpCustomer, ErpDocumentRef, ErpInvoice, ErpPayment, ErpRefund, GlAccountKind } from '../../../src/domain/erp/index.js';
import { ErpError, type ErpConnector } from '../../../src/integrations/erp/connector.js';
import { xeroConnector } from '../../../src/integrations/erp/xero.js';
import { issueToken, startErpMock, type ErpMock, type MockRequest } from '../../support/erp-mock/server.js';
import { liveRefreshTokens, xeroCredentials, xeroFixture } from '../../support/erp-mock/xero.js';
import { connectorFor } from './support.js';

/** The account the fixture maps a kind (and, for revenue, a plan) to. */
function account(kind: GlAccountKind, planCode?: string): string {
  const mapping = xeroFixture.glMappings.find((candidate) => candidate.kind === kind && (candidate.planCode ?? undefined) === planCode);
  if (!mapping) throw new Error(`the fixture maps no ${kind} ${planCode ?? ''}`);
  return mapping.account;
}

const customer: ErpCustomer = { type: 'customer', reference: 'CUS-0A1B2C3D4E5F6071', organizationId: 'org-1', name: 'Acme Industries Ltd', email: 'billing@acme.test', currency: 'USD' };

/** 100.00 pro plan + 1520.5 API calls at 0.02 + 3 seats for 10.00 − 10.00 discount − 5.00 credit + 11.54 tax = 136.95 */
function invoiceFor(customerRef: ErpDocumentRef, reference = 'INV-2025-0001'): ErpInvoice {
  return {
    type: 'invoice',
    reference,
    number: reference,
    customer: customerRef,
    issueDate: '2025-03-01',
    dueDate: '2025-03-31',
    currency: 'USD',
    lines: [
      { description: 'Pro plan, March', kind: 'revenue', quantity: '1', amount: 10_000, account: account('revenue', 'pro') },
      { description: 'API calls', kind: 'revenue', quantity: '1520.5', amount: 3_041, account: account('revenue') },
      { description: 'Extra seats', kind: 'revenue', quantity: '3', amount: 1_000, account: account('revenue') },
      { description: 'Launch discount', kind: 'discount', quantity: '1', amount: -1_000, account: account('discount') },
      { description: 'SLA credit', kind: 'credit', quantity: '1', amount: -500, account: account('credit') },
      { description: 'Sales tax', kind: 'tax', quantity: '1', amount: 1_154, account: account('tax') },
    ],
    total: 13_695,
    receivableAccount: account('receivable'),
  };
}

const creditNoteFor = (customerRef: ErpDocumentRef, invoiceRef: ErpDocumentRef, amount: number, reference = 'CN-0A1B2C3D4E5F6071'): ErpCreditNote => ({
  type: 'credit_note',
  reference,
  number: 'CN-0001',
  customer: customerRef,
  invoice: invoiceRef,
  issueDate: '2025-03-10',
  currency: 'USD',
  reason: 'Dispute resolved in the customer favour',
  amount,
  creditAccount: account('credit'),
  receivableAccount: account('receivable'),
});

const paymentFor = (customerRef: ErpDocumentRef, invoiceRef: ErpDocumentRef, amount: number, reference = 'PAY-0A1B2C3D4E5F6071'): ErpPayment => ({
  type: 'payment',
  reference,
  customer: customerRef,
  invoice: invoiceRef,
  date: '2025-03-05',
  currency: 'USD',
  amount,
  cashAccount: account('cash'),
  receivableAccount: account('receivable'),
  paymentReference: 'ch_3PXYZ',
});

const refundFor = (customerRef: ErpDocumentRef, creditNoteRef: ErpDocumentRef, amount: number): ErpRefund => ({
  type: 'refund',
  reference: 'RF-0A1B2C3D4E5F6071',
  customer: customerRef,
  creditNote: creditNoteRef,
  date: '2025-03-12',
  currency: 'USD',
  amount,
  cashAccount: account('cash'),
  refundAccount: account('refund'),
  receivableAccount: account('receivable'),
});

async function failure(promise: Promise<unknown>): Promise<ErpError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ErpError);
  return error as ErpError;
}

const writesTo = (path: string) => (request: MockRequest) => request.method === 'PUT' && request.path.endsWith(path);

describe('Xero connector', () => {
  let mock: ErpMock;
  let connector: ErpConnector;
  let storedCredentials: () => typeof xeroCredentials;
  let expectViolation = false;

  const tokenRequests = () => mock.requests.filter((request) => request.path === '/connect/token').length;

  async function syncedInvoice(reference?: string): Promise<{ customerRef: ErpDocumentRef; invoiceRef: ErpDocumentRef }> {
    const customerRef = { reference: customer.reference, externalId: (await connector.upsertCustomer(customer)).externalId };
    const invoice = invoiceFor(customerRef, reference);
    return { customerRef, invoiceRef: { reference: invoice.reference, externalId: (await connector.pushInvoice(invoice)).externalId } };
  }

  beforeEach(async () => {
    mock = await startErpMock(xeroFixture.vendor);
    ({ connector, storedCredentials } = connectorFor(xeroConnector, xeroCredentials, xeroFixture.settings(mock), { timeoutMs: 1_000 }));
    expectViolation = false;
  });

  afterEach(async () => {
    if (!expectViolation) expect(mock.schemaViolations).toEqual([]);
    await mock.close();
  });

  it('pushes a customer, an invoice, a credit note, a payment and a refund linked by the ids Xero returned', async () => {
    const { customerRef, invoiceRef } = await syncedInvoice();
    // The credit note goes first: it takes nothing off the invoice, so the payment of the whole invoice still fits.
    const creditNote = creditNoteFor(customerRef, invoiceRef, 3_000);
    const creditNoteRef = { reference: creditNote.reference, externalId: (await connector.pushCreditNote(creditNote)).externalId };
    const paymentRef = { reference: 'PAY-0A1B2C3D4E5F6071', externalId: (await connector.pushPayment(paymentFor(customerRef, invoiceRef, 13_695))).externalId };
    const refundId = (await connector.pushRefund(refundFor(customerRef, creditNoteRef, 3_000))).externalId;

    const [contact] = xeroFixture.documentsOf(mock, 'customer');
    expect(contact).toMatchObject({ ContactID: customerRef.externalId, ContactNumber: customer.reference, Name: 'Acme Industries Ltd', EmailAddress: 'billing@acme.test', DefaultCurrency: 'USD' });

    const [invoice] = xeroFixture.documentsOf(mock, 'invoice');
    expect(invoice).toMatchObject({
      InvoiceID: invoiceRef.externalId,
      Type: 'ACCREC',
      Contact: { ContactID: customerRef.externalId },
      InvoiceNumber: 'INV-2025-0001',
      Date: '2025-03-01',
      DueDate: '2025-03-31',
      CurrencyCode: 'USD',
      LineAmountTypes: 'NoTax',
      Status: 'AUTHORISED',
      Total: 136.95,
    });
    expect((invoice!.LineItems as Record<string, unknown>[]).map(({ Description, Quantity, UnitAmount, LineAmount, AccountCode }) => ({ Description, Quantity, UnitAmount, LineAmount, AccountCode }))).toEqual([
      { Description: 'Pro plan, March', Quantity: 1, UnitAmount: 100, LineAmount: 100, AccountCode: '260' },
      { Description: 'API calls', Quantity: 1520.5, UnitAmount: 0.02, LineAmount: 30.41, AccountCode: '200' },
      // 10.00 / 3 has no exact unit price: one unit of the whole amount keeps the total exact.
      { Description: 'Extra seats', Quantity: 1, UnitAmount: 10, LineAmount: 10, AccountCode: '200' },
      { Description: 'Launch discount', Quantity: 1, UnitAmount: -10, LineAmount: -10, AccountCode: '270' },
      { Description: 'SLA credit', Quantity: 1, UnitAmount: -5, LineAmount: -5, AccountCode: '275' },
      { Description: 'Sales tax', Quantity: 1, UnitAmount: 11.54, LineAmount: 11.54, AccountCode: '820' },
    ]);
    expect(mock.requests.find((request) => request.method === 'PUT' && request.path.endsWith('/Invoices'))?.query).toBe('?unitdp=4');

    expect(xeroFixture.documentsOf(mock, 'payment')).toEqual([
      expect.objectContaining({ PaymentID: paymentRef.externalId, Invoice: { InvoiceID: invoiceRef.externalId }, Account: expect.objectContaining({ Code: '090' }), Amount: 136.95, Date: '2025-03-05', Reference: 'PAY-0A1B2C3D4E5F6071' }),
    ]);
    // Unallocated credit on the contact, naming its invoice; the refund paid it out.
    expect(xeroFixture.documentsOf(mock, 'credit_note')).toEqual([
      expect.objectContaining({
        CreditNoteID: creditNoteRef.externalId,
        Type: 'ACCRECCREDIT',
        CreditNoteNumber: 'CN-0A1B2C3D4E5F6071',
        Reference: 'CN-0001 for INV-2025-0001',
        Contact: { ContactID: customerRef.externalId },
        Status: 'AUTHORISED',
        LineItems: [expect.objectContaining({ Description: 'Dispute resolved in the customer favour', Quantity: 1, UnitAmount: 30, AccountCode: '275' })],
        Total: 30,
        RemainingCredit: 0,
      }),
    ]);
    expect(xeroFixture.documentsOf(mock, 'refund')).toEqual([
      expect.objectContaining({ PaymentID: refundId, CreditNote: { CreditNoteID: creditNoteRef.externalId }, Account: expect.objectContaining({ Code: '090' }), Amount: 30, Date: '2025-03-12', Reference: 'RF-0A1B2C3D4E5F6071' }),
    ]);
    expect(invoice!.AmountDue).toBe(0);

    const writes = mock.requests.filter((request) => request.method !== 'GET' && request.path !== '/connect/token');
    for (const write of writes) {
      expect(write.headers['xero-tenant-id']).toBe(xeroCredentials.tenantId);
      expect(write.headers['idempotency-key']).toMatch(/^ledgerflow-[a-z_]+-[A-Z0-9-]+-[0-9a-f]{16}$/);
    }
    expect(tokenRequests()).toBe(1);

    await expect(connector.findByReference(customer)).resolves.toBe(customerRef.externalId);
    await expect(connector.findByReference(invoiceFor(customerRef))).resolves.toBe(invoiceRef.externalId);
    await expect(connector.findByReference(paymentFor(customerRef, invoiceRef, 13_695))).resolves.toBe(paymentRef.externalId);
    await expect(connector.findByReference(creditNote)).resolves.toBe(creditNoteRef.externalId);
    await expect(connector.findByReference(refundFor(customerRef, creditNoteRef, 3_000))).resolves.toBe(refundId);
    await expect(connector.findByReference({ ...customer, reference: 'CUS-FFFFFFFFFFFFFFFF' })).resolves.toBeNull();
    await expect(connector.findByReference(invoiceFor(customerRef, 'INV-2025-9999'))).resolves.toBeNull();
    await expect(connector.findByReference({ ...creditNote, reference: 'CN-FFFFFFFFFFFFFFFF' })).resolves.toBeNull();
    await expect(connector.findByReference(paymentFor(customerRef, invoiceRef, 1, 'PAY-FFFFFFFFFFFFFFFF'))).resolves.toBeNull();
  });

  it('upserts a customer: the second push updates the contact carrying its reference', async () => {
    const first = await connector.upsertCustomer(customer);
    const second = await connector.upsertCustomer({ ...customer, name: 'Acme Industries Inc', email: null });

    expect(second.externalId).toBe(first.externalId);
    expect(xeroFixture.documentsOf(mock, 'customer')).toEqual([expect.objectContaining({ ContactID: first.externalId, ContactNumber: customer.reference, Name: 'Acme Industries Inc', EmailAddress: '' })]);
    expect(mock.requests.filter((request) => request.method !== 'GET' && request.path !== '/connect/token').map((request) => request.method)).toEqual(['PUT', 'POST']);
  });

  it('answers a repeated push with the first answer (Idempotency-Key), storing one invoice', async () => {
    const { customerRef, invoiceRef } = await syncedInvoice();
    await expect(connector.pushInvoice(invoiceFor(customerRef))).resolves.toEqual({ externalId: invoiceRef.externalId });
    expect(xeroFixture.documentsOf(mock, 'invoice')).toHaveLength(1);
  });

  it('throws transient when the connection drops after Xero stored the invoice, and finds it by reference', async () => {
    const customerRef = { reference: customer.reference, externalId: (await connector.upsertCustomer(customer)).externalId };
    mock.inject({ kind: 'reset_after_success' }, { match: writesTo('/Invoices') });

    expect((await failure(connector.pushInvoice(invoiceFor(customerRef)))).kind).toBe('transient');

    const stored = xeroFixture.documentsOf(mock, 'invoice');
    expect(stored).toHaveLength(1);
    await expect(connector.findByReference(invoiceFor(customerRef))).resolves.toBe(stored[0]!.InvoiceID);
  });

  it('throws transient when no answer comes after Xero stored the payment, and finds it by reference', async () => {
    const { customerRef, invoiceRef } = await syncedInvoice();
    mock.inject({ kind: 'hang_after_success' }, { match: writesTo('/Payments') });
    const payment = paymentFor(customerRef, invoiceRef, 5_000);

    const error = await failure(connector.pushPayment(payment));
    expect(error.kind).toBe('transient');
    expect(error.message).toContain("PUT /api.xro/2.0/Payments");

    const stored = xeroFixture.documentsOf(mock, 'payment');
    expect(stored).toHaveLength(1);
    await expect(connector.findByReference(payment)).resolves.toBe(stored[0]!.PaymentID);
  });

  it('classifies a 500 as transient', async () => {
    mock.inject({ kind: 'status', status: 500, message: 'An unexpected error occurred' });
    const error = await failure(connector.upsertCustomer(customer));
    expect(error).toMatchObject({ kind: 'transient', details: { status: 500 } });
    expect(error.message).toContain('An unexpected error occurred');
  });

  it('classifies a 429 as rate_limited after its Retry-After', async () => {
    mock.inject({ kind: 'status', status: 429, retryAfterSeconds: 7 });
    const error = await failure(connector.upsertCustomer(customer));
    expect(error).toMatchObject({ kind: 'rate_limited', details: { status: 429, retryAfterMs: 7_000 } });
  });

  it('names the Xero limit that was hit from X-Rate-Limit-Problem', () => {
    const response = { status: 429, headers: new Headers({ 'retry-after': '3600', 'x-rate-limit-problem': 'day' }), body: '', text: '' };
    expect(connector.classifyError(response)).toMatchObject({ kind: 'rate_limited', message: expect.stringContaining('day limit'), details: { retryAfterMs: 3_600_000, vendorCode: 'day' } });
  });

  it('refreshes an expired token once, keeping the rotated refresh token', async () => {
    await connector.upsertCustomer(customer);
    const firstRefreshToken = storedCredentials().refreshToken;
    expect(firstRefreshToken).not.toBe(xeroCredentials.refreshToken);
    mock.expireTokens();

    await connector.upsertCustomer(customer);

    expect(tokenRequests()).toBe(2);
    expect(mock.requests.filter((request) => request.status === 401)).toHaveLength(1);
    // The first rotated token was spent on the refresh; the connector holds the one issued for it.
    expect(liveRefreshTokens(mock)).toEqual(new Set([storedCredentials().refreshToken]));
    expect(storedCredentials().refreshToken).not.toBe(firstRefreshToken);
    const [tokenRequest] = mock.requests.filter((request) => request.path === '/connect/token');
    expect(new URLSearchParams(tokenRequest!.body).get('grant_type')).toBe('refresh_token');
  });

  it('throws auth when Xero refuses the refreshed token too', async () => {
    mock.inject({ kind: 'status', status: 401, message: 'TokenExpired: token expired at 2025-03-01T00:00:00Z' }, { times: 2 });
    const error = await failure(connector.upsertCustomer(customer));
    expect(error).toMatchObject({ kind: 'auth', details: { status: 401 } });
    expect(error.message).toContain('TokenExpired');
    expect(tokenRequests()).toBe(2);
  });

  it('throws auth, without secrets, when Xero refuses the refresh token', async () => {
    const revoked = connectorFor(xeroConnector, { ...xeroCredentials, refreshToken: 'xero-refresh-revoked' }, xeroFixture.settings(mock)).connector;
    const error = await failure(revoked.upsertCustomer(customer));
    expect(error.kind).toBe('auth');
    expect(error.message).toContain('invalid_grant');
    expect(error.message).not.toContain(xeroCredentials.clientSecret);
    expect(error.message).not.toContain('xero-refresh-revoked');
  });

  it('throws validation with Xero message for an account code it does not have, storing nothing', async () => {
    const customerRef = { reference: customer.reference, externalId: (await connector.upsertCustomer(customer)).externalId };
    const invoice = invoiceFor(customerRef);
    invoice.lines[0] = { ...invoice.lines[0]!, account: '4999' };

    const error = await failure(connector.pushInvoice(invoice));
    expect(error).toMatchObject({ kind: 'validation', details: { status: 400, vendorCode: 'ValidationException' } });
    expect(error.message).toContain("Account code '4999' is not a valid code for this document.");
    expect(xeroFixture.documentsOf(mock, 'invoice')).toEqual([]);
  });

  it('refuses a body its OpenAPI schema does not know, recording the violation', async () => {
    expectViolation = true;
    const response = await fetch(`${xeroFixture.settings(mock).baseUrl}/Contacts`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${issueToken(mock, 'test')}`, 'xero-tenant-id': xeroCredentials.tenantId, 'content-type': 'application/json' },
      body: JSON.stringify({ Contacts: [{ Name: 'Acme', ContactNumber: 'CUS-1', LoyaltyTier: 'gold' }] }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ Type: 'ValidationException', Elements: [{ ValidationErrors: [{ Message: expect.stringContaining('LoyaltyTier') }] }] });
    expect(mock.schemaViolations).toEqual([{ method: 'PUT', path: '/api.xro/2.0/Contacts', violations: ['/Contacts/0: unknown field "LoyaltyTier"'] }]);
    expect(xeroFixture.documentsOf(mock, 'customer')).toEqual([]);
  });
});
