import { randomUUID } from 'node:crypto';
import type { ErpDocumentType } from '../../../src/domain/erp/index.js';
import { businessCentralValidator, type BcEntity } from './dynamics365-spec.js';
import { bearerOf, issueToken, type ErpMock, type MockRequest, type MockResponse, type MockRoute, type VendorFixture, type VendorMock } from './server.js';

/**
 * Business Central API v2.0 as the Dynamics 365 connector uses it: an Entra ID token endpoint
 * (client credentials), customers, sales invoices and credit memos (deep-inserted lines, then the
 * post action), customer payment and general journals (lines, then the journals' post action)
 * and the G/L entries posting leaves. Refusals use the OData envelope and the error codes and
 * messages Business Central uses (troubleshooting-web-services docs; labels of the APIV2 pages).
 */

const tenantId = '6f0c3c8b-7c1e-4d9a-9a57-2f0f4c2d1e11';
const companyId = '5a1e2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b';
const environment = 'production';
const clientId = '0b9c8d7e-6f5a-4b3c-8d2e-1f0a9b8c7d6e';
const clientSecret = 'bc-mock-client-secret';
const apiScope = 'https://api.businesscentral.dynamics.com/.default';

const pathPrefix = `/v2.0/${tenantId}/${environment}/api/v2.0`;
const companyPath = `${pathPrefix}/companies(${companyId})`;
const validator = businessCentralValidator(pathPrefix);

/** The chart of accounts the fixture's mappings point at. */
const accounts: Record<string, string> = {
  '10100': 'Checking Account',
  '13100': 'Accounts Receivable',
  '22500': 'Sales Tax Payable',
  '40100': 'Subscription Revenue',
  '40150': 'Subscription Revenue, Pro',
  '40400': 'Sales Discounts',
  '40450': 'Customer Credits',
  '40600': 'Customer Refunds',
};
/** Where a customer's receivables post (its customer posting group's account). */
const receivablesAccount = '13100';
const currencies = new Set(['USD', 'EUR']);

interface Batch {
  id: string;
  code: string;
  displayName: string;
  balancingAccountNumber: string;
}

const paymentBatches: Batch[] = [{ id: randomUUID(), code: 'CASHRCPT', displayName: 'Cash receipts', balancingAccountNumber: '10100' }];
const generalBatches: Batch[] = [{ id: randomUUID(), code: 'DEFAULT', displayName: 'Default journal', balancingAccountNumber: '' }];

type Doc = Record<string, unknown>;

interface BcRoute extends MockRoute {
  /** The v2.0 entity a body sent to this route must be. */
  entity?: BcEntity;
}

const escape = (text: string) => text.replace(/[.*+?^$()|[\]\\{}]/g, '\\$&');
const guid = '\\(([0-9a-f-]{36})\\)';
const at = (suffix: string) => new RegExp(`^${escape(companyPath)}${suffix}$`);

const odataError = (status: number, code: string, message: string): MockResponse => ({
  status,
  body: { error: { code, message: `${message}  CorrelationId:  ${randomUUID()}.` } },
});
const dialog = (message: string) => odataError(400, 'Application_DialogException', message);
const notFound = (entity: string) => odataError(404, 'Internal_RecordNotFound', `The ${entity} does not exist.`);
const invalidRelation = (field: string, table: string, value: string, related: string) =>
  odataError(400, 'Internal_InvalidTableRelation', `The field ${field} of table ${table} contains a value (${value}) that cannot be found in the related table (${related}).`);

const etag = () => `W/"${Buffer.from(randomUUID()).toString('base64')}"`;
const now = () => new Date().toISOString();
const cents = (amount: number) => Math.round(amount * 100);
const text = (value: unknown) => (typeof value === 'string' ? value : '');

/** Internal fields kept on stored records and left out of answers (BC expands lines only on `$expand`). */
const hidden = new Set(['salesInvoiceLines', 'salesCreditMemoLines', 'posted']);
const present = (record: Doc) => Object.fromEntries(Object.entries(record).filter(([key]) => !hidden.has(key)));

