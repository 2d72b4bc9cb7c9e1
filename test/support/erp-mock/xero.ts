import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { ErpDocumentType, GlMapping } from '../../../src/domain/erp/index.js';
import { openApiValidator } from './openapi.js';
import { bearerOf, issueToken, type ErpMock, type MockRequest, type MockResponse, type MockRoute, type VendorFixture, type VendorMock } from './server.js';

/**
 * Xero Accounting API 2.0 as the Xero connector meets it: the identity server's refresh-token
 * grant (rotating the refresh token on each use), bearer + `xero-tenant-id` on every call,
 * Idempotency-Key replays, Contacts / Invoices / CreditNotes / Payments with the
 * filters reconcile uses, Xero's refusals in its ValidationException envelope, and every body
 * checked against Xero's OpenAPI document.
 */

const specPath = fileURLToPath(new URL('../../fixtures/erp-specs/xero/xero_accounting.yaml', import.meta.url));
const apiPrefix = '/api.xro/2.0';

export const xeroCredentials = {
  clientId: 'XERO-CLIENT-ID-0001',
  clientSecret: 'xero-client-secret-0001',
  refreshToken: 'xero-refresh-initial',
  tenantId: '6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f',
};

/** The chart of accounts the mappings point at (codes as in Xero's demo company where one fits). */
const accounts = [
  { Code: '200', Name: 'Sales', Type: 'REVENUE' },
  { Code: '260', Name: 'Sales - Pro plan', Type: 'REVENUE' },
  { Code: '270', Name: 'Discounts Given', Type: 'REVENUE' },
  { Code: '275', Name: 'Customer Credits', Type: 'REVENUE' },
  { Code: '820', Name: 'Sales Tax Payable', Type: 'CURRLIAB' },
  { Code: '610', Name: 'Accounts Receivable', Type: 'CURRENT', SystemAccount: 'DEBTORS' },
  { Code: '090', Name: 'Business Bank Account', Type: 'BANK' },
  { Code: '091', Name: 'Refunds Clearing', Type: 'CURRENT' },
];

const glMappings: GlMapping[] = [
  { kind: 'revenue', account: '200' },
  { kind: 'revenue', planCode: 'pro', account: '260' },
  { kind: 'discount', account: '270' },
  { kind: 'credit', account: '275' },
  { kind: 'tax', account: '820' },
  { kind: 'receivable', account: '610' },
  { kind: 'cash', account: '090' },
  { kind: 'refund', account: '091' },
];

/**
 * Parsed and compiled once, at import (about two seconds): done on the first request instead, that
 * request would outlast the connector's timeout and look like a hung vendor.
 */
const specValidator = openApiValidator(specPath, { pathPrefix: apiPrefix });
for (const [method, path] of [['PUT', '/Contacts'], ['POST', `/Contacts/${randomUUID()}`], ['PUT', '/Invoices'], ['PUT', '/CreditNotes'], ['PUT', '/Payments']] as const) {
  specValidator.validate(method, `${apiPrefix}${path}`, {});
}

type XeroRecord = Record<string, unknown>;

const cents = (amount: unknown) => Math.round(Number(amount) * 100);
const fromCents = (amount: number) => amount / 100;

function envelope(collection: string, records: XeroRecord[]): MockResponse {
  return { status: 200, body: { Id: randomUUID(), Status: 'OK', ProviderName: 'Ledgerflow', DateTimeUTC: `/Date(${Date.now()})/`, [collection]: records } };
}

function validationError(messages: string[]): MockResponse {
  return {
    status: 400,
    body: { ErrorNumber: 10, Type: 'ValidationException', Message: 'A validation exception occurred', Elements: [{ ValidationErrors: messages.map((Message) => ({ Message })) }] },
  };
}

const notFound = (what: string): MockResponse => ({ status: 404, body: { ErrorNumber: 404, Type: 'NotFoundException', Message: `${what} could not be found` } });

/** Xero's `where`: `Field=="value"` clauses joined by AND, the only form reconcile sends. */
function whereFilter(where: string | null): ((record: XeroRecord) => boolean) | string {
  if (where === null) return () => true;
  const clauses = where.split(' AND ').map((clause) => /^\s*(\w+)\s*==\s*"([^"]*)"\s*$/.exec(clause));
  if (clauses.some((clause) => clause === null)) return `The where clause ${where} is not supported`;
  return (record) => clauses.every((clause) => record[clause![1]!] === clause![2]);
}

