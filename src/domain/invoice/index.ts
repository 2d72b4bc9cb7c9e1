export * from './lines.js';
export * from './discounts.js';
export * from './tax.js';
export * from './invoice.js';
