export * from './charge-models/types.js';
export * from './charge-models/registry.js';
export * from './rating.js';
export * from './plans.js';