/** `$filter=field eq 'value'`, the one filter form the connector sends; null when absent, an error when malformed. */
function filterOf(request: MockRequest): { field: string; value: string } | null | MockResponse {
  const filter = request.query.get('$filter');
  if (filter === null) return null;
  const match = /^(\w+) eq '((?:[^']|'')*)'$/.exec(filter);
  if (!match) return odataError(400, 'BadRequest_NotFound', 'Bad Request - Error in query syntax.');
  return { field: match[1]!, value: match[2]!.replaceAll("''", "'") };
}

function list(request: MockRequest, records: Doc[]): MockResponse {
  const filter = filterOf(request);
  if (filter && 'status' in filter) return filter;
  const value = records.filter((record) => !filter || String(record[filter.field]) === filter.value).map(present);
  return { status: 200, body: { '@odata.context': `${companyPath}/$metadata`, value } };
}

const customerOf = (mock: ErpMock, body: Doc) =>
  mock.collection('customers').find((customer) => (body.customerId ? customer.id === body.customerId : customer.number === body.customerNumber));

function postEntries(mock: ErpMock, entry: { documentNumber: string; documentType: string; postingDate: unknown; description: string }, debit: string, credit: string, amount: number) {
  for (const [accountNumber, side] of [
    [debit, 'debitAmount'],
    [credit, 'creditAmount'],
  ] as const) {
    mock.collection('generalLedgerEntries').push({
      id: randomUUID(),
      entryNumber: mock.nextId(),
      ...entry,
      accountNumber,
      debitAmount: side === 'debitAmount' ? amount : 0,
      creditAmount: side === 'creditAmount' ? amount : 0,
      lastModifiedDateTime: now(),
    });
  }
}

// --- customers -------------------------------------------------------------------------------

function createCustomer(request: MockRequest, mock: ErpMock): MockResponse {
  const body = request.json as Doc;
  const customers = mock.collection('customers');
  if (customers.some((customer) => customer.number === body.number)) {
    return odataError(400, 'Internal_EntityWithSameKeyExists', `The Customer already exists. Identification fields and values: No.='${String(body.number)}'`);
  }
  if (body.currencyCode !== undefined && !currencies.has(text(body.currencyCode))) return dialog('The "currencyCode" does not match to a Currency.');
  const customer: Doc = { id: randomUUID(), number: '', displayName: '', type: 'Company', email: '', currencyCode: '', blocked: ' ', ...body, lastModifiedDateTime: now(), '@odata.etag': etag() };
  customers.push(customer);
  return { status: 201, body: present(customer) };
}

function updateCustomer(request: MockRequest, mock: ErpMock): MockResponse {
  const customer = mock.collection('customers').find((candidate) => candidate.id === request.params[0]);
  if (!customer) return notFound('Customer');
  const ifMatch = request.headers['if-match'];
  if (ifMatch === undefined) return odataError(400, 'BadRequest_InvalidToken', 'Could not validate the client concurrency token required by the service. Please provide a valid token in the client request.');
  if (ifMatch !== '*' && ifMatch !== customer['@odata.etag']) return odataError(409, 'Request_EntityChanged', 'Another user has already changed the record.');
  Object.assign(customer, request.json as Doc, { lastModifiedDateTime: now(), '@odata.etag': etag() });
  return { status: 200, body: present(customer) };
}

// --- sales invoices and credit memos ----------------------------------------------------------

interface SalesKind {
  collection: 'salesInvoices' | 'salesCreditMemos';
  lines: 'salesInvoiceLines' | 'salesCreditMemoLines';
  table: string;
  draftPrefix: string;
  postedPrefix: string;
  label: string;
}

