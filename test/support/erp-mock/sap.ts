import type { ErpDocumentType, GlMapping } from '../../../src/domain/erp/index.js';
import { issueToken, type ErpMock, type MockRequest, type MockResponse, type MockRoute, type VendorFixture, type VendorMock } from './server.js';
import { validateSapBody } from './sap-spec.js';

/**
 * SAP Business One Service Layer (`/b1s/v1`, OData v3) as the connector meets it: `POST /Login`
 * opens a session answered as `B1SESSION` and `ROUTEID` cookies, which every call must carry
 * (an unknown or expired session is a 401 with code 301); business partners are keyed by CardCode;
 * service-type invoices and credit memos post each line to a G/L account of the chart of accounts;
 * incoming and outgoing payments apply to open invoices and credit memos of the same customer.
 * Reference lookups are the `$filter=Field eq 'value'` queries the connector sends. Every body is
 * checked against SAP's EDMX first (sap-spec.ts).
 */

const base = '/b1s/v1';
const routeId = '.node1';
const companyDb = 'SBODEMOUS';
const username = 'manager';
const password = 'b1-manager-secret';

/** The demo company's chart of accounts: what the fixture's GL mappings point at. */
const chartOfAccounts = [
  { Code: '1020', Name: 'Operating bank account', CashAccount: 'tYES' },
  { Code: '1200', Name: 'Accounts receivable (control)', CashAccount: 'tNO' },
  { Code: '2200', Name: 'Sales tax payable', CashAccount: 'tNO' },
  { Code: '4000', Name: 'Subscription revenue', CashAccount: 'tNO' },
  { Code: '4010', Name: 'Subscription revenue - Pro plan', CashAccount: 'tNO' },
  { Code: '4050', Name: 'Sales discounts', CashAccount: 'tNO' },
  { Code: '4060', Name: 'Service credits', CashAccount: 'tNO' },
  { Code: '4900', Name: 'Sales returns and refunds', CashAccount: 'tNO' },
];

const documentSets = ['Invoices', 'CreditNotes'] as const;
const paymentSets = ['IncomingPayments', 'VendorPayments'] as const;
type DocumentSet = (typeof documentSets)[number];
type PaymentSet = (typeof paymentSets)[number];
type Entity = Record<string, unknown>;

/** B1's error envelope. */
const envelope = (code: number, message: string) => ({ error: { code, message: { lang: 'en-us', value: message } } });
/** A value as B1 quotes it in a message. */
const shown = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));
const refuse = (message: string, code = -10): MockResponse => ({ status: 400, body: envelope(code, message) });
const notFound = (): MockResponse => ({ status: 404, body: envelope(-2028, 'No matching records found (ODBC -2028)') });

/** Amounts compared at B1's precision: doubles summed line by line must not be off by an ulp. */
const cents = (amount: unknown) => Math.round(Number(amount) * 1_000_000);

function seeded(mock: ErpMock): Entity[] {
  const accounts = mock.collection('ChartOfAccounts');
  if (accounts.length === 0) accounts.push(...chartOfAccounts.map((account) => ({ ...account })));
  return accounts;
}

const accountExists = (mock: ErpMock, code: unknown) => seeded(mock).some((account) => account.Code === code);
const partner = (mock: ErpMock, cardCode: unknown) => mock.collection('BusinessPartners').find((entity) => entity.CardCode === cardCode);

function cookies(request: MockRequest): Map<string, string> {
  const pairs = (request.headers.cookie ?? '').split(';').map((pair) => pair.trim().split('='));
  return new Map(pairs.filter((pair) => pair.length === 2).map(([name, value]) => [name!, value!]));
}

/** `$select=A,B`: only those fields, as the Service Layer answers. */
function selected(entity: Entity, query: URLSearchParams): Entity {
  const select = query.get('$select');
  if (select === null) return entity;
  return Object.fromEntries(select.split(',').map((field) => [field.trim(), entity[field.trim()] ?? null]));
}

/** The one `$filter` form the connector sends: `Field eq 'value'` (quotes doubled inside). */
function filtered(entities: Entity[], filter: string | null): Entity[] | string {
  if (filter === null) return entities;
  const match = /^(\w+) eq '((?:[^']|'')*)'$/.exec(filter.trim());
  if (!match) return `Invalid filter: ${filter}`;
  const value = match[2]!.replaceAll("''", "'");
  return entities.filter((entity) => entity[match[1]!] === value);
}

function login(request: MockRequest, mock: ErpMock): MockResponse {
  const body = request.json as Entity;
  if (body.CompanyDB !== companyDb || body.UserName !== username || body.Password !== password) {
    return { status: 401, body: envelope(100000027, 'Login failed') };
  }
  const session = issueToken(mock, 'B1S');
  return {
    status: 200,
    // Two Set-Cookie headers, as B1 sends them: node's writeHead takes an array though MockResponse types a string.
    headers: { 'set-cookie': [`B1SESSION=${session}; HttpOnly`, `ROUTEID=${routeId}; path=/b1s`] as unknown as string },
    body: { 'odata.metadata': `${mock.url}${base}/$metadata#B1Sessions/@Element`, SessionId: session, Version: '1000110', SessionTimeout: 30 },
  };
}

