import { createHmac } from 'node:crypto';
import OAuth from 'oauth-1.0a';
import type { ErpDocumentType, GlMapping } from '../../../src/domain/erp/index.js';
import { isNetSuiteRecordType, netsuiteBodyViolations, type NetSuiteRecordType } from './netsuite-spec.js';
import type { ErpMock, MockRequest, MockResponse, VendorFixture, VendorMock } from './server.js';

/**
 * NetSuite's REST record service as the connector meets it: OAuth 1.0a TBA signatures checked
 * the way NetSuite checks them (realm, consumer, token, timestamp, nonce, HMAC-SHA256 over the
 * method, URL and query), upserts by external id answered 204 with a `Location`, lookups by
 * external id, currency lookups by ISO code, and NetSuite's error envelope for what it refuses:
 * an unknown item, account, customer or transaction is `INVALID_KEY_OR_REF`.
 */

const API = '/services/rest/record/v1';
const ACCOUNT_ID = '1234567_SB1';

const credentials = {
  accountId: ACCOUNT_ID,
  consumerKey: 'ck-ledgerflow-integration',
  consumerSecret: 'cs-3f9a1c7e55d04b2a',
  tokenId: 'tk-ledgerflow-sync-role',
  tokenSecret: 'ts-8b2e4d6f10a3c5e7',
};

type AccountType = 'Bank' | 'AcctRec' | 'Income' | 'OthCurrLiab';

/** The seeded chart of accounts (internal ids). */
const accounts: Record<string, { number: string; name: string; type: AccountType }> = {
  '1': { number: '1000', name: 'Operating Bank', type: 'Bank' },
  '6': { number: '1100', name: 'Accounts Receivable', type: 'AcctRec' },
  '54': { number: '4000', name: 'Subscription Revenue', type: 'Income' },
  '55': { number: '4010', name: 'Pro Plan Revenue', type: 'Income' },
  '58': { number: '4900', name: 'Sales Discounts', type: 'Income' },
  '59': { number: '4950', name: 'Service Credits', type: 'Income' },
  '27': { number: '2200', name: 'Sales Tax Payable', type: 'OthCurrLiab' },
  '61': { number: '2300', name: 'Customer Refunds Payable', type: 'OthCurrLiab' },
};

/** Items (internal ids), each posting to its income (or liability) account. */
const items: Record<string, { name: string; itemType: 'Service' | 'Discount' | 'OthCharge'; account: string }> = {
  '7': { name: 'Subscription', itemType: 'Service', account: '54' },
  '8': { name: 'Pro Plan', itemType: 'Service', account: '55' },
  '9': { name: 'Discount', itemType: 'Discount', account: '58' },
  '10': { name: 'Service Credit', itemType: 'OthCharge', account: '59' },
  '11': { name: 'Sales Tax', itemType: 'OthCharge', account: '27' },
};

const currencies: Record<string, string> = { '1': 'USD', '2': 'GBP', '4': 'EUR', '7': 'JPY' };

const glMappings: GlMapping[] = [
  { kind: 'revenue', account: '7' },
  { kind: 'revenue', planCode: 'pro', account: '8' },
  { kind: 'discount', account: '9' },
  { kind: 'credit', account: '10' },
  { kind: 'tax', account: '11' },
  { kind: 'receivable', account: '6' },
  { kind: 'cash', account: '1' },
  { kind: 'refund', account: '61' },
];

const collectionOf: Record<ErpDocumentType, NetSuiteRecordType> = {
  customer: 'customer',
  invoice: 'invoice',
  credit_note: 'creditMemo',
  payment: 'customerPayment',
  refund: 'customerRefund',
};

// --- NetSuite's error envelope -------------------------------------------------------------

