import { fileURLToPath } from 'node:url';
import type { ErpDocumentType, GlMapping } from '../../../src/domain/erp/index.js';
import { quickBooksSpec } from './quickbooks-spec.js';
import { bearerOf, issueToken, type ErpMock, type MockRequest, type MockResponse, type MockRoute, type VendorFixture, type VendorMock } from './server.js';

/**
 * QuickBooks Online Accounting v3 as the QuickBooks connector meets it: Intuit's refresh-token
 * grant (HTTP Basic client credentials, rotating the refresh token), bearer tokens on
 * /v3/company/{realmId}, `requestid` replays, creates and sparse updates of Customer, Invoice,
 * CreditMemo, Payment and JournalEntry, the query endpoint with QBO's filterable fields only,
 * refusals in QBO's Fault envelope, and every body checked against Intuit's XSDs.
 */

const specDirectory = fileURLToPath(new URL('../../fixtures/erp-specs/quickbooks-online', import.meta.url));

export const quickbooksCredentials = {
  clientId: 'QBO-CLIENT-ID-0001',
  clientSecret: 'qbo-client-secret-0001',
  refreshToken: 'qbo-refresh-initial',
  realmId: '9130350000000001',
};

export const quickbooksTokenPath = '/oauth2/v1/tokens/bearer';
/** Where the company's API lives on the mock (and, after the host, on Intuit's). */
export const quickbooksCompanyPath = `/v3/company/${quickbooksCredentials.realmId}`;

/** The chart of accounts: receivable and cash are mapped to Account Ids, the rest reach accounts through Items. */
const accounts = [
  { Id: '84', Name: 'Accounts Receivable (A/R)', AccountType: 'Accounts Receivable', Classification: 'Asset' },
  { Id: '35', Name: 'Checking', AccountType: 'Bank', Classification: 'Asset' },
  { Id: '1', Name: 'Services', AccountType: 'Income', Classification: 'Revenue' },
  { Id: '2', Name: 'Services - Pro plan', AccountType: 'Income', Classification: 'Revenue' },
  { Id: '86', Name: 'Discounts given', AccountType: 'Income', Classification: 'Revenue' },
  { Id: '87', Name: 'Customer credits', AccountType: 'Income', Classification: 'Revenue' },
  { Id: '89', Name: 'Sales tax payable', AccountType: 'Other Current Liability', Classification: 'Liability' },
];

/** Service items, each booking to its IncomeAccountRef: these are what revenue, discount, credit and tax map to. */
const items = [
  { Id: '1', Name: 'Subscription', IncomeAccountRef: '1' },
  { Id: '2', Name: 'Pro plan', IncomeAccountRef: '2' },
  { Id: '3', Name: 'Discount', IncomeAccountRef: '86' },
  { Id: '4', Name: 'Credit', IncomeAccountRef: '87' },
  { Id: '5', Name: 'Sales tax', IncomeAccountRef: '89' },
];

const glMappings: GlMapping[] = [
  { kind: 'revenue', account: '1' },
  { kind: 'revenue', planCode: 'pro', account: '2' },
  { kind: 'discount', account: '3' },
  { kind: 'credit', account: '4' },
  { kind: 'tax', account: '5' },
  { kind: 'receivable', account: '84' },
  { kind: 'cash', account: '35' },
  // QuickBooks books a refund against the receivable (see docs/erp/quickbooks.md): not read, mapped for completeness.
  { kind: 'refund', account: '84' },
];

/** What QBO's API reference says a create needs beyond the XSD (which types responses, so nearly all optional). */
const createRequirements: Record<string, string[]> = {
  Customer: ['DisplayName'],
  Invoice: ['CustomerRef', 'Line'],
  CreditMemo: ['CustomerRef', 'Line'],
  Payment: ['CustomerRef', 'TotalAmt'],
  JournalEntry: ['Line'],
  Line: ['Amount'],
  ReferenceType: ['value'],
  LinkedTxn: ['TxnId', 'TxnType'],
  JournalEntryLineDetail: ['PostingType', 'AccountRef'],
};

/** Parsed (700 KB of XSD) when the module loads, so the first request is not the one that waits for it. */
const spec = quickBooksSpec(specDirectory, createRequirements);

type Entity = 'Customer' | 'Invoice' | 'CreditMemo' | 'Payment' | 'JournalEntry';
type QboRecord = Record<string, unknown>;

const entities: Record<string, Entity> = { customer: 'Customer', invoice: 'Invoice', creditmemo: 'CreditMemo', payment: 'Payment', journalentry: 'JournalEntry' };