const partnerKey = (request: MockRequest) => decodeURIComponent(request.params[0]!).replaceAll("''", "'");

function createPartner(request: MockRequest, mock: ErpMock): MockResponse {
  const body = request.json as Entity;
  const cardCode = shown(body.CardCode);
  if (cardCode.length > 15) return refuse(`Value too long in property 'CardCode' of 'BusinessPartner'`, -1);
  if (partner(mock, cardCode)) return refuse('This entry already exists in the following tables (ODBC -2035)', -2035);
  const stored = { CardType: 'cCustomer', ...body, CardCode: cardCode };
  mock.collection('BusinessPartners').push(stored);
  return { status: 201, body: { 'odata.metadata': `${mock.url}${base}/$metadata#BusinessPartners/@Element`, ...stored } };
}

function readPartner(request: MockRequest, mock: ErpMock): MockResponse {
  const found = partner(mock, partnerKey(request));
  return found ? { status: 200, body: { 'odata.metadata': `${mock.url}${base}/$metadata#BusinessPartners/@Element`, ...selected(found, request.query) } } : notFound();
}

function updatePartner(request: MockRequest, mock: ErpMock): MockResponse {
  const found = partner(mock, partnerKey(request));
  if (!found) return notFound();
  Object.assign(found, request.json as Entity);
  return { status: 204 };
}

/** What B1 checks on a service-type A/R document before it posts: the customer, the control account and each line's G/L account. */
function documentRefusal(body: Entity, mock: ErpMock, table: string): string | null {
  const customer = partner(mock, body.CardCode);
  if (!customer || customer.CardType !== 'cCustomer') return `Invalid BP code '${shown(body.CardCode)}' [O${table}.CardCode]`;
  if (body.ControlAccount !== undefined && !accountExists(mock, body.ControlAccount)) return `Invalid control account '${shown(body.ControlAccount)}' [O${table}.CtlAccount]`;
  const lines = (body.DocumentLines as Entity[] | undefined) ?? [];
  if (lines.length === 0) return 'Document has no lines';
  for (const [index, line] of lines.entries()) {
    // An item document (DocType's default) takes its accounts from the items; only service lines name one.
    if (body.DocType !== 'dDocument_Service') return `Item code is missing [${table}1.ItemCode][line: ${index + 1}]`;
    if (!accountExists(mock, line.AccountCode)) return `Invalid account code '${shown(line.AccountCode)}' [${table}1.AcctCode][line: ${index + 1}]`;
    if (typeof line.ItemDescription === 'string' && line.ItemDescription.length > 100) return `Value too long in property 'ItemDescription' of 'DocumentLine'`;
  }
  return null;
}

function createDocument(set: DocumentSet, request: MockRequest, mock: ErpMock): MockResponse {
  const body = request.json as Entity;
  const refusal = documentRefusal(body, mock, set === 'Invoices' ? 'INV' : 'RIN');
  if (refusal) return refuse(refusal);
  const lines = body.DocumentLines as Entity[];
  const total = lines.reduce((sum, line) => sum + cents(line.LineTotal), 0) / 1_000_000;
  const docEntry = mock.nextId();
  const stored: Entity = {
    ...body,
    DocEntry: docEntry,
    DocNum: docEntry,
    DocumentLines: lines.map((line, index) => ({ LineNum: index, ...line })),
    DocTotal: total,
    PaidToDate: 0,
    DocumentStatus: 'bost_Open',
  };
  mock.collection(set).push(stored);
  return { status: 201, body: { 'odata.metadata': `${mock.url}${base}/$metadata#${set}/@Element`, ...stored } };
}

/**
 * What B1 checks on a customer payment: incoming payments take a customer's invoices, outgoing
 * ones (VendorPayments) a customer's credit memos when DocType is rCustomer; the transfer account
 * must exist, and no document may be paid beyond what is open on it.
 */
function paymentRefusal(set: PaymentSet, body: Entity, mock: ErpMock): string | null {
  const customer = partner(mock, body.CardCode);
  const cardType = body.DocType === 'rCustomer' || (body.DocType === undefined && set === 'IncomingPayments') ? 'cCustomer' : 'cSupplier';
  if (!customer || customer.CardType !== cardType) return `Invalid BP code '${shown(body.CardCode)}' [O${set === 'IncomingPayments' ? 'RCT' : 'VPM'}.CardCode]`;
  if (!accountExists(mock, body.TransferAccount)) return `Invalid transfer account '${shown(body.TransferAccount)}'`;
  if (body.ControlAccount !== undefined && !accountExists(mock, body.ControlAccount)) return `Invalid control account '${shown(body.ControlAccount)}'`;
  const applied = (body.PaymentInvoices as Entity[] | undefined) ?? [];
  if (applied.reduce((sum, line) => sum + cents(line.SumApplied), 0) > cents(body.TransferSum)) return 'Total applied exceeds the payment amount';
  const expected = set === 'IncomingPayments' ? { type: 'it_Invoice', documents: 'Invoices' } : { type: 'it_CredItnote', documents: 'CreditNotes' };
  for (const [index, line] of applied.entries()) {
    if (line.InvoiceType !== expected.type) return `Invalid document type '${shown(line.InvoiceType)}' [line: ${index + 1}]`;
    const document = mock.collection(expected.documents).find((entity) => entity.DocEntry === line.DocEntry);
    if (!document || document.CardCode !== body.CardCode) return `Invalid document entry ${shown(line.DocEntry)} [line: ${index + 1}]`;
    if (cents(line.SumApplied) > cents(document.DocTotal) - cents(document.PaidToDate)) return `Amount applied exceeds the open balance of document ${shown(line.DocEntry)}`;
  }
  return null;
}

