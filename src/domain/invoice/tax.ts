import { parseDecimal, type Decimal } from '../money/decimal.js';
import { DomainError } from '../errors.js';
import type { InvoiceLine } from './lines.js';
import { percentOf, sumMinor } from '../money/money.js';

/** An organization's place in the billing hierarchy and its tax profile. */
export interface OrganizationProfile {
  id: string;
  parentId?: string | null;
  /** Exclusive tax rate in percent, e.g. "8.25"; absent means 0. */
  taxRatePercent?: string;
  taxExempt?: boolean;
}

/** The effective tax rate of an organization: 0 when exempt. */
export function taxRateOf(organization: OrganizationProfile): Decimal {
  const rate = parseDecimal(organization.taxRatePercent ?? '0', { field: 'taxRatePercent' });
  if (rate.gt(100)) {
    throw new DomainError('INVALID_TAX', `organization ${organization.id}: taxRatePercent must be at most 100`, {
      organizationId: organization.id,
    });
  }
  return organization.taxExempt === true ? parseDecimal('0', { field: 'taxRatePercent' }) : rate;
}

/**
 * One exclusive tax line per organization, on that organization's discounted subtotal, rounded
 * once. A net credit gets a negative tax line, so tax follows the money it was charged on.
 */
export function proposeTaxLines(
  lines: readonly InvoiceLine[],
  organizations: readonly OrganizationProfile[],
  period: { periodStart: string; periodEnd: string },
): InvoiceLine[] {
  const taxes: InvoiceLine[] = [];
  for (const organization of organizations) {
    const taxable = sumMinor(lines.filter((line) => line.organizationId === organization.id).map((line) => line.amount));
    const rate = taxRateOf(organization);
    const amount = percentOf(taxable, rate);
    if (amount === 0) continue;
    taxes.push({
      key: `tax:${organization.id}`,
      type: 'tax',
      description: `Tax ${rate.toFixed()}% on ${taxable}`,
      organizationId: organization.id,
      quantity: '1',
      amount,
      ...period,
    });
  }
  return taxes;
}
