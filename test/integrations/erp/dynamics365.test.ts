import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { erpReference, type ErpCreditNote, type ErpCustomer, type ErpDocumentRef, type ErpInvoice, type ErpPayment, type ErpRefund } from '../../../src/domain/erp/index.js';
import { ErpError } from '../../../src/integrations/erp/connector.js';
import { dynamics365Connector } from '../../../src/integrations/erp/dynamics365.js';
import { dynamics365Fixture as fixture } from '../../support/erp-mock/dynamics365.js';
import { issueToken, startErpMock, type ErpMock, type MockRequest } from '../../support/erp-mock/server.js';
import { connectorFor } from './support.js';

let mock: ErpMock;

beforeAll(async () => {
  mock = await startErpMock(fixture.vendor);
});

afterAll(async () => {
  await mock.close();
});

afterEach(() => {
  expect(mock.schemaViolations).toEqual([]);
});

const credentials = dynamics365Connector.credentialsSchema.parse(fixture.credentials);
const connect = (options: { timeoutMs?: number; credentials?: typeof credentials } = {}) =>
  connectorFor(dynamics365Connector, options.credentials ?? credentials, fixture.settings(mock), { timeoutMs: options.timeoutMs ?? 2_000 });

const tokenRequests = () => mock.requests.filter((request) => request.path.endsWith('/oauth2/v2.0/token')).length;
const stored = (type: Parameters<typeof fixture.documentsOf>[1], field: string, value: string) => fixture.documentsOf(mock, type).filter((record) => record[field] === value);
const ledgerEntries = (documentNumber: string) => mock.collection('generalLedgerEntries').filter((entry) => entry.documentNumber === documentNumber);
const isPost = (request: MockRequest) => request.path.endsWith('/Microsoft.NAV.post');
const isCreate = (entitySet: string) => (request: MockRequest) => request.method === 'POST' && request.path.endsWith(`/${entitySet}`);

/** Resolves to the ErpError a promise rejects with. */
async function failure(promise: Promise<unknown>): Promise<ErpError> {
  const error = await promise.then(
    () => new Error('expected the push to fail'),
    (rejected: unknown) => rejected,
  );
  expect(error).toBeInstanceOf(ErpError);
  return error as ErpError;
}

function customer(name = 'Acme Robotics'): ErpCustomer {
  return { type: 'customer', reference: erpReference('customer', { id: randomUUID() }), organizationId: randomUUID(), name, email: 'billing@acme.test', currency: 'USD' };
}

function invoice(customerRef: ErpDocumentRef, account = '40100'): ErpInvoice {
  const number = `INV-${randomUUID().slice(0, 8).toUpperCase()}`;
  return {
    type: 'invoice',
    reference: erpReference('invoice', { id: randomUUID(), number }),
    number,
    customer: customerRef,
    issueDate: '2026-11-01',
    dueDate: '2026-12-01',
    currency: 'USD',
    lines: [
      { description: 'Starter plan', kind: 'revenue', quantity: '1', amount: 4_900, account },
      { description: 'Pro seats', kind: 'revenue', quantity: '3', amount: 29_700, account: '40150' },
      { description: 'Annual discount', kind: 'discount', quantity: '1', amount: -2_000, account: '40400' },
      { description: 'SLA credit', kind: 'credit', quantity: '1', amount: -500, account: '40450' },
      { description: 'Sales tax', kind: 'tax', quantity: '1', amount: 2_571, account: '22500' },
    ],
    total: 34_671,
    receivableAccount: '13100',
  };
}

function creditNote(customerRef: ErpDocumentRef, invoiceRef: ErpDocumentRef): ErpCreditNote {
  return {
    type: 'credit_note',
    reference: erpReference('credit_note', { id: randomUUID() }),
    number: 'CN-0001',
    customer: customerRef,
    invoice: invoiceRef,
    issueDate: '2026-11-10',
    currency: 'USD',
    reason: 'Outage credit',
    amount: 5_000,
    creditAccount: '40450',
    receivableAccount: '13100',
  };
}

