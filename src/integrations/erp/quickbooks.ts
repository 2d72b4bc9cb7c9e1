import { createHash } from 'node:crypto';
import { z } from 'zod';
import {
  majorAmount,
  type ErpCreditNote,
  type ErpCustomer,
  type ErpDocument,
  type ErpInvoice,
  type ErpLine,
  type ErpPayment,
  type ErpRefund,
} from '../../domain/erp/index.js';
import { Decimal } from '../../domain/money/index.js';
import { ErpError, type ErpConnector, type ErpConnectorContext, type ErpConnectorModule, type ErpFailureKind } from './connector.js';
import { bodyExcerpt, classifyByStatus, rateLimitedError, type ErpHttpRequest, type ErpHttpResponse } from './http.js';
import { authorizedSender, refreshTokenGrant } from './oauth.js';

/**
 * QuickBooks Online Accounting API v3. OAuth 2.0 with a refresh token Intuit rotates; JSON whose
 * keys are the element names of Intuit's XSDs. GL accounts come from Items (each line's Item
 * decides the income account), except the receivable and cash accounts, which are Account Ids.
 * QBO has no external-id field: documents carry Ledgerflow's reference in DocNumber (customers
 * at the end of their DisplayName) and are found again with a query; creates carry a `requestid`
 * so a repeated request is answered with the original answer instead of a second document.
 */

const credentialsSchema = z
  .object({
    clientId: z.string().min(1),
    clientSecret: z.string().min(1),
    refreshToken: z.string().min(1),
    realmId: z.string().min(1),
  })
  .strict();

type Credentials = z.infer<typeof credentialsSchema>;

const defaultBaseUrl = 'https://quickbooks.api.intuit.com';
const defaultTokenUrl = 'https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer';
const minorVersion = '75';
/** Intuit's documented wait after a throttled request, when no Retry-After says otherwise. */
const throttleWaitMs = 60_000;
/** QuickBooks keeps line quantities and unit prices to 7 decimal places (line amounts to 2). */
const linePlaces = 7;

type Entity = 'Customer' | 'Invoice' | 'CreditMemo' | 'Payment' | 'JournalEntry';
type Json = Record<string, unknown>;

interface FaultError {
  message?: string;
  detail?: string;
  code?: string;
}

interface Fault {
  type?: string;
  errors: FaultError[];
}

const ref = (value: string) => ({ value });

/**
 * QBO's fault envelope: `{"Fault":{"Error":[{"Message","Detail","code"}],"type"}}`, except that
 * the gateway's 401 answers spell it in lower case (`fault`, `error`, `message`, `detail`).
 */
function faultOf(body: unknown): Fault | null {
  if (body === null || typeof body !== 'object') return null;
  const envelope = body as Json;
  const fault = (envelope.Fault ?? envelope.fault) as Json | undefined;
  if (!fault || typeof fault !== 'object') return null;
  const errors = ((fault.Error ?? fault.error ?? []) as Json[]).map((error) => ({
    message: (error.Message ?? error.message) as string | undefined,
    detail: (error.Detail ?? error.detail) as string | undefined,
    code: error.code as string | undefined,
  }));
  return { type: fault.type as string | undefined, errors };
}

function describeFault(fault: Fault): string {
  const errors = fault.errors.map((error) => [error.code && `[${error.code}]`, error.message, error.detail && error.detail !== error.message ? `(${error.detail})` : undefined].filter(Boolean).join(' '));
  return [fault.type, ...errors].filter(Boolean).join(': ');
}

/** What a fault means beyond its HTTP status: throttling and system faults can come with any status (even 200). */
function faultKind(fault: Fault): ErpFailureKind | null {
  const codes = fault.errors.map((error) => error.code);
  const type = fault.type?.toLowerCase() ?? '';
  if (codes.includes('3001') || fault.errors.some((error) => /throttle/i.test(error.message ?? ''))) return 'rate_limited';
  if (type.startsWith('authentication') || type.startsWith('authorization')) return 'auth';
  // 5010 is QBO's stale-object error: someone else saved the record meanwhile; a retry reads it again.
  if (type === 'systemfault' || codes.includes('5010')) return 'transient';
  return null;
}

