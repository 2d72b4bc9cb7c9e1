import type { ErpDocumentType, GlMapping } from '../../../src/domain/erp/index.js';
import { bearerOf, issueToken, type ErpMock, type MockRequest, type MockResponse, type MockRoute, type VendorFixture, type VendorMock } from './server.js';
import { sageSpecValidator } from './sage-spec.js';

/**
 * Sage Intacct's REST API (v1) as far as the Sage connector uses it: the OAuth refresh-token grant
 * (rotating the refresh token on every use, as Sage does), the five accounts-receivable objects
 * and the query service. Bodies are checked against the catalog in sage-spec.ts; what the catalog
 * accepts but Intacct would refuse (an unknown GL or bank account, customer, invoice or credit, a
 * reused number or idempotency key) is answered with Intacct's `ia::error` envelope.
 */

const apiBase = '/ia/api/v1';
const clientId = 'ledgerflow-sage-client';
const clientSecret = 'ledgerflow-sage-secret';
const initialRefreshToken = 'sage-refresh-initial';
/** The multi-entity company's entities; the fixture's credentials work in the first one. */
const entities = ['LF-US', 'LF-EU'];

/** The company's chart of accounts (GL account numbers) and its checking accounts (cash-management bank account ids). */
const glAccounts = new Map([
  ['4000', 'Subscription revenue'],
  ['4010', 'Subscription revenue - Pro'],
  ['4900', 'Sales discounts'],
  ['4950', 'Sales credits'],
  ['4960', 'Customer refunds'],
  ['2200', 'Sales tax payable'],
  ['1100', 'Accounts receivable'],
]);
const bankAccounts = new Set(['BOA-OPERATING']);

/** Intacct object name (`accounts-receivable/<name>`) → the mock collection its records live in. */
const collectionOf: Record<ErpDocumentType, string> = {
  customer: 'customer',
  invoice: 'invoice',
  credit_note: 'adjustment',
  payment: 'payment',
  refund: 'customer-refund',
};

type Json = Record<string, unknown>;

function sageError(status: number, code: string, message: string, details: { message: string; target?: string }[] = []): MockResponse {
  return {
    status,
    body: {
      'ia::result': {
        'ia::error': {
          code,
          message,
          errorId: `REST-${1000 + status}`,
          additionalInfo: { messageId: `IA.${code.toUpperCase()}`, placeholders: {}, propertySet: {} },
          supportId: 'mock-support-id',
          ...(details.length > 0 ? { details: details.map((detail) => ({ code, errorId: 'REST-1043', ...detail })) } : {}),
        },
      },
      'ia::meta': { totalCount: 1, totalSuccess: 0, totalError: 1 },
    },
  };
}

const codeByStatus: Record<number, string> = { 400: 'invalidRequest', 401: 'tokenInvalid', 403: 'forbidden', 404: 'notFound', 409: 'conflict', 422: 'operationFailed', 429: 'tooManyRequests' };

function created(object: string, record: Json, status = 201): MockResponse {
  return {
    status,
    body: { 'ia::result': { key: record.key, id: record.id, href: `/objects/accounts-receivable/${object}/${String(record.key)}` }, 'ia::meta': { totalCount: 1, totalSuccess: 1, totalError: 0 } },
  };
}

const refOf = (value: unknown) => (value ?? {}) as { key?: string; id?: string };
const body = (request: MockRequest) => request.json as Json;
const findCustomer = (mock: ErpMock, id: string | undefined) => mock.collection('customer').find((record) => record.id === id);

/** The first account a document names that the chart of accounts does not have, as Intacct's 422. */
function unknownAccount(lines: Json[], fields: string[]): MockResponse | null {
  for (const [index, line] of lines.entries()) {
    for (const field of fields) {
      const id = refOf(line[field]).id;
      if (id !== undefined && !glAccounts.has(id)) {
        return sageError(422, 'operationFailed', `Invalid GL account ${id}: it does not exist or is inactive`, [{ message: `GL account ${id} is not valid`, target: `/lines/${index}/${field}/id` }]);
      }
    }
  }
  return null;
}

/** Sage's 409 for a create resent under an idempotency key it already processed. */
function replayed(request: MockRequest, mock: ErpMock): MockResponse | null {
  const key = request.headers['idempotency-key'];
  if (typeof key !== 'string') return null;
  const seen = (mock.state.get('idempotencyKeys') as Set<string> | undefined) ?? new Set<string>();
  mock.state.set('idempotencyKeys', seen);
  if (seen.has(key)) return sageError(409, 'conflict', `A request with idempotency key ${key} was already processed`);
  seen.add(key);
  return null;
}

function store(mock: ErpMock, collection: string, record: Json): Json {
  const key = String(mock.nextId());
  const stored = { ...record, key, id: record.id ?? key };
  mock.collection(collection).push(stored);
  return stored;
}

