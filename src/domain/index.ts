// The domain by bounded context; each context's index lists what it offers.
export * from './errors.js';
export * from './money/index.js';
export * from './time/index.js';
export * from './pricing/index.js';
export * from './subscription/index.js';
export * from './usage/index.js';
export * from './invoice/index.js';
export * from './ledger/index.js';
export * from './payments/index.js';
export * from './approval/index.js';
export * from './dispute/index.js';
export * from './contract/index.js';
export * from './budget/index.js';
export * from './erp/index.js';
