import { z } from 'zod';
import { majorAmount, type ErpCreditNote, type ErpCustomer, type ErpDocument, type ErpInvoice, type ErpLine, type ErpPayment, type ErpRefund } from '../../domain/erp/index.js';
import { ErpError, type ErpConnector, type ErpConnectorContext, type ErpConnectorModule, type ErpPushResult, type ErpSettings } from './connector.js';
import { classifyByStatus, retryAfterMs, type ErpHttpResponse } from './http.js';
import { authorizedSender, oauthErrorCode, tokenEndpointGrant, type AuthorizedSender } from './oauth.js';
import { odataError, odataLiteral } from './odata.js';
import type { AccessGrant } from './tokens.js';

/**
 * Microsoft Dynamics 365 Business Central, standard API v2.0, authenticated by an Entra ID app
 * (OAuth 2.0 client credentials). Sales documents are created as drafts with their lines (deep
 * insert) and then posted; payments and refunds are journal lines, posted with their batch.
 *
 * Business Central has no idempotency key: every push first looks its document up by the
 * Ledgerflow reference (externalDocumentNumber on sales documents, documentNumber on journal
 * lines and the G/L entries they post) and resumes what it finds, so a retry never creates a
 * second document. `findByReference` answers only for posted documents: a draft or an unposted
 * journal line is something the next push must still finish, not something already synced.
 */

const credentialsSchema = z
  .object({
    tenantId: z.string().min(1),
    clientId: z.string().min(1),
    clientSecret: z.string().min(1),
    environment: z.string().min(1),
    companyId: z.string().min(1),
  })
  .strict();

type Credentials = z.infer<typeof credentialsSchema>;

const apiHost = 'https://api.businesscentral.dynamics.com';
const apiScope = 'https://api.businesscentral.dynamics.com/.default';
const defaultTokenUrl = (tenantId: string) => `https://login.microsoftonline.com/${encodeURIComponent(tenantId)}/oauth2/v2.0/token`;

/** Sales documents still being edited: posting turns them into Open (then Paid, Corrective, Canceled) ones. */
const unpostedStatuses = new Set(['Draft', 'In Review']);

interface ODataList<T> {
  value?: T[];
}

interface BcCustomer {
  id: string;
  '@odata.etag'?: string;
}

interface BcSalesDocument {
  id: string;
  status: string;
  totalAmountIncludingTax: number;
}

interface BcJournal {
  id: string;
  code: string;
  balancingAccountNumber: string;
}

interface BcLedgerEntry {
  id: string;
  entryNumber: number;
}

/** The two sales document kinds, as entity sets. */
const salesInvoices = { entitySet: 'salesInvoices', label: 'invoice' };
const salesCreditMemos = { entitySet: 'salesCreditMemos', label: 'credit memo' };
type SalesDocumentKind = typeof salesInvoices;

/** The journal batches payments and refunds are posted through, chosen by settings. */
const paymentJournal = { entitySet: 'customerPaymentJournals', linesSet: 'customerPayments', setting: 'paymentJournalCode', fallback: 'CASHRCPT' };
const refundJournal = { entitySet: 'journals', linesSet: 'journalLines', setting: 'refundJournalCode', fallback: 'DEFAULT' };
type JournalKind = typeof paymentJournal;

const filterEq = (field: string, value: string) => `$filter=${encodeURIComponent(`${field} eq ${odataLiteral(value)}`)}`;

/** Business Central refuses texts over a field's length instead of cutting them. */
const fit = (text: string, length: number) => (text.length <= length ? text : text.slice(0, length));

const settingText = (settings: ErpSettings, key: string, fallback: string) => {
  const value = settings[key];
  return typeof value === 'string' && value !== '' ? value : fallback;
};

/**
 * A G/L account line (`lineType: Account`) of one amount: quantity 1 at the line amount as unit
 * price, so the line posts exactly that amount (a decimal quantity would round the unit price).
 */
function accountLine(account: string, description: string, amount: number, currency: string) {
  return { lineType: 'Account', lineObjectNumber: account, description: fit(description, 100), quantity: 1, unitPrice: majorAmount(amount, currency) };
}

