import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { ErpCreditNote, ErpCustomer, ErpInvoice, ErpPayment, ErpRefund } from '../../../src/domain/erp/index.js';
import { ErpError, type ErpConnector } from '../../../src/integrations/erp/connector.js';
import { quickbooksConnector } from '../../../src/integrations/erp/quickbooks.js';
import { quickbooksCompanyPath, quickbooksCredentials, quickbooksFixture, quickbooksTokenPath } from '../../support/erp-mock/quickbooks.js';
import { issueToken, startErpMock, type ErpMock } from '../../support/erp-mock/server.js';
import { connectorFor } from './support.js';

/**
 * The QuickBooks Online connector against the QBO mock: Intuit's refresh-token grant, the
 * company API with requestid replays and queries, Fault envelopes, and every body checked
 * against Intuit's XSDs. One connector per mock: Intuit rotates the refresh token on each grant.
 */

let mock: ErpMock;
let connector: ErpConnector;
let storedCredentials: () => typeof quickbooksCredentials;
let sequence = 0;

const tokenRequests = () => mock.requests.filter((request) => request.path === quickbooksTokenPath).length;
const stored = (type: Parameters<typeof quickbooksFixture.documentsOf>[1]) => quickbooksFixture.documentsOf(mock, type);
const hex = () => (++sequence).toString(16).toUpperCase().padStart(16, '0');

