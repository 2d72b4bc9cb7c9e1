import { Decimal } from '../../money/decimal.js';
import { multiplySafe, requirePrice, roundScaled, scalePrices, unitDenominator } from './scaled.js';
import type { ChargeModelDefinition } from './types.js';

/** Every unit at `unitPrice`. */
export const perUnitModel: ChargeModelDefinition = {
  model: 'per_unit',
  compile(charge, exponent) {
    const unitPrice = requirePrice(charge, charge.unitPrice, 'unitPrice');
    const minorPerUnit = unitPrice.times(new Decimal(10).pow(exponent));
    const { numerators, denominator } = scalePrices([unitPrice], exponent);
    const numerator = numerators?.[0] ?? null;
    return {
      exact: (units) => units.times(minorPerUnit),
      fast(scaledUnits, unitScale) {
        if (numerator === null) return null;
        return roundScaled(multiplySafe(scaledUnits, numerator), unitDenominator(denominator, unitScale));
      },
    };
  },
};
