import { createHash } from 'node:crypto';
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
import { currencyExponent } from '../../domain/money/index.js';
import { ErpError, type ErpConnector, type ErpConnectorContext, type ErpConnectorModule } from './connector.js';
import { classifyByStatus, type ErpHttpResponse } from './http.js';
import { authorizedSender, refreshTokenGrant } from './oauth.js';

/**
 * Xero Accounting API 2.0: customers are Contacts, invoices ACCREC Invoices, credit notes
 * ACCRECCREDIT CreditNotes, payments Payments on the invoice and refunds Payments on the credit
 * note (Xero's cash refund of a credit). OAuth 2.0 with rotating refresh tokens; every call names
 * the organisation in `xero-tenant-id`.
 */

const credentialsSchema = z
  .object({
    clientId: z.string().min(1),
    clientSecret: z.string().min(1),
    refreshToken: z.string().min(1),
    tenantId: z.string().min(1),
  })
  .strict();

type Credentials = z.infer<typeof credentialsSchema>;

const defaultBaseUrl = 'https://api.xero.com/api.xro/2.0';
const defaultTokenUrl = 'https://identity.xero.com/connect/token';
/** Xero's access tokens live 30 minutes; used when the token answer omits `expires_in`. */
const defaultTokenLifetimeSeconds = 1_800;
/** Unit prices are sent with 4 decimals (`unitdp=4`), Xero's finest, so more quantities keep an exact unit price. */
const unitDecimals = 4;

type XeroRecord = Record<string, unknown>;

interface XeroRequest {
  method: 'GET' | 'PUT' | 'POST';
  path: string;
  query?: Record<string, string>;
  json?: unknown;
  /** Set on writes: Xero answers a repeated key with the first request's answer instead of acting twice. */
  idempotencyKey?: string;
}

/**
 * The Idempotency-Key of a write: the document's type and reference, plus a digest of the body so a
 * document re-sent after a refusal (a mapping fixed since) is not answered with the cached refusal.
 * At most 128 characters, Xero's limit.
 */
function idempotencyKey(type: ErpDocumentType, reference: string, body: unknown): string {
  const digest = createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 16);
  return `ledgerflow-${type}-${reference}-${digest}`;
}

/** The vendor's own words from its error envelopes: validation messages, the problem detail of 401/403, or the exception message. */
function xeroMessage(response: ErpHttpResponse): { message: string; code?: string } {
  const body = response.body;
  if (body !== null && typeof body === 'object') {
    const envelope = body as { ErrorNumber?: unknown; Type?: unknown; Message?: unknown; Detail?: unknown; Title?: unknown; Elements?: unknown; error?: unknown };
    const validation = Array.isArray(envelope.Elements)
      ? envelope.Elements.flatMap((element: { ValidationErrors?: { Message?: unknown }[] }) => (element.ValidationErrors ?? []).map((error) => error.Message)).filter((text): text is string => typeof text === 'string')
      : [];
    const message = validation.length > 0 ? validation.join('; ') : [envelope.Message, envelope.Detail, envelope.Title, envelope.error].find((text): text is string => typeof text === 'string');
    const code = [envelope.Type, envelope.ErrorNumber].find((value) => typeof value === 'string' || typeof value === 'number');
    if (message !== undefined) return { message, ...(code === undefined ? {} : { code: String(code) }) };
  }
  return { message: response.text.trim().slice(0, 300) || `HTTP ${response.status}` };
}

function classifyXeroError(response: ErpHttpResponse): ErpError {
  const { message, code } = xeroMessage(response);
  // Which of Xero's limits was hit (minute, day, concurrent) says more than its empty 429 body.
  const problem = response.headers.get('x-rate-limit-problem');
  if (response.status === 429 && problem !== null) return classifyByStatus(response, `Xero ${problem} limit reached`, problem);
  // 403 is a tenant that disconnected the app or a missing scope: the integration needs attention, not the document.
  if (response.status === 403) return new ErpError('auth', `Xero refused access to the organisation (403): ${message}`, { status: 403, ...(code === undefined ? {} : { vendorCode: code }) });
  return classifyByStatus(response, message, code);
}

/** The records of a Xero answer (`{"Invoices": [...]}`). */
function recordsOf(response: ErpHttpResponse, collection: string): XeroRecord[] {
  const list = (response.body as Record<string, unknown> | null)?.[collection];
  return Array.isArray(list) ? (list as XeroRecord[]) : [];
}

/** The record a write answered with. */
function writtenRecord(response: ErpHttpResponse, collection: string): XeroRecord {
  const record = recordsOf(response, collection)[0];
  // The write may have happened: transient, so the retry reconciles by reference first.
  if (record === undefined) throw new ErpError('transient', `Xero answered without the written ${collection}`);
  return record;
}