const problemTypes: Record<number, string> = {
  400: 'https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1',
  401: 'https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.2',
  403: 'https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.4',
  404: 'https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.5',
  429: 'https://www.rfc-editor.org/rfc/rfc6585.html#section-4',
  500: 'https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.1',
  503: 'https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.4',
};
const titles: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable' };
const defaultCodes: Record<number, string> = { 401: 'INVALID_LOGIN', 403: 'INSUFFICIENT_PERMISSION', 404: 'NONEXISTENT_ID', 429: 'CONCURRENCY_LIMIT_EXCEEDED' };

interface ErrorDetail {
  detail: string;
  code: string;
  path?: string;
}

function envelope(status: number, details: ErrorDetail[]) {
  return {
    type: problemTypes[status] ?? problemTypes[status >= 500 ? 500 : 400],
    title: titles[status] ?? (status >= 500 ? 'Internal Server Error' : 'Bad Request'),
    status,
    'o:errorDetails': details.map((detail) => ({ detail: detail.detail, 'o:errorCode': detail.code, ...(detail.path === undefined ? {} : { 'o:errorPath': detail.path }) })),
  };
}

const errorCode = (status: number) => defaultCodes[status] ?? (status >= 500 ? 'UNEXPECTED_ERROR' : 'USER_ERROR');
const json = (kind: 'singular' | 'collection' | 'error') => ({ 'content-type': `application/vnd.oracle.resource+json; type=${kind}` });
const fail = (status: number, details: ErrorDetail[]): MockResponse => ({ status, body: envelope(status, details), headers: json('error') });

// --- OAuth 1.0a TBA --------------------------------------------------------------------------

const verifier = new OAuth({
  consumer: { key: credentials.consumerKey, secret: credentials.consumerSecret },
  signature_method: 'HMAC-SHA256',
  hash_function: (base, key) => createHmac('sha256', key).update(base).digest('base64'),
});

/** Tokens the account issued to integration roles; `mock.expireTokens()` revokes them. */
function issuedTokens(mock: ErpMock): Set<string> {
  if (!mock.state.has('tbaTokens')) {
    mock.validTokens.add(credentials.tokenId);
    mock.state.set('tbaTokens', true);
  }
  return mock.validTokens;
}

function usedNonces(mock: ErpMock): Set<string> {
  let nonces = mock.state.get('nonces') as Set<string> | undefined;
  if (!nonces) {
    nonces = new Set();
    mock.state.set('nonces', nonces);
  }
  return nonces;
}

/** `OAuth realm="…", oauth_consumer_key="…", …` as its decoded parameters. */
function oauthParameters(header: string | undefined): Record<string, string> | null {
  if (!header?.startsWith('OAuth ')) return null;
  const parameters: Record<string, string> = {};
  for (const match of header.slice('OAuth '.length).matchAll(/([\w]+)="([^"]*)"/g)) parameters[match[1]!] = decodeURIComponent(match[2]!);
  return parameters;
}

/** The URL the client signed: the mock's own origin, the path, and the query re-encoded (the signature covers decoded values). */
function signedUrl(request: MockRequest, mock: ErpMock): string {
  const query = [...request.query.entries()].map(([key, value]) => `${key}=${encodeURIComponent(value)}`).join('&');
  return `${mock.url}${request.path}${query ? `?${query}` : ''}`;
}

/** Why NetSuite refuses this request's TBA signature, or null when it is valid. */
function signatureProblem(request: MockRequest, mock: ErpMock): string | null {
  const parameters = oauthParameters(request.headers.authorization);
  if (!parameters) return 'no OAuth Authorization header';
  const { realm, oauth_signature: signature, ...data } = parameters;
  if (realm !== ACCOUNT_ID) return `realm ${realm} is not this account`;
  if (data.oauth_consumer_key !== credentials.consumerKey) return 'unknown consumer key';
  if (data.oauth_token === undefined || !issuedTokens(mock).has(data.oauth_token)) return 'token revoked or unknown';
  if (data.oauth_signature_method !== 'HMAC-SHA256') return 'signature method must be HMAC-SHA256';
  if (Math.abs(Date.now() / 1000 - Number(data.oauth_timestamp)) > 300) return 'timestamp outside the 5-minute window';
  const nonce = data.oauth_nonce ?? '';
  if (nonce === '' || usedNonces(mock).has(nonce)) return 'nonce missing or already used';
  usedNonces(mock).add(nonce);
  const expected = verifier.getSignature({ method: request.method, url: signedUrl(request, mock) }, credentials.tokenSecret, {
    ...(data as unknown as OAuth.Data),
    oauth_timestamp: Number(data.oauth_timestamp),
  });
  return expected === signature ? null : 'signature mismatch';
}

