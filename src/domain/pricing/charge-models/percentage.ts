import { Decimal } from '../../money/decimal.js';
import { POW10, addSafe, multiplySafe, requirePrice, roundScaled, scalePrices, unitDenominator } from './scaled.js';
import type { ChargeModelDefinition } from './types.js';

/**
 * `rate` percent of the summed amount (in major units of the currency) plus `fixedFee` per
 * event. Both parts add up before the line's single rounding.
 */
export const percentageModel: ChargeModelDefinition = {
  model: 'percentage',
  compile(charge, exponent) {
    const fraction = requirePrice(charge, charge.rate, 'rate').dividedBy(100);
    const fixedFee = charge.fixedFee === undefined ? new Decimal(0) : requirePrice(charge, charge.fixedFee, 'fixedFee');
    const minorFactor = new Decimal(10).pow(exponent);
    const { numerators, denominator } = scalePrices([fraction, fixedFee], exponent);
    return {
      exact: (units, events) => units.times(fraction).plus(fixedFee.times(events)).times(minorFactor),
      fast(scaledUnits, unitScale, events) {
        const scaledDenominator = unitDenominator(denominator, unitScale);
        if (numerators === null || scaledDenominator === null) return null;
        const perEvent = multiplySafe(numerators[1] as number, POW10[unitScale] as number);
        const numerator = addSafe(
          multiplySafe(scaledUnits, numerators[0] as number),
          perEvent === null ? null : multiplySafe(events, perEvent),
        );
        return roundScaled(numerator, scaledDenominator);
      },
    };
  },
};
