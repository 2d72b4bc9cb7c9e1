import { describe, it, expect, beforeAll, afterAll, afterEach } from '@jest/globals';
import { resolveGlAccount, type ErpCreditNote, type ErpCustomer, type ErpDocumentRef, type ErpInvoice, type ErpPayment, type ErpRefund, type GlSubject } from '../../../src/domain/erp/index.js';
import { ErpError } from '../../../src/integrations/erp/connector.js';
import { createErpHttp, unpaced } from '../../../src/integrations/erp/http.js';
import { memoryAccessTokens } from '../../../src/integrations/erp/tokens.js';
import { sapCardCode, sapConnector, requireSettings, type SapCredentials } from '../../../src/integrations/erp/sap.js';
import { startErpMock, type ErpMock } from '../../support/erp-mock/server.js';
import { sapFixture } from '../../support/erp-mock/sap.js';
import { connectorFor } from './support.js';

let mock: ErpMock;
const credentials = sapFixture.credentials as SapCredentials;
const connect = (options: { credentials?: SapCredentials; timeoutMs?: number } = {}) =>
  connectorFor(sapConnector, options.credentials ?? credentials, sapFixture.settings(mock), { timeoutMs: options.timeoutMs ?? 2_000 });

let sequence = 0;
/** 16 hex digits no other test uses, as Ledgerflow references carry. */
const unique = () => (++sequence).toString(16).toUpperCase().padStart(16, '0');
const account = (subject: GlSubject) => resolveGlAccount(sapFixture.glMappings, subject)!;
const logins = () => mock.requests.filter((request) => request.path === '/b1s/v1/Login').length;
const stored = (type: 'customer' | 'invoice' | 'credit_note' | 'payment' | 'refund') => sapFixture.documentsOf(mock, type);

function customerDocument(name = 'Acme Analytics Ltd'): ErpCustomer {
  return { type: 'customer', reference: `CUS-${unique()}`, organizationId: '0b8f7e52-8f43-4d55-9a3c-2f1e5d7a9c10', name, email: 'billing@acme.test', currency: 'USD' };
}

function invoiceDocument(customer: ErpDocumentRef, overrides: Partial<ErpInvoice> = {}): ErpInvoice {
  const lines: ErpInvoice['lines'] = [
    { description: 'Pro plan, March 2025', kind: 'revenue', quantity: '1', amount: 49_900, account: account({ kind: 'revenue', planCode: 'pro' }) },
    { description: 'API calls (1520.5k)', kind: 'revenue', quantity: '1520.5', amount: 1_234, account: account({ kind: 'revenue', planCode: 'team' }) },
    { description: 'Annual commitment discount', kind: 'discount', quantity: '1', amount: -5_000, account: account({ kind: 'discount' }) },
    { description: 'Sales tax 10%', kind: 'tax', quantity: '1', amount: 4_613, account: account({ kind: 'tax' }) },
  ];
  const reference = `INV-${unique()}`;
  return {
    type: 'invoice',
    reference,
    number: reference,
    customer,
    issueDate: '2025-03-31',
    dueDate: '2025-04-30',
    currency: 'USD',
    lines,
    total: 50_747,
    receivableAccount: account({ kind: 'receivable' }),
    ...overrides,
  };
}

function creditNoteDocument(customer: ErpDocumentRef, invoice: ErpDocumentRef): ErpCreditNote {
  const reference = `CN-${unique()}`;
  return {
    type: 'credit_note',
    reference,
    number: reference,
    customer,
    invoice,
    issueDate: '2025-04-02',
    currency: 'USD',
    reason: 'SLA credit: 99.5% uptime in March',
    amount: 10_000,
    creditAccount: account({ kind: 'credit' }),
    receivableAccount: account({ kind: 'receivable' }),
  };
}

function paymentDocument(customer: ErpDocumentRef, invoice: ErpDocumentRef, amount = 50_747): ErpPayment {
  return {
    type: 'payment',
    reference: `PAY-${unique()}`,
    customer,
    invoice,
    date: '2025-04-03',
    currency: 'USD',
    amount,
    cashAccount: account({ kind: 'cash' }),
    receivableAccount: account({ kind: 'receivable' }),
    paymentReference: 'ch_3PzQ8bLkdIwHu7ix0',
  };
}

