import { currencyExponent } from '../money/index.js';

/**
 * What Ledgerflow pushes to an ERP, independent of any vendor: each connector translates these
 * shapes into its vendor's payloads. Amounts are integer minor units of the document's currency;
 * every GL account is already resolved from the integration's mappings.
 */

export const erpProviders = ['quickbooks', 'xero', 'netsuite', 'sap', 'sage', 'dynamics365'] as const;
export type ErpProvider = (typeof erpProviders)[number];

export const erpDocumentTypes = ['customer', 'invoice', 'credit_note', 'payment', 'refund'] as const;
export type ErpDocumentType = (typeof erpDocumentTypes)[number];

/**
 * The reference Ledgerflow writes into the ERP document (DocNumber, Reference, externalId,
 * NumAtCard, externalDocumentNumber…) and finds it again by. At most 20 characters of
 * `[A-Z0-9-]`: the narrowest vendor rules are QuickBooks' 21-character DocNumber and NetSuite's
 * external id alphabet.
 */
export function erpReference(documentType: ErpDocumentType, document: { id: string; number?: string | null }): string {
  const hex16 = document.id.replaceAll('-', '').slice(0, 16).toUpperCase();
  switch (documentType) {
    case 'customer':
      return `CUS-${hex16}`;
    case 'invoice':
      // An account's ten-millionth invoice has a 21-character number: past 20, the id stands in.
      return document.number && document.number.length <= 20 ? document.number : `INV-${hex16}`;
    case 'credit_note':
      return `CN-${hex16}`;
    case 'payment':
      return `PAY-${hex16}`;
    case 'refund':
      return `RF-${hex16}`;
  }
}

/** A document another one refers to, as already synced: its reference and the ERP's id for it. */
export interface ErpDocumentRef {
  reference: string;
  externalId: string;
}

export interface ErpCustomer {
  type: 'customer';
  reference: string;
  organizationId: string;
  name: string;
  email: string | null;
  currency: string;
}

/** Where a line's amount goes: revenue (charges), discounts, credits (SLA credits, balance applied) or tax. */
export type ErpLineKind = 'revenue' | 'discount' | 'credit' | 'tax';

export interface ErpLine {
  description: string;
  kind: ErpLineKind;
  /** The billed quantity as a decimal string ("1", "12", "1520.5"). */
  quantity: string;
  /** Signed minor units: discounts and credits are negative. */
  amount: number;
  /** The GL account (or, where the vendor derives accounts from items, the item) mapped for this line. */
  account: string;
}

export interface ErpInvoice {
  type: 'invoice';
  reference: string;
  number: string;
  customer: ErpDocumentRef;
  /** YYYY-MM-DD */
  issueDate: string;
  dueDate: string | null;
  currency: string;
  /** Charges, discounts, tax and credits in invoice order; they add up to `total`. */
  lines: ErpLine[];
  /** What the customer owes for it: the sum of `lines` (the invoice's amount due). */
  total: number;
  receivableAccount: string;
}

export interface ErpCreditNote {
  type: 'credit_note';
  reference: string;
  number: string;
  customer: ErpDocumentRef;
  invoice: ErpDocumentRef;
  issueDate: string;
  currency: string;
  reason: string;
  /** Positive minor units credited. */
  amount: number;
  /** The account the credit takes back from (`credit` mapping). */
  creditAccount: string;
  receivableAccount: string;
}

export interface ErpPayment {
  type: 'payment';
  reference: string;
  customer: ErpDocumentRef;
  invoice: ErpDocumentRef;
  date: string;
  currency: string;
  amount: number;
  /** Where the money arrived (`cash` mapping). */
  cashAccount: string;
  receivableAccount: string;
  /** The card charge, wire or check reference. */
  paymentReference: string;
}

/** Money paid back to the customer for a credit note (a dispute's or a credit note's refund). */
export interface ErpRefund {
  type: 'refund';
  reference: string;
  customer: ErpDocumentRef;
  creditNote: ErpDocumentRef;
  date: string;
  currency: string;
  amount: number;
  /** Where the money left from (`cash` mapping). */
  cashAccount: string;
  /** The account refunds are booked against where the vendor needs one (`refund` mapping). */
  refundAccount: string;
  receivableAccount: string;
}

export type ErpDocument = ErpCustomer | ErpInvoice | ErpCreditNote | ErpPayment | ErpRefund;

/** Minor units as the vendor's decimal amount in major units, exactly: 12345 USD → "123.45", 500 JPY → "500". */
export function majorUnits(minor: number, currency: string): string {
  const exponent = currencyExponent(currency);
  const negative = minor < 0;
  const digits = String(Math.abs(minor)).padStart(exponent + 1, '0');
  const major = exponent === 0 ? digits : `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
  return negative ? `-${major}` : major;
}

/** `majorUnits` as a JSON number, for vendors whose schemas type amounts as numbers (exact for amounts below 2^53 minor units). */
export function majorAmount(minor: number, currency: string): number {
  return Number(majorUnits(minor, currency));
}
