import { Decimal } from '../../money/decimal.js';
import { addSafe, compileTiers, multiplySafe, roundScaled, unitDenominator } from './scaled.js';
import type { ChargeModelDefinition } from './types.js';

/**
 * All units at the price of the tier the total lands in (bounds inclusive), plus that tier's
 * flat fee. Zero units land in no tier and cost nothing.
 */
export const volumeModel: ChargeModelDefinition = {
  model: 'volume',
  compile(charge, exponent) {
    const { tiers, minorFactor, numerators, denominator, boundsByScale } = compileTiers(charge, exponent);
    return {
      exact(units) {
        if (units.isZero()) return new Decimal(0);
        const tier = tiers.find((candidate) => candidate.upTo === null || units.lte(candidate.upTo));
        if (tier === undefined) return new Decimal(0);
        return units.times(tier.unitPrice).times(minorFactor).plus(tier.flatFee);
      },
      fast(scaledUnits, unitScale) {
        const scaledDenominator = unitDenominator(denominator, unitScale);
        const bounds = boundsByScale[unitScale];
        if (numerators === null || scaledDenominator === null || bounds === undefined) return null;
        if (scaledUnits === 0) return 0;
        for (let index = 0; index < tiers.length; index += 1) {
          const upperBound = bounds[index] ?? null;
          if (upperBound === null) return null;
          if (scaledUnits > upperBound) continue;
          const numerator = addSafe(
            multiplySafe(scaledUnits, numerators[index] as number),
            multiplySafe((tiers[index] as (typeof tiers)[number]).flatFee, scaledDenominator),
          );
          return roundScaled(numerator, scaledDenominator);
        }
        return null;
      },
    };
  },
};