function list(mock: ErpMock, request: MockRequest, collection: string, extra: (record: XeroRecord) => boolean = () => true): MockResponse {
  const filter = whereFilter(request.query.get('where'));
  if (typeof filter === 'string') return validationError([filter]);
  return envelope(collection, mock.collection(collection).filter((record) => filter(record) && extra(record)));
}

const chart = (mock: ErpMock) => {
  const stored = mock.collection('Accounts');
  if (stored.length === 0) stored.push(...accounts.map((account) => ({ AccountID: randomUUID(), Status: 'ACTIVE', ...account })));
  return stored;
};
const accountByCode = (mock: ErpMock, code: unknown) => chart(mock).find((account) => account.Code === code && account.Status === 'ACTIVE');

const byId = (mock: ErpMock, collection: string, field: string, id: unknown) => mock.collection(collection).find((record) => record[field] === id);

/** Xero answers a repeated Idempotency-Key with the first answer instead of acting again. */
function idempotent(handle: (request: MockRequest, mock: ErpMock) => MockResponse): MockRoute['handle'] {
  return (request, mock) => {
    const key = request.headers['idempotency-key'];
    if (typeof key !== 'string') return handle(request, mock);
    const answers = (mock.state.get('idempotency') ?? new Map<string, MockResponse>()) as Map<string, MockResponse>;
    mock.state.set('idempotency', answers);
    const replay = answers.get(`${request.method} ${request.path} ${key}`);
    if (replay) return replay;
    const answer = handle(request, mock);
    if (answer.status < 300) answers.set(`${request.method} ${request.path} ${key}`, answer);
    return answer;
  };
}

function elements(request: MockRequest, collection: string): XeroRecord[] {
  const records = (request.json as Record<string, unknown> | undefined)?.[collection];
  return Array.isArray(records) ? (records as XeroRecord[]) : [];
}

function contactErrors(mock: ErpMock, contact: XeroRecord, self?: unknown): string[] {
  if (typeof contact.Name !== 'string' || contact.Name.trim() === '') return ['The contact name must be specified.'];
  const taken = mock.collection('Contacts').some((other) => other.Name === contact.Name && other.ContactID !== self && other.ContactStatus === 'ACTIVE');
  return taken ? [`The contact name ${contact.Name} is already assigned to another contact. The contact name must be unique across all active contacts.`] : [];
}

function createContacts(request: MockRequest, mock: ErpMock): MockResponse {
  const contacts = elements(request, 'Contacts');
  const errors = contacts.flatMap((contact) => contactErrors(mock, contact));
  if (errors.length > 0) return validationError(errors);
  const stored = contacts.map((contact) => ({ ContactID: randomUUID(), ContactStatus: 'ACTIVE', ...contact, UpdatedDateUTC: `/Date(${Date.now()})/` }));
  mock.collection('Contacts').push(...stored);
  return envelope('Contacts', stored);
}

function updateContact(request: MockRequest, mock: ErpMock): MockResponse {
  const existing = byId(mock, 'Contacts', 'ContactID', request.params[0]);
  if (!existing) return notFound(`Contact ${request.params[0]}`);
  const [update = {}] = elements(request, 'Contacts');
  const errors = contactErrors(mock, { ...existing, ...update }, existing.ContactID);
  if (errors.length > 0) return validationError(errors);
  Object.assign(existing, update, { ContactID: existing.ContactID, UpdatedDateUTC: `/Date(${Date.now()})/` });
  return envelope('Contacts', [existing]);
}

/** What Xero checks on a sales document: its contact, a due date once approved, and every line's account code. */
function documentErrors(mock: ErpMock, document: XeroRecord, type: string): string[] {
  const errors: string[] = [];
  if (document.Type !== type) errors.push(`Type must be ${type} on this endpoint.`);
  const contactId = (document.Contact as XeroRecord | undefined)?.ContactID;
  if (!byId(mock, 'Contacts', 'ContactID', contactId)) errors.push(`The contact with ContactID ${String(contactId)} could not be found.`);
  if (type === 'ACCREC' && document.Status === 'AUTHORISED' && !document.DueDate) errors.push('Due Date is required.');
  for (const line of (document.LineItems ?? []) as XeroRecord[]) {
    if (!accountByCode(mock, line.AccountCode)) errors.push(`Account code '${String(line.AccountCode)}' is not a valid code for this document.`);
  }
  return errors;
}

/** A line's amount in cents: LineAmount when given (it must agree with quantity × unit price), else quantity × unit price. */
function lineCents(line: XeroRecord): number {
  return line.LineAmount === undefined ? Math.round(Number(line.Quantity ?? 1) * Number(line.UnitAmount) * 100) : cents(line.LineAmount);
}