function classifyError(response: ErpHttpResponse): ErpError {
  const fault = faultOf(response.body);
  if (!fault) return classifyByStatus(response, bodyExcerpt(response, 300));
  const message = describeFault(fault);
  const vendorCode = fault.errors[0]?.code;
  const kind = response.status === 429 ? 'rate_limited' : faultKind(fault);
  if (kind === 'rate_limited') return rateLimitedError(response, message, { vendorCode, defaultWaitMs: throttleWaitMs });
  if (kind) return new ErpError(kind, `${response.status}: ${message}`, { status: response.status, ...(vendorCode === undefined ? {} : { vendorCode }) });
  return classifyByStatus(response, message, vendorCode);
}

/**
 * The line as QBO prices it: QBO refuses a line whose Amount is not Qty × UnitPrice, so the
 * billed quantity is sent only when it divides the amount exactly; otherwise one unit at the
 * line amount (the description still says what was billed).
 */
function pricing(line: ErpLine, currency: string): { Qty: number; UnitPrice: number } {
  const amount = new Decimal(majorAmount(line.amount, currency));
  const quantity = new Decimal(line.quantity);
  if (!quantity.isZero() && quantity.decimalPlaces() <= linePlaces) {
    const unitPrice = amount.dividedBy(quantity);
    if (unitPrice.decimalPlaces() <= linePlaces && unitPrice.times(quantity).equals(amount)) return { Qty: quantity.toNumber(), UnitPrice: unitPrice.toNumber() };
  }
  return { Qty: 1, UnitPrice: amount.toNumber() };
}

/** A sales line on the Item the line's kind is mapped to; the Item's IncomeAccountRef is the GL account. */
function salesLine(line: ErpLine, currency: string): Json {
  return {
    Description: line.description,
    Amount: majorAmount(line.amount, currency),
    DetailType: 'SalesItemLineDetail',
    SalesItemLineDetail: { ItemRef: ref(line.account), ...pricing(line, currency) },
  };
}

function journalLine(description: string, amount: number, posting: 'Debit' | 'Credit', account: string, customerId?: string): Json {
  return {
    Description: description,
    Amount: amount,
    DetailType: 'JournalEntryLineDetail',
    JournalEntryLineDetail: {
      PostingType: posting,
      AccountRef: ref(account),
      ...(customerId === undefined ? {} : { Entity: { Type: 'Customer', EntityRef: ref(customerId) } }),
    },
  };
}

/** The Id in a create or update answer (`{"Invoice":{…},"time":…}`). */
function idOf(answer: Json, entity: Entity): string {
  const id = (answer[entity] as Json | undefined)?.Id;
  // Retried as transient: the retry reconciles first, so a document that was stored is found, not made twice.
  if (typeof id !== 'string' || id === '') throw new ErpError('transient', `QuickBooks answered the ${entity} write without its Id`);
  return id;
}

