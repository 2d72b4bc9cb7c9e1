/**
 * The largest values the API accepts for what billing multiplies and adds, chosen so that the
 * products a period's invoice computes stay far inside the safe-integer range of minor units
 * (2^53 − 1 ≈ 9.007 × 10^15):
 *
 * - a plan's fixed fees at the maximum: base 10^9 + seats 10^6 × 10^9 ≈ 10^15;
 * - a usage line at the period maximum, 10^12 units, at a unit price of 1.00 in a two-decimal
 *   currency: 10^14 minor units (at 0.05 per unit: 5 × 10^12).
 *
 * Combinations beyond those (a high unit price on the usage maximum) can still overflow: the
 * domain then refuses the closing with `AMOUNT_OVERFLOW`, and the billing cycle reports the
 * account as needing attention instead of retrying (docs/billing-rules.md).
 */

/** Minor units of one price of a plan: its base price, its seat price, a tier's flat fee (USD 10,000,000.00). */
export const MAX_PRICE_MINOR = 1_000_000_000;

/** Seats of a subscription, and a plan's included seats. */
export const MAX_SEATS = 1_000_000;

/** Units of one usage event (its quantity, or the value of the field its metric aggregates). */
export const MAX_USAGE_EVENT_QUANTITY = 1_000_000_000;

/**
 * A subscription's total of one metric in one billing period: the events that would take it
 * further are refused. Tier bounds, included units and hard limits are bounded by it too.
 */
export const MAX_USAGE_PERIOD_QUANTITY = 1_000_000_000_000;

/** Units per package of a package charge. */
export const MAX_PACKAGE_SIZE = 1_000_000_000;

/** Whole digits of a decimal unit price in major units (per unit, per package, per event): below 1,000,000. */
export const MAX_UNIT_PRICE_DIGITS = 6;

/** A percentage charge's rate, in percent. */
export const MAX_RATE_PERCENT = 100;