function idOf(record: XeroRecord, field: string): string {
  const id = record[field];
  // A record without its id is a vendor fault, not the document's: transient, and the retry reconciles first.
  if (typeof id !== 'string') throw new ErpError('transient', `Xero answered without a ${field}`);
  return id;
}

const idOrNull = (record: XeroRecord | null, field: string) => (record === null ? null : idOf(record, field));

/** A where-clause equality; references are [A-Z0-9-], so quoting needs no escaping. */
const whereEquals = (field: string, value: string) => `${field}=="${value}"`;

/**
 * Quantity and unit price of a line: the billed quantity when the amount divides into an exact
 * 4-decimal unit price, otherwise one unit of the whole amount, so Xero's line total (quantity ×
 * unit price) is always exactly Ledgerflow's.
 */
function quantityAndUnitAmount(line: ErpLine, currency: string): { Quantity: number; UnitAmount: number } {
  const [whole = '0', fraction = ''] = line.quantity.split('.');
  const scaledQuantity = BigInt(whole + fraction);
  const scaledAmount = BigInt(line.amount) * 10n ** BigInt(unitDecimals - currencyExponent(currency) + fraction.length);
  // Xero keeps quantities to 4 decimals too.
  if (fraction.length <= unitDecimals && scaledQuantity > 0n && scaledAmount % scaledQuantity === 0n) {
    return { Quantity: Number(line.quantity), UnitAmount: Number(scaledAmount / scaledQuantity) / 10 ** unitDecimals };
  }
  return { Quantity: 1, UnitAmount: majorAmount(line.amount, currency) };
}

function lineItem(line: ErpLine, currency: string): XeroRecord {
  return { Description: line.description, ...quantityAndUnitAmount(line, currency), LineAmount: majorAmount(line.amount, currency), AccountCode: line.account };
}

