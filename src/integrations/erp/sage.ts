import { z } from 'zod';
import {
  majorUnits,
  type ErpCreditNote,
  type ErpCustomer,
  type ErpDocument,
  type ErpDocumentType,
  type ErpInvoice,
  type ErpPayment,
  type ErpRefund,
} from '../../domain/erp/index.js';
import { ErpError, type ErpConnector, type ErpConnectorContext, type ErpConnectorModule, type ErpPushResult } from './connector.js';
import { classifyByStatus, expectOk, rateLimitedError, type ErpHttpResponse } from './http.js';
import { authorizedSender, refreshTokenGrant } from './oauth.js';

/**
 * Sage Intacct through its REST API (v1, GA 2025 R1): OAuth 2.0 with rotating refresh tokens,
 * one `objects/accounts-receivable/*` resource per document, found again through the query
 * service by the field each object keeps Ledgerflow's reference in.
 */

const credentialsSchema = z
  .object({
    clientId: z.string().min(1),
    clientSecret: z.string().min(1),
    refreshToken: z.string().min(1),
    /** A multi-entity company's entity the documents belong to; the top level when omitted. */
    entityId: z.string().min(1).optional(),
  })
  .strict();

type Credentials = z.infer<typeof credentialsSchema>;

const productionBaseUrl = 'https://api.intacct.com/ia/api/v1';

/** Each document type: its Intacct object and the field that carries Ledgerflow's reference (queried to reconcile). */
const objects: Record<ErpDocumentType, { object: string; referenceField: string }> = {
  customer: { object: 'accounts-receivable/customer', referenceField: 'id' },
  invoice: { object: 'accounts-receivable/invoice', referenceField: 'referenceNumber' },
  credit_note: { object: 'accounts-receivable/adjustment', referenceField: 'adjustmentNumber' },
  payment: { object: 'accounts-receivable/payment', referenceField: 'referenceNumber' },
  refund: { object: 'accounts-receivable/customer-refund', referenceField: 'documentNumber' },
};

/** Error codes Sage uses for throttling, whatever the status they come with (GW-0010 is the XML gateway's 429). */
const throttlingCodes = new Set(['tooManyRequests', 'GW-0010']);

interface SageError {
  code?: string;
  message?: string;
  errorId?: string;
  details?: { code?: string; message?: string; target?: string }[];
}

/** The `ia::error` of Sage's envelope; token failures and some 401s answer `{error: {…}}` or OAuth's `{error, error_description}` instead. */
function sageErrorOf(body: unknown): SageError | null {
  if (body === null || typeof body !== 'object') return null;
  const envelope = body as { 'ia::result'?: { 'ia::error'?: SageError }; error?: SageError | string; error_description?: string };
  if (envelope['ia::result']?.['ia::error']) return envelope['ia::result']['ia::error'];
  if (typeof envelope.error === 'object') return envelope.error;
  if (typeof envelope.error === 'string') return { code: envelope.error, message: envelope.error_description ?? envelope.error };
  return null;
}

/** The vendor's message with its field-level details, which are what tell an operator which value was refused. */
function describe(error: SageError | null, response: ErpHttpResponse): string {
  if (!error) return response.text.slice(0, 300) || 'no error details';
  const details = (error.details ?? []).map((detail) => [detail.target, detail.message].filter(Boolean).join(': ')).filter((text) => text.length > 0);
  return [error.message ?? error.code ?? 'error', ...details].join('; ');
}

function classify(response: ErpHttpResponse): ErpError {
  const error = sageErrorOf(response.body);
  const message = describe(error, response);
  const vendorCode = error?.errorId ?? error?.code;
  if (response.status !== 429 && [error?.code, error?.errorId].some((code) => code !== undefined && throttlingCodes.has(code))) {
    return rateLimitedError(response, message, { vendorCode });
  }
  return classifyByStatus(response, message, vendorCode);
}