const invoices: SalesKind = { collection: 'salesInvoices', lines: 'salesInvoiceLines', table: 'Sales Line', draftPrefix: 'S-INV', postedPrefix: 'PS-INV', label: 'invoice' };
const creditMemos: SalesKind = { collection: 'salesCreditMemos', lines: 'salesCreditMemoLines', table: 'Sales Line', draftPrefix: 'S-CR', postedPrefix: 'PS-CR', label: 'credit memo' };

const postedInvoice = (mock: ErpMock, id: unknown) => mock.collection('salesInvoices').find((invoice) => invoice.id === id && invoice.status !== 'Draft');

function createSalesDocument(kind: SalesKind, request: MockRequest, mock: ErpMock): MockResponse {
  const body = request.json as Doc;
  if (!body.customerId && !body.customerNumber) return dialog('A "customerNumber" or a "customerId" must be provided.');
  const customer = customerOf(mock, body);
  if (!customer) return dialog('The sell-to customer cannot be found.');
  if (body.currencyCode !== undefined && !currencies.has(text(body.currencyCode))) return dialog('The "currencyCode" does not match to a Currency.');
  if (kind === creditMemos && body.invoiceId !== undefined && !postedInvoice(mock, body.invoiceId)) return dialog('The "invoiceId" does not match to a posted Sales Invoice.');
  const lines: Doc[] = [];
  for (const [index, line] of ((body[kind.lines] as Doc[] | undefined) ?? []).entries()) {
    if (line.lineType !== 'Account') return odataError(400, 'BadRequest', `The mock serves G/L account lines only, not lineType "${String(line.lineType)}".`);
    const account = text(line.lineObjectNumber);
    if (!(account in accounts)) return invalidRelation('No.', kind.table, account, 'G/L Account');
    const quantity = Number(line.quantity ?? 0);
    const unitPrice = Number(line.unitPrice ?? 0);
    lines.push({ id: randomUUID(), sequence: (index + 1) * 10_000, ...line, quantity, unitPrice, amountExcludingTax: cents(quantity * unitPrice) / 100, totalTaxAmount: 0 });
  }
  const total = lines.reduce((sum, line) => sum + cents(Number(line.amountExcludingTax)), 0) / 100;
  const document: Doc = {
    id: randomUUID(),
    number: `${kind.draftPrefix}${mock.nextId()}`,
    ...body,
    customerId: customer.id,
    customerNumber: customer.number,
    customerName: customer.displayName,
    status: 'Draft',
    totalAmountExcludingTax: total,
    totalTaxAmount: 0,
    totalAmountIncludingTax: total,
    ...(kind === invoices ? { remainingAmount: total } : {}),
    [kind.lines]: lines,
    lastModifiedDateTime: now(),
    '@odata.etag': etag(),
  };
  mock.collection(kind.collection).push(document);
  return { status: 201, body: present(document) };
}

function getSalesDocument(kind: SalesKind, request: MockRequest, mock: ErpMock): MockResponse {
  const document = mock.collection(kind.collection).find((candidate) => candidate.id === request.params[0]);
  return document ? { status: 200, body: present(document) } : notFound(kind.label);
}

/** Posting: the document gets its posted number, G/L entries are made, a credit memo closes against its invoice. */
function postSalesDocument(kind: SalesKind, request: MockRequest, mock: ErpMock): MockResponse {
  const document = mock.collection(kind.collection).find((candidate) => candidate.id === request.params[0]);
  if (!document) return notFound(kind.label);
  if (document.status !== 'Draft') return dialog(`The action can be applied to a draft ${kind.label} only.`);
  document.number = `${kind.postedPrefix}${mock.nextId()}`;
  document.status = 'Open';
  const entry = { documentNumber: String(document.number), documentType: kind === invoices ? 'Invoice' : 'Credit_x0020_Memo', postingDate: document.postingDate, description: kind.label };
  for (const line of document[kind.lines] as Doc[]) {
    const amount = Number(line.amountExcludingTax);
    const [debit, credit] = kind === invoices ? [receivablesAccount, String(line.lineObjectNumber)] : [String(line.lineObjectNumber), receivablesAccount];
    postEntries(mock, entry, debit, credit, amount);
  }
  if (kind === creditMemos && document.invoiceId) applyToInvoice(mock, document.invoiceId, Number(document.totalAmountIncludingTax));
  return { status: 204 };
}