function refundDocument(customer: ErpDocumentRef, creditNote: ErpDocumentRef): ErpRefund {
  return {
    type: 'refund',
    reference: `RF-${unique()}`,
    customer,
    creditNote,
    date: '2025-04-05',
    currency: 'USD',
    amount: 10_000,
    cashAccount: account({ kind: 'cash' }),
    refundAccount: account({ kind: 'refund' }),
    receivableAccount: account({ kind: 'receivable' }),
  };
}

/** A customer and an invoice already in B1, for the tests about what happens to the next push. */
async function customerAndInvoice(connector: ReturnType<typeof connect>['connector']) {
  const customerDoc = customerDocument();
  const customer = { reference: customerDoc.reference, ...(await connector.upsertCustomer(customerDoc)) };
  const invoiceDoc = invoiceDocument(customer);
  const invoice = { reference: invoiceDoc.reference, ...(await connector.pushInvoice(invoiceDoc)) };
  return { customer, invoice };
}

async function failure(promise: Promise<unknown>): Promise<ErpError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ErpError);
  return error as ErpError;
}

beforeAll(async () => {
  mock = await startErpMock(sapFixture.vendor);
});

afterAll(async () => {
  await mock.close();
});

afterEach(() => {
  expect(mock.schemaViolations).toEqual([]);
});

describe('SAP Business One connector: module', () => {
  it('takes exactly companyDb, username and password, and refuses to run without the Service Layer URL', () => {
    expect(sapConnector.credentialsSchema.safeParse(credentials).success).toBe(true);
    expect(sapConnector.credentialsSchema.safeParse({ ...credentials, realmId: 'x' }).success).toBe(false);
    expect(sapConnector.credentialsSchema.safeParse({ ...credentials, password: '' }).success).toBe(false);
    expect(requireSettings({ baseUrl: 'https://b1.example.com:50000/b1s/v1' })).toBeNull();
    expect(requireSettings({})).toMatch(/settings\.baseUrl/);
    expect(requireSettings({ baseUrl: 'b1 host' })).toMatch(/not a URL/);
    const context = { credentials, settings: {}, http: createErpHttp({ pacer: unpaced, timeoutMs: 1_000 }), tokens: memoryAccessTokens(credentials) };
    expect(() => sapConnector.create(context)).toThrow(/settings\.baseUrl/);
    expect(sapConnector.unsupported).toEqual({});
    expect(sapConnector.rateLimit).toMatchObject({ requestsPerSecond: 5, burst: 5 });
  });

  it('derives a CardCode of at most 15 characters from a 20-character customer reference, the same each time', () => {
    const code = sapCardCode('CUS-0123456789ABCDEF');
    expect(code).toMatch(/^C[0-9A-F]{14}$/);
    expect(sapCardCode('CUS-0123456789ABCDEF')).toBe(code);
    expect(sapCardCode('CUS-0123456789ABCDEE')).not.toBe(code);
    expect(sapCardCode('CUS-SHORT')).toBe('CUS-SHORT');
  });
});

