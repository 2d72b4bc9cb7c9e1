import { DomainError } from '../../errors.js';
import { graduatedModel } from './graduated.js';
import { packageModel } from './package.js';
import { percentageModel } from './percentage.js';
import { perUnitModel } from './per-unit.js';
import type { ChargeModel, ChargeModelDefinition } from './types.js';
import { volumeModel } from './volume.js';

/** One module per charge model; adding a model means adding a module and a line here. */
export const chargeModels: Readonly<Record<ChargeModel, ChargeModelDefinition>> = {
  per_unit: perUnitModel,
  graduated: graduatedModel,
  volume: volumeModel,
  package: packageModel,
  percentage: percentageModel,
};

export function chargeModel(model: string): ChargeModelDefinition {
  const definition = Object.hasOwn(chargeModels, model) ? chargeModels[model as ChargeModel] : undefined;
  if (definition === undefined) {
    throw new DomainError('UNKNOWN_CHARGE_MODEL', `unknown charge model ${JSON.stringify(model)}`, { model });
  }
  return definition;
}