async function failure(promise: Promise<unknown>): Promise<ErpError> {
  const error = await promise.then(
    () => null,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(ErpError);
  return error as ErpError;
}

const customerDocument = (name = 'Acme Corp', email: string | null = 'billing@acme.test'): ErpCustomer => ({
  type: 'customer',
  reference: `CUS-${hex()}`,
  organizationId: `org-${sequence}`,
  name,
  email,
  currency: 'USD',
});

const invoiceDocument = (customerId: string, lines: ErpInvoice['lines'] = [{ description: 'Seats', kind: 'revenue', quantity: '10', amount: 10_000, account: '1' }]): ErpInvoice => ({
  type: 'invoice',
  reference: `INV-${hex()}`,
  number: `INV-${sequence}`,
  customer: { reference: 'CUS-1', externalId: customerId },
  issueDate: '2025-03-01',
  dueDate: '2025-03-31',
  currency: 'USD',
  lines,
  total: lines.reduce((sum, line) => sum + line.amount, 0),
  receivableAccount: '84',
});

/** A customer and an invoice pushed, as the dependencies of the document under test. */
async function invoiced(): Promise<{ customerId: string; invoice: ErpInvoice; invoiceId: string }> {
  const { externalId: customerId } = await connector.upsertCustomer(customerDocument(`Dependent ${sequence}`));
  const invoice = invoiceDocument(customerId);
  const { externalId: invoiceId } = await connector.pushInvoice(invoice);
  return { customerId, invoice, invoiceId };
}

beforeAll(async () => {
  mock = await startErpMock(quickbooksFixture.vendor);
  ({ connector, storedCredentials } = connectorFor(quickbooksConnector, quickbooksCredentials, quickbooksFixture.settings(mock)));
});

afterAll(async () => {
  await mock.close();
});

afterEach(() => {
  expect(mock.schemaViolations).toEqual([]);
});

describe('QuickBooks Online connector', () => {
  it('pushes the five documents onto the mapped items and accounts, linked by the ids QuickBooks returned', async () => {
    const customer = customerDocument();
    const { externalId: customerId } = await connector.upsertCustomer(customer);
    expect(stored('customer')).toEqual([
      expect.objectContaining({ Id: customerId, DisplayName: `Acme Corp (${customer.reference})`, CompanyName: 'Acme Corp', AcctNum: customer.reference, PrimaryEmailAddr: { Address: 'billing@acme.test' }, CurrencyRef: { value: 'USD' } }),
    ]);

    const invoice = invoiceDocument(customerId, [
      { description: 'Seats', kind: 'revenue', quantity: '10', amount: 10_000, account: '1' },
      { description: 'Pro plan', kind: 'revenue', quantity: '1', amount: 4_999, account: '2' },
      { description: 'API calls', kind: 'revenue', quantity: '3', amount: 1_000, account: '1' },
      { description: 'Launch discount', kind: 'discount', quantity: '1', amount: -1_000, account: '3' },
      { description: 'Sales tax', kind: 'tax', quantity: '1', amount: 1_120, account: '5' },
    ]);
    const { externalId: invoiceId } = await connector.pushInvoice(invoice);
    const [storedInvoice] = stored('invoice');
    expect(storedInvoice).toMatchObject({ Id: invoiceId, DocNumber: invoice.reference, TxnDate: '2025-03-01', DueDate: '2025-03-31', CustomerRef: { value: customerId }, ARAccountRef: { value: '84' }, CurrencyRef: { value: 'USD' }, TotalAmt: 161.19 });
    expect(storedInvoice!.Line).toEqual([
      { Description: 'Seats', Amount: 100, DetailType: 'SalesItemLineDetail', SalesItemLineDetail: { ItemRef: { value: '1' }, Qty: 10, UnitPrice: 10 } },
      { Description: 'Pro plan', Amount: 49.99, DetailType: 'SalesItemLineDetail', SalesItemLineDetail: { ItemRef: { value: '2' }, Qty: 1, UnitPrice: 49.99 } },
      // 10.00 / 3 has no exact unit price: one unit at the line amount.
      { Description: 'API calls', Amount: 10, DetailType: 'SalesItemLineDetail', SalesItemLineDetail: { ItemRef: { value: '1' }, Qty: 1, UnitPrice: 10 } },
      { Description: 'Launch discount', Amount: -10, DetailType: 'SalesItemLineDetail', SalesItemLineDetail: { ItemRef: { value: '3' }, Qty: 1, UnitPrice: -10 } },
      { Description: 'Sales tax', Amount: 11.2, DetailType: 'SalesItemLineDetail', SalesItemLineDetail: { ItemRef: { value: '5' }, Qty: 1, UnitPrice: 11.2 } },
    ]);

    const creditNote: ErpCreditNote = {
      type: 'credit_note',
      reference: `CN-${hex()}`,
      number: 'CN-0001',
      customer: { reference: customer.reference, externalId: customerId },
      invoice: { reference: invoice.reference, externalId: invoiceId },
      issueDate: '2025-03-05',
      currency: 'USD',
      reason: 'SLA credit',
      amount: 2_500,
      creditAccount: '4',
      receivableAccount: '84',
    };
    const { externalId: creditMemoId } = await connector.pushCreditNote(creditNote);
    expect(stored('credit_note')).toEqual([
      expect.objectContaining({
        Id: creditMemoId,
        DocNumber: creditNote.reference,
        CustomerRef: { value: customerId },
        InvoiceRef: { value: invoiceId },
        ARAccountRef: { value: '84' },
        CustomerMemo: { value: 'SLA credit' },
        TotalAmt: 25,
        Line: [{ Description: 'SLA credit', Amount: 25, DetailType: 'SalesItemLineDetail', SalesItemLineDetail: { ItemRef: { value: '4' }, Qty: 1, UnitPrice: 25 } }],
      }),
    ]);

    const payment: ErpPayment = {
      type: 'payment',
      reference: `PAY-${hex()}`,
      customer: { reference: customer.reference, externalId: customerId },
      invoice: { reference: invoice.reference, externalId: invoiceId },
      date: '2025-03-10',
      currency: 'USD',
      amount: 16_119,
      cashAccount: '35',
      receivableAccount: '84',
      paymentReference: 'ch_3Nabc',
    };
    const { externalId: paymentId } = await connector.pushPayment(payment);
    expect(stored('payment')).toEqual([
      expect.objectContaining({
        Id: paymentId,
        PaymentRefNum: payment.reference,
        CustomerRef: { value: customerId },
        DepositToAccountRef: { value: '35' },
        ARAccountRef: { value: '84' },
        TotalAmt: 161.19,
        UnappliedAmt: 0,
        Line: [{ Amount: 161.19, LinkedTxn: [{ TxnId: invoiceId, TxnType: 'Invoice' }] }],
      }),
    ]);
    expect(storedInvoice!.Balance).toBe(0);

    const refund: ErpRefund = {
      type: 'refund',
      reference: `RF-${hex()}`,
      customer: { reference: customer.reference, externalId: customerId },
      creditNote: { reference: creditNote.reference, externalId: creditMemoId },
      date: '2025-03-12',
      currency: 'USD',
      amount: 2_500,
      cashAccount: '35',
      refundAccount: '84',
      receivableAccount: '84',
    };
    const { externalId: journalEntryId } = await connector.pushRefund(refund);
    const description = `Refund of credit memo ${creditNote.reference}`;
    expect(stored('refund')).toEqual([
      expect.objectContaining({
        Id: journalEntryId,
        DocNumber: refund.reference,
        TxnDate: '2025-03-12',
        PrivateNote: `${description} (QuickBooks CreditMemo ${creditMemoId})`,
        TotalAmt: 25,
        Line: [
          { Description: description, Amount: 25, DetailType: 'JournalEntryLineDetail', JournalEntryLineDetail: { PostingType: 'Debit', AccountRef: { value: '84' }, Entity: { Type: 'Customer', EntityRef: { value: customerId } } } },
          { Description: description, Amount: 25, DetailType: 'JournalEntryLineDetail', JournalEntryLineDetail: { PostingType: 'Credit', AccountRef: { value: '35' } } },
        ],
      }),
    ]);

    // Every API call names the minor version; every create carries a deterministic requestid of at most 50 characters.
    const apiRequests = mock.requests.filter((request) => request.path.startsWith(quickbooksCompanyPath));
    expect(apiRequests.every((request) => new URLSearchParams(request.query).get('minorversion') === '75')).toBe(true);
    const creates = apiRequests.filter((request) => request.method === 'POST');
    expect(creates).toHaveLength(5);
    for (const create of creates) expect(new URLSearchParams(create.query).get('requestid')).toMatch(/^[a-z-]+-[A-Z0-9-]+-[0-9a-f]{12}$/);
    expect(creates.every((create) => new URLSearchParams(create.query).get('requestid')!.length <= 50)).toBe(true);

    // findByReference finds each of them again; an unknown reference is null.
    await expect(connector.findByReference(customer)).resolves.toBe(customerId);
    await expect(connector.findByReference(invoice)).resolves.toBe(invoiceId);
    await expect(connector.findByReference(creditNote)).resolves.toBe(creditMemoId);
    await expect(connector.findByReference(payment)).resolves.toBe(paymentId);
    await expect(connector.findByReference(refund)).resolves.toBe(journalEntryId);
    await expect(connector.findByReference({ ...invoice, reference: 'INV-UNKNOWN' })).resolves.toBeNull();
    await expect(connector.findByReference({ ...customer, reference: 'CUS-UNKNOWN' })).resolves.toBeNull();
  });

  it('upserts a customer: the second push updates the one carrying its reference', async () => {
    const customer = customerDocument('Globex', null);
    const before = stored('customer').length;
    const { externalId: first } = await connector.upsertCustomer(customer);
    const { externalId: second } = await connector.upsertCustomer({ ...customer, name: 'Globex Corporation', email: 'ap@globex.test' });
    expect(second).toBe(first);
    expect(stored('customer')).toHaveLength(before + 1);
    expect(stored('customer').find((record) => record.Id === first)).toMatchObject({
      DisplayName: `Globex Corporation (${customer.reference})`,
      CompanyName: 'Globex Corporation',
      PrimaryEmailAddr: { Address: 'ap@globex.test' },
      SyncToken: '1',
    });
  });

  it('reconciles an invoice whose answer was lost after QuickBooks stored it, and a replayed requestid creates nothing', async () => {
    const { externalId: customerId } = await connector.upsertCustomer(customerDocument('Initech'));
    const invoice = invoiceDocument(customerId);
    mock.inject({ kind: 'reset_after_success' }, { match: (request) => request.path.endsWith('/invoice') });
    const error = await failure(connector.pushInvoice(invoice));
    expect(error.kind).toBe('transient');
    const matching = () => stored('invoice').filter((record) => record.DocNumber === invoice.reference);
    expect(matching()).toHaveLength(1);
    const externalId = await connector.findByReference(invoice);
    expect(externalId).toBe(matching()[0]!.Id);
    // Pushed again regardless: Intuit answers the same requestid with the original document.
    await expect(connector.pushInvoice(invoice)).resolves.toEqual({ externalId });
    expect(matching()).toHaveLength(1);
  });

  it('reconciles a payment whose request hung after QuickBooks stored it', async () => {
    const { customerId, invoice, invoiceId } = await invoiced();
    const payment: ErpPayment = {
      type: 'payment',
      reference: `PAY-${hex()}`,
      customer: { reference: 'CUS-1', externalId: customerId },
      invoice: { reference: invoice.reference, externalId: invoiceId },
      date: '2025-03-10',
      currency: 'USD',
      amount: 4_000,
      cashAccount: '35',
      receivableAccount: '84',
      paymentReference: 'wire-77',
    };
    mock.inject({ kind: 'hang_after_success' }, { match: (request) => request.path.endsWith('/payment') });
    const error = await failure(connector.pushPayment(payment));
    expect(error.kind).toBe('transient');
    const matching = stored('payment').filter((record) => record.PaymentRefNum === payment.reference);
    expect(matching).toHaveLength(1);
    await expect(connector.findByReference(payment)).resolves.toBe(matching[0]!.Id);
  });

  it('classifies a 500 as transient, with the SystemFault message', async () => {
    const { externalId: customerId } = await connector.upsertCustomer(customerDocument('Umbrella'));
    mock.inject({ kind: 'status', status: 500, message: 'database unavailable' });
    const error = await failure(connector.pushInvoice(invoiceDocument(customerId)));
    expect(error.kind).toBe('transient');
    expect(error.details).toMatchObject({ status: 500, vendorCode: '10000' });
    expect(error.message).toContain('database unavailable');
  });

  it('classifies a 429 as rate limited after its Retry-After', async () => {
    mock.inject({ kind: 'status', status: 429, retryAfterSeconds: 7 });
    const error = await failure(connector.findByReference(customerDocument()));
    expect(error.kind).toBe('rate_limited');
    expect(error.details).toMatchObject({ status: 429, retryAfterMs: 7_000, vendorCode: '3001' });
  });

  it('classifies a Fault that comes with HTTP 200', async () => {
    mock.inject({ kind: 'status', status: 200, message: 'Unsupported operation' });
    const error = await failure(connector.findByReference(customerDocument()));
    expect(error.kind).toBe('validation');
    expect(error.message).toContain('Unsupported operation');
  });

  it('refreshes an expired access token once, keeping the rotated refresh token', async () => {
    await connector.findByReference(customerDocument());
    const refreshTokenBefore = storedCredentials().refreshToken;
    const grants = tokenRequests();
    mock.expireTokens();
    const customer = customerDocument('Hooli');
    const { externalId } = await connector.upsertCustomer(customer);
    expect(stored('customer').find((record) => record.Id === externalId)).toBeDefined();
    expect(tokenRequests()).toBe(grants + 1);
    expect(storedCredentials().refreshToken).not.toBe(refreshTokenBefore);
    expect((mock.state.get('refreshTokens') as Set<string>).has(storedCredentials().refreshToken)).toBe(true);
    expect(storedCredentials()).toMatchObject({ clientId: quickbooksCredentials.clientId, realmId: quickbooksCredentials.realmId });
  });

  it('gives up with auth when QuickBooks refuses the refreshed token too', async () => {
    await connector.findByReference(customerDocument());
    const grants = tokenRequests();
    mock.inject({ kind: 'status', status: 401, message: 'Token revoked' }, { times: 2 });
    const error = await failure(connector.findByReference(customerDocument()));
    expect(error.kind).toBe('auth');
    expect(error.message).toContain('AuthenticationFailed');
    expect(error.message).not.toContain(storedCredentials().refreshToken);
    expect(tokenRequests()).toBe(grants + 1);
  });

  it('reports a document QuickBooks refuses (an Item it does not have) as validation, with its message', async () => {
    const { externalId: customerId } = await connector.upsertCustomer(customerDocument('Stark'));
    const invoice = invoiceDocument(customerId, [{ description: 'Seats', kind: 'revenue', quantity: '1', amount: 5_000, account: '999' }]);
    const error = await failure(connector.pushInvoice(invoice));
    expect(error.kind).toBe('validation');
    expect(error.details).toMatchObject({ status: 400, vendorCode: '2500' });
    expect(error.message).toContain('Invalid Reference Id : Item 999 does not exist');
    expect(stored('invoice').filter((record) => record.DocNumber === invoice.reference)).toHaveLength(0);
  });

  it('checks bodies against the XSDs: an unknown field is refused and recorded', async () => {
    const token = issueToken(mock, 'qbo-access');
    const response = await fetch(`${mock.url}${quickbooksCompanyPath}/invoice?minorversion=75`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ CustomerRef: { value: '1' }, ExternalId: 'INV-1', Line: [{ Amount: 10, DetailType: 'SalesItemLineDetail', SalesItemLineDetail: { ItemRef: { value: '1' }, Qty: '1' } }] }),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { Fault: { type: string; Error: { code: string; Detail: string }[] } };
    expect(body.Fault).toMatchObject({ type: 'ValidationFault', Error: [{ code: '2010' }] });
    expect(mock.schemaViolations).toEqual([
      {
        method: 'POST',
        path: `${quickbooksCompanyPath}/invoice`,
        violations: ['Invoice: unknown field "ExternalId" (not an element of Invoice)', 'Invoice.Line[0].SalesItemLineDetail.Qty: expected a number (xs:decimal), got "1"'],
      },
    ]);
    mock.schemaViolations.length = 0;
  });
});
