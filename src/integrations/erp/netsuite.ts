import { createHmac } from 'node:crypto';
import OAuth from 'oauth-1.0a';
import { z } from 'zod';
import {
  majorAmount,
  type ErpCreditNote,
  type ErpCustomer,
  type ErpDocument,
  type ErpDocumentType,
  type ErpInvoice,
  type ErpLine,
  type ErpPayment,
  type ErpRefund,
} from '../../domain/erp/index.js';
import { ErpError, type ErpConnector, type ErpConnectorContext, type ErpConnectorModule, type ErpPushResult } from './connector.js';
import { bodyExcerpt, classifyByStatus, expectOk, rateLimitedError, type ErpHttpRequest, type ErpHttpResponse } from './http.js';

/**
 * NetSuite through SuiteTalk REST web services (record API v1), signed with OAuth 1.0a
 * token-based authentication. Every document is written with `PUT /{record}/eid:{reference}`:
 * NetSuite's upsert by external id, so a push repeated after a lost answer updates the record
 * the first one created instead of adding a second, and `GET /{record}/eid:{reference}` finds it.
 */

const credentialsSchema = z
  .object({
    accountId: z.string().min(1),
    consumerKey: z.string().min(1),
    consumerSecret: z.string().min(1),
    tokenId: z.string().min(1),
    tokenSecret: z.string().min(1),
  })
  .strict();

type Credentials = z.infer<typeof credentialsSchema>;

/** The record type each Ledgerflow document is written as. */
const recordTypes: Record<ErpDocumentType, string> = {
  customer: 'customer',
  invoice: 'invoice',
  credit_note: 'creditMemo',
  payment: 'customerPayment',
  refund: 'customerRefund',
};

/** Error codes NetSuite answers when the account's concurrency limit is full (RESTlets answer 400 `SSS_REQUEST_LIMIT_EXCEEDED`). */
const throttledCodes = new Set(['CONCURRENCY_LIMIT_EXCEEDED', 'SSS_REQUEST_LIMIT_EXCEEDED']);

/** The production host of an account: `1234567_SB1` is served at `1234567-sb1.suitetalk.api.netsuite.com`. */
function productionBaseUrl(accountId: string): string {
  return `https://${accountId.toLowerCase().replaceAll('_', '-')}.suitetalk.api.netsuite.com/services/rest/record/v1`;
}

/** Signs each request: TBA has no access token to obtain or refresh, every request carries its own HMAC-SHA256 signature. */
function tbaSigner(credentials: Credentials): (method: string, url: string) => string {
  const oauth = new OAuth({
    consumer: { key: credentials.consumerKey, secret: credentials.consumerSecret },
    signature_method: 'HMAC-SHA256',
    // The realm is the account id as NetSuite spells it in the UI: upper case with `_`.
    realm: credentials.accountId.toUpperCase().replaceAll('-', '_'),
    hash_function: (base, key) => createHmac('sha256', key).update(base).digest('base64'),
  });
  const token = { key: credentials.tokenId, secret: credentials.tokenSecret };
  // The library reads the query parameters from the URL into the signature base string.
  return (method, url) => oauth.toHeader(oauth.authorize({ method, url }, token)).Authorization;
}

interface NetSuiteErrorDetail {
  detail?: string;
  'o:errorCode'?: string;
  'o:errorPath'?: string;
}

/** NetSuite's own words from its error envelope (`title`, `o:errorDetails[]`), and its first error code. */
function vendorError(response: ErpHttpResponse): { message: string; code?: string } {
  const body = response.body as { title?: string; 'o:errorDetails'?: NetSuiteErrorDetail[] } | string | null;
  if (body === null || typeof body !== 'object') return { message: bodyExcerpt(response, 300) };
  const details = Array.isArray(body['o:errorDetails']) ? body['o:errorDetails'] : [];
  const described = details.map((detail) => [detail.detail, detail['o:errorPath'] ? `(at ${detail['o:errorPath']})` : ''].filter(Boolean).join(' '));
  const code = details.find((detail) => detail['o:errorCode'])?.['o:errorCode'];
  return { message: described.filter(Boolean).join('; ') || body.title || `HTTP ${response.status}`, ...(code === undefined ? {} : { code }) };
}

function classifyError(response: ErpHttpResponse): ErpError {
  const { message, code } = vendorError(response);
  if (code !== undefined && throttledCodes.has(code)) {
    return rateLimitedError(response, message, { vendorCode: code, codeBesideStatus: true });
  }
  return classifyByStatus(response, message, code);
}

/** The internal id NetSuite names in the `Location` of its 204 (`…/record/v1/invoice/1234`). */
function idFromLocation(response: ErpHttpResponse, baseUrl: string): string {
  const location = response.headers.get('location');
  const id = location === null ? undefined : /\/(\d+)$/.exec(new URL(location, baseUrl).pathname)?.[1];
  // Never seen without one; the retry reconciles by external id, so nothing is pushed twice.
  if (id === undefined) throw new ErpError('transient', `NetSuite answered ${response.status} without the record's Location`, { status: response.status });
  return id;
}

const ref = (id: string) => ({ id });
const eidPath = (recordType: string, reference: string) => `/${recordType}/eid:${encodeURIComponent(reference)}`;

function itemLine(line: ErpLine, currency: string) {
  return {
    // Revenue, discount, credit and tax lines are items: the item carries the GL account it posts to.
    item: ref(line.account),
    description: line.description,
    quantity: Number(line.quantity),
    // The amount, not a rate: amount ÷ quantity need not be exact in major units.
    amount: majorAmount(line.amount, currency),
  };
}