/** The fields QBO lets a query filter on, per entity (AcctNum, for one, is not queryable). */
const filterable: Record<Entity, string[]> = {
  Customer: ['Id', 'DisplayName', 'CompanyName', 'Active'],
  Invoice: ['Id', 'DocNumber', 'TxnDate'],
  CreditMemo: ['Id', 'DocNumber', 'TxnDate'],
  Payment: ['Id', 'PaymentRefNum', 'TxnDate'],
  JournalEntry: ['Id', 'DocNumber', 'TxnDate'],
};

const time = () => new Date().toISOString();
const cents = (amount: unknown) => Math.round(Number(amount) * 100);
const valueOf = (reference: unknown) => (reference as { value?: string } | undefined)?.value;

interface QboError {
  Message: string;
  Detail?: string;
  code: string;
  element?: string;
}

const faultBody = (type: string, errors: QboError[]) => ({ Fault: { Error: errors, type }, time: time() });

/** QBO's business refusal: HTTP 400 with a ValidationFault. */
class Refusal extends Error {
  constructor(
    readonly code: string,
    readonly reason: string,
    readonly detail: string,
    readonly element?: string,
  ) {
    super(detail);
  }

  answer(): MockResponse {
    return { status: 400, body: faultBody('ValidationFault', [{ Message: this.reason, Detail: this.detail, code: this.code, ...(this.element ? { element: this.element } : {}) }]) };
  }
}

const invalidReference = (what: string, id: string | undefined, element: string) => new Refusal('2500', 'Invalid Reference Id', `Invalid Reference Id : ${what} ${id ?? '(none)'} does not exist`, element);
const businessRule = (detail: string) => new Refusal('6000', 'A business validation error has occurred while processing your request', `Business Validation Error: ${detail}`);

/** The company's lists, seeded on first use (the server knows nothing of vendors' data). */
function company(mock: ErpMock) {
  if (!mock.state.has('seeded')) {
    mock.state.set('seeded', true);
    mock.collection('Account').push(...accounts.map((account) => ({ ...account, Active: true, SyncToken: '0' })));
    mock.collection('Item').push(...items.map((item) => ({ Id: item.Id, Name: item.Name, Type: 'Service', Active: true, SyncToken: '0', IncomeAccountRef: { value: item.IncomeAccountRef } })));
  }
  const byId = (collection: string, id: string | undefined) => mock.collection(collection).find((record) => record.Id === id);
  return {
    byId,
    account: (reference: unknown, element: string, types: string[]): QboRecord => {
      const account = byId('Account', valueOf(reference));
      if (!account || !types.includes(account.AccountType as string)) throw invalidReference(`Account (${types.join(' or ')})`, valueOf(reference), element);
      return account;
    },
    customer: (reference: unknown): QboRecord => {
      const customer = byId('Customer', valueOf(reference));
      if (!customer) throw invalidReference('Customer', valueOf(reference), 'CustomerRef');
      return customer;
    },
  };
}

function stored(mock: ErpMock, entity: Entity, body: QboRecord, computed: QboRecord): QboRecord {
  const record = { ...body, ...computed, Id: String(mock.nextId()), SyncToken: '0', domain: 'QBO', sparse: false, MetaData: { CreateTime: time(), LastUpdatedTime: time() } };
  mock.collection(entity).push(record);
  return record;
}

/** Sales lines on existing Items, with QBO's check that Amount is Qty × UnitPrice; returns the total in cents. */
function salesLines(mock: ErpMock, lines: QboRecord[]): number {
  const { byId } = company(mock);
  return lines.reduce((total, line, index) => {
    if (line.DetailType !== 'SalesItemLineDetail') throw new Refusal('2020', 'Required param missing, need to supply the required value for the API', `Line[${index}]: only SalesItemLineDetail lines are served by this mock`, 'Line.DetailType');
    const detail = line.SalesItemLineDetail as QboRecord;
    if (!byId('Item', valueOf(detail.ItemRef))) throw invalidReference('Item', valueOf(detail.ItemRef), 'Line.SalesItemLineDetail.ItemRef');
    if (detail.Qty !== undefined && detail.UnitPrice !== undefined && Math.round(Number(detail.Qty) * Number(detail.UnitPrice) * 100) !== cents(line.Amount)) {
      throw new Refusal('6070', 'Amount is not equal to UnitPrice * Qty', `Amount is not equal to UnitPrice * Qty. Supplied value:${String(line.Amount)}`, 'Line.Amount');
    }
    return total + cents(line.Amount);
  }, 0);
}