const lineDescription = (line: ErpLine) => (line.quantity === '1' ? line.description : `${line.description} (${line.quantity})`);

/** Entra ID's token errors (`{"error","error_description"}`); a refused client is an auth failure, not a retry. */
function tokenError(response: ErpHttpResponse): ErpError {
  const code = oauthErrorCode(response);
  const description = (response.body as { error_description?: unknown } | null)?.error_description;
  // The description's first line is the AADSTS reason; the rest are trace and correlation ids.
  const reason = typeof description === 'string' ? description.split(/\r?\n/)[0]! : `HTTP ${response.status}`;
  if (response.status === 400 || response.status === 401) {
    return new ErpError('auth', `Entra ID refused the client credentials (${response.status} ${code ?? ''}): ${reason}`, { status: response.status, vendorCode: code });
  }
  return classifyByStatus(response, `token endpoint: ${reason}`, code);
}

class BusinessCentralConnector implements ErpConnector {
  readonly provider = 'dynamics365' as const;
  private readonly companyUrl: string;
  /** Calls with the integration's token; a 401 gets one fresh token and one resend. */
  private readonly api: AuthorizedSender;

  constructor(private readonly context: ErpConnectorContext<Credentials>) {
    const { tenantId, environment, companyId } = context.credentials;
    const host = (context.settings.baseUrl ?? apiHost).replace(/\/+$/, '');
    this.companyUrl = `${host}/v2.0/${encodeURIComponent(tenantId)}/${encodeURIComponent(environment)}/api/v2.0/companies(${companyId})`;
    this.api = authorizedSender(context, (credentials) => this.obtain(credentials), (token) => ({ authorization: `Bearer ${token}` }), (failed) => this.classifyError(failed));
  }

  async upsertCustomer(customer: ErpCustomer): Promise<ErpPushResult> {
    const body = { number: customer.reference, displayName: fit(customer.name, 100), type: 'Company', email: customer.email ?? '', currencyCode: customer.currency };
    const existing = await this.findOne<BcCustomer>('/customers', 'number', customer.reference);
    if (existing) {
      // Business Central refuses a PATCH without the entity's ETag; a stale one is a 409 (retried).
      await this.call('PATCH', `/customers(${existing.id})`, body, { 'if-match': existing['@odata.etag'] ?? '*' });
      return { externalId: existing.id };
    }
    const created = await this.call('POST', '/customers', body);
    return { externalId: (created.body as BcCustomer).id };
  }

  async pushInvoice(invoice: ErpInvoice): Promise<ErpPushResult> {
    return this.pushSalesDocument(salesInvoices, invoice.reference, invoice.total, invoice.currency, {
      externalDocumentNumber: invoice.reference,
      customerId: invoice.customer.externalId,
      invoiceDate: invoice.issueDate,
      postingDate: invoice.issueDate,
      ...(invoice.dueDate === null ? {} : { dueDate: invoice.dueDate }),
      currencyCode: invoice.currency,
      salesInvoiceLines: invoice.lines.map((line) => accountLine(line.account, lineDescription(line), line.amount, invoice.currency)),
    });
  }

  async pushCreditNote(creditNote: ErpCreditNote): Promise<ErpPushResult> {
    return this.pushSalesDocument(salesCreditMemos, creditNote.reference, creditNote.amount, creditNote.currency, {
      externalDocumentNumber: creditNote.reference,
      customerId: creditNote.customer.externalId,
      creditMemoDate: creditNote.issueDate,
      postingDate: creditNote.issueDate,
      currencyCode: creditNote.currency,
      // Applies the credit memo to the invoice it corrects: posting closes the two against each other.
      invoiceId: creditNote.invoice.externalId,
      salesCreditMemoLines: [accountLine(creditNote.creditAccount, creditNote.reason, creditNote.amount, creditNote.currency)],
    });
  }

