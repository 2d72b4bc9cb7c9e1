import { createHash } from 'node:crypto';
import { z } from 'zod';
import { majorAmount, type ErpCreditNote, type ErpCustomer, type ErpDocument, type ErpDocumentType, type ErpInvoice, type ErpPayment, type ErpRefund } from '../../domain/erp/index.js';
import { ErpError, type ErpConnector, type ErpConnectorContext, type ErpConnectorModule, type ErpSettings } from './connector.js';
import { classifyByStatus, expectOk, type ErpHttpRequest, type ErpHttpResponse } from './http.js';
import { authorizedSender } from './oauth.js';
import { odataError, odataLiteral } from './odata.js';
import type { AccessGrant } from './tokens.js';

/**
 * SAP Business One Service Layer (OData v3, `/b1s/v1`). On-premise: every installation has its own
 * host, so there is no default base URL and `settings.baseUrl` is required. Authentication is a
 * session: `POST /Login` answers `B1SESSION` and `ROUTEID` cookies that every later call sends;
 * the cookie pair is the integration's "access token", so sessions are shared and renewed like
 * OAuth tokens. Documents are service-type (`dDocument_Service`) so every line carries its own
 * GL account, and each one carries the Ledgerflow reference in a field it can be filtered by.
 */

const credentialsSchema = z
  .object({
    companyDb: z.string().min(1),
    username: z.string().min(1),
    password: z.string().min(1),
  })
  .strict();

export type SapCredentials = z.infer<typeof credentialsSchema>;

/** The refusal for settings a Service Layer connector cannot run with, or null when they will do. */
export function requireSettings(settings: ErpSettings): string | null {
  const { baseUrl } = settings;
  if (typeof baseUrl !== 'string' || baseUrl.trim() === '') {
    return 'SAP Business One is installed on premises: settings.baseUrl must name its Service Layer (e.g. https://b1.example.com:50000/b1s/v1)';
  }
  try {
    new URL(baseUrl);
  } catch {
    return `settings.baseUrl is not a URL: ${baseUrl}`;
  }
  return null;
}

const cardCodeLength = 15;

/**
 * The CardCode of a customer: B1 keys business partners by a code of at most 15 characters, while
 * Ledgerflow customer references have 20 (`CUS-` + 16 hex digits). A reference that fits is the
 * code itself; a longer one becomes `C` + the first 14 hex digits of its SHA-256, uppercased:
 * deterministic, so reconcile finds the partner again, and 56 bits wide, so two customers don't
 * collide in practice.
 */
export function sapCardCode(reference: string): string {
  if (reference.length <= cardCodeLength) return reference;
  return `C${createHash('sha256').update(reference).digest('hex').slice(0, cardCodeLength - 1).toUpperCase()}`;
}

/** Where each document type lives and which of its fields holds the Ledgerflow reference. */
const documentSets = {
  invoice: { set: 'Invoices', referenceField: 'NumAtCard' },
  credit_note: { set: 'CreditNotes', referenceField: 'NumAtCard' },
  payment: { set: 'IncomingPayments', referenceField: 'TransferReference' },
  // Outgoing payments (OVPM) to a customer: how B1 pays a customer's credit memo back.
  refund: { set: 'VendorPayments', referenceField: 'TransferReference' },
} as const satisfies Record<Exclude<ErpDocumentType, 'customer'>, { set: string; referenceField: string }>;

/** B1 text field widths (INV1.Dscription, OINV.Comments, ORCT.Comments): B1 refuses longer text, so it is cut here. */
const descriptionLength = 100;
const remarksLength = 254;

const clip = (text: string, length: number) => (text.length <= length ? text : `${text.slice(0, length - 1)}…`);

/**
 * The message and code of a Service Layer error: `{"error":{"code":-10,"message":{"lang","value"}}}`,
 * or since 10.0 FP2105 `{"error":{"code":"-10","message":"…"}}`.
 */
const vendorError = (response: ErpHttpResponse) => odataError(response, 200);

function classifyError(response: ErpHttpResponse): ErpError {
  const { message, code } = vendorError(response);
  return classifyByStatus(response, message, code);
}

/**
 * A refused login means the stored user or company is wrong, whatever 4xx B1 chose for it (it
 * answers 401 for a bad password and 400 for an unknown company): nothing a retry would fix.
 */
function classifyLoginError(response: ErpHttpResponse): ErpError {
  const error = classifyError(response);
  if (error.kind !== 'validation') return error;
  return new ErpError('auth', `Service Layer login refused (${response.status}): ${vendorError(response).message}`, error.details);
}