function payment(customerRef: ErpDocumentRef, invoiceRef: ErpDocumentRef, amount: number): ErpPayment {
  return {
    type: 'payment',
    reference: erpReference('payment', { id: randomUUID() }),
    customer: customerRef,
    invoice: invoiceRef,
    date: '2026-11-15',
    currency: 'USD',
    amount,
    cashAccount: '10100',
    receivableAccount: '13100',
    paymentReference: 'ch_3PqLx2AbCdEf0123456789',
  };
}

function refund(customerRef: ErpDocumentRef, creditNoteRef: ErpDocumentRef): ErpRefund {
  return {
    type: 'refund',
    reference: erpReference('refund', { id: randomUUID() }),
    customer: customerRef,
    creditNote: creditNoteRef,
    date: '2026-11-20',
    currency: 'USD',
    amount: 5_000,
    cashAccount: '10100',
    refundAccount: '40600',
    receivableAccount: '13100',
  };
}

async function syncedCustomer(connector: ReturnType<typeof connect>['connector']): Promise<ErpDocumentRef> {
  const document = customer();
  return { reference: document.reference, externalId: (await connector.upsertCustomer(document)).externalId };
}

describe('Dynamics 365 Business Central connector', () => {
  it('pushes each document type with Business Central fields, linked by the ids earlier pushes returned, and finds each by its reference', async () => {
    const { connector } = connect();

    const customerDocument = customer();
    const customerId = (await connector.upsertCustomer(customerDocument)).externalId;
    expect(stored('customer', 'id', customerId)).toEqual([
      expect.objectContaining({ number: customerDocument.reference, displayName: 'Acme Robotics', type: 'Company', email: 'billing@acme.test', currencyCode: 'USD' }),
    ]);
    const customerRef = { reference: customerDocument.reference, externalId: customerId };

    const invoiceDocument = invoice(customerRef);
    const invoiceId = (await connector.pushInvoice(invoiceDocument)).externalId;
    const [storedInvoice] = stored('invoice', 'id', invoiceId);
    expect(storedInvoice).toMatchObject({
      externalDocumentNumber: invoiceDocument.reference,
      customerId,
      customerNumber: customerDocument.reference,
      invoiceDate: '2026-11-01',
      postingDate: '2026-11-01',
      dueDate: '2026-12-01',
      currencyCode: 'USD',
      status: 'Open',
      totalAmountIncludingTax: 346.71,
    });
    expect(String(storedInvoice!.number)).toMatch(/^PS-INV/);
    expect((storedInvoice!.salesInvoiceLines as Record<string, unknown>[]).map(({ lineType, lineObjectNumber, description, quantity, unitPrice }) => ({ lineType, lineObjectNumber, description, quantity, unitPrice }))).toEqual([
      { lineType: 'Account', lineObjectNumber: '40100', description: 'Starter plan', quantity: 1, unitPrice: 49 },
      { lineType: 'Account', lineObjectNumber: '40150', description: 'Pro seats (3)', quantity: 1, unitPrice: 297 },
      { lineType: 'Account', lineObjectNumber: '40400', description: 'Annual discount', quantity: 1, unitPrice: -20 },
      { lineType: 'Account', lineObjectNumber: '40450', description: 'SLA credit', quantity: 1, unitPrice: -5 },
      { lineType: 'Account', lineObjectNumber: '22500', description: 'Sales tax', quantity: 1, unitPrice: 25.71 },
    ]);
    const invoiceRef = { reference: invoiceDocument.reference, externalId: invoiceId };

    const creditNoteDocument = creditNote(customerRef, invoiceRef);
    const creditNoteId = (await connector.pushCreditNote(creditNoteDocument)).externalId;
    const [storedCreditNote] = stored('credit_note', 'id', creditNoteId);
    expect(storedCreditNote).toMatchObject({
      externalDocumentNumber: creditNoteDocument.reference,
      customerId,
      invoiceId,
      creditMemoDate: '2026-11-10',
      postingDate: '2026-11-10',
      currencyCode: 'USD',
      status: 'Open',
      totalAmountIncludingTax: 50,
    });
    expect(storedCreditNote!.salesCreditMemoLines).toEqual([
      expect.objectContaining({ lineType: 'Account', lineObjectNumber: '40450', description: 'Outage credit', quantity: 1, unitPrice: 50 }),
    ]);
    expect(storedInvoice!.remainingAmount).toBe(296.71);
    const creditNoteRef = { reference: creditNoteDocument.reference, externalId: creditNoteId };

    const paymentDocument = payment(customerRef, invoiceRef, 29_671);
    const paymentId = (await connector.pushPayment(paymentDocument)).externalId;
    expect(stored('payment', 'documentNumber', paymentDocument.reference)).toEqual([
      expect.objectContaining({ customerId, postingDate: '2026-11-15', amount: -296.71, appliesToInvoiceId: invoiceId, externalDocumentNumber: 'ch_3PqLx2AbCdEf0123456789', posted: true }),
    ]);
    expect(ledgerEntries(paymentDocument.reference).map(({ id, accountNumber, debitAmount, creditAmount }) => ({ id, accountNumber, debitAmount, creditAmount }))).toEqual([
      { id: paymentId, accountNumber: '10100', debitAmount: 296.71, creditAmount: 0 },
      { id: expect.any(String), accountNumber: '13100', debitAmount: 0, creditAmount: 296.71 },
    ]);
    expect(storedInvoice).toMatchObject({ status: 'Paid', remainingAmount: 0 });

    const refundDocument = refund(customerRef, creditNoteRef);
    const refundId = (await connector.pushRefund(refundDocument)).externalId;
    expect(stored('refund', 'documentNumber', refundDocument.reference)).toEqual([
      expect.objectContaining({ accountNumber: '40600', balancingAccountNumber: '10100', amount: 50, postingDate: '2026-11-20', externalDocumentNumber: creditNoteDocument.reference, posted: true }),
    ]);
    expect(ledgerEntries(refundDocument.reference).map(({ id, accountNumber, debitAmount, creditAmount }) => ({ id, accountNumber, debitAmount, creditAmount }))).toEqual([
      { id: refundId, accountNumber: '40600', debitAmount: 50, creditAmount: 0 },
      { id: expect.any(String), accountNumber: '10100', debitAmount: 0, creditAmount: 50 },
    ]);

    await expect(connector.findByReference(customerDocument)).resolves.toBe(customerId);
    await expect(connector.findByReference(invoiceDocument)).resolves.toBe(invoiceId);
    await expect(connector.findByReference(creditNoteDocument)).resolves.toBe(creditNoteId);
    await expect(connector.findByReference(paymentDocument)).resolves.toBe(paymentId);
    await expect(connector.findByReference(refundDocument)).resolves.toBe(refundId);
    await expect(connector.findByReference({ ...invoiceDocument, reference: 'INV-NEVER-PUSHED' })).resolves.toBeNull();
    await expect(connector.findByReference({ ...paymentDocument, reference: 'PAY-NEVER-PUSHED' })).resolves.toBeNull();
    await expect(connector.findByReference(customer())).resolves.toBeNull();
  });

  it('upserts a customer: the second push updates the one customer carrying the reference', async () => {
    const { connector } = connect();
    const first = customer('Globex');
    const created = await connector.upsertCustomer(first);
    const updated = await connector.upsertCustomer({ ...first, name: 'Globex Corporation', email: 'ap@globex.test' });

    expect(updated.externalId).toBe(created.externalId);
    expect(stored('customer', 'number', first.reference)).toEqual([expect.objectContaining({ id: created.externalId, displayName: 'Globex Corporation', email: 'ap@globex.test' })]);
    const patch = mock.requests.filter((request) => request.method === 'PATCH').at(-1);
    expect(patch?.headers['if-match']).toMatch(/^W\//);
  });

  it('a connection reset after Business Central posted the invoice: transient, then findByReference finds the one invoice and a retry makes no second', async () => {
    const { connector } = connect();
    const document = invoice(await syncedCustomer(connector));
    mock.inject({ kind: 'reset_after_success' }, { match: isPost });

    const error = await failure(connector.pushInvoice(document));
    expect(error.kind).toBe('transient');

    const found = await connector.findByReference(document);
    expect(stored('invoice', 'externalDocumentNumber', document.reference)).toEqual([expect.objectContaining({ id: found, status: 'Open' })]);
    await expect(connector.pushInvoice(document)).resolves.toEqual({ externalId: found });
    expect(stored('invoice', 'externalDocumentNumber', document.reference)).toHaveLength(1);
  });

  it('an answer lost after the draft was created: findByReference reports nothing synced yet, and the next push posts that same draft', async () => {
    const { connector } = connect({ timeoutMs: 500 });
    const document = invoice(await syncedCustomer(connector));
    mock.inject({ kind: 'hang_after_success' }, { match: isCreate('salesInvoices') });

    const error = await failure(connector.pushInvoice(document));
    expect(error.kind).toBe('transient');
    const [draft] = stored('invoice', 'externalDocumentNumber', document.reference);
    expect(draft).toMatchObject({ status: 'Draft' });
    await expect(connector.findByReference(document)).resolves.toBeNull();

    await expect(connector.pushInvoice(document)).resolves.toEqual({ externalId: draft!.id });
    expect(stored('invoice', 'externalDocumentNumber', document.reference)).toEqual([expect.objectContaining({ id: draft!.id, status: 'Open' })]);
  });

  it('a payment whose journal post hung: the push reconciles on its own, and a line lost on insert is posted once by the next push', async () => {
    const { connector } = connect({ timeoutMs: 500 });
    const customerRef = await syncedCustomer(connector);
    const document = invoice(customerRef);
    const invoiceRef = { reference: document.reference, externalId: (await connector.pushInvoice(document)).externalId };

    const hung = payment(customerRef, invoiceRef, 10_000);
    mock.inject({ kind: 'hang_after_success' }, { match: isPost });
    const hungId = (await connector.pushPayment(hung)).externalId;
    await expect(connector.findByReference(hung)).resolves.toBe(hungId);

    const lost = payment(customerRef, invoiceRef, 5_000);
    mock.inject({ kind: 'reset_after_success' }, { match: isCreate('customerPayments') });
    expect((await failure(connector.pushPayment(lost))).kind).toBe('transient');
    await expect(connector.findByReference(lost)).resolves.toBeNull();
    const lostId = (await connector.pushPayment(lost)).externalId;

    await expect(connector.findByReference(lost)).resolves.toBe(lostId);
    expect(stored('payment', 'documentNumber', lost.reference)).toHaveLength(1);
    expect(ledgerEntries(lost.reference)).toHaveLength(2);
  });

  it('a 500 is transient, carrying Business Central’s error code', async () => {
    const { connector } = connect();
    mock.inject({ kind: 'status', status: 500, message: 'Cannot establish a connection to the SQL Server/Database.' });

    const error = await failure(connector.upsertCustomer(customer()));
    expect(error).toMatchObject({ kind: 'transient', details: { status: 500, vendorCode: 'Internal_ServerError' } });
    expect(error.message).toContain('Cannot establish a connection to the SQL Server/Database.');
  });

  it('a 429 with Retry-After: 7 is rate_limited for 7 s', async () => {
    const { connector } = connect();
    mock.inject({ kind: 'status', status: 429, retryAfterSeconds: 7 });

    const error = await failure(connector.upsertCustomer(customer()));
    expect(error).toMatchObject({ kind: 'rate_limited', details: { status: 429, retryAfterMs: 7_000 } });
  });

  it('an expired token is refreshed once and the request goes through', async () => {
    const { connector, storedCredentials } = connect();
    const before = tokenRequests();
    await connector.upsertCustomer(customer());
    expect(tokenRequests()).toBe(before + 1);

    mock.expireTokens();
    const document = customer();
    const { externalId } = await connector.upsertCustomer(document);

    expect(tokenRequests()).toBe(before + 2);
    expect(stored('customer', 'number', document.reference)).toEqual([expect.objectContaining({ id: externalId })]);
    // Client credentials are not rotated: the stored credentials stay as they were.
    expect(storedCredentials()).toEqual(credentials);
  });

  it('a 401 after a fresh token is an auth failure', async () => {
    const { connector } = connect();
    const before = tokenRequests();
    mock.inject({ kind: 'status', status: 401, message: 'The server has rejected the client credentials.' }, { times: 2 });

    const error = await failure(connector.upsertCustomer(customer()));
    expect(error).toMatchObject({ kind: 'auth', details: { status: 401, vendorCode: 'Authentication_InvalidCredentials' } });
    expect(tokenRequests()).toBe(before + 2);
  });

  it('a client secret Entra ID refuses is an auth failure that does not repeat the secret', async () => {
    const { connector } = connect({ credentials: { ...credentials, clientSecret: 'not-the-secret-value' } });

    const error = await failure(connector.upsertCustomer(customer()));
    expect(error.kind).toBe('auth');
    expect(error.message).toContain('AADSTS7000215');
    expect(error.message).not.toContain('not-the-secret-value');
  });

  it('an invoice line on a G/L account Business Central does not have is refused as validation, with its message', async () => {
    const { connector } = connect();
    const document = invoice(await syncedCustomer(connector), '99999');

    const error = await failure(connector.pushInvoice(document));
    expect(error).toMatchObject({ kind: 'validation', details: { status: 400, vendorCode: 'Internal_InvalidTableRelation' } });
    expect(error.message).toContain('The field No. of table Sales Line contains a value (99999) that cannot be found in the related table (G/L Account).');
    expect(stored('invoice', 'externalDocumentNumber', document.reference)).toEqual([]);
  });

  it('a cash mapping other than the payment journal’s balancing account is refused before anything is sent', async () => {
    const { connector } = connect();
    const customerRef = await syncedCustomer(connector);
    const document = invoice(customerRef);
    const invoiceRef = { reference: document.reference, externalId: (await connector.pushInvoice(document)).externalId };
    const misrouted = { ...payment(customerRef, invoiceRef, 1_000), cashAccount: '10200' };

    const error = await failure(connector.pushPayment(misrouted));
    expect(error.kind).toBe('validation');
    expect(error.message).toContain('balances to account "10100"');
    expect(stored('payment', 'documentNumber', misrouted.reference)).toEqual([]);
  });

  it('the mock refuses bodies the v1.0 spec and the v2.0 overlay do not allow', async () => {
    const token = issueToken(mock, 'spec-test');
    const { tenantId, environment, companyId } = credentials;
    const companyUrl = `${mock.url}/v2.0/${tenantId}/${environment}/api/v2.0/companies(${companyId})`;
    const send = (path: string, body: unknown) =>
      fetch(companyUrl + path, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

    const customerAnswer = await send('/customers', { number: 'CUS-SPEC', displayName: 'Spec', nickname: 'unknown to Business Central' });
    expect(customerAnswer.status).toBe(400);
    expect(((await customerAnswer.json()) as { error: { code: string } }).error.code).toBe('BadRequest');

    const invoiceAnswer = await send('/salesInvoices', {
      customerNumber: 'CUS-SPEC',
      invoiceDate: '2026-11-01T00:00:00Z',
      salesInvoiceLines: [{ lineType: 'Account', lineObjectNumber: '40100', glAccount: '40100', quantity: '1' }],
    });
    expect(invoiceAnswer.status).toBe(400);

    expect(mock.schemaViolations.map(({ violations }) => violations)).toEqual([
      ['/: unknown field "nickname"'],
      expect.arrayContaining(['/invoiceDate: must match format "date"', '/salesInvoiceLines/0: unknown field "glAccount"', '/salesInvoiceLines/0/quantity: must be number']),
    ]);
    expect(stored('customer', 'number', 'CUS-SPEC')).toEqual([]);
    mock.schemaViolations.length = 0;
  });
});
