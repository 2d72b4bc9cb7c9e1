export * from './charges.js';
export * from './dunning.js';