function salesDocument(mock: ErpMock, entity: 'Invoice' | 'CreditMemo', body: QboRecord): QboRecord {
  const { customer, account, byId } = company(mock);
  customer(body.CustomerRef);
  if (body.ARAccountRef !== undefined) account(body.ARAccountRef, 'ARAccountRef', ['Accounts Receivable']);
  if (entity === 'CreditMemo' && body.InvoiceRef !== undefined && !byId('Invoice', valueOf(body.InvoiceRef))) throw invalidReference('Invoice', valueOf(body.InvoiceRef), 'InvoiceRef');
  const total = salesLines(mock, body.Line as QboRecord[]);
  if (total < 0) throw businessRule('Transaction amount must be positive.');
  const amounts = entity === 'Invoice' ? { TotalAmt: total / 100, Balance: total / 100 } : { TotalAmt: total / 100, RemainingCredit: total / 100 };
  return stored(mock, entity, body, amounts);
}

function payment(mock: ErpMock, body: QboRecord): QboRecord {
  const { customer, account, byId } = company(mock);
  const payer = customer(body.CustomerRef);
  account(body.DepositToAccountRef, 'DepositToAccountRef', ['Bank', 'Other Current Asset']);
  if (body.ARAccountRef !== undefined) account(body.ARAccountRef, 'ARAccountRef', ['Accounts Receivable']);
  let applied = 0;
  for (const line of (body.Line ?? []) as QboRecord[]) {
    for (const linked of (line.LinkedTxn ?? []) as QboRecord[]) {
      const invoice = linked.TxnType === 'Invoice' ? byId('Invoice', linked.TxnId as string) : undefined;
      if (!invoice) throw invalidReference(String(linked.TxnType), linked.TxnId as string, 'Line.LinkedTxn');
      if (valueOf(invoice.CustomerRef) !== payer.Id) throw businessRule(`Invoice ${String(invoice.Id)} belongs to another customer.`);
      if (cents(line.Amount) > cents(invoice.Balance)) throw businessRule(`The payment amount exceeds the open balance of invoice ${String(invoice.Id)}.`);
      invoice.Balance = (cents(invoice.Balance) - cents(line.Amount)) / 100;
    }
    applied += cents(line.Amount);
  }
  if (applied > cents(body.TotalAmt)) throw businessRule('The applied amount exceeds the payment amount.');
  return stored(mock, 'Payment', body, { UnappliedAmt: (cents(body.TotalAmt) - applied) / 100 });
}

function journalEntry(mock: ErpMock, body: QboRecord): QboRecord {
  const { customer, byId } = company(mock);
  const totals = { Debit: 0, Credit: 0 };
  for (const line of body.Line as QboRecord[]) {
    const detail = line.JournalEntryLineDetail as QboRecord | undefined;
    if (line.DetailType !== 'JournalEntryLineDetail' || !detail) throw new Refusal('2020', 'Required param missing, need to supply the required value for the API', 'Required parameter Line.JournalEntryLineDetail is missing in the request', 'Line');
    const account = byId('Account', valueOf(detail.AccountRef));
    if (!account) throw invalidReference('Account', valueOf(detail.AccountRef), 'Line.JournalEntryLineDetail.AccountRef');
    const entity = detail.Entity as QboRecord | undefined;
    if (account.AccountType === 'Accounts Receivable') {
      if (entity?.Type !== 'Customer') throw businessRule('When you use Accounts Receivable, you must choose a customer in the Name field.');
      customer(entity.EntityRef);
    }
    totals[detail.PostingType as 'Debit' | 'Credit'] += cents(line.Amount);
  }
  if (totals.Debit !== totals.Credit) throw businessRule('Journal Entry must have balanced debits and credits.');
  return stored(mock, 'JournalEntry', body, { TotalAmt: totals.Debit / 100 });
}

/** A create, or (with Id) a sparse update guarded by SyncToken; DisplayName is unique across the company. */
function customer(mock: ErpMock, body: QboRecord): QboRecord {
  company(mock);
  const customers = mock.collection('Customer');
  const duplicate = customers.find((candidate) => candidate.DisplayName === body.DisplayName && candidate.Id !== body.Id);
  if (duplicate) throw new Refusal('6240', 'Duplicate Name Exists Error', `The name supplied already exists. : Id=${String(duplicate.Id)}`);
  if (body.Id === undefined) return stored(mock, 'Customer', body, { Active: true, Balance: 0, FullyQualifiedName: body.DisplayName });
  const existing = customers.find((candidate) => candidate.Id === body.Id);
  if (!existing) throw new Refusal('610', 'Object Not Found', `Object Not Found : Something you're trying to use has been made inactive. Customer ${body.Id as string}`);
  if (existing.SyncToken !== body.SyncToken) throw new Refusal('5010', 'Stale Object Error', 'Stale Object Error : You and someone else were working on this at the same time.');
  const { sparse: _sparse, ...changes } = body;
  Object.assign(existing, changes, { SyncToken: String(Number(existing.SyncToken) + 1), FullyQualifiedName: body.DisplayName ?? existing.DisplayName });
  return existing;
}

