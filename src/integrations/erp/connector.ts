import type { z } from 'zod';
import type {
  ErpCreditNote,
  ErpCustomer,
  ErpDocument,
  ErpDocumentType,
  ErpInvoice,
  ErpPayment,
  ErpProvider,
  ErpRefund,
} from '../../domain/erp/index.js';
import type { ErpHttp, ErpHttpResponse } from './http.js';
import type { ErpError } from './errors.js';
import type { AccessTokens } from './tokens.js';

export { ErpError, type ErpFailureKind } from './errors.js';

/**
 * The one port every ERP connector implements: upsert a customer, push the four financial
 * documents, find a document again by the reference Ledgerflow gave it, and classify the vendor's
 * failures. Connectors hold no state between calls beyond what their context gives them; the
 * workflow decides about retries from the ErpError kinds they throw.
 */
export interface ErpConnector {
  readonly provider: ErpProvider;
  /** Creates the customer, or updates the one already carrying its reference. */
  upsertCustomer(customer: ErpCustomer): Promise<ErpPushResult>;
  pushInvoice(invoice: ErpInvoice): Promise<ErpPushResult>;
  pushCreditNote(creditNote: ErpCreditNote): Promise<ErpPushResult>;
  pushPayment(payment: ErpPayment): Promise<ErpPushResult>;
  pushRefund(refund: ErpRefund): Promise<ErpPushResult>;
  /**
   * The ERP's id of the document Ledgerflow pushed as `document` (found by its reference), or
   * null when the ERP has none: asked before every retry, so a push whose answer was lost is
   * never made twice.
   */
  findByReference(document: ErpDocument): Promise<string | null>;
  /** The ErpError a vendor's non-2xx answer (or a 200 carrying a fault) means. */
  classifyError(response: ErpHttpResponse): ErpError;
}

export interface ErpPushResult {
  /** The ERP's own id of the document (QuickBooks Id, Xero InvoiceID, NetSuite internal id, DocEntry…). */
  externalId: string;
}

/** Integration settings every connector understands; connectors may read more keys of their own. */
export interface ErpSettings {
  /** The vendor API's base URL (a sandbox, or a mock in tests); each connector documents its default. */
  baseUrl?: string;
  /** The OAuth token endpoint; each OAuth connector documents its default. */
  tokenUrl?: string;
  [key: string]: unknown;
}

/** What a connector is given: the decrypted credentials, settings, a paced HTTP client and the integration's access tokens. */
export interface ErpConnectorContext<C = Record<string, string>> {
  credentials: C;
  settings: ErpSettings;
  http: ErpHttp;
  tokens: AccessTokens<C>;
}

/** How each vendor paces requests: its published limit, shared by every workflow of one integration. */
export interface ErpRateLimit {
  requestsPerSecond: number;
  /** Requests that may go at once after a quiet spell. */
  burst: number;
  /** Where the figure comes from, for the README table. */
  source: string;
}

/** One provider: how its credentials look, how fast it may be called, and how to make its connector. */
export interface ErpConnectorModule<C extends Record<string, string> = Record<string, string>> {
  provider: ErpProvider;
  credentialsSchema: z.ZodType<C>;
  rateLimit: ErpRateLimit;
  /** Document types the vendor cannot take, with why (none for every connector so far). */
  unsupported: Partial<Record<ErpDocumentType, string>>;
  /**
   * Why the connector cannot run with these settings, or null when they will do: asked when the
   * integration is saved, so a setting the vendor needs is refused then rather than on every sync.
   * Connectors whose settings all have defaults leave it out.
   */
  validateSettings?(settings: ErpSettings): string | null;
  create(context: ErpConnectorContext<C>): ErpConnector;
}