  async pushPayment(payment: ErpPayment): Promise<ErpPushResult> {
    const journal = await this.journal(paymentJournal);
    // customerPayments take no balancing account: every line balances to its batch's, so the batch must be the cash account.
    if (journal.balancingAccountNumber !== payment.cashAccount) {
      throw new ErpError(
        'validation',
        `the customer payment journal ${journal.code} balances to account "${journal.balancingAccountNumber}", but the cash mapping is ${payment.cashAccount}: set the batch's balancing account or the mapping`,
      );
    }
    return this.pushJournalLine(paymentJournal, journal, payment.reference, {
      customerId: payment.customer.externalId,
      postingDate: payment.date,
      documentNumber: payment.reference,
      externalDocumentNumber: fit(payment.paymentReference, 35),
      // Business Central's sign: a payment credits the customer, so its amount is negative.
      amount: -majorAmount(payment.amount, payment.currency),
      appliesToInvoiceId: payment.invoice.externalId,
      description: fit(`Payment of ${payment.invoice.reference}`, 100),
    });
  }

  /**
   * v2.0's journal lines take G/L and bank accounts only (APIV2JournalLines.Page.al filters the
   * account type and leaves the document type blank), so a refund cannot be a customer Refund
   * entry applied to the credit memo: it debits the `refund` account and credits cash.
   */
  async pushRefund(refund: ErpRefund): Promise<ErpPushResult> {
    const journal = await this.journal(refundJournal);
    return this.pushJournalLine(refundJournal, journal, refund.reference, {
      accountNumber: refund.refundAccount,
      postingDate: refund.date,
      documentNumber: refund.reference,
      externalDocumentNumber: refund.creditNote.reference,
      amount: majorAmount(refund.amount, refund.currency),
      description: fit(`Refund of ${refund.creditNote.reference}`, 100),
      balancingAccountNumber: refund.cashAccount,
    });
  }

  async findByReference(document: ErpDocument): Promise<string | null> {
    switch (document.type) {
      case 'customer':
        return (await this.findOne<BcCustomer>('/customers', 'number', document.reference))?.id ?? null;
      case 'invoice':
        return this.postedSalesDocumentId(salesInvoices, document.reference);
      case 'credit_note':
        return this.postedSalesDocumentId(salesCreditMemos, document.reference);
      case 'payment':
      case 'refund':
        return this.postedEntryId(document.reference);
    }
  }

  classifyError(response: ErpHttpResponse): ErpError {
    const { status } = response;
    const { code, message } = odataError(response, 300);
    const text = code === undefined ? message : `${code}: ${message}`;
    const details = { status, ...(code === undefined ? {} : { vendorCode: code }) };
    if (status === 403) return new ErpError('auth', `permission refused (403): ${text}`, details);
    // 409 is an edit conflict or a deadlock (re-read and resent, it goes through); 503 comes with a Retry-After.
    if (status === 409 || status >= 500) {
      const wait = retryAfterMs(response.headers);
      return new ErpError('transient', `${status}: ${text}`, wait === undefined ? details : { ...details, retryAfterMs: wait });
    }
    return classifyByStatus(response, text, code);
  }

  /** Creates the draft unless one carries the reference already, then posts it. */
  private async pushSalesDocument(kind: SalesDocumentKind, reference: string, total: number, currency: string, body: object): Promise<ErpPushResult> {
    const found = await this.findOne<BcSalesDocument>(`/${kind.entitySet}`, 'externalDocumentNumber', reference);
    if (found && !unpostedStatuses.has(found.status)) return { externalId: found.id };
    const id = found?.id ?? ((await this.call('POST', `/${kind.entitySet}`, body)).body as BcSalesDocument).id;
    // Re-read: the totals are Business Central's own once every line is in.
    const draft = (await this.call('GET', `/${kind.entitySet}(${id})`)).body as BcSalesDocument;
    if (draft.totalAmountIncludingTax !== majorAmount(total, currency)) {
      // Tax set up on a mapped account would be added on top of Ledgerflow's own tax lines: never post a wrong total.
      throw new ErpError(
        'validation',
        `Business Central totals ${kind.label} ${reference} at ${draft.totalAmountIncludingTax} ${currency}, Ledgerflow at ${majorAmount(total, currency)}: a mapped account adds tax; the draft is left unposted`,
      );
    }
    await this.call('POST', `/${kind.entitySet}(${id})/Microsoft.NAV.post`);
    return { externalId: id };
  }