/** The `key` of a created or queried record: the id Intacct resolves links (`arInvoice`, `arAdjustment`) and PATCHes by. */
function keyOf(record: unknown): string {
  const key = (record as { key?: unknown } | undefined)?.key;
  if (typeof key !== 'string' && typeof key !== 'number') throw new ErpError('transient', 'Sage Intacct answered without the record key');
  return String(key);
}

/**
 * A new customer and its display contact both take the reference as their id (refunds name that
 * contact as their payee); an update leaves ids alone, Intacct refuses to change them.
 */
function customerBody(customer: ErpCustomer, identify: boolean): Record<string, unknown> {
  const id = identify ? { id: customer.reference } : {};
  return {
    ...id,
    name: customer.name,
    currency: customer.currency,
    contacts: { default: { ...id, printAs: customer.name, ...(customer.email ? { email1: customer.email } : {}) } },
  };
}

function invoiceBody(invoice: ErpInvoice): Record<string, unknown> {
  return {
    invoiceNumber: invoice.number,
    referenceNumber: invoice.reference,
    customer: { id: invoice.customer.reference },
    invoiceDate: invoice.issueDate,
    // Intacct requires a due date; an invoice without terms is due when issued.
    dueDate: invoice.dueDate ?? invoice.issueDate,
    currency: { txnCurrency: invoice.currency },
    lines: invoice.lines.map((line) => ({
      glAccount: { id: line.account },
      overrideOffsetGLAccount: { id: invoice.receivableAccount },
      txnAmount: majorUnits(line.amount, invoice.currency),
      memo: line.description,
    })),
  };
}

/** A credit adjustment: Intacct books negative adjustment lines as credits to the customer, offset against receivables. */
function creditNoteBody(creditNote: ErpCreditNote): Record<string, unknown> {
  return {
    adjustmentNumber: creditNote.reference,
    documentNumber: creditNote.invoice.reference,
    description: creditNote.reason,
    customer: { id: creditNote.customer.reference },
    createdDate: creditNote.issueDate,
    txnCurrency: { currency: creditNote.currency },
    lines: [
      {
        glAccount: { id: creditNote.creditAccount },
        overrideOffsetGLAccount: { id: creditNote.receivableAccount },
        txnCurrency: { amount: majorUnits(-creditNote.amount, creditNote.currency) },
        memo: creditNote.reason,
      },
    ],
  };
}

function paymentBody(payment: ErpPayment): Record<string, unknown> {
  const amount = majorUnits(payment.amount, payment.currency);
  return {
    customer: { id: payment.customer.reference },
    financialEntity: { entityId: payment.cashAccount },
    paymentMethod: 'eft',
    referenceNumber: payment.reference,
    documentNumber: payment.paymentReference,
    paymentSummary: { receiptDate: payment.date },
    txnCurrency: { currency: payment.currency, amountToPay: amount },
    paymentDetails: [{ arInvoice: { key: payment.invoice.externalId }, txnCurrency: { paymentAmount: amount } }],
  };
}

/** A customer refund paying the credit adjustment out of the bank account; the customer's display contact (id = its reference) is the payee. */
function refundBody(refund: ErpRefund): Record<string, unknown> {
  const amount = majorUnits(refund.amount, refund.currency);
  return {
    customer: { id: refund.customer.reference },
    payTo: { id: refund.customer.reference },
    financialEntity: { id: refund.cashAccount },
    paymentMethod: 'eft',
    refundDate: refund.date,
    paymentDate: refund.date,
    documentNumber: refund.reference,
    txnCurrency: { currency: refund.currency, refundAmount: amount },
    refundDetails: [{ arAdjustment: { key: refund.creditNote.externalId }, txnRefundAmount: amount }],
  };
}

