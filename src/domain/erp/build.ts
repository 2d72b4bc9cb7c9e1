import type { InvoiceLineType } from '../invoice/index.js';
import {
  erpReference,
  type ErpCreditNote,
  type ErpCustomer,
  type ErpDocumentRef,
  type ErpInvoice,
  type ErpLine,
  type ErpLineKind,
  type ErpPayment,
  type ErpRefund,
} from './documents.js';
import { describeGlSubject, resolveGlAccount, type GlMapping, type GlSubject } from './gl-mapping.js';

/**
 * Builds the documents pushed to an ERP from Ledgerflow's records and the integration's GL
 * mappings. A document with any unmapped amount is not built: the result names every missing
 * mapping, and the sync fails with that message instead of posting to a default account.
 */

export type ErpBuildResult<T> = { ok: true; document: T } | { ok: false; missing: string[] };

/** Resolves accounts, collecting every subject without one. */
class AccountResolver {
  readonly missing: string[] = [];
  constructor(private readonly mappings: readonly GlMapping[]) {}

  account(subject: GlSubject): string {
    const account = resolveGlAccount(this.mappings, subject);
    if (account !== null) return account;
    const described = describeGlSubject(subject);
    if (!this.missing.includes(described)) this.missing.push(described);
    return '';
  }

  result<T>(document: T): ErpBuildResult<T> {
    return this.missing.length === 0 ? { ok: true, document } : { ok: false, missing: this.missing };
  }
}

/** The text a failed sync log shows for missing mappings. */
export function missingMappingsMessage(missing: readonly string[]): string {
  return `no GL mapping for ${missing.join('; ')}: map ${missing.length === 1 ? 'it' : 'them'} with PUT /v1/integrations/{id}/gl-mappings, then POST /v1/integrations/{id}/sync`;
}

export interface CustomerSource {
  organizationId: string;
  name: string;
  email: string | null;
  currency: string;
}

export function buildErpCustomer(source: CustomerSource): ErpCustomer {
  return {
    type: 'customer',
    reference: erpReference('customer', { id: source.organizationId }),
    organizationId: source.organizationId,
    name: source.name,
    email: source.email,
    currency: source.currency,
  };
}

export interface InvoiceLineSource {
  type: InvoiceLineType;
  description: string;
  quantity: string;
  amount: number;
  planCode: string | null;
  metricCode: string | null;
  departmentId: string | null;
}

export interface InvoiceSource {
  id: string;
  number: string;
  currency: string;
  finalizedAt: string;
  dueAt: string | null;
  amountDue: number;
  lines: InvoiceLineSource[];
}

function lineKind(type: InvoiceLineType): ErpLineKind {
  switch (type) {
    case 'discount':
      return 'discount';
    case 'tax':
      return 'tax';
    case 'credit':
      return 'credit';
    default:
      return 'revenue';
  }
}

const day = (timestamp: string) => timestamp.slice(0, 10);

/** An invoice's lines on their accounts: revenue per plan (fees) or metric (usage) and department, discounts, tax and credits per department. */
export function buildErpInvoice(source: InvoiceSource, customer: ErpDocumentRef, mappings: readonly GlMapping[]): ErpBuildResult<ErpInvoice> {
  const resolver = new AccountResolver(mappings);
  const lines: ErpLine[] = source.lines
    .filter((line) => line.amount !== 0)
    .map((line) => {
      const kind = lineKind(line.type);
      const subject: GlSubject =
        kind === 'revenue'
          ? { kind, planCode: line.metricCode ? null : line.planCode, metricCode: line.metricCode, departmentId: line.departmentId }
          : { kind, departmentId: line.departmentId };
      return { description: line.description, kind, quantity: line.quantity, amount: line.amount, account: resolver.account(subject) };
    });
  const receivableAccount = resolver.account({ kind: 'receivable' });
  return resolver.result({
    type: 'invoice',
    reference: erpReference('invoice', source),
    number: source.number,
    customer,
    issueDate: day(source.finalizedAt),
    dueDate: source.dueAt === null ? null : day(source.dueAt),
    currency: source.currency,
    lines,
    total: source.amountDue,
    receivableAccount,
  });
}

export interface CreditNoteSource {
  id: string;
  number: string;
  currency: string;
  createdAt: string;
  amount: number;
  reason: string;
}

export function buildErpCreditNote(source: CreditNoteSource, customer: ErpDocumentRef, invoice: ErpDocumentRef, mappings: readonly GlMapping[]): ErpBuildResult<ErpCreditNote> {
  const resolver = new AccountResolver(mappings);
  const creditAccount = resolver.account({ kind: 'credit' });
  const receivableAccount = resolver.account({ kind: 'receivable' });
  return resolver.result({
    type: 'credit_note',
    reference: erpReference('credit_note', source),
    number: source.number,
    customer,
    invoice,
    issueDate: day(source.createdAt),
    currency: source.currency,
    reason: source.reason,
    amount: source.amount,
    creditAccount,
    receivableAccount,
  });
}

export interface PaymentSource {
  id: string;
  currency: string;
  receivedAt: string;
  amount: number;
  reference: string;
}

export function buildErpPayment(source: PaymentSource, customer: ErpDocumentRef, invoice: ErpDocumentRef, mappings: readonly GlMapping[]): ErpBuildResult<ErpPayment> {
  const resolver = new AccountResolver(mappings);
  const cashAccount = resolver.account({ kind: 'cash' });
  const receivableAccount = resolver.account({ kind: 'receivable' });
  return resolver.result({
    type: 'payment',
    reference: erpReference('payment', source),
    customer,
    invoice,
    date: day(source.receivedAt),
    currency: source.currency,
    amount: source.amount,
    cashAccount,
    receivableAccount,
    paymentReference: source.reference,
  });
}

export interface RefundSource {
  /** The credit note the refund pays out. */
  creditNoteId: string;
  currency: string;
  createdAt: string;
  amount: number;
}

export function buildErpRefund(source: RefundSource, customer: ErpDocumentRef, creditNote: ErpDocumentRef, mappings: readonly GlMapping[]): ErpBuildResult<ErpRefund> {
  const resolver = new AccountResolver(mappings);
  const cashAccount = resolver.account({ kind: 'cash' });
  const refundAccount = resolver.account({ kind: 'refund' });
  const receivableAccount = resolver.account({ kind: 'receivable' });
  return resolver.result({
    type: 'refund',
    reference: erpReference('refund', { id: source.creditNoteId }),
    customer,
    creditNote,
    date: day(source.createdAt),
    currency: source.currency,
    amount: source.amount,
    cashAccount,
    refundAccount,
    receivableAccount,
  });
}