describe('SAP Business One connector: pushing documents', () => {
  it('pushes a customer, an invoice, a credit note, a payment and a refund, linked by the ids B1 answered, and finds each by its reference', async () => {
    const { connector } = connect();
    const customerDoc = customerDocument();
    const customer = { reference: customerDoc.reference, ...(await connector.upsertCustomer(customerDoc)) };
    expect(customer.externalId).toBe(sapCardCode(customerDoc.reference));
    expect(stored('customer').find((partner) => partner.CardCode === customer.externalId)).toMatchObject({
      CardType: 'cCustomer',
      CardName: 'Acme Analytics Ltd',
      EmailAddress: 'billing@acme.test',
      Currency: 'USD',
    });

    const invoiceDoc = invoiceDocument(customer);
    const invoice = { reference: invoiceDoc.reference, ...(await connector.pushInvoice(invoiceDoc)) };
    const storedInvoice = stored('invoice').find((document) => String(document.DocEntry) === invoice.externalId);
    expect(storedInvoice).toMatchObject({
      CardCode: customer.externalId,
      NumAtCard: invoiceDoc.reference,
      DocType: 'dDocument_Service',
      DocDate: '2025-03-31',
      DocDueDate: '2025-04-30',
      DocCurrency: 'USD',
      ControlAccount: '1200',
      DocTotal: 507.47,
      DocumentLines: [
        { AccountCode: '4010', LineTotal: 499, ItemDescription: 'Pro plan, March 2025' },
        { AccountCode: '4000', LineTotal: 12.34, ItemDescription: 'API calls (1520.5k)' },
        { AccountCode: '4050', LineTotal: -50, ItemDescription: 'Annual commitment discount' },
        { AccountCode: '2200', LineTotal: 46.13, ItemDescription: 'Sales tax 10%' },
      ],
    });

    const creditNoteDoc = creditNoteDocument(customer, invoice);
    const creditNote = { reference: creditNoteDoc.reference, ...(await connector.pushCreditNote(creditNoteDoc)) };
    expect(stored('credit_note').find((document) => String(document.DocEntry) === creditNote.externalId)).toMatchObject({
      CardCode: customer.externalId,
      NumAtCard: creditNoteDoc.reference,
      DocType: 'dDocument_Service',
      DocDate: '2025-04-02',
      ControlAccount: '1200',
      DocTotal: 100,
      Comments: expect.stringContaining(invoiceDoc.reference),
      DocumentLines: [{ AccountCode: '4060', LineTotal: 100, ItemDescription: 'SLA credit: 99.5% uptime in March' }],
    });

    const paymentDoc = paymentDocument(customer, invoice);
    const payment = await connector.pushPayment(paymentDoc);
    expect(stored('payment').find((document) => String(document.DocEntry) === payment.externalId)).toMatchObject({
      DocType: 'rCustomer',
      CardCode: customer.externalId,
      DocDate: '2025-04-03',
      TransferAccount: '1020',
      TransferSum: 507.47,
      TransferReference: paymentDoc.reference,
      ControlAccount: '1200',
      Remarks: expect.stringContaining('ch_3PzQ8bLkdIwHu7ix0'),
      PaymentInvoices: [{ DocEntry: Number(invoice.externalId), SumApplied: 507.47, InvoiceType: 'it_Invoice' }],
    });
    expect(storedInvoice).toMatchObject({ PaidToDate: 507.47, DocumentStatus: 'bost_Close' });

    const refundDoc = refundDocument(customer, creditNote);
    const refund = await connector.pushRefund(refundDoc);
    expect(stored('refund').find((document) => String(document.DocEntry) === refund.externalId)).toMatchObject({
      DocType: 'rCustomer',
      CardCode: customer.externalId,
      TransferAccount: '1020',
      TransferSum: 100,
      TransferReference: refundDoc.reference,
      PaymentInvoices: [{ DocEntry: Number(creditNote.externalId), SumApplied: 100, InvoiceType: 'it_CredItnote' }],
    });

    expect(await connector.findByReference(customerDoc)).toBe(customer.externalId);
    expect(await connector.findByReference(invoiceDoc)).toBe(invoice.externalId);
    expect(await connector.findByReference(creditNoteDoc)).toBe(creditNote.externalId);
    expect(await connector.findByReference(paymentDoc)).toBe(payment.externalId);
    expect(await connector.findByReference(refundDoc)).toBe(refund.externalId);
    expect(await connector.findByReference(customerDocument())).toBeNull();
    expect(await connector.findByReference(invoiceDocument(customer))).toBeNull();
    expect(await connector.findByReference(refundDocument(customer, creditNote))).toBeNull();
    const lookup = mock.requests.find((request) => request.method === 'GET' && request.path === '/b1s/v1/Invoices');
    expect(decodeURIComponent(lookup!.query)).toBe(`?$filter=NumAtCard eq '${invoiceDoc.reference}'&$select=DocEntry`);
  });

  it('upserts a customer: the second push updates the one business partner the first created', async () => {
    const { connector } = connect();
    const first = customerDocument('Initech');
    const created = await connector.upsertCustomer(first);
    const updated = await connector.upsertCustomer({ ...first, name: 'Initech Holdings', email: 'ap@initech.test' });
    expect(updated.externalId).toBe(created.externalId);
    const partners = stored('customer').filter((partner) => partner.CardCode === created.externalId);
    expect(partners).toHaveLength(1);
    expect(partners[0]).toMatchObject({ CardName: 'Initech Holdings', EmailAddress: 'ap@initech.test', Currency: 'USD' });
    expect(mock.requests.filter((request) => request.method === 'PATCH' && request.path === `/b1s/v1/BusinessPartners('${created.externalId}')`)).toHaveLength(1);
  });
});