function storeDocuments(request: MockRequest, mock: ErpMock, collection: string, type: string, idField: string): MockResponse {
  const documents = elements(request, collection);
  const errors = documents.flatMap((document) => documentErrors(mock, document, type));
  const mismatched = documents.flatMap((document) => (document.LineItems ?? []) as XeroRecord[]).filter((line) => line.LineAmount !== undefined && cents(line.LineAmount) !== Math.round(Number(line.Quantity) * Number(line.UnitAmount) * 100));
  if (mismatched.length > 0) errors.push('The line amount does not equal the quantity multiplied by the unit amount.');
  if (errors.length > 0) return validationError(errors);
  const stored = documents.map((document) => {
    const lines = ((document.LineItems ?? []) as XeroRecord[]).map((line) => ({ LineItemID: randomUUID(), ...line, LineAmount: fromCents(lineCents(line)) }));
    const total = lines.reduce((sum, line) => sum + cents(line.LineAmount), 0);
    const amounts = type === 'ACCREC' ? { AmountDue: fromCents(total) } : { RemainingCredit: fromCents(total), Allocations: [] };
    return { [idField]: randomUUID(), ...document, LineItems: lines, SubTotal: fromCents(total), TotalTax: 0, Total: fromCents(total), ...amounts, UpdatedDateUTC: `/Date(${Date.now()})/` };
  });
  mock.collection(collection).push(...stored);
  return envelope(collection, stored);
}

/** A payment on an invoice (ACCRECPAYMENT) or a cash refund of a credit note (ARCREDITPAYMENT), from a bank account. */
function createPayments(request: MockRequest, mock: ErpMock): MockResponse {
  const payments = elements(request, 'Payments');
  const errors: string[] = [];
  const targets = payments.map((payment) => {
    const invoice = byId(mock, 'Invoices', 'InvoiceID', (payment.Invoice as XeroRecord | undefined)?.InvoiceID);
    const note = byId(mock, 'CreditNotes', 'CreditNoteID', (payment.CreditNote as XeroRecord | undefined)?.CreditNoteID);
    const target = invoice ?? note;
    const outstanding = invoice ? 'AmountDue' : 'RemainingCredit';
    const account = accountByCode(mock, (payment.Account as XeroRecord | undefined)?.Code);
    if (!target) errors.push('Payment must be applied to an existing invoice or credit note.');
    else if (target.Status !== 'AUTHORISED') errors.push('Payments can only be made against Authorised documents.');
    else if (cents(payment.Amount) <= 0 || cents(payment.Amount) > cents(target[outstanding])) errors.push('Payment amount exceeds the amount outstanding on this document');
    if (!account) errors.push(`Account code '${String((payment.Account as XeroRecord | undefined)?.Code)}' is not a valid code for this document.`);
    else if (account.Type !== 'BANK') errors.push('Account type is invalid for making a payment to/from');
    return { target, outstanding, account, type: invoice ? 'ACCRECPAYMENT' : 'ARCREDITPAYMENT' };
  });
  if (errors.length > 0) return validationError(errors);
  const stored = payments.map((payment, index) => {
    const { target, outstanding, account, type } = targets[index]!;
    target![outstanding] = fromCents(cents(target![outstanding]) - cents(payment.Amount));
    const record = { PaymentID: randomUUID(), PaymentType: type, Status: 'AUTHORISED', ...payment, Account: { AccountID: account!.AccountID, Code: account!.Code } };
    mock.collection('Payments').push(record);
    return record;
  });
  return envelope('Payments', stored);
}

/** Refresh tokens the mock issued and that were not used yet. */
export function liveRefreshTokens(mock: ErpMock): Set<string> {
  let tokens = mock.state.get('refreshTokens') as Set<string> | undefined;
  if (!tokens) mock.state.set('refreshTokens', (tokens = new Set()));
  return tokens;
}

