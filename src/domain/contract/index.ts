export * from './contract.js';
export * from './lifecycle.js';