/** The `Cookie` header a session is carried by: B1SESSION, plus ROUTEID, which pins the session to the load balancer node holding it. */
function sessionCookie(response: ErpHttpResponse): string {
  const cookies = response.headers
    .getSetCookie()
    .map((header) => header.split(';')[0]!.trim())
    .filter((pair) => /^(B1SESSION|ROUTEID)=/.test(pair));
  if (cookies.some((pair) => pair.startsWith('B1SESSION='))) return cookies.join('; ');
  const sessionId = (response.body as { SessionId?: unknown } | null)?.SessionId;
  if (typeof sessionId !== 'string' || sessionId === '') throw new ErpError('transient', 'Service Layer login answered without a session');
  return [`B1SESSION=${sessionId}`, ...cookies].join('; ');
}

/** B1's default session timeout when the login answer does not state one, in minutes. */
const defaultSessionMinutes = 30;

function create(context: ErpConnectorContext<SapCredentials>): ErpConnector {
  const refusal = requireSettings(context.settings);
  if (refusal !== null) throw new Error(refusal);
  const base = String(context.settings.baseUrl).replace(/\/+$/, '');
  const loginUrl = typeof context.settings.tokenUrl === 'string' && context.settings.tokenUrl !== '' ? context.settings.tokenUrl : `${base}/Login`;

  async function login(credentials: SapCredentials): Promise<AccessGrant<SapCredentials>> {
    const response = await context.http.send({
      method: 'POST',
      url: loginUrl,
      json: { CompanyDB: credentials.companyDb, UserName: credentials.username, Password: credentials.password },
    });
    expectOk(response, classifyLoginError);
    const minutes = (response.body as { SessionTimeout?: unknown } | null)?.SessionTimeout;
    return { accessToken: sessionCookie(response), expiresInSeconds: (typeof minutes === 'number' && minutes > 0 ? minutes : defaultSessionMinutes) * 60 };
  }

  /** Calls carry the session cookie; a 401 (session expired or dropped) logs in again once and resends. */
  const api = authorizedSender(context, login, (session) => ({ cookie: session }), classifyError);
  const request = (method: ErpHttpRequest['method'], path: string, json?: unknown): ErpHttpRequest => ({ method, url: `${base}${path}`, ...(json === undefined ? {} : { json }) });

  const partnerPath = (cardCode: string) => `/BusinessPartners(${odataLiteral(cardCode)})`;

  async function partnerExists(cardCode: string): Promise<boolean> {
    const response = await api.send(request('GET', `${partnerPath(cardCode)}?$select=CardCode`));
    if (response.status === 404) return false;
    expectOk(response, classifyError);
    return true;
  }

  async function findDocument(type: keyof typeof documentSets, reference: string): Promise<string | null> {
    const { set, referenceField } = documentSets[type];
    const filter = encodeURIComponent(`${referenceField} eq ${odataLiteral(reference)}`);
    const response = await api.call(request('GET', `/${set}?$filter=${filter}&$select=DocEntry`));
    const found = (response.body as { value?: { DocEntry?: unknown }[] } | null)?.value?.[0]?.DocEntry;
    return typeof found === 'number' ? String(found) : null;
  }

  async function findByReference(document: ErpDocument): Promise<string | null> {
    if (document.type !== 'customer') return findDocument(document.type, document.reference);
    const cardCode = sapCardCode(document.reference);
    return (await partnerExists(cardCode)) ? cardCode : null;
  }

  /**
   * B1 has no idempotency key: a document is created only when none carries its reference yet,
   * so a push repeated after a lost answer returns the document the first one created.
   */
  async function createOnce(document: Exclude<ErpDocument, ErpCustomer>, body: Record<string, unknown>): Promise<{ externalId: string }> {
    const existing = await findDocument(document.type, document.reference);
    if (existing !== null) return { externalId: existing };
    const response = await api.call(request('POST', `/${documentSets[document.type].set}`, body));
    const docEntry = (response.body as { DocEntry?: unknown } | null)?.DocEntry;
    if (typeof docEntry !== 'number') throw new ErpError('transient', `${documentSets[document.type].set}: created, but the answer carries no DocEntry`);
    return { externalId: String(docEntry) };
  }

  /** A DocEntry Ledgerflow was given earlier, as the integer the Service Layer takes. */
  const docEntry = (externalId: string) => Number.parseInt(externalId, 10);

  return {
    provider: 'sap',
    classifyError,
    findByReference,

    async upsertCustomer(customer) {
      const fields = { CardName: customer.name, ...(customer.email === null ? {} : { EmailAddress: customer.email }) };
      const cardCode = sapCardCode(customer.reference);
      if (await partnerExists(cardCode)) {
        // The currency stays as created: B1 refuses to change it once the partner has postings.
        await api.call(request('PATCH', partnerPath(cardCode), fields));
      } else {
        await api.call(request('POST', '/BusinessPartners', { CardCode: cardCode, CardType: 'cCustomer', Currency: customer.currency, ...fields }));
      }
      return { externalId: cardCode };
    },

    pushInvoice: (invoice: ErpInvoice) =>
      createOnce(invoice, {
        CardCode: invoice.customer.externalId,
        NumAtCard: invoice.reference,
        DocType: 'dDocument_Service',
        DocDate: invoice.issueDate,
        ...(invoice.dueDate === null ? {} : { DocDueDate: invoice.dueDate }),
        DocCurrency: invoice.currency,
        ControlAccount: invoice.receivableAccount,
        Comments: clip(`Ledgerflow invoice ${invoice.number}`, remarksLength),
        DocumentLines: invoice.lines.map((line) => ({
          AccountCode: line.account,
          LineTotal: majorAmount(line.amount, invoice.currency),
          ItemDescription: clip(line.description, descriptionLength),
        })),
      }),

    /**
     * A standalone service credit memo on the `credit` account. It is not copied from the invoice
     * (DocumentLines BaseType 13/BaseEntry/BaseLine): a copied line keeps the invoice line's account
     * and is capped at that one line, while a Ledgerflow credit is one amount that may span several
     * lines. The invoice is named in the comments; a refund then pays this credit memo back.
     */
    pushCreditNote: (creditNote: ErpCreditNote) =>
      createOnce(creditNote, {
        CardCode: creditNote.customer.externalId,
        NumAtCard: creditNote.reference,
        DocType: 'dDocument_Service',
        DocDate: creditNote.issueDate,
        DocCurrency: creditNote.currency,
        ControlAccount: creditNote.receivableAccount,
        Comments: clip(`Ledgerflow credit note ${creditNote.number} for invoice ${creditNote.invoice.reference}: ${creditNote.reason}`, remarksLength),
        DocumentLines: [{ AccountCode: creditNote.creditAccount, LineTotal: majorAmount(creditNote.amount, creditNote.currency), ItemDescription: clip(creditNote.reason, descriptionLength) }],
      }),

    pushPayment: (payment: ErpPayment) =>
      createOnce(payment, paymentBody(payment, { DocEntry: docEntry(payment.invoice.externalId), InvoiceType: 'it_Invoice' }, `Ledgerflow payment ${payment.paymentReference}`)),

    /** An outgoing payment to the customer settling its credit memo: the refund leaves the cash account and clears the credit on the receivable. */
    pushRefund: (refund: ErpRefund) =>
      createOnce(refund, paymentBody(refund, { DocEntry: docEntry(refund.creditNote.externalId), InvoiceType: 'it_CredItnote' }, `Ledgerflow refund of credit note ${refund.creditNote.reference}`)),
  };
}

/** An incoming or outgoing customer payment by bank transfer, applied in full to one invoice or credit memo. */
function paymentBody(document: ErpPayment | ErpRefund, applied: { DocEntry: number; InvoiceType: 'it_Invoice' | 'it_CredItnote' }, remarks: string): Record<string, unknown> {
  const amount = majorAmount(document.amount, document.currency);
  return {
    DocType: 'rCustomer',
    CardCode: document.customer.externalId,
    DocDate: document.date,
    DocCurrency: document.currency,
    ControlAccount: document.receivableAccount,
    TransferAccount: document.cashAccount,
    TransferSum: amount,
    TransferDate: document.date,
    TransferReference: document.reference,
    Remarks: clip(remarks, remarksLength),
    PaymentInvoices: [{ ...applied, SumApplied: amount }],
  };
}

export const sapConnector: ErpConnectorModule<SapCredentials> = {
  provider: 'sap',
  credentialsSchema,
  rateLimit: {
    requestsPerSecond: 5,
    burst: 5,
    source: 'none published (on-premises Service Layer): a conservative Ledgerflow default; settings.requestsPerSecond overrides it',
  },
  unsupported: {},
  validateSettings: requireSettings,
  create,
};