function token(request: MockRequest, mock: ErpMock): MockResponse {
  const expected = `Basic ${Buffer.from(`${xeroCredentials.clientId}:${xeroCredentials.clientSecret}`).toString('base64')}`;
  if (request.headers.authorization !== expected) return { status: 400, body: { error: 'invalid_client' } };
  const form = new URLSearchParams(request.rawBody);
  const presented = form.get('refresh_token') ?? '';
  // The fixture's token stands for a fresh connection (every integration of a shared mock starts
  // from it); a rotated one is single-use, as Xero's are, so a connector that loses it is refused.
  const valid = presented === xeroCredentials.refreshToken || liveRefreshTokens(mock).delete(presented);
  if (form.get('grant_type') !== 'refresh_token' || !valid) return { status: 400, body: { error: 'invalid_grant' } };
  const rotated = `xero-refresh-${mock.nextId()}`;
  liveRefreshTokens(mock).add(rotated);
  return { status: 200, body: { access_token: issueToken(mock, 'xero-access'), expires_in: 1800, token_type: 'Bearer', refresh_token: rotated, scope: 'offline_access accounting.transactions accounting.contacts' } };
}

const api = (path: string) => new RegExp(`^${apiPrefix.replaceAll('.', '\\.')}${path}$`);
const id = '([0-9a-fA-F-]{36})';

const routes: MockRoute[] = [
  { method: 'POST', path: /^\/connect\/token$/, public: true, handle: token },
  { method: 'GET', path: api('/Contacts'), handle: (request, mock) => list(mock, request, 'Contacts') },
  { method: 'PUT', path: api('/Contacts'), handle: idempotent(createContacts) },
  { method: 'POST', path: api(`/Contacts/${id}`), handle: idempotent(updateContact) },
  {
    method: 'GET',
    path: api('/Invoices'),
    handle: (request, mock) => {
      const numbers = request.query.get('InvoiceNumbers')?.split(',');
      return list(mock, request, 'Invoices', (invoice) => numbers === undefined || numbers.includes(String(invoice.InvoiceNumber)));
    },
  },
  { method: 'PUT', path: api('/Invoices'), handle: idempotent((request, mock) => storeDocuments(request, mock, 'Invoices', 'ACCREC', 'InvoiceID')) },
  { method: 'GET', path: api('/CreditNotes'), handle: (request, mock) => list(mock, request, 'CreditNotes') },
  { method: 'PUT', path: api('/CreditNotes'), handle: idempotent((request, mock) => storeDocuments(request, mock, 'CreditNotes', 'ACCRECCREDIT', 'CreditNoteID')) },
  { method: 'GET', path: api('/Payments'), handle: (request, mock) => list(mock, request, 'Payments') },
  { method: 'PUT', path: api('/Payments'), handle: idempotent(createPayments) },
];

const problem = (status: number, title: string, detail: string): MockResponse => ({ status, body: { Type: null, Title: title, Status: status, Detail: detail, Instance: randomUUID(), Extensions: {} } });

export const xeroVendor: VendorMock = {
  name: 'xero',
  routes,
  authenticate(request, mock) {
    const bearer = bearerOf(request);
    if (bearer === undefined || !mock.validTokens.has(bearer)) {
      const answer = problem(401, 'Unauthorized', `TokenExpired: token expired at ${new Date().toISOString()}`);
      return { ...answer, headers: { 'www-authenticate': 'Bearer error="invalid_token"' } };
    }
    // The spec's required header: without the connected organisation's id Xero refuses the call.
    if (request.headers['xero-tenant-id'] !== xeroCredentials.tenantId) return problem(403, 'Forbidden', 'AuthenticationUnsuccessful');
    return null;
  },
  validate(request) {
    return specValidator.validate(request.method, request.path, request.json);
  },
  rejectInvalid: validationError,
  errorBody(status, message) {
    if (status === 401) return problem(401, 'Unauthorized', message).body;
    if (status === 403) return problem(403, 'Forbidden', message).body;
    if (status === 429) return problem(429, 'Too Many Requests', message).body;
    if (status === 400) return validationError([message]).body;
    return { ErrorNumber: status, Type: status >= 500 ? 'InternalServerException' : 'ApiException', Message: message };
  },
};

const collections: Record<ErpDocumentType, [string, (record: XeroRecord) => boolean]> = {
  customer: ['Contacts', () => true],
  invoice: ['Invoices', () => true],
  credit_note: ['CreditNotes', () => true],
  payment: ['Payments', (record) => record.PaymentType === 'ACCRECPAYMENT'],
  refund: ['Payments', (record) => record.PaymentType === 'ARCREDITPAYMENT'],
};

export const xeroFixture: VendorFixture = {
  vendor: xeroVendor,
  credentials: xeroCredentials,
  settings: (mock) => ({ baseUrl: `${mock.url}${apiPrefix}`, tokenUrl: `${mock.url}/connect/token` }),
  documentsOf(mock, type) {
    const [collection, keep] = collections[type];
    return mock.collection(collection).filter(keep);
  },
  glMappings,
};