describe('SAP Business One connector: failures', () => {
  it('a connection reset after B1 stored the invoice is transient, and reconcile finds the one invoice stored', async () => {
    const { connector } = connect();
    const customerDoc = customerDocument();
    const customer = { reference: customerDoc.reference, ...(await connector.upsertCustomer(customerDoc)) };
    const invoiceDoc = invoiceDocument(customer);
    mock.inject({ kind: 'reset_after_success' }, { match: (request) => request.method === 'POST' && request.path === '/b1s/v1/Invoices' });
    expect((await failure(connector.pushInvoice(invoiceDoc))).kind).toBe('transient');
    const matching = () => stored('invoice').filter((document) => document.NumAtCard === invoiceDoc.reference);
    expect(matching()).toHaveLength(1);
    const found = await connector.findByReference(invoiceDoc);
    expect(found).toBe(String(matching()[0]!.DocEntry));
    // A retry without reconciling first still creates nothing: the push looks its reference up.
    expect(await connector.pushInvoice(invoiceDoc)).toEqual({ externalId: found });
    expect(matching()).toHaveLength(1);
  });

  it('a payment whose answer never comes is transient, and reconcile finds the one payment stored', async () => {
    const { connector } = connect({ timeoutMs: 400 });
    const { customer, invoice } = await customerAndInvoice(connector);
    const paymentDoc = paymentDocument(customer, invoice);
    mock.inject({ kind: 'hang_after_success' }, { match: (request) => request.method === 'POST' && request.path === '/b1s/v1/IncomingPayments' });
    const error = await failure(connector.pushPayment(paymentDoc));
    expect(error.kind).toBe('transient');
    expect(error.message).toMatch(/timeout|no answer within 400 ms/i);
    const matching = stored('payment').filter((document) => document.TransferReference === paymentDoc.reference);
    expect(matching).toHaveLength(1);
    expect(await connector.findByReference(paymentDoc)).toBe(String(matching[0]!.DocEntry));
  });

  it("a 500 is transient, with B1's message", async () => {
    const { connector } = connect();
    const { customer, invoice } = await customerAndInvoice(connector);
    mock.inject({ kind: 'status', status: 500, message: 'Internal error (-2038) occurred' });
    const error = await failure(connector.pushCreditNote(creditNoteDocument(customer, invoice)));
    expect(error).toMatchObject({ kind: 'transient', details: { status: 500, vendorCode: '-1' } });
    expect(error.message).toContain('Internal error (-2038) occurred');
  });

  it('a 429 with Retry-After: 7 is rate_limited, to retry after 7 s', async () => {
    const { connector } = connect();
    const { customer, invoice } = await customerAndInvoice(connector);
    mock.inject({ kind: 'status', status: 429, retryAfterSeconds: 7, message: 'Too many requests' });
    const error = await failure(connector.pushPayment(paymentDocument(customer, invoice)));
    expect(error).toMatchObject({ kind: 'rate_limited', details: { status: 429, retryAfterMs: 7_000 } });
  });

  it('an expired session logs in once more and the push goes through', async () => {
    const { connector } = connect();
    const customerDoc = customerDocument();
    const customer = { reference: customerDoc.reference, ...(await connector.upsertCustomer(customerDoc)) };
    const before = logins();
    const refusedBefore = mock.requests.filter((request) => request.status === 401).length;
    mock.expireTokens();
    const invoiceDoc = invoiceDocument(customer);
    const invoice = await connector.pushInvoice(invoiceDoc);
    expect(logins()).toBe(before + 1);
    expect(mock.requests.filter((request) => request.status === 401).length).toBe(refusedBefore + 1);
    expect(stored('invoice').filter((document) => document.NumAtCard === invoiceDoc.reference).map((document) => String(document.DocEntry))).toEqual([invoice.externalId]);
    // The fresh session carries both cookies: B1SESSION and the ROUTEID pinning it to its node.
    expect(mock.requests.at(-1)!.headers.cookie).toMatch(/^B1SESSION=B1S-[^;]+; ROUTEID=\.node1$/);
  });

  it('a session refused again right after logging in again is an auth failure', async () => {
    const { connector } = connect();
    const customerDoc = customerDocument();
    const before = logins();
    mock.inject({ kind: 'status', status: 401, message: 'Invalid session.' }, { times: 2 });
    const error = await failure(connector.upsertCustomer(customerDoc));
    expect(error).toMatchObject({ kind: 'auth', details: { status: 401, vendorCode: '301' } });
    expect(error.message).toContain('Invalid session.');
    expect(logins()).toBe(before + 2);
    expect(stored('customer').filter((partner) => partner.CardCode === sapCardCode(customerDoc.reference))).toHaveLength(0);
  });

  it('a login B1 refuses is an auth failure that does not repeat the password', async () => {
    const { connector } = connect({ credentials: { ...credentials, password: 'not-the-password' } });
    const error = await failure(connector.upsertCustomer(customerDocument()));
    expect(error).toMatchObject({ kind: 'auth', details: { status: 401 } });
    expect(error.message).toContain('Login failed');
    expect(error.message).not.toContain('not-the-password');
  });

  it("an invoice line on an account B1 does not have is a validation failure carrying B1's message", async () => {
    const { connector } = connect();
    const customerDoc = customerDocument();
    const customer = { reference: customerDoc.reference, ...(await connector.upsertCustomer(customerDoc)) };
    const invoiceDoc = invoiceDocument(customer);
    invoiceDoc.lines[1] = { ...invoiceDoc.lines[1]!, account: '9999' };
    const error = await failure(connector.pushInvoice(invoiceDoc));
    expect(error).toMatchObject({ kind: 'validation', details: { status: 400, vendorCode: '-10' } });
    expect(error.message).toContain("Invalid account code '9999'");
    expect(stored('invoice').filter((document) => document.NumAtCard === invoiceDoc.reference)).toHaveLength(0);
  });
});