const handlers: Record<Entity, (mock: ErpMock, body: QboRecord) => QboRecord> = {
  Customer: customer,
  Invoice: (mock, body) => salesDocument(mock, 'Invoice', body),
  CreditMemo: (mock, body) => salesDocument(mock, 'CreditMemo', body),
  Payment: payment,
  JournalEntry: journalEntry,
};

/** POST /v3/company/{realm}/{entity}: a repeated requestid gets the first answer again, as Intuit promises. */
function write(request: MockRequest, mock: ErpMock): MockResponse {
  const entity = entities[request.params[1]!]!;
  const requestId = request.query.get('requestid');
  const replays = (mock.state.get('requestIds') ?? new Map<string, MockResponse>()) as Map<string, MockResponse>;
  mock.state.set('requestIds', replays);
  const replay = requestId === null ? undefined : replays.get(requestId);
  if (replay) return replay;
  let answer: MockResponse;
  try {
    answer = { status: 200, body: { [entity]: handlers[entity](mock, request.json as QboRecord), time: time() } };
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    answer = error.answer();
  }
  if (requestId !== null) replays.set(requestId, answer);
  return answer;
}

type Condition = (record: QboRecord) => boolean;

/** One `Field op literal` of a QBO query: =, LIKE (with % wildcards) or IN (…). */
function condition(field: string, operator: string, literal: string): Condition {
  const unquote = (text: string) => (text.startsWith("'") ? text.slice(1, -1).replace(/\\(.)/g, '$1') : text);
  const text = (value: unknown) => (typeof value === 'string' ? value : value === undefined || value === null ? '' : JSON.stringify(value));
  if (operator === '=') return (record) => text(record[field]) === unquote(literal);
  if (operator === 'LIKE') {
    const pattern = new RegExp(`^${unquote(literal).split('%').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    return (record) => pattern.test(text(record[field]));
  }
  const options = literal.slice(1, -1).split(',').map((option) => unquote(option.trim()));
  return (record) => options.includes(text(record[field]));
}

const queryFault = (detail: string): MockResponse => ({ status: 400, body: faultBody('ValidationFault', [{ Message: 'Invalid query', Detail: detail, code: '4000' }]) });

/** GET /v3/company/{realm}/query?query=select * from Entity where …: QBO's SQL-like reads, filterable fields only. */
function query(request: MockRequest, mock: ErpMock): MockResponse {
  company(mock);
  const statement = /^select \* from (\w+)(?: where (.+))?$/i.exec((request.query.get('query') ?? '').trim());
  const entity = statement ? (Object.values(entities).find((name) => name.toLowerCase() === statement[1]!.toLowerCase()) ?? null) : null;
  if (!statement || !entity) return queryFault(`QueryParserError: Encountered an unsupported statement: ${request.query.get('query') ?? ''}`);
  const conditions: Condition[] = [];
  let active = false;
  const clause = /^\s*(\w+)\s+(=|LIKE|IN)\s+('(?:[^'\\]|\\.)*'|\([^)]*\)|true|false)\s*(?:AND\s+|$)/i;
  for (let rest = statement[2] ?? ''; rest.trim() !== ''; ) {
    const match = clause.exec(rest);
    if (!match) return queryFault(`QueryParserError: Encountered an unparsable condition at "${rest}"`);
    const [whole, field, operator, literal] = match as unknown as [string, string, string, string];
    if (!filterable[entity].includes(field)) return queryFault(`QueryValidationError: property '${field}' is not queryable`);
    active ||= field === 'Active';
    conditions.push(condition(field, operator.toUpperCase(), literal));
    rest = rest.slice(whole.length);
  }
  // Like QBO, inactive names stay out of a query that does not ask about Active.
  if (entity === 'Customer' && !active) conditions.push((record) => record.Active !== false);
  const found = mock.collection(entity).filter((record) => conditions.every((test) => test(record)));
  const answer = found.length === 0 ? {} : { [entity]: found, startPosition: 1, maxResults: found.length };
  return { status: 200, body: { QueryResponse: answer, time: time() } };
}

/** Refresh tokens issued by rotation and not used yet. */
function liveRefreshTokens(mock: ErpMock): Set<string> {
  if (!mock.state.has('refreshTokens')) mock.state.set('refreshTokens', new Set<string>());
  return mock.state.get('refreshTokens') as Set<string>;
}

/** Intuit's token endpoint: Basic client credentials, the current refresh token, a new one in exchange. */
function token(request: MockRequest, mock: ErpMock): MockResponse {
  company(mock);
  const basic = `Basic ${Buffer.from(`${quickbooksCredentials.clientId}:${quickbooksCredentials.clientSecret}`).toString('base64')}`;
  if (request.headers.authorization !== basic) return { status: 401, body: { error: 'invalid_client' } };
  const form = new URLSearchParams(request.rawBody);
  if (form.get('grant_type') !== 'refresh_token') return { status: 400, body: { error: 'unsupported_grant_type' } };
  // The fixture's token stands for a fresh connection (every integration of a shared mock starts from it); a rotated one works once.
  const presented = form.get('refresh_token') ?? '';
  const live = liveRefreshTokens(mock);
  if (presented !== quickbooksCredentials.refreshToken && !live.delete(presented)) return { status: 400, body: { error: 'invalid_grant' } };
  const refreshToken = `qbo-refresh-${mock.nextId()}`;
  live.add(refreshToken);
  return { status: 200, body: { token_type: 'bearer', access_token: issueToken(mock, 'qbo-access'), expires_in: 3600, refresh_token: refreshToken, x_refresh_token_expires_in: 8_726_400 } };
}

const routes: MockRoute[] = [
  { method: 'POST', path: new RegExp(`^${quickbooksTokenPath}$`), public: true, handle: token },
  { method: 'GET', path: /^\/v3\/company\/([^/]+)\/query$/, handle: query },
  { method: 'POST', path: /^\/v3\/company\/([^/]+)\/(customer|invoice|creditmemo|payment|journalentry)$/, handle: write },
];

const vendor: VendorMock = {
  name: 'quickbooks',
  routes,
  authenticate(request, mock) {
    company(mock);
    const bearer = bearerOf(request);
    if (bearer === undefined || !mock.validTokens.has(bearer)) {
      // The gateway's 401 spells the envelope in lower case, unlike every other QBO fault.
      return { status: 401, body: { fault: { error: [{ message: 'message=AuthenticationFailed; errorCode=003200; statusCode=401', detail: 'Token expired or invalid', code: '3200' }], type: 'AUTHENTICATION' }, time: time() } };
    }
    if (request.params[0] !== quickbooksCredentials.realmId) {
      return { status: 403, body: faultBody('AuthorizationFault', [{ Message: 'message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403', Detail: `The app is not connected to company ${request.params[0]}`, code: '3100' }]) };
    }
    return null;
  },
  validate(request) {
    const entity = /\/(customer|invoice|creditmemo|payment|journalentry)$/.exec(request.path)?.[1];
    return entity ? spec.validate(entities[entity]!, request.json) : [`no schema for ${request.method} ${request.path}`];
  },
  rejectInvalid(violations) {
    return { status: 400, body: faultBody('ValidationFault', [{ Message: 'Request has invalid or unsupported property', Detail: violations.join('; '), code: '2010' }]) };
  },
  errorBody(status, message) {
    if (status === 401) return { fault: { error: [{ message: 'message=AuthenticationFailed; errorCode=003200; statusCode=401', detail: message, code: '3200' }], type: 'AUTHENTICATION' }, time: time() };
    if (status === 429) return faultBody('ThrottlingFault', [{ Message: 'message=ThrottleExceeded; errorCode=003001; statusCode=429', Detail: message, code: '3001' }]);
    if (status >= 500) return faultBody('SystemFault', [{ Message: 'An application error has occurred while processing your request', Detail: message, code: '10000' }]);
    return faultBody('ValidationFault', [{ Message: 'A validation error has occurred while processing your request', Detail: message, code: '2000' }]);
  },
};

const documentCollections: Record<ErpDocumentType, Entity> = {
  customer: 'Customer',
  invoice: 'Invoice',
  credit_note: 'CreditMemo',
  payment: 'Payment',
  refund: 'JournalEntry',
};

export const quickbooksFixture: VendorFixture = {
  vendor,
  credentials: quickbooksCredentials,
  settings: (mock) => ({ baseUrl: mock.url, tokenUrl: `${mock.url}${quickbooksTokenPath}` }),
  documentsOf: (mock, type) => mock.collection(documentCollections[type]),
  glMappings,
};