// --- What NetSuite refuses about the records a body refers to ----------------------------------

type Body = Record<string, unknown>;
type Ref = { id?: string } | undefined;

interface RefCheck {
  path: string;
  value: Ref;
  exists: (id: string) => boolean;
}

function referenceErrors(recordType: NetSuiteRecordType, body: Body, mock: ErpMock): ErrorDetail[] {
  const inCollection = (name: NetSuiteRecordType) => (id: string) => mock.collection(name).some((record) => record.id === id);
  const accountOfType = (type: AccountType) => (id: string) => accounts[id]?.type === type;
  const checks: RefCheck[] = [
    { path: 'currency', value: body.currency as Ref, exists: (id) => id in currencies },
    { path: 'subsidiary', value: body.subsidiary as Ref, exists: (id) => id === '1' },
  ];
  if (recordType === 'invoice' || recordType === 'creditMemo') {
    checks.push({ path: 'entity', value: body.entity as Ref, exists: inCollection('customer') });
    checks.push({ path: 'account', value: body.account as Ref, exists: accountOfType('AcctRec') });
    checks.push({ path: 'createdFrom', value: body.createdFrom as Ref, exists: inCollection('invoice') });
    const lines = ((body.item as { items?: Body[] } | undefined)?.items ?? []).map((line, index) => ({ path: `item.items[${index}].item`, value: line.item as Ref, exists: (id: string) => id in items }));
    checks.push(...lines);
  }
  if (recordType === 'customerPayment' || recordType === 'customerRefund') {
    checks.push({ path: 'customer', value: body.customer as Ref, exists: inCollection('customer') });
    checks.push({ path: 'account', value: body.account as Ref, exists: accountOfType('Bank') });
    checks.push({ path: 'arAcct', value: body.arAcct as Ref, exists: accountOfType('AcctRec') });
    // Payments settle invoices; refunds pay out credit memos.
    const applied = recordType === 'customerPayment' ? inCollection('invoice') : inCollection('creditMemo');
    const lines = ((body.apply as { items?: Body[] } | undefined)?.items ?? []).map((line, index) => ({ path: `apply.items[${index}].doc`, value: line.doc as Ref, exists: applied }));
    checks.push(...lines);
  }
  return checks
    .filter((check) => check.value?.id !== undefined && !check.exists(check.value.id))
    .map((check) => ({
      detail: `Invalid Field Value ${check.value!.id} for the following field: ${check.path.split('.').pop()!}`,
      code: 'INVALID_KEY_OR_REF',
      path: check.path,
    }));
}

// --- Routes ----------------------------------------------------------------------------------

const recordPath = new RegExp(`^${API}/([A-Za-z]+)/eid:([A-Za-z0-9_-]+)$`);

function recordTypeOf(request: MockRequest): NetSuiteRecordType | null {
  const name = request.params[0] ?? '';
  return isNetSuiteRecordType(name) ? name : null;
}

const selfLink = (mock: ErpMock, recordType: string, id: string) => [{ rel: 'self', href: `${mock.url}${API}/${recordType}/${id}` }];