function applyToInvoice(mock: ErpMock, invoiceId: unknown, amount: number) {
  const invoice = postedInvoice(mock, invoiceId);
  if (!invoice) return;
  invoice.remainingAmount = (cents(Number(invoice.remainingAmount)) - cents(amount)) / 100;
  if (Number(invoice.remainingAmount) <= 0) invoice.status = 'Paid';
}

// --- journals ---------------------------------------------------------------------------------

const batchOf = (batches: Batch[], request: MockRequest) => batches.find((batch) => batch.id === request.params[0]);
const unpostedLines = (mock: ErpMock, collection: string, batch: Batch) => mock.collection(collection).filter((line) => line.journalId === batch.id && !line.posted);

function baseLine(mock: ErpMock, collection: string, batch: Batch, body: Doc): Doc {
  const lineNumber = (unpostedLines(mock, collection, batch).length + 1) * 10_000;
  return { id: randomUUID(), journalId: batch.id, journalDisplayName: batch.code, lineNumber, documentNumber: '', externalDocumentNumber: '', description: '', comment: '', ...body };
}

function createCustomerPayment(request: MockRequest, mock: ErpMock): MockResponse {
  const batch = batchOf(paymentBatches, request);
  if (!batch) return notFound('Gen. Journal Batch');
  const body = request.json as Doc;
  const customer = customerOf(mock, body);
  if (!customer) return dialog(body.customerId ? 'The "customerId" does not match to a Customer.' : 'The "customerNumber" does not match to a Customer.');
  if (!(Number(body.amount) < 0)) return dialog('The "amount" should be a negative number.');
  const invoice = body.appliesToInvoiceId === undefined ? undefined : postedInvoice(mock, body.appliesToInvoiceId);
  if (body.appliesToInvoiceId !== undefined && !invoice) return dialog('The "appliesToInvoiceId" should be the ID of an Open, Paid, Corrective, or Canceled Invoice.');
  const line: Doc = {
    ...baseLine(mock, 'customerPayments', batch, body),
    customerId: customer.id,
    customerNumber: customer.number,
    appliesToInvoiceNumber: invoice?.number ?? '',
    balancingAccountNumber: batch.balancingAccountNumber,
    posted: false,
    lastModifiedDateTime: now(),
    '@odata.etag': etag(),
  };
  mock.collection('customerPayments').push(line);
  return { status: 201, body: present(line) };
}

function createJournalLine(request: MockRequest, mock: ErpMock): MockResponse {
  const batch = batchOf(generalBatches, request);
  if (!batch) return notFound('Gen. Journal Batch');
  const body = request.json as Doc;
  if (!(String(body.accountNumber) in accounts)) return dialog('The "accountNumber" does not match to an Account.');
  const balancing = typeof body.balancingAccountNumber === 'string' ? body.balancingAccountNumber : batch.balancingAccountNumber;
  if (balancing !== '' && !(balancing in accounts)) return invalidRelation('Bal. Account No.', 'Gen. Journal Line', balancing, 'G/L Account');
  const line: Doc = {
    ...baseLine(mock, 'journalLines', batch, body),
    accountType: 'G_x002F_L_Account',
    balanceAccountType: 'G_x002F_L_Account',
    balancingAccountNumber: balancing,
    posted: false,
    lastModifiedDateTime: now(),
    '@odata.etag': etag(),
  };
  mock.collection('journalLines').push(line);
  return { status: 201, body: present(line) };
}