describe('SAP Business One mock: the EDMX validator', () => {
  it('refuses a body with a field, an enum value or a type the Service Layer metadata does not have, or without a required key', async () => {
    const login = await fetch(`${mock.url}/b1s/v1/Login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ CompanyDB: credentials.companyDb, UserName: credentials.username, Password: credentials.password }),
    });
    const cookie = login.headers
      .getSetCookie()
      .map((header) => header.split(';')[0])
      .join('; ');
    const response = await fetch(`${mock.url}/b1s/v1/Invoices`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify({
        CardCode: 'C1',
        DocType: 'dDocument_Services',
        NumAtCard: 'INV-SPEC',
        LedgerflowId: 'inv_1',
        DocumentLines: [{ AccountCode: '4000', LineTotal: '12.50', Memo: 'x' }],
      }),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: number; message: { value: string } } };
    expect(body.error.code).toBe(-1000);
    expect(mock.schemaViolations).toHaveLength(1);
    expect(mock.schemaViolations[0]).toMatchObject({ method: 'POST', path: '/b1s/v1/Invoices' });
    expect(mock.schemaViolations[0]!.violations).toEqual(
      expect.arrayContaining([
        expect.stringContaining('DocType: "dDocument_Services" is not a member of SAPB1.BoDocumentTypes'),
        'LedgerflowId: SAPB1.Document has no property LedgerflowId',
        expect.stringContaining('DocumentLines[0].LineTotal: expected a number'),
        'DocumentLines[0].Memo: SAPB1.DocumentLine has no property Memo',
      ]),
    );
    expect(stored('invoice').filter((document) => document.NumAtCard === 'INV-SPEC')).toHaveLength(0);

    const partner = await fetch(`${mock.url}/b1s/v1/BusinessPartners`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify({ CardName: 'No code', CardType: 'cCustomer', DocEntry: 1 }),
    });
    expect(partner.status).toBe(400);
    expect(mock.schemaViolations[1]!.violations).toEqual(['DocEntry: SAPB1.BusinessPartner has no property DocEntry', 'CardCode: required by SAPB1.BusinessPartner']);
    mock.schemaViolations.length = 0;
  });
});
