import { Decimal } from '../../money/decimal.js';
import { addSafe, compileTiers, multiplySafe, roundScaled, unitDenominator } from './scaled.js';
import type { ChargeModelDefinition } from './types.js';

/**
 * Each tier prices only the units that fall inside it; a tier's flat fee is charged once, as
 * soon as any unit enters the tier. Zero units enter no tier.
 */
export const graduatedModel: ChargeModelDefinition = {
  model: 'graduated',
  compile(charge, exponent) {
    const { tiers, minorFactor, numerators, denominator, boundsByScale } = compileTiers(charge, exponent);
    return {
      exact(units) {
        let amount = new Decimal(0);
        let lowerBound = 0;
        for (const tier of tiers) {
          if (units.lte(lowerBound)) break;
          const unitsInTier =
            tier.upTo === null ? units.minus(lowerBound) : Decimal.min(units, tier.upTo).minus(lowerBound);
          amount = amount.plus(unitsInTier.times(tier.unitPrice).times(minorFactor)).plus(tier.flatFee);
          lowerBound = tier.upTo ?? lowerBound;
        }
        return amount;
      },
      fast(scaledUnits, unitScale) {
        const scaledDenominator = unitDenominator(denominator, unitScale);
        const bounds = boundsByScale[unitScale];
        if (numerators === null || scaledDenominator === null || bounds === undefined) return null;
        let numerator: number | null = 0;
        let lowerBound = 0;
        for (let index = 0; index < tiers.length && scaledUnits > lowerBound; index += 1) {
          const upperBound = bounds[index] ?? null;
          if (upperBound === null) return null;
          const unitsInTier = Math.min(scaledUnits, upperBound) - lowerBound;
          numerator = addSafe(numerator, multiplySafe(unitsInTier, numerators[index] as number));
          numerator = addSafe(numerator, multiplySafe((tiers[index] as (typeof tiers)[number]).flatFee, scaledDenominator));
          lowerBound = upperBound;
        }
        return roundScaled(numerator, scaledDenominator);
      },
    };
  },
};
