export * from './decimal.js';
export * from './money.js';
export * from './limits.js';
