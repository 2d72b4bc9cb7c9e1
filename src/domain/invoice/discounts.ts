import type { CalendarCursor } from '../time/calendar.js';
import { parseDecimal, type Decimal } from '../money/decimal.js';
import { formatDay, parseDay } from '../time/dates.js';
import { DomainError } from '../errors.js';
import type { InvoiceLine } from './lines.js';
import { addMinor, allocate, assertNonNegativeMinorUnits, percentOf, sumMinor } from '../money/money.js';

export type CouponDuration = 'once' | 'repeating' | 'forever';

/**
 * A redeemed coupon: exactly one of `percentOff` and `amountOff` (minor units per period).
 * It covers the billing period containing `redeemedAt` and, when repeating, the next
 * `durationInPeriods − 1` periods; forever covers every period from then on.
 */
export interface Coupon {
  id: string;
  code?: string;
  percentOff?: string;
  amountOff?: number;
  duration: CouponDuration;
  durationInPeriods?: number;
  redeemedAt: string;
  /** Limits the coupon to one subscription (its periods); otherwise it covers the whole account (account periods). */
  subscriptionId?: string;
}

interface CompiledCoupon {
  coupon: Coupon;
  percentOff: Decimal | null;
  amountOff: number;
  firstIndex: number;
  lastIndex: number;
  cursor: CalendarCursor;
}

function invalid(coupon: Coupon, message: string): DomainError {
  return new DomainError('INVALID_COUPON', `coupon ${JSON.stringify(coupon.id)}: ${message}`, { couponId: coupon.id });
}

function compileCoupon(coupon: Coupon, cursor: CalendarCursor): CompiledCoupon {
  if ((coupon.percentOff === undefined) === (coupon.amountOff === undefined)) {
    throw invalid(coupon, 'needs exactly one of percentOff and amountOff');
  }
  const percentOff = coupon.percentOff === undefined ? null : parseDecimal(coupon.percentOff, { field: 'percentOff' });
  if (percentOff?.gt(100) === true) throw invalid(coupon, 'percentOff must be at most 100');
  const amountOff = coupon.amountOff === undefined ? 0 : assertNonNegativeMinorUnits(coupon.amountOff, 'amountOff');
  let periods: number;
  switch (coupon.duration) {
    case 'once':
      periods = 1;
      break;
    case 'repeating':
      if (!Number.isSafeInteger(coupon.durationInPeriods) || (coupon.durationInPeriods ?? 0) < 1) {
        throw invalid(coupon, 'repeating needs durationInPeriods >= 1');
      }
      periods = coupon.durationInPeriods ?? 1;
      break;
    case 'forever':
      periods = Number.POSITIVE_INFINITY;
      break;
    default:
      throw invalid(coupon, `unknown duration ${JSON.stringify(coupon.duration)}`);
  }
  const firstIndex = cursor.at(parseDay(coupon.redeemedAt)).index;
  return { coupon, percentOff, amountOff, firstIndex, lastIndex: firstIndex + periods - 1, cursor };
}

/** Lines a coupon discounts: charges except commitment top-ups, after seat volume discounts. */
export function isCouponEligible(line: InvoiceLine): boolean {
  if (line.type === 'discount') return line.couponId === undefined;
  return line.type !== 'commitment' && line.type !== 'tax' && line.type !== 'credit';
}

function bucketOf(line: InvoiceLine): string {
  return JSON.stringify([line.organizationId, line.departmentId ?? null, line.subscriptionId ?? null]);
}

/**
 * Discount lines for every coupon and every covered period, cumulative over `ledger` (all
 * lines billed or to be billed). Coupons apply one after another, ordered by redemption date
 * then id, each on what the earlier ones left. A period's discount is split over
 * organization/department/subscription in proportion to their share (largest remainder), so
 * each line keeps its attribution and the split sums exactly.
 */
export function proposeCouponLines(
  coupons: readonly Coupon[],
  ledger: readonly InvoiceLine[],
  cursorFor: (coupon: Coupon) => CalendarCursor,
): InvoiceLine[] {
  const ids = new Set(coupons.map((coupon) => coupon.id));
  if (ids.size !== coupons.length) {
    throw new DomainError('INVALID_COUPON', 'coupon ids must be unique', {});
  }
  const compiled = coupons
    .map((coupon) => compileCoupon(coupon, cursorFor(coupon)))
    .sort((a, b) =>
      a.coupon.redeemedAt === b.coupon.redeemedAt
        ? a.coupon.id < b.coupon.id ? -1 : a.coupon.id > b.coupon.id ? 1 : 0
        : a.coupon.redeemedAt < b.coupon.redeemedAt ? -1 : 1,
    );
  const eligible = ledger.filter(isCouponEligible);
  const discounts: InvoiceLine[] = [];
  for (const coupon of compiled) {
    const inScope = [...eligible, ...discounts].filter(
      (line) => coupon.coupon.subscriptionId === undefined || line.subscriptionId === coupon.coupon.subscriptionId,
    );
    const byPeriod = new Map<number, InvoiceLine[]>();
    for (const line of inScope) {
      const index = coupon.cursor.at(parseDay(line.periodStart)).index;
      if (index < coupon.firstIndex || index > coupon.lastIndex) continue;
      byPeriod.set(index, [...(byPeriod.get(index) ?? []), line]);
    }
    for (const [index, lines] of [...byPeriod.entries()].sort(([a], [b]) => a - b)) {
      const base = sumMinor(lines.map((line) => line.amount));
      if (base <= 0) continue;
      const discount = coupon.percentOff === null ? Math.min(coupon.amountOff, base) : percentOf(base, coupon.percentOff);
      if (discount === 0) continue;
      const buckets = new Map<string, { sample: InvoiceLine; amount: number }>();
      for (const line of lines) {
        const key = bucketOf(line);
        const bucket = buckets.get(key);
        buckets.set(key, { sample: bucket?.sample ?? line, amount: addMinor(bucket?.amount ?? 0, line.amount) });
      }
      const ordered = [...buckets.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, bucket]) => bucket);
      const parts = allocate(discount, ordered.map((bucket) => Math.max(0, bucket.amount)));
      const period = coupon.cursor.byIndex(index);
      const label = coupon.percentOff === null ? `${coupon.amountOff} off` : `${coupon.percentOff.toFixed()}% off`;
      ordered.forEach((bucket, position) => {
        const amount = parts[position] ?? 0;
        if (amount === 0) return;
        const { organizationId, departmentId, subscriptionId } = bucket.sample;
        discounts.push({
          key: `coupon:${coupon.coupon.id}:${formatDay(period.start)}:${bucketOf(bucket.sample)}`,
          type: 'discount',
          description: `Coupon ${coupon.coupon.code ?? coupon.coupon.id} (${label})`,
          organizationId,
          ...(departmentId === undefined ? {} : { departmentId }),
          ...(subscriptionId === undefined ? {} : { subscriptionId }),
          couponId: coupon.coupon.id,
          quantity: '1',
          amount: -amount,
          periodStart: formatDay(period.start),
          periodEnd: formatDay(period.end),
        });
      });
    }
  }
  return discounts;
}