/** The journals entity's post action, which finds a batch of any template by its id (customer payment batches too). */
function postJournal(request: MockRequest, mock: ErpMock): MockResponse {
  const paymentBatch = batchOf(paymentBatches, request);
  const batch = paymentBatch ?? batchOf(generalBatches, request);
  if (!batch) return odataError(400, 'Application_DialogException', `The General Journal Batch with ID ${request.params[0]} cannot be found.`);
  const collection = paymentBatch ? 'customerPayments' : 'journalLines';
  const lines = unpostedLines(mock, collection, batch);
  if (lines.length === 0) return dialog('There is nothing to post.');
  const unbalanced = lines.find((line) => line.balancingAccountNumber === '');
  if (unbalanced) {
    return dialog(`Document No. ${String(unbalanced.documentNumber)} is out of balance by ${String(unbalanced.amount)}. Please check that Posting Date, Document Type, Document No. and Amount are correct for each line.`);
  }
  for (const line of lines) {
    const amount = Math.abs(Number(line.amount));
    const entry = { documentNumber: String(line.documentNumber), documentType: paymentBatch ? 'Payment' : '_x0020_', postingDate: line.postingDate, description: String(line.description) };
    if (paymentBatch) {
      postEntries(mock, entry, String(line.balancingAccountNumber), receivablesAccount, amount);
      applyToInvoice(mock, line.appliesToInvoiceId, amount);
    } else {
      postEntries(mock, entry, String(line.accountNumber), String(line.balancingAccountNumber), amount);
    }
    line.posted = true;
  }
  return { status: 204 };
}

// --- the vendor -------------------------------------------------------------------------------

function issueAccessToken(request: MockRequest, mock: ErpMock): MockResponse {
  const form = new URLSearchParams(request.rawBody);
  const refuse = (status: number, error: string, description: string): MockResponse => ({
    status,
    body: { error, error_description: `${description}\r\nTrace ID: ${randomUUID()}\r\nCorrelation ID: ${randomUUID()}`, error_codes: [Number(/AADSTS(\d+)/.exec(description)?.[1])] },
  });
  if (form.get('grant_type') !== 'client_credentials') return refuse(400, 'unsupported_grant_type', 'AADSTS70003: The app requested an unsupported grant type.');
  if (form.get('client_id') !== clientId) return refuse(400, 'unauthorized_client', `AADSTS700016: Application with identifier '${form.get('client_id') ?? ''}' was not found in the directory.`);
  if (form.get('client_secret') !== clientSecret) return refuse(401, 'invalid_client', 'AADSTS7000215: Invalid client secret provided.');
  if (form.get('scope') !== apiScope) return refuse(400, 'invalid_scope', `AADSTS70011: The provided value for the input parameter 'scope' is not valid.`);
  return { status: 200, body: { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: issueToken(mock, 'bc') } };
}

const route = (method: string, path: RegExp, handle: BcRoute['handle'], entity?: BcEntity): BcRoute => ({ method, path, handle, ...(entity ? { entity } : {}) });
const listOf = (collection: string) => (request: MockRequest, mock: ErpMock) => list(request, mock.collection(collection));