function createXeroConnector(context: ErpConnectorContext<Credentials>): ErpConnector {
  const { http, settings } = context;
  const baseUrl = (settings.baseUrl ?? defaultBaseUrl).replace(/\/+$/, '');
  const tokenUrl = settings.tokenUrl ?? defaultTokenUrl;

  /** Refresh-token grant; Xero rotates the refresh token on every use (unused, one lapses after 60 days). */
  const obtain = (credentials: Credentials) =>
    refreshTokenGrant(http, { vendor: 'Xero', tokenUrl, credentials, clientAuthentication: 'basic', defaultLifetimeSeconds: defaultTokenLifetimeSeconds, classify: classifyXeroError });

  const api = authorizedSender(context, obtain, (token) => ({ authorization: `Bearer ${token}`, 'xero-tenant-id': context.credentials.tenantId }), classifyXeroError);

  /** One API call: bearer and tenant headers, one token refresh on a 401, non-2xx thrown as classified. */
  function call(request: XeroRequest): Promise<ErpHttpResponse> {
    return api.call({
      method: request.method,
      url: `${baseUrl}${request.path}${request.query ? `?${new URLSearchParams(request.query).toString()}` : ''}`,
      ...(request.idempotencyKey === undefined ? {} : { headers: { 'idempotency-key': request.idempotencyKey } }),
      ...(request.json === undefined ? {} : { json: request.json }),
    });
  }

  /** Creates one record with PUT (Xero's create verb) and returns it as Xero stored it. */
  async function create(type: ErpDocumentType, reference: string, path: string, collection: string, record: XeroRecord, query?: Record<string, string>): Promise<XeroRecord> {
    const json = { [collection]: [record] };
    const response = await call({ method: 'PUT', path, json, idempotencyKey: idempotencyKey(type, reference, json), ...(query ? { query } : {}) });
    return writtenRecord(response, collection);
  }

  async function findOne(path: string, collection: string, query: Record<string, string>): Promise<XeroRecord | null> {
    return recordsOf(await call({ method: 'GET', path, query }), collection)[0] ?? null;
  }

  const findContact = (reference: string) => findOne('/Contacts', 'Contacts', { where: whereEquals('ContactNumber', reference), includeArchived: 'true' });
  const findInvoice = (reference: string) => findOne('/Invoices', 'Invoices', { InvoiceNumbers: reference });
  const findCreditNote = (reference: string) => findOne('/CreditNotes', 'CreditNotes', { where: whereEquals('CreditNoteNumber', reference) });
  const findPayment = (reference: string) => findOne('/Payments', 'Payments', { where: whereEquals('Reference', reference) });

  function payment(target: XeroRecord, document: ErpPayment | ErpRefund): XeroRecord {
    return { ...target, Account: { Code: document.cashAccount }, Date: document.date, Amount: majorAmount(document.amount, document.currency), Reference: document.reference };
  }

  const connector: ErpConnector = {
    provider: 'xero',

    async upsertCustomer(customer: ErpCustomer) {
      const contact = { Name: customer.name, ContactNumber: customer.reference, EmailAddress: customer.email ?? '', DefaultCurrency: customer.currency };
      const existing = await findContact(customer.reference);
      if (existing === null) return { externalId: idOf(await create('customer', customer.reference, '/Contacts', 'Contacts', contact), 'ContactID') };
      // POST is Xero's update verb; PUT would add a second contact.
      const contactId = idOf(existing, 'ContactID');
      const json = { Contacts: [{ ContactID: contactId, ...contact }] };
      const response = await call({ method: 'POST', path: `/Contacts/${encodeURIComponent(contactId)}`, json, idempotencyKey: idempotencyKey('customer', customer.reference, json) });
      return { externalId: idOf(writtenRecord(response, 'Contacts'), 'ContactID') };
    },

    async pushInvoice(invoice: ErpInvoice) {
      const record = {
        Type: 'ACCREC',
        Contact: { ContactID: invoice.customer.externalId },
        InvoiceNumber: invoice.reference,
        Date: invoice.issueDate,
        // Xero wants a due date on an approved invoice; without terms the invoice is due on issue.
        DueDate: invoice.dueDate ?? invoice.issueDate,
        CurrencyCode: invoice.currency,
        // Ledgerflow computed the tax: it is a line on the tax account, so Xero must add none.
        LineAmountTypes: 'NoTax',
        Status: 'AUTHORISED',
        LineItems: invoice.lines.map((line) => lineItem(line, invoice.currency)),
      };
      return { externalId: idOf(await create('invoice', invoice.reference, '/Invoices', 'Invoices', record, { unitdp: String(unitDecimals) }), 'InvoiceID') };
    },

    /**
     * Not allocated to its invoice: a payment and a credit note of one invoice sync independently,
     * in either order, and Xero refuses a payment beyond the invoice's amount due and a refund beyond
     * the note's remaining credit. It stays credit on the contact, naming its invoice in `Reference`,
     * for the accountant to allocate or for the refund to pay out.
     */
    async pushCreditNote(creditNote: ErpCreditNote) {
      const record = {
        Type: 'ACCRECCREDIT',
        Contact: { ContactID: creditNote.customer.externalId },
        CreditNoteNumber: creditNote.reference,
        Reference: `${creditNote.number} for ${creditNote.invoice.reference}`,
        Date: creditNote.issueDate,
        CurrencyCode: creditNote.currency,
        LineAmountTypes: 'NoTax',
        Status: 'AUTHORISED',
        LineItems: [{ Description: creditNote.reason, Quantity: 1, UnitAmount: majorAmount(creditNote.amount, creditNote.currency), AccountCode: creditNote.creditAccount }],
      };
      return { externalId: idOf(await create('credit_note', creditNote.reference, '/CreditNotes', 'CreditNotes', record), 'CreditNoteID') };
    },

    async pushPayment(document: ErpPayment) {
      const record = payment({ Invoice: { InvoiceID: document.invoice.externalId } }, document);
      return { externalId: idOf(await create('payment', document.reference, '/Payments', 'Payments', record), 'PaymentID') };
    },

    async pushRefund(refund: ErpRefund) {
      const record = payment({ CreditNote: { CreditNoteID: refund.creditNote.externalId } }, refund);
      return { externalId: idOf(await create('refund', refund.reference, '/Payments', 'Payments', record), 'PaymentID') };
    },

    async findByReference(document: ErpDocument) {
      switch (document.type) {
        case 'customer':
          return idOrNull(await findContact(document.reference), 'ContactID');
        case 'invoice':
          return idOrNull(await findInvoice(document.reference), 'InvoiceID');
        case 'credit_note':
          return idOrNull(await findCreditNote(document.reference), 'CreditNoteID');
        case 'payment':
        case 'refund':
          return idOrNull(await findPayment(document.reference), 'PaymentID');
      }
    },

    classifyError: classifyXeroError,
  };
  return connector;
}

export const xeroConnector: ErpConnectorModule<Credentials> = {
  provider: 'xero',
  credentialsSchema,
  rateLimit: {
    requestsPerSecond: 1,
    burst: 5,
    source: 'Xero API limits: 60 calls/minute and 5 concurrent calls per tenant, 5,000 calls/day (developer.xero.com/documentation/guides/oauth2/limits)',
  },
  unsupported: {},
  create: createXeroConnector,
};
