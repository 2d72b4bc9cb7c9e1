export type InvoiceLineType =
  | 'subscription'
  | 'seat'
  | 'usage'
  | 'proration'
  | 'commitment'
  | 'one_off'
  | 'discount'
  | 'tax'
  | 'credit';

/** Charge lines: everything that is neither a discount, a tax nor a balance credit. */
export const CHARGE_LINE_TYPES: readonly InvoiceLineType[] = [
  'subscription',
  'seat',
  'usage',
  'proration',
  'commitment',
  'one_off',
];

/** An invoice line in the API's shape, plus the `key` that identifies the billed item across invoices. */
export interface InvoiceLine {
  /**
   * Stable identity of what the line bills (e.g. one subscription's base fee for one period).
   * Lines with the same key across invoices add up to what has been billed for that item.
   */
  key: string;
  type: InvoiceLineType;
  description: string;
  subscriptionId?: string;
  organizationId: string;
  departmentId?: string;
  metricCode?: string;
  couponId?: string;
  /** Decimal string: units, seats, or "1" for a flat fee. */
  quantity: string;
  /** Minor units per unit, when one price explains the amount. */
  unitAmount?: number;
  /** Signed integer minor units. */
  amount: number;
  /** Billing days "YYYY-MM-DD", half-open [periodStart, periodEnd). */
  periodStart: string;
  periodEnd: string;
}

export function isChargeLine(line: Pick<InvoiceLine, 'type'>): boolean {
  return CHARGE_LINE_TYPES.includes(line.type);
}
