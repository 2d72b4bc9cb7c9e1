import type { Decimal } from '../../money/decimal.js';

export type ChargeModel = 'per_unit' | 'graduated' | 'volume' | 'package' | 'percentage';

export interface ChargeTier {
  /** Inclusive upper bound of the tier in units; null for the last, open-ended tier. */
  upTo: number | null;
  /** Decimal price per unit in major units, e.g. "0.001". */
  unitPrice: string;
  /** Integer minor units charged once when the tier is entered (graduated) or landed in (volume). */
  flatFee?: number;
}

export type IncludedAllocation = 'pooled' | 'per_seat';

/** A plan's usage charge, with the field names of the public API. */
export interface Charge {
  metricCode: string;
  model: ChargeModel;
  /** per_unit: price per unit; package: price per package. Decimal string in major units. */
  unitPrice?: string;
  /** package: units per package. */
  packageSize?: number;
  /** graduated, volume. */
  tiers?: ChargeTier[];
  /** percentage: percent of the summed amount, e.g. "2.5". */
  rate?: string;
  /** percentage: fee per event, decimal string in major units, e.g. "0.30". */
  fixedFee?: string;
  /** Units free each period before rating. */
  included?: number;
  /** pooled: `included` once per subscription; per_seat: `included` × seats. */
  allocation?: IncludedAllocation;
  /** Units per period beyond which usage is refused (not rated: it is never recorded). */
  hardLimit?: number;
}

/**
 * A charge compiled for one currency. Both functions price units that are already net of
 * included units. `exact` is the reference (decimal.js, unrounded minor units); `fast` returns
 * the same amount already rounded, using integer arithmetic on units given as
 * `scaledUnits / 10^unitScale`, or null when a number would not fit in a safe integer (the
 * caller then uses `exact`).
 */
export interface ChargeRater {
  exact(units: Decimal, events: number): Decimal;
  fast(scaledUnits: number, unitScale: number, events: number): number | null;
}

export interface ChargeModelDefinition {
  model: ChargeModel;
  /** Validates the model's fields and prepares the rater; throws DomainError on bad input. */
  compile(charge: Charge, exponent: number): ChargeRater;
}
