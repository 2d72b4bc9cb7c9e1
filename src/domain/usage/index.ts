export * from './aggregation.js';
export * from './metering.js';
export * from './billing.js';