function createPayment(set: PaymentSet, request: MockRequest, mock: ErpMock): MockResponse {
  const body = request.json as Entity;
  const refusal = paymentRefusal(set, body, mock);
  if (refusal) return refuse(refusal);
  for (const line of (body.PaymentInvoices as Entity[] | undefined) ?? []) {
    const document = mock.collection(set === 'IncomingPayments' ? 'Invoices' : 'CreditNotes').find((entity) => entity.DocEntry === line.DocEntry)!;
    document.PaidToDate = (cents(document.PaidToDate) + cents(line.SumApplied)) / 1_000_000;
    if (cents(document.PaidToDate) === cents(document.DocTotal)) document.DocumentStatus = 'bost_Close';
  }
  const docEntry = mock.nextId();
  const stored: Entity = { ...body, DocEntry: docEntry, DocNum: docEntry, Cancelled: 'tNO' };
  mock.collection(set).push(stored);
  return { status: 201, body: { 'odata.metadata': `${mock.url}${base}/$metadata#${set}/@Element`, ...stored } };
}

function query(set: string, request: MockRequest, mock: ErpMock): MockResponse {
  const found = filtered(mock.collection(set), request.query.get('$filter'));
  if (typeof found === 'string') return refuse(found, -1);
  return { status: 200, body: { 'odata.metadata': `${mock.url}${base}/$metadata#${set}`, value: found.slice(0, 20).map((entity) => selected(entity, request.query)) } };
}

const partnerPath = new RegExp(`^${base}/BusinessPartners\\('((?:[^']|'')*)'\\)$`);

const routes: MockRoute[] = [
  { method: 'POST', path: new RegExp(`^${base}/Login$`), public: true, handle: login },
  { method: 'GET', path: partnerPath, handle: readPartner },
  { method: 'PATCH', path: partnerPath, handle: updatePartner },
  { method: 'POST', path: new RegExp(`^${base}/BusinessPartners$`), handle: createPartner },
  ...documentSets.flatMap((set): MockRoute[] => [
    { method: 'GET', path: new RegExp(`^${base}/${set}$`), handle: (request, mock) => query(set, request, mock) },
    { method: 'POST', path: new RegExp(`^${base}/${set}$`), handle: (request, mock) => createDocument(set, request, mock) },
  ]),
  ...paymentSets.flatMap((set): MockRoute[] => [
    { method: 'GET', path: new RegExp(`^${base}/${set}$`), handle: (request, mock) => query(set, request, mock) },
    { method: 'POST', path: new RegExp(`^${base}/${set}$`), handle: (request, mock) => createPayment(set, request, mock) },
  ]),
];

const vendor: VendorMock = {
  name: 'sap',
  routes,
  authenticate(request, mock) {
    const session = cookies(request);
    const valid = mock.validTokens.has(session.get('B1SESSION') ?? '') && session.get('ROUTEID') === routeId;
    return valid ? null : { status: 401, body: envelope(301, 'Invalid session.') };
  },
  validate(request) {
    // `/b1s/v1/Invoices` → Invoices, `/b1s/v1/BusinessPartners('C1')` → BusinessPartners, `/b1s/v1/Login` → the Login action.
    const target = /^\/b1s\/v1\/([A-Za-z]+)/.exec(request.path)?.[1] ?? request.path;
    return validateSapBody(target, request.json, { create: request.method === 'POST' });
  },
  rejectInvalid: (violations) => refuse(violations.join('; '), -1000),
  errorBody: (status, message) => envelope(status === 401 ? 301 : -1, message),
};

const documentCollection: Record<ErpDocumentType, string> = {
  customer: 'BusinessPartners',
  invoice: 'Invoices',
  credit_note: 'CreditNotes',
  payment: 'IncomingPayments',
  refund: 'VendorPayments',
};

const glMappings: GlMapping[] = [
  { kind: 'revenue', account: '4000' },
  { kind: 'revenue', planCode: 'pro', account: '4010' },
  { kind: 'tax', account: '2200' },
  { kind: 'receivable', account: '1200' },
  { kind: 'cash', account: '1020' },
  { kind: 'refund', account: '4900' },
  { kind: 'discount', account: '4050' },
  { kind: 'credit', account: '4060' },
];

export const sapFixture: VendorFixture = {
  vendor,
  credentials: { companyDb, username, password },
  settings: (mock) => ({ baseUrl: `${mock.url}${base}` }),
  documentsOf: (mock, type) => mock.collection(documentCollection[type]),
  glMappings,
};