/** QBO query literals are single-quoted with backslash escapes. */
const quote = (value: string) => `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

/**
 * The customer's DisplayName: its name, then its reference in parentheses. QBO's filterable
 * Customer fields do not include AcctNum, so the reference must sit in DisplayName to be found
 * (a LIKE on its end survives renames); it also keeps two organizations of the same name apart,
 * which QBO would otherwise refuse as a duplicate name.
 */
const displayName = (customer: ErpCustomer) => `${customer.name} (${customer.reference})`;

function customerBody(customer: ErpCustomer): Json {
  return {
    DisplayName: displayName(customer),
    CompanyName: customer.name,
    AcctNum: customer.reference,
    ...(customer.email === null ? {} : { PrimaryEmailAddr: { Address: customer.email } }),
  };
}

function invoiceBody(invoice: ErpInvoice): Json {
  return {
    DocNumber: invoice.reference,
    TxnDate: invoice.issueDate,
    ...(invoice.dueDate === null ? {} : { DueDate: invoice.dueDate }),
    CustomerRef: ref(invoice.customer.externalId),
    CurrencyRef: ref(invoice.currency),
    ARAccountRef: ref(invoice.receivableAccount),
    Line: invoice.lines.map((line) => salesLine(line, invoice.currency)),
  };
}

function creditMemoBody(creditNote: ErpCreditNote): Json {
  const line: ErpLine = { description: creditNote.reason, kind: 'credit', quantity: '1', amount: creditNote.amount, account: creditNote.creditAccount };
  return {
    DocNumber: creditNote.reference,
    TxnDate: creditNote.issueDate,
    CustomerRef: ref(creditNote.customer.externalId),
    InvoiceRef: ref(creditNote.invoice.externalId),
    CurrencyRef: ref(creditNote.currency),
    ARAccountRef: ref(creditNote.receivableAccount),
    CustomerMemo: { value: creditNote.reason },
    PrivateNote: `Credit note ${creditNote.number} on invoice ${creditNote.invoice.reference}`,
    Line: [salesLine(line, creditNote.currency)],
  };
}

function paymentBody(payment: ErpPayment): Json {
  const amount = majorAmount(payment.amount, payment.currency);
  return {
    PaymentRefNum: payment.reference,
    TxnDate: payment.date,
    CustomerRef: ref(payment.customer.externalId),
    CurrencyRef: ref(payment.currency),
    ARAccountRef: ref(payment.receivableAccount),
    DepositToAccountRef: ref(payment.cashAccount),
    TotalAmt: amount,
    PrivateNote: `Payment ${payment.paymentReference} for invoice ${payment.invoice.reference}`,
    Line: [{ Amount: amount, LinkedTxn: [{ TxnId: payment.invoice.externalId, TxnType: 'Invoice' }] }],
  };
}

/**
 * A refund pays out a credit memo's credit: money leaves the cash account and the customer's
 * receivable is debited back to zero. A RefundReceipt would instead debit the refunded Items'
 * income accounts a second time (the credit memo already did) and leave the credit open, so the
 * refund is a journal entry: debit A/R for the customer, credit cash.
 */
function refundBody(refund: ErpRefund): Json {
  const amount = majorAmount(refund.amount, refund.currency);
  const description = `Refund of credit memo ${refund.creditNote.reference}`;
  return {
    DocNumber: refund.reference,
    TxnDate: refund.date,
    CurrencyRef: ref(refund.currency),
    PrivateNote: `${description} (QuickBooks CreditMemo ${refund.creditNote.externalId})`,
    Line: [journalLine(description, amount, 'Debit', refund.receivableAccount, refund.customer.externalId), journalLine(description, amount, 'Credit', refund.cashAccount)],
  };
}

/** The entity each Ledgerflow document becomes, and the field its reference is found by. */
function lookupOf(document: ErpDocument): { entity: Entity; where: string } {
  switch (document.type) {
    case 'customer':
      // Inactive customers are left out of queries unless asked for; their names still block a create.
      return { entity: 'Customer', where: `Active IN (true, false) AND DisplayName LIKE ${quote(`%(${document.reference})`)}` };
    case 'invoice':
      return { entity: 'Invoice', where: `DocNumber = ${quote(document.reference)}` };
    case 'credit_note':
      return { entity: 'CreditMemo', where: `DocNumber = ${quote(document.reference)}` };
    case 'payment':
      return { entity: 'Payment', where: `PaymentRefNum = ${quote(document.reference)}` };
    case 'refund':
      return { entity: 'JournalEntry', where: `DocNumber = ${quote(document.reference)}` };
  }
}

/**
 * Intuit answers a repeated requestid with the original answer. The id is derived from the
 * document (type, reference) and the body's hash: a retry of the same push replays, while a push
 * corrected after a refusal (a fixed mapping) is a new request rather than a replayed refusal.
 */
function requestId(document: ErpDocument, body: Json): string {
  const hash = createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 12);
  return `${document.type.replace('_', '-')}-${document.reference}-${hash}`;
}

function createQuickBooksConnector(context: ErpConnectorContext<Credentials>): ErpConnector {
  const base = String(context.settings.baseUrl ?? defaultBaseUrl).replace(/\/+$/, '');
  const tokenUrl = String(context.settings.tokenUrl ?? defaultTokenUrl);
  const companyUrl = `${base}/v3/company/${encodeURIComponent(context.credentials.realmId)}`;

  /** The refresh-token grant; Intuit may answer with a new refresh token, which replaces the stored one. */
  const obtain = (credentials: Credentials) =>
    refreshTokenGrant(context.http, { vendor: 'QuickBooks', tokenUrl, credentials, clientAuthentication: 'basic', defaultLifetimeSeconds: 3_600 });

  const api = authorizedSender(context, obtain, (token) => ({ authorization: `Bearer ${token}` }), classifyError);

  /** An API call with the access token; one refresh and resend on a 401; faults (also on 200) thrown classified. */
  async function call(request: Omit<ErpHttpRequest, 'headers'>): Promise<Json> {
    const response = await api.call(request);
    if (faultOf(response.body)) throw classifyError(response);
    return response.body as Json;
  }

  const url = (path: string, query: Record<string, string> = {}) => `${companyUrl}/${path}?${new URLSearchParams({ ...query, minorversion: minorVersion }).toString()}`;

  async function find(document: ErpDocument): Promise<Json | null> {
    const { entity, where } = lookupOf(document);
    const answer = await call({ method: 'GET', url: url('query', { query: `select * from ${entity} where ${where}` }) });
    // QBO leaves the entity out of QueryResponse when nothing matches.
    const found = ((answer.QueryResponse as Json | undefined)?.[entity] ?? []) as Json[];
    return found[0] ?? null;
  }

  async function create(entity: Entity, document: ErpDocument, body: Json): Promise<{ externalId: string }> {
    const answer = await call({ method: 'POST', url: url(entity.toLowerCase(), { requestid: requestId(document, body) }), json: body });
    return { externalId: idOf(answer, entity) };
  }

  return {
    provider: 'quickbooks',
    classifyError,
    async findByReference(document) {
      const found = await find(document);
      return found === null ? null : String(found.Id);
    },
    async upsertCustomer(customer) {
      const existing = await find(customer);
      if (existing === null) return create('Customer', customer, { ...customerBody(customer), CurrencyRef: ref(customer.currency) });
      // A sparse update changes only the fields sent; SyncToken is QBO's optimistic lock. The
      // currency is left alone: QBO refuses to change it once the customer has transactions.
      const answer = await call({ method: 'POST', url: url('customer'), json: { Id: existing.Id, SyncToken: existing.SyncToken, sparse: true, ...customerBody(customer) } });
      return { externalId: idOf(answer, 'Customer') };
    },
    pushInvoice: (invoice) => create('Invoice', invoice, invoiceBody(invoice)),
    pushCreditNote: (creditNote) => create('CreditMemo', creditNote, creditMemoBody(creditNote)),
    pushPayment: (payment) => create('Payment', payment, paymentBody(payment)),
    pushRefund: (refund) => create('JournalEntry', refund, refundBody(refund)),
  };
}

export const quickbooksConnector: ErpConnectorModule<Credentials> = {
  provider: 'quickbooks',
  credentialsSchema,
  rateLimit: {
    // 8/s with a burst of 2 never exceeds 10 in any second nor 500 in any minute (2 + 8 × 60 = 482).
    requestsPerSecond: 8,
    burst: 2,
    source: 'developer.intuit.com, Learn › Limits and throttles: 500 requests/min per realm, 10 requests/s per realm and app',
  },
  unsupported: {},
  create: createQuickBooksConnector,
};