  private async postedSalesDocumentId(kind: SalesDocumentKind, reference: string): Promise<string | null> {
    const found = await this.findOne<BcSalesDocument>(`/${kind.entitySet}`, 'externalDocumentNumber', reference);
    return found && !unpostedStatuses.has(found.status) ? found.id : null;
  }

  private async journal(kind: JournalKind): Promise<BcJournal> {
    const code = settingText(this.context.settings, kind.setting, kind.fallback);
    const journal = await this.findOne<BcJournal>(`/${kind.entitySet}`, 'code', code);
    if (!journal) throw new ErpError('validation', `Business Central has no ${kind.entitySet} batch ${code} (settings.${kind.setting})`);
    return journal;
  }

  /**
   * Adds the line unless the batch holds it already, then posts the batch. The external id is the
   * first G/L entry the line posted: posting deletes journal lines, the entries stay.
   */
  private async pushJournalLine(kind: JournalKind, journal: BcJournal, reference: string, line: object): Promise<ErpPushResult> {
    const posted = await this.postedEntryId(reference);
    if (posted !== null) return { externalId: posted };
    const linesPath = `/${kind.entitySet}(${journal.id})/${kind.linesSet}`;
    if (!(await this.findOne(linesPath, 'documentNumber', reference))) await this.call('POST', linesPath, line);
    // v2.0's customerPaymentJournals have no post action; the journals entity's finds any batch by its id (APIV2Journals.Page.al).
    try {
      await this.call('POST', `/journals(${journal.id})/Microsoft.NAV.post`);
    } catch (error) {
      // The answer was lost, or another push posted the whole batch, ours included ("There is nothing to post").
      const entryId = await this.postedEntryId(reference);
      if (entryId !== null) return { externalId: entryId };
      throw error;
    }
    const entryId = await this.postedEntryId(reference);
    if (entryId === null) throw new ErpError('transient', `batch ${journal.code} was posted but no G/L entry carries document number ${reference} yet`);
    return { externalId: entryId };
  }

  private async postedEntryId(reference: string): Promise<string | null> {
    const entries = await this.findAll<BcLedgerEntry>('/generalLedgerEntries', 'documentNumber', reference);
    const [first] = entries.sort((a, b) => a.entryNumber - b.entryNumber);
    return first?.id ?? null;
  }

  private async findOne<T>(path: string, field: string, value: string): Promise<T | null> {
    return (await this.findAll<T>(path, field, value))[0] ?? null;
  }

  private async findAll<T>(path: string, field: string, value: string): Promise<T[]> {
    const response = await this.call('GET', `${path}?${filterEq(field, value)}`);
    return (response.body as ODataList<T>).value ?? [];
  }

  /** One API request; non-2xx thrown as classified. */
  private call(method: 'GET' | 'POST' | 'PATCH', path: string, json?: unknown, headers: Record<string, string> = {}): Promise<ErpHttpResponse> {
    return this.api.call({ method, url: this.companyUrl + path, headers, ...(json === undefined ? {} : { json }) });
  }

  /** The client-credentials grant (RFC 6749 §4.4): Entra ID issues no refresh token, the app's secret is asked each time. */
  private async obtain(credentials: Credentials): Promise<AccessGrant<Credentials>> {
    const { accessToken, expiresInSeconds } = await tokenEndpointGrant(this.context.http, {
      vendor: 'Entra ID',
      tokenUrl: this.context.settings.tokenUrl ?? defaultTokenUrl(credentials.tenantId),
      client: credentials,
      clientAuthentication: 'form',
      grantType: 'client_credentials',
      parameters: { scope: apiScope },
      defaultLifetimeSeconds: 3_599,
      classify: tokenError,
    });
    return { accessToken, expiresInSeconds };
  }
}

export const dynamics365Connector: ErpConnectorModule<Credentials> = {
  provider: 'dynamics365',
  credentialsSchema,
  rateLimit: {
    requestsPerSecond: 20,
    burst: 5,
    source: 'Business Central operational limits (operational-limits-online.md): 6,000 OData requests per 5-minute sliding window per user, 5 at once',
  },
  unsupported: {},
  create: (context) => new BusinessCentralConnector(context),
};