function create(context: ErpConnectorContext<Credentials>): ErpConnector {
  const baseUrl = (context.settings.baseUrl ?? productionBaseUrl).replace(/\/+$/, '');
  const tokenUrl = context.settings.tokenUrl ?? `${baseUrl}/oauth2/token`;

  /** The refresh-token grant; Sage may rotate the refresh token, and the new one must replace the old. */
  const obtain = (credentials: Credentials) =>
    refreshTokenGrant(context.http, {
      vendor: 'Sage Intacct',
      tokenUrl,
      credentials,
      clientAuthentication: 'form',
      defaultLifetimeSeconds: 3_600,
      // Any refused grant (400 invalid_grant up to 403) is the integration's credentials, not a bad request.
      refusedStatuses: [400, 401, 402, 403],
      refusalReason: (response) => describe(sageErrorOf(response.body), response),
      classify,
    });

  const entity = context.credentials.entityId;
  /** Calls with the current token (and the entity, if any); a 401 refreshes the token once and resends, a second 401 is the credentials' fault. */
  const { send, call } = authorizedSender(context, obtain, (token) => ({ authorization: `Bearer ${token}`, ...(entity ? { 'x-ia-api-param-entity': entity } : {}) }), classify);

  async function findKey(type: ErpDocumentType, reference: string): Promise<string | null> {
    const { object, referenceField } = objects[type];
    const response = await call({
      method: 'POST',
      url: `${baseUrl}/services/core/query`,
      json: { object, fields: ['key', 'id'], filters: [{ $eq: { [referenceField]: reference } }] },
    });
    const [first] = (response.body as { 'ia::result'?: unknown[] })['ia::result'] ?? [];
    return first === undefined ? null : keyOf(first);
  }

  /**
   * Creates one document under an Idempotency-Key derived from its type and reference, so a resend
   * of the same push is refused rather than doubled. That refusal (409, as is a reused unique
   * number) means the document is already in Intacct: answer with the stored one.
   */
  async function createDocument(type: ErpDocumentType, reference: string, body: Record<string, unknown>): Promise<ErpPushResult> {
    const response = await send({
      method: 'POST',
      url: `${baseUrl}/objects/${objects[type].object}`,
      headers: { 'idempotency-key': `ledgerflow-${type}-${reference}` },
      json: body,
    });
    if (response.status === 409) {
      const existing = await findKey(type, reference);
      if (existing !== null) return { externalId: existing };
    }
    expectOk(response, classify);
    return { externalId: keyOf((response.body as { 'ia::result'?: unknown })['ia::result']) };
  }

  return {
    provider: 'sage',
    classifyError: classify,
    findByReference: (document: ErpDocument) => findKey(document.type, document.reference),

    async upsertCustomer(customer) {
      const existing = await findKey('customer', customer.reference);
      if (existing === null) return createDocument('customer', customer.reference, customerBody(customer, true));
      await call({ method: 'PATCH', url: `${baseUrl}/objects/${objects.customer.object}/${encodeURIComponent(existing)}`, json: customerBody(customer, false) });
      return { externalId: existing };
    },
    pushInvoice: (invoice) => createDocument('invoice', invoice.reference, invoiceBody(invoice)),
    pushCreditNote: (creditNote) => createDocument('credit_note', creditNote.reference, creditNoteBody(creditNote)),
    pushPayment: (payment) => createDocument('payment', payment.reference, paymentBody(payment)),
    pushRefund: (refund) => createDocument('refund', refund.reference, refundBody(refund)),
  };
}

export const sageConnector: ErpConnectorModule<Credentials> = {
  provider: 'sage',
  credentialsSchema,
  rateLimit: {
    requestsPerSecond: 2,
    burst: 2,
    source:
      'Sage publishes concurrency, not a rate: Performance Tier 1 allows 2 concurrent REST requests (developer.sage.com/intacct/docs/developer-portal/api-essentials/txn-volume-concurrency-scaling); 2/s, burst 2 is a conservative pacing of that',
  },
  unsupported: {},
  create,
};