/** A create route: the object's own checks first, then the idempotency key, then the record is stored. */
function createRoute(object: string, check: (request: MockRequest, mock: ErpMock) => MockResponse | null): MockRoute {
  return {
    method: 'POST',
    path: new RegExp(`^${apiBase}/objects/accounts-receivable/${object}$`),
    handle(request, mock) {
      const refusal = check(request, mock) ?? replayed(request, mock);
      if (refusal) return refusal;
      return created(object, store(mock, object, { ...body(request), state: 'posted' }));
    },
  };
}

const customerExists = (request: MockRequest, mock: ErpMock): MockResponse | null => {
  const id = refOf(body(request).customer).id;
  return findCustomer(mock, id) ? null : sageError(422, 'operationFailed', `Customer ${String(id)} does not exist`, [{ message: 'Invalid customer', target: '/customer/id' }]);
};

const routes: MockRoute[] = [
  {
    method: 'POST',
    path: new RegExp(`^${apiBase}/oauth2/token$`),
    public: true,
    handle(request, mock) {
      const form = request.json !== undefined ? new Map(Object.entries(request.json as Json)) : new Map(new URLSearchParams(request.rawBody));
      // The fixture's token stands for a fresh connection (every integration of a shared mock starts from it); a rotated one works once.
      if (!mock.state.has('refreshTokens')) mock.state.set('refreshTokens', new Set<string>());
      const live = mock.state.get('refreshTokens') as Set<string>;
      const presented = form.get('refresh_token') as string | undefined;
      if (form.get('client_id') !== clientId || form.get('client_secret') !== clientSecret) {
        return { status: 401, body: { error: 'invalid_client', error_description: 'Client authentication failed' } };
      }
      if (form.get('grant_type') !== 'refresh_token' || (presented !== initialRefreshToken && !live.delete(presented ?? ''))) {
        return { status: 400, body: { error: 'invalid_grant', error_description: 'The refresh token is invalid or was already used' } };
      }
      const rotated = `sage-refresh-${mock.nextId()}`;
      live.add(rotated);
      return { status: 200, body: { token_type: 'Bearer', access_token: issueToken(mock, 'sage'), expires_in: 21_600, refresh_token: rotated } };
    },
  },
  {
    method: 'POST',
    path: new RegExp(`^${apiBase}/services/core/query$`),
    handle(request, mock) {
      const query = body(request) as { object: string; fields: string[]; filters?: Record<string, Json>[] };
      const [module, name] = query.object.split('/');
      if (module !== 'accounts-receivable' || !name || !Object.values(collectionOf).includes(name)) {
        return sageError(400, 'invalidRequest', `Unknown object ${query.object}`, [{ message: 'Invalid object', target: '/object' }]);
      }
      const matches = mock.collection(name).filter((record) =>
        (query.filters ?? []).every((filter) => Object.entries(filter.$eq ?? {}).every(([field, value]) => record[field] === value)),
      );
      return {
        status: 200,
        body: {
          'ia::result': matches.map((record) => Object.fromEntries(query.fields.map((field) => [field, record[field] ?? null]))),
          'ia::meta': { totalCount: matches.length, start: 1, pageSize: 100, next: null, previous: null },
        },
      };
    },
  },
  createRoute('customer', (request, mock) => {
    const id = body(request).id as string | undefined;
    return id !== undefined && findCustomer(mock, id) ? sageError(409, 'conflict', `A customer with ID ${id} already exists`, [{ message: 'Duplicate customer ID', target: '/id' }]) : null;
  }),
  {
    method: 'PATCH',
    path: new RegExp(`^${apiBase}/objects/accounts-receivable/customer/([^/]+)$`),
    handle(request, mock) {
      const record = mock.collection('customer').find((candidate) => candidate.key === request.params[0]);
      if (!record) return sageError(404, 'notFound', `Customer ${String(request.params[0])} not found`);
      const changes = body(request);
      const contacts = changes.contacts as { default?: Json } | undefined;
      const current = (record.contacts as { default?: Json } | undefined)?.default ?? {};
      Object.assign(record, changes, contacts?.default ? { contacts: { default: { ...current, ...contacts.default } } } : {});
      return created('customer', record, 200);
    },
  },
  createRoute('invoice', (request, mock) => {
    const invoice = body(request);
    const lines = (invoice.lines ?? []) as Json[];
    if (lines.length === 0) return sageError(422, 'operationFailed', 'An invoice needs at least one line', [{ message: 'Missing lines', target: '/lines' }]);
    if (mock.collection('invoice').some((record) => invoice.invoiceNumber !== undefined && record.invoiceNumber === invoice.invoiceNumber)) {
      return sageError(409, 'conflict', `Invoice number ${String(invoice.invoiceNumber)} is already used`, [{ message: 'Duplicate invoice number', target: '/invoiceNumber' }]);
    }
    return customerExists(request, mock) ?? unknownAccount(lines, ['glAccount', 'overrideOffsetGLAccount']);
  }),
  createRoute('adjustment', (request, mock) => {
    const adjustment = body(request);
    const customer = refOf(adjustment.customer).id;
    const documentNumber = adjustment.documentNumber as string | undefined;
    const invoiced = mock.collection('invoice').some((record) => refOf(record.customer).id === customer && (record.invoiceNumber === documentNumber || record.referenceNumber === documentNumber));
    if (documentNumber !== undefined && !invoiced) return sageError(422, 'operationFailed', `Invoice ${documentNumber} does not exist for customer ${String(customer)}`, [{ message: 'Invalid document number', target: '/documentNumber' }]);
    return customerExists(request, mock) ?? unknownAccount((adjustment.lines ?? []) as Json[], ['glAccount', 'overrideOffsetGLAccount']);
  }),
  createRoute('payment', (request, mock) => {
    const payment = body(request);
    const bank = (payment.financialEntity as { entityId?: string } | undefined)?.entityId;
    if (bank !== undefined && !bankAccounts.has(bank)) return sageError(422, 'operationFailed', `Bank account ${bank} does not exist`, [{ message: 'Invalid financial entity', target: '/financialEntity/entityId' }]);
    const customer = refOf(payment.customer).id;
    for (const [index, detail] of ((payment.paymentDetails ?? []) as Json[]).entries()) {
      const invoice = mock.collection('invoice').find((record) => record.key === refOf(detail.arInvoice).key);
      if (!invoice || refOf(invoice.customer).id !== customer) {
        return sageError(422, 'operationFailed', `Invoice ${String(refOf(detail.arInvoice).key)} is not an open invoice of customer ${String(customer)}`, [{ message: 'Invalid invoice', target: `/paymentDetails/${index}/arInvoice/key` }]);
      }
    }
    return customerExists(request, mock);
  }),
  createRoute('customer-refund', (request, mock) => {
    const refund = body(request);
    const bank = refOf(refund.financialEntity).id;
    if (bank === undefined || !bankAccounts.has(bank)) return sageError(422, 'operationFailed', `Bank account ${String(bank)} does not exist`, [{ message: 'Invalid financial entity', target: '/financialEntity/id' }]);
    const unknownCustomer = customerExists(request, mock);
    if (unknownCustomer) return unknownCustomer;
    const customer = findCustomer(mock, refOf(refund.customer).id)!;
    const contact = (customer.contacts as { default?: { id?: string } } | undefined)?.default?.id;
    if (refOf(refund.payTo).id !== contact) return sageError(422, 'operationFailed', `Contact ${String(refOf(refund.payTo).id)} is not a contact of the customer`, [{ message: 'Invalid pay-to contact', target: '/payTo/id' }]);
    for (const [index, detail] of ((refund.refundDetails ?? []) as Json[]).entries()) {
      const credit = mock.collection('adjustment').find((record) => record.key === refOf(detail.arAdjustment).key);
      if (!credit || refOf(credit.customer).id !== customer.id) {
        return sageError(422, 'operationFailed', `Adjustment ${String(refOf(detail.arAdjustment).key)} is not an open credit of the customer`, [{ message: 'Invalid adjustment', target: `/refundDetails/${index}/arAdjustment/key` }]);
      }
    }
    return null;
  }),
];

