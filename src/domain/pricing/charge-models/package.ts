import { Decimal } from '../../money/decimal.js';
import { POW10, invalidCharge, multiplySafe, requirePrice, roundScaled, scalePrices } from './scaled.js';
import type { ChargeModelDefinition } from './types.js';

/** Units are sold in blocks of `packageSize` at `unitPrice` per block; a started block is billed in full. */
export const packageModel: ChargeModelDefinition = {
  model: 'package',
  compile(charge, exponent) {
    const packagePrice = requirePrice(charge, charge.unitPrice, 'unitPrice');
    const packageSize = charge.packageSize;
    if (packageSize === undefined || !Number.isSafeInteger(packageSize) || packageSize < 1) {
      throw invalidCharge(charge, 'packageSize must be a whole number of at least 1');
    }
    const minorPerPackage = packagePrice.times(new Decimal(10).pow(exponent));
    const { numerators, denominator } = scalePrices([packagePrice], exponent);
    const numerator = numerators?.[0] ?? null;
    return {
      exact: (units) => units.dividedBy(packageSize).ceil().times(minorPerPackage),
      fast(scaledUnits, unitScale) {
        const scaledSize = multiplySafe(packageSize, POW10[unitScale] as number);
        if (numerator === null || scaledSize === null) return null;
        const packages = Math.floor(scaledUnits / scaledSize) + (scaledUnits % scaledSize === 0 ? 0 : 1);
        return roundScaled(multiplySafe(packages, numerator), denominator);
      },
    };
  },
};