function create(context: ErpConnectorContext<Credentials>): ErpConnector {
  const baseUrl = context.settings.baseUrl ?? productionBaseUrl(context.credentials.accountId);
  const subsidiaryId = typeof context.settings.subsidiaryId === 'string' ? context.settings.subsidiaryId : undefined;
  const sign = tbaSigner(context.credentials);
  const currencyIds = new Map<string, string>();

  /** One signed request. TBA signs each request anew, so a 401 is final: there is no token to refresh. */
  function send(method: ErpHttpRequest['method'], path: string, json?: unknown): Promise<ErpHttpResponse> {
    const url = `${baseUrl}${path}`;
    const headers: Record<string, string> = { authorization: sign(method, url) };
    // Refuse unknown fields instead of NetSuite's default of dropping them with a warning.
    if (json !== undefined) headers['x-netsuite-propertynamevalidation'] = 'Error';
    return context.http.send({ method, url, headers, ...(json === undefined ? {} : { json }) });
  }

  /** Writes the record carrying `reference` as its external id: creates it, or updates the one a lost answer left behind. */
  async function upsert(recordType: string, reference: string, body: Record<string, unknown>): Promise<ErpPushResult> {
    const response = expectOk(await send('PUT', eidPath(recordType, reference), { externalId: reference, ...body }), classifyError);
    return { externalId: idFromLocation(response, baseUrl) };
  }

  /** Currencies are records: a reference needs the internal id of the one whose ISO code (`symbol`) it is. */
  async function currency(code: string): Promise<{ id: string }> {
    let id = currencyIds.get(code);
    if (id === undefined) {
      const response = expectOk(await send('GET', `/currency?q=${encodeURIComponent(`symbol IS "${code}"`)}`), classifyError);
      id = (response.body as { items?: { id: string }[] }).items?.[0]?.id;
      if (id === undefined) throw new ErpError('validation', `NetSuite has no currency ${code}: add it under Lists > Accounting > Currencies`);
      currencyIds.set(code, id);
    }
    return ref(id);
  }

  return {
    provider: 'netsuite',
    classifyError,

    async upsertCustomer(customer: ErpCustomer) {
      return upsert(recordTypes.customer, customer.reference, {
        companyName: customer.name,
        isPerson: false,
        ...(customer.email === null ? {} : { email: customer.email }),
        currency: await currency(customer.currency),
        // OneWorld accounts need the subsidiary a customer belongs to.
        ...(subsidiaryId === undefined ? {} : { subsidiary: ref(subsidiaryId) }),
      });
    },

    async pushInvoice(invoice: ErpInvoice) {
      return upsert(recordTypes.invoice, invoice.reference, {
        tranId: invoice.number,
        entity: ref(invoice.customer.externalId),
        tranDate: invoice.issueDate,
        ...(invoice.dueDate === null ? {} : { dueDate: invoice.dueDate }),
        currency: await currency(invoice.currency),
        account: ref(invoice.receivableAccount),
        item: { items: invoice.lines.map((line) => itemLine(line, invoice.currency)) },
      });
    },

    async pushCreditNote(creditNote: ErpCreditNote) {
      return upsert(recordTypes.credit_note, creditNote.reference, {
        tranId: creditNote.number,
        entity: ref(creditNote.customer.externalId),
        // Credit notes are issued against paid invoices: the credit stays open for its refund (or
        // the customer's next invoice) instead of being applied to the invoice it came from.
        createdFrom: ref(creditNote.invoice.externalId),
        autoApply: false,
        tranDate: creditNote.issueDate,
        currency: await currency(creditNote.currency),
        account: ref(creditNote.receivableAccount),
        memo: creditNote.reason,
        item: {
          items: [{ item: ref(creditNote.creditAccount), description: creditNote.reason, quantity: 1, amount: majorAmount(creditNote.amount, creditNote.currency) }],
        },
      });
    },

    async pushPayment(payment: ErpPayment) {
      const amount = majorAmount(payment.amount, payment.currency);
      return upsert(recordTypes.payment, payment.reference, {
        customer: ref(payment.customer.externalId),
        tranDate: payment.date,
        currency: await currency(payment.currency),
        payment: amount,
        // Straight to the cash account, not NetSuite's Undeposited Funds.
        undepFunds: { id: 'F' },
        account: ref(payment.cashAccount),
        arAcct: ref(payment.receivableAccount),
        memo: payment.paymentReference,
        apply: { items: [{ doc: ref(payment.invoice.externalId), apply: true, amount }] },
      });
    },

    async pushRefund(refund: ErpRefund) {
      // The credit memo already booked the credit on its item's account: the refund only moves the
      // credit from receivables to cash, so NetSuite has no use for the `refund` account.
      return upsert(recordTypes.refund, refund.reference, {
        customer: ref(refund.customer.externalId),
        tranDate: refund.date,
        currency: await currency(refund.currency),
        account: ref(refund.cashAccount),
        arAcct: ref(refund.receivableAccount),
        apply: { items: [{ doc: ref(refund.creditNote.externalId), apply: true, amount: majorAmount(refund.amount, refund.currency) }] },
      });
    },

    async findByReference(document: ErpDocument) {
      const response = await send('GET', `${eidPath(recordTypes[document.type], document.reference)}?fields=id`);
      if (response.status === 404) return null;
      return String((expectOk(response, classifyError).body as { id: string | number }).id);
    },
  };
}

export const netsuiteConnector: ErpConnectorModule<Credentials> = {
  provider: 'netsuite',
  credentialsSchema,
  rateLimit: {
    requestsPerSecond: 3,
    burst: 5,
    source:
      'NetSuite concurrency governance: 5 concurrent requests per account (developer/base tier, +10 per SuiteCloud Plus licence); at ~1.5 s per record request, 5 slots sustain ~3 req/s',
  },
  unsupported: {},
  create,
};