const spec = sageSpecValidator();

export const sageVendor: VendorMock = {
  name: 'sage',
  routes,
  authenticate(request, mock) {
    const token = bearerOf(request);
    if (token === undefined || !mock.validTokens.has(token)) return sageError(401, 'tokenInvalid', 'Token is not valid');
    const entity = request.headers['x-ia-api-param-entity'];
    if (typeof entity === 'string' && !entities.includes(entity)) return sageError(400, 'invalidRequest', `Entity ${entity} does not exist`, [{ message: 'Invalid entity', target: 'X-IA-API-Param-Entity' }]);
    return null;
  },
  validate(request) {
    return spec.validate(request.method, request.path.slice(apiBase.length), request.json);
  },
  rejectInvalid(violations) {
    return sageError(
      400,
      'invalidRequest',
      'Payload contains errors',
      violations.map((violation) => ({ message: violation, target: violation.split(':')[0]! })),
    );
  },
  errorBody(status, message) {
    return sageError(status, codeByStatus[status] ?? 'internalError', message).body;
  },
};

export const sageGlMappings: GlMapping[] = [
  { kind: 'revenue', account: '4000' },
  { kind: 'revenue', planCode: 'pro', account: '4010' },
  { kind: 'tax', account: '2200' },
  { kind: 'receivable', account: '1100' },
  // Intacct receives and refunds money through a bank account (cash-management), not a bare GL account.
  { kind: 'cash', account: 'BOA-OPERATING' },
  { kind: 'refund', account: '4960' },
  { kind: 'discount', account: '4900' },
  { kind: 'credit', account: '4950' },
];

export const sageFixture: VendorFixture = {
  vendor: sageVendor,
  credentials: { clientId, clientSecret, refreshToken: initialRefreshToken, entityId: entities[0]! },
  settings: (mock) => ({ baseUrl: `${mock.url}${apiBase}`, tokenUrl: `${mock.url}${apiBase}/oauth2/token` }),
  documentsOf: (mock, type) => mock.collection(collectionOf[type]),
  glMappings: sageGlMappings,
};