const routes: BcRoute[] = [
  { method: 'POST', path: new RegExp(`^/${tenantId}/oauth2/v2\\.0/token$`), public: true, handle: issueAccessToken },
  route('GET', at('/customers'), listOf('customers')),
  route('POST', at('/customers'), createCustomer, 'customer'),
  route('PATCH', at(`/customers${guid}`), updateCustomer, 'customer'),
  route('GET', at('/salesInvoices'), listOf('salesInvoices')),
  route('GET', at(`/salesInvoices${guid}`), (request, mock) => getSalesDocument(invoices, request, mock)),
  route('POST', at('/salesInvoices'), (request, mock) => createSalesDocument(invoices, request, mock), 'salesInvoice'),
  route('POST', at(`/salesInvoices${guid}/Microsoft\\.NAV\\.post`), (request, mock) => postSalesDocument(invoices, request, mock)),
  route('GET', at('/salesCreditMemos'), listOf('salesCreditMemos')),
  route('GET', at(`/salesCreditMemos${guid}`), (request, mock) => getSalesDocument(creditMemos, request, mock)),
  route('POST', at('/salesCreditMemos'), (request, mock) => createSalesDocument(creditMemos, request, mock), 'salesCreditMemo'),
  route('POST', at(`/salesCreditMemos${guid}/Microsoft\\.NAV\\.post`), (request, mock) => postSalesDocument(creditMemos, request, mock)),
  route('GET', at('/customerPaymentJournals'), (request) => list(request, paymentBatches.map((batch) => ({ ...batch })))),
  route('GET', at(`/customerPaymentJournals${guid}/customerPayments`), (request, mock) => {
    const batch = batchOf(paymentBatches, request);
    return batch ? list(request, unpostedLines(mock, 'customerPayments', batch)) : notFound('Gen. Journal Batch');
  }),
  route('POST', at(`/customerPaymentJournals${guid}/customerPayments`), createCustomerPayment, 'customerPayment'),
  route('GET', at('/journals'), (request) => list(request, generalBatches.map((batch) => ({ ...batch, templateDisplayName: 'GENERAL' })))),
  route('GET', at(`/journals${guid}/journalLines`), (request, mock) => {
    const batch = batchOf(generalBatches, request);
    return batch ? list(request, unpostedLines(mock, 'journalLines', batch)) : notFound('Gen. Journal Batch');
  }),
  route('POST', at(`/journals${guid}/journalLines`), createJournalLine, 'journalLine'),
  route('POST', at(`/journals${guid}/Microsoft\\.NAV\\.post`), postJournal),
  route('GET', at('/generalLedgerEntries'), listOf('generalLedgerEntries')),
];

const errorCodes: Record<number, string> = {
  400: 'BadRequest',
  401: 'Authentication_InvalidCredentials',
  404: 'BadRequest_ResourceNotFound',
  409: 'Request_EntityChanged',
  500: 'Internal_ServerError',
};

const vendor: VendorMock = {
  name: 'dynamics365',
  routes,
  authenticate(request, mock) {
    const token = bearerOf(request);
    if (token !== undefined && mock.validTokens.has(token)) return null;
    return {
      ...odataError(401, 'Authentication_InvalidCredentials', 'The server has rejected the client credentials.'),
      headers: { 'www-authenticate': 'Bearer realm="", error="invalid_token", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"' },
    };
  },
  validate(request, mockRoute) {
    const { entity } = mockRoute as BcRoute;
    if (entity === undefined) return [`${request.method} ${request.path} takes no body`];
    return validator.validate(entity, request.method, request.path, request.json);
  },
  rejectInvalid: (violations) => odataError(400, 'BadRequest', `Invalid Request Body: ${violations.join('; ')}`),
  errorBody: (status, message) => ({ error: { code: errorCodes[status] ?? 'Unknown', message } }),
};

const documentCollections: Record<ErpDocumentType, string> = {
  customer: 'customers',
  invoice: 'salesInvoices',
  credit_note: 'salesCreditMemos',
  payment: 'customerPayments',
  refund: 'journalLines',
};

export const dynamics365Fixture: VendorFixture = {
  vendor,
  credentials: { tenantId, clientId, clientSecret, environment, companyId },
  settings: (mock) => ({ baseUrl: mock.url, tokenUrl: `${mock.url}/${tenantId}/oauth2/v2.0/token` }),
  documentsOf: (mock, type) => mock.collection(documentCollections[type]),
  glMappings: [
    { kind: 'revenue', account: '40100' },
    { kind: 'revenue', planCode: 'pro', account: '40150' },
    { kind: 'tax', account: '22500' },
    { kind: 'receivable', account: '13100' },
    { kind: 'cash', account: '10100' },
    { kind: 'refund', account: '40600' },
    { kind: 'discount', account: '40400' },
    { kind: 'credit', account: '40450' },
  ],
};