function upsert(request: MockRequest, mock: ErpMock): MockResponse {
  const recordType = recordTypeOf(request);
  if (!recordType) return fail(404, [{ detail: `Record type ${request.params[0]} does not exist.`, code: 'NONEXISTENT_ID' }]);
  const externalId = request.params[1]!;
  const body = request.json as Body;
  if (body.externalId !== undefined && body.externalId !== externalId) {
    return fail(400, [{ detail: `The external ID in the body (${JSON.stringify(body.externalId)}) differs from the one in the URL (${externalId}).`, code: 'INVALID_CONTENT', path: 'externalId' }]);
  }
  const refused = referenceErrors(recordType, body, mock);
  if (refused.length > 0) return fail(400, refused);
  const records = mock.collection(recordType);
  let record = records.find((candidate) => candidate.externalId === externalId);
  if (!record) {
    record = { id: String(mock.nextId()) };
    records.push(record);
  }
  // PUT replaces the fields it names (sublists whole) and keeps the rest.
  Object.assign(record, body, { externalId });
  return { status: 204, headers: { location: `${mock.url}${API}/${recordType}/${String(record.id)}` } };
}

function read(request: MockRequest, mock: ErpMock): MockResponse {
  const recordType = recordTypeOf(request);
  const record = recordType && mock.collection(recordType).find((candidate) => candidate.externalId === request.params[1]);
  if (!recordType || !record) return fail(404, [{ detail: 'The record instance does not exist. Provide a valid record instance ID.', code: 'NONEXISTENT_ID' }]);
  const fields = request.query.get('fields')?.split(',');
  const selected = fields ? Object.fromEntries(Object.entries(record).filter(([name]) => fields.includes(name))) : record;
  return { status: 200, body: { links: selfLink(mock, recordType, String(record.id)), ...selected, id: record.id }, headers: json('singular') };
}

/** `GET /currency?q=symbol IS "EUR"`: the only query the connector asks. */
function findCurrency(request: MockRequest, mock: ErpMock): MockResponse {
  const query = /^symbol IS "?([A-Z]{3})"?$/.exec(request.query.get('q') ?? '');
  if (!query) return fail(400, [{ detail: `Invalid search query: ${request.query.get('q') ?? ''}`, code: 'INVALID_PARAMETER', path: 'q' }]);
  const found = Object.entries(currencies)
    .filter(([, symbol]) => symbol === query[1])
    .map(([id]) => ({ links: selfLink(mock, 'currency', id), id }));
  return {
    status: 200,
    body: { links: [{ rel: 'self', href: signedUrl(request, mock) }], count: found.length, hasMore: false, items: found, offset: 0, totalResults: found.length },
    headers: json('collection'),
  };
}

const vendor: VendorMock = {
  name: 'netsuite',
  routes: [
    { method: 'PUT', path: recordPath, handle: upsert },
    { method: 'GET', path: recordPath, handle: read },
    { method: 'GET', path: new RegExp(`^${API}/currency$`), handle: findCurrency },
  ],
  authenticate(request, mock) {
    const problem = signatureProblem(request, mock);
    if (problem === null) return null;
    // NetSuite names no cause in the answer; the Login Audit Trail does.
    return fail(401, [
      {
        detail: `Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail. (mock: ${problem})`,
        code: 'INVALID_LOGIN',
      },
    ]);
  },
  validate(request) {
    const recordType = recordTypeOf(request);
    if (request.method !== 'PUT' || !recordType) return [`${request.method} ${request.path} takes no body`];
    return netsuiteBodyViolations(recordType, request.json);
  },
  rejectInvalid: (violations) => fail(400, violations.map((violation) => ({ detail: violation, code: 'INVALID_CONTENT' }))),
  errorBody: (status, message) => envelope(status, [{ detail: message, code: errorCode(status) }]),
};

export const netsuiteFixture: VendorFixture = {
  vendor,
  credentials,
  settings: (mock) => ({ baseUrl: `${mock.url}${API}` }),
  documentsOf: (mock, type) => mock.collection(collectionOf[type]),
  glMappings,
};

/** The seeded chart of accounts and items, for tests that check where lines post. */
export const netsuiteChart = { accounts, items, currencies };
